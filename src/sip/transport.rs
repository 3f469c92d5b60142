//! SIP over UDP and TCP on one port: datagrams and framed TCP messages in, with their peer;
//! bytes out to a peer over the link a request came on. TCP is capped overall and per source,
//! idle connections are closed, a message must arrive whole within a time limit, and accept()
//! errors back off instead of spinning (a process out of descriptors would otherwise burn a core).

use super::codec;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Which link a message came on, and so where its responses go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    Udp,
    Tcp(u64),
}

impl Link {
    pub fn reliable(self) -> bool {
        self != Link::Udp
    }

    pub fn via_name(self) -> &'static str {
        if self == Link::Udp { "UDP" } else { "TCP" }
    }
}

pub struct Inbound {
    pub bytes: Vec<u8>,
    pub peer: SocketAddr,
    pub link: Link,
}

#[derive(Debug, Clone)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub max_per_source: usize,
    pub idle: Duration,
    pub message: Duration,
}

#[derive(Default)]
struct Connections {
    writers: HashMap<u64, mpsc::Sender<Vec<u8>>>,
    per_source: HashMap<IpAddr, usize>,
    next_id: u64,
}

/// The sending half, shared by the endpoint: the UDP socket and the TCP connections' writers.
#[derive(Clone)]
pub struct Transport {
    udp: Arc<UdpSocket>,
    connections: Arc<Mutex<Connections>>,
}

/// UDP and TCP bound to one port, not yet serving.
pub struct Bound {
    pub transport: Transport,
    tcp: TcpListener,
}

impl Bound {
    /// UDP and TCP on `addr` (port 0 picks one port free for both).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Bound> {
        let (udp, tcp) = bind_pair(addr).await?;
        let transport = Transport { udp: Arc::new(udp), connections: Arc::default() };
        Ok(Bound { transport, tcp })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.transport.udp.local_addr()
    }

    /// Reads both sockets into `inbound` until `stop`.
    pub fn serve(
        self,
        limits: TcpLimits,
        inbound: mpsc::Sender<Inbound>,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) {
        tracker.spawn(read_udp(self.transport.udp.clone(), inbound.clone(), stop.clone()));
        tracker.spawn(accept_tcp(self.tcp, self.transport.clone(), limits, inbound, stop, tracker.clone()));
    }
}

impl Transport {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Sends without waiting: a full socket buffer or a gone connection loses the message, as
    /// the network may (transactions resend what matters).
    pub fn send(&self, bytes: Vec<u8>, peer: SocketAddr, link: Link) {
        match link {
            Link::Udp => {
                let _ = self.udp.try_send_to(&bytes, peer);
            }
            Link::Tcp(id) => {
                let writer = self.connections.lock().ok().and_then(|c| c.writers.get(&id).cloned());
                if let Some(w) = writer {
                    let _ = w.try_send(bytes);
                }
            }
        }
    }

    pub fn tcp_connections(&self) -> usize {
        self.connections.lock().map(|c| c.writers.len()).unwrap_or(0)
    }

    /// Registers a new connection if the caps allow it.
    fn admit(&self, peer: IpAddr, limits: &TcpLimits) -> Option<(u64, mpsc::Receiver<Vec<u8>>)> {
        let mut c = self.connections.lock().ok()?;
        let from_peer = c.per_source.get(&peer).copied().unwrap_or(0);
        if c.writers.len() >= limits.max_connections || from_peer >= limits.max_per_source {
            return None;
        }
        c.next_id += 1;
        let id = c.next_id;
        let (tx, rx) = mpsc::channel(64);
        c.writers.insert(id, tx);
        *c.per_source.entry(peer).or_default() += 1;
        Some((id, rx))
    }

    fn release(&self, id: u64, peer: IpAddr) {
        if let Ok(mut c) = self.connections.lock() {
            c.writers.remove(&id);
            if let Some(n) = c.per_source.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    c.per_source.remove(&peer);
                }
            }
        }
    }
}

async fn bind_pair(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    if addr.port() != 0 {
        return Ok((UdpSocket::bind(addr).await?, TcpListener::bind(addr).await?));
    }
    for _ in 0..50 {
        let udp = UdpSocket::bind(addr).await?;
        if let Ok(tcp) = TcpListener::bind(udp.local_addr()?).await {
            return Ok((udp, tcp));
        }
    }
    Err(std::io::Error::other("no port free for both UDP and TCP"))
}

