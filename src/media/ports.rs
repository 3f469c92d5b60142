//! The RTP port range: one port per call, taken at ringing and given back at every ending.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A call's RTP socket as its receiver reads it. Registered for reading only: the pacer thread
/// sends on the same socket, and a socket registered for writing too would wake the reactor on
/// every packet sent (measured: a fifth of a core at 2,000 calls).
pub struct RtpSocket(AsyncFd<std::net::UdpSocket>);

impl RtpSocket {
    pub async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            let mut ready = self.0.readable().await?;
            match ready.try_io(|s| s.get_ref().recv_from(buf)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// One call's RTP port: the socket the call's receiver reads, and a handle on the same socket
/// for the pacer thread to send from (two descriptors per call).
pub struct RtpPort {
    pub port: u16,
    pub recv: Arc<RtpSocket>,
    pub send: std::net::UdpSocket,
}

pub struct PortPool {
    ip: IpAddr,
    free: VecDeque<u16>,
}

impl PortPool {
    pub fn new(ip: IpAddr, (first, last): (u16, u16)) -> PortPool {
        PortPool { ip, free: (first..=last).collect() }
    }

    /// A free port from the range, bound; ports another program holds are skipped.
    pub fn take(&mut self) -> Option<RtpPort> {
        for _ in 0..self.free.len().min(64) {
            let port = self.free.pop_front()?;
            let bound = std::net::UdpSocket::bind(SocketAddr::new(self.ip, port)).and_then(|s| {
                s.set_nonblocking(true)?;
                let send = s.try_clone()?;
                // SAFETY: a std UdpSocket owns its descriptor and returns the same one from
                // as_raw_fd for as long as it lives, which is as long as the AsyncFd holds it.
                let recv =
                    unsafe { AsyncFd::register_with_interest(s, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
                Ok((RtpSocket(recv), send))
            });
            match bound {
                Ok((recv, send)) => return Some(RtpPort { port, recv: Arc::new(recv), send }),
                Err(_) => self.free.push_back(port),
            }
        }
        None
    }

    pub fn give_back(&mut self, port: u16) {
        self.free.push_back(port);
    }
}
