//! The RTP port range: one port per call, taken at ringing and given back at every ending.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::net::UdpSocket;

/// One call's RTP port: the socket the call's receiver reads, and a handle on the same socket
/// for the pacer thread to send from (two descriptors per call).
pub struct RtpPort {
    pub port: u16,
    pub recv: Arc<UdpSocket>,
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
                Ok((UdpSocket::from_std(s)?, send))
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

    pub fn free(&self) -> usize {
        self.free.len()
    }
}