async fn read_udp(udp: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>, stop: CancellationToken) {
    let mut buf = vec![0u8; codec::MAX_MESSAGE + 1];
    loop {
        let (n, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = udp.recv_from(&mut buf) => match r {
                Ok(r) => r,
                // ICMP errors surface here on some systems; they say nothing about the next datagram.
                Err(_) => continue,
            },
        };
        if inbound.send(Inbound { bytes: buf[..n].to_vec(), peer, link: Link::Udp }).await.is_err() {
            return;
        }
    }
}

async fn accept_tcp(
    listener: TcpListener,
    transport: Transport,
    limits: TcpLimits,
    inbound: mpsc::Sender<Inbound>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(1);
    let mut backoff = FIRST_BACKOFF;
    let mut refused = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = FIRST_BACKOFF;
                a
            }
            Err(e) => {
                // Out of descriptors, mostly: wait for some to be freed instead of spinning.
                tracing::debug!(error = %e, "SIP/TCP accept failed; backing off {backoff:?}");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Some((id, outgoing)) = transport.admit(peer.ip(), &limits) else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(source = %peer.ip(), refused, "SIP/TCP connection refused: connection cap reached");
            }
            drop(stream);
            continue;
        };
        let conn = Connection { id, peer, limits: limits.clone(), inbound: inbound.clone(), stop: stop.clone() };
        let transport = transport.clone();
        tracker.spawn(async move {
            conn.run(stream, outgoing).await;
            transport.release(id, peer.ip());
        });
    }
}

struct Connection {
    id: u64,
    peer: SocketAddr,
    limits: TcpLimits,
    inbound: mpsc::Sender<Inbound>,
    stop: CancellationToken,
}

impl Connection {
    async fn run(self, stream: TcpStream, mut outgoing: mpsc::Receiver<Vec<u8>>) {
        let (mut reader, mut writer) = stream.into_split();
        let mut buf: Vec<u8> = Vec::new();
        let mut framer = codec::Framer::default();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut last_read = Instant::now();
        // When the message now in the buffer began.
        let mut partial_since: Option<Instant> = None;
        loop {
            let deadline = match partial_since {
                Some(t) => t + self.limits.message,
                None => last_read + self.limits.idle,
            };
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(source = %self.peer.ip(), partial = partial_since.is_some(), "SIP/TCP connection timed out");
                    return;
                }
                out = outgoing.recv() => {
                    let Some(bytes) = out else { return };
                    let written = tokio::time::timeout(self.limits.message, writer.write_all(&bytes)).await;
                    if !matches!(written, Ok(Ok(()))) {
                        return;
                    }
                }
                read = reader.read(&mut chunk) => {
                    let n = match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    last_read = Instant::now();
                    buf.extend_from_slice(&chunk[..n]);
                    if !self.deliver(&mut buf, &mut framer, &writer).await {
                        return;
                    }
                    partial_since = if buf.is_empty() { None } else { partial_since.or(Some(last_read)) };
                }
            }
        }
    }

    /// Hands every whole message in `buf` on; false when the stream cannot be framed.
    async fn deliver(
        &self,
        buf: &mut Vec<u8>,
        framer: &mut codec::Framer,
        writer: &tokio::net::tcp::OwnedWriteHalf,
    ) -> bool {
        loop {
            match framer.next(buf) {
                Ok(Some(len)) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    if bytes.iter().all(|&b| b == b'\r' || b == b'\n') {
                        // RFC 5626 keep-alive: a double CRLF ping gets a CRLF pong.
                        // Never wait on it: a peer that pings without reading would stall us.
                        if bytes.windows(4).any(|w| w == b"\r\n\r\n") {
                            let _ = writer.try_write(b"\r\n");
                        }
                        continue;
                    }
                    let message = Inbound { bytes, peer: self.peer, link: Link::Tcp(self.id) };
                    if self.inbound.send(message).await.is_err() {
                        return false;
                    }
                }
                Ok(None) => return true,
                Err(reason) => {
                    tracing::debug!(source = %self.peer.ip(), reason, "SIP/TCP stream cannot be framed; closing");
                    return false;
                }
            }
        }
    }
}
