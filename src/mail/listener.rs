//! The SMTP/LMTP listener: accepts connections (at most `max_connections` at once, and
//! `max_connections_per_source` from one address; beyond them 421 at once), runs a
//! [`Session`] over each, stores delivered messages through [`MailIntake`], and upgrades to TLS
//! on STARTTLS. A client silent for `timeout_secs` is told 421 and disconnected. When the
//! service drains (SIGTERM), a new connection is told 421 at once, and a session is told 421
//! as soon as no mail transaction is under way in it (one under way finishes, within the drain's
//! limit); at the final stop every idle client is told 421 and the listener closes.

use super::deliver::MailIntake;
use super::session::{DeliveryResult, Output, Session, SessionConfig};
use crate::config::MailSettings;
use crate::drain::Drain;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub struct MailServer {
    listener: TcpListener,
    config: Arc<SessionConfig>,
    tls: Option<TlsAcceptor>,
    intake: MailIntake,
    slots: Arc<Semaphore>,
    per_source: Arc<PerSource>,
    timeout: Duration,
}

/// Connections open from each address, each counted until its guard drops.
struct PerSource {
    limit: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

struct SourceGuard {
    table: Arc<PerSource>,
    ip: IpAddr,
}

impl PerSource {
    fn enter(table: &Arc<PerSource>, ip: IpAddr) -> Option<SourceGuard> {
        let mut open = table.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= table.limit {
            return None;
        }
        *n += 1;
        Some(SourceGuard { table: table.clone(), ip })
    }
}

impl Drop for SourceGuard {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a client beyond the limits is told before the connection is closed.
const TOO_MANY: &[u8] = b"421 4.7.0 Too many connections, try again later\r\n";
/// An accept that fails (out of file descriptors) is logged at most this often, and retried
/// after a pause rather than at once.
const ACCEPT_FAILURE_PAUSE: Duration = Duration::from_millis(100);
const ACCEPT_FAILURE_LOG_EVERY: Duration = Duration::from_secs(1);

enum Ending {
    Closed,
    StartTls,
}

impl MailServer {
    pub fn new(
        listener: TcpListener,
        settings: &MailSettings,
        tls: Option<TlsAcceptor>,
        intake: MailIntake,
    ) -> MailServer {
        let config = SessionConfig {
            hostname: settings.hostname.clone(),
            max_message_bytes: settings.max_message_bytes as usize,
            max_recipients: settings.max_recipients as usize,
            recipients: settings.recipients.iter().map(|r| r.trim().to_ascii_lowercase()).collect(),
            tls_available: tls.is_some(),
        };
        MailServer {
            listener,
            config: Arc::new(config),
            tls,
            intake,
            slots: Arc::new(Semaphore::new(settings.max_connections as usize)),
            per_source: Arc::new(PerSource {
                limit: settings.max_connections_per_source,
                open: Mutex::new(HashMap::new()),
            }),
            timeout: Duration::from_secs(settings.timeout_secs),
        }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` is cancelled; connections run on `tracker`. Once `drain` begins, no
    /// new session starts (see the module's comment).
    pub async fn run(self, drain: Drain, stop: CancellationToken, tracker: TaskTracker) {
        let server = Arc::new(self);
        let mut last_failure_log: Option<tokio::time::Instant> = None;
        let mut failures_unlogged = 0u64;
        loop {
            let (stream, peer) = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = server.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        failures_unlogged += 1;
                        if last_failure_log.is_none_or(|t| t.elapsed() >= ACCEPT_FAILURE_LOG_EVERY) {
                            tracing::warn!(error = %e, failures = failures_unlogged, "mail accept failed");
                            last_failure_log = Some(tokio::time::Instant::now());
                            failures_unlogged = 0;
                        }
                        tokio::select! {
                            _ = stop.cancelled() => break,
                            _ = tokio::time::sleep(ACCEPT_FAILURE_PAUSE) => {}
                        }
                        continue;
                    }
                },
            };
            // Beyond a limit, or while stopping, the client hears 421 at once (the write cannot
            // block: the socket's buffer is empty), instead of waiting for a greeting that never
            // comes; an MTA then tries another MX or later.
            if drain.is_draining() {
                let _ = stream.try_write(Session::new(server.config.clone()).closing().as_bytes());
                continue;
            }
            let Ok(slot) = server.slots.clone().try_acquire_owned() else {
                let _ = stream.try_write(TOO_MANY);
                server.intake.metrics().mail("connection_refused");
                continue;
            };
            let Some(source) = PerSource::enter(&server.per_source, peer.ip()) else {
                let _ = stream.try_write(TOO_MANY);
                server.intake.metrics().mail("connection_refused");
                continue;
            };
            let server = server.clone();
            let (drain, stop) = (drain.clone(), stop.clone());
            tracker.spawn(async move {
                let _slot = (slot, source);
                let _ = stream.set_nodelay(true);
                if let Err(e) = server.connection(stream, &drain, &stop).await {
                    tracing::debug!(error = %e, %peer, "mail connection ended with an error");
                }
            });
        }
    }

    async fn connection(
        &self,
        mut stream: tokio::net::TcpStream,
        drain: &Drain,
        stop: &CancellationToken,
    ) -> io::Result<()> {
        let mut session = Session::new(self.config.clone());
        stream.write_all(session.greeting().as_bytes()).await?;
        if let Ending::StartTls = self.converse(&mut stream, &mut session, drain, stop).await? {
            let Some(acceptor) = &self.tls else { return Ok(()) };
            let mut tls = tokio::time::timeout(self.timeout, acceptor.accept(stream))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
            session.tls_started();
            self.converse(&mut tls, &mut session, drain, stop).await?;
            let _ = tls.shutdown().await;
        }
        Ok(())
    }

    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        session: &mut Session,
        drain: &Drain,
        stop: &CancellationToken,
    ) -> io::Result<Ending> {
        // While a transaction is under way, a drain waits for it.
        let mut hold = None;
        let mut pending: Vec<u8> = Vec::with_capacity(8192);
        let mut chunk = vec![0u8; 64 * 1024];
        let mut outputs = Vec::new();
        loop {
            let mut replies = String::new();
            loop {
                let mut rest: &[u8] = &pending;
                outputs.clear();
                session.feed(&mut rest, &mut outputs);
                let consumed = pending.len() - rest.len();
                pending.drain(..consumed);
                let mut act = false;
                for output in outputs.drain(..) {
                    match output {
                        Output::Reply(r) => {
                            if let Some(result) = refusal(&r) {
                                self.intake.metrics().mail(result);
                            }
                            replies.push_str(&r)
                        }
                        Output::Deliver(envelope) => {
                            stream.write_all(replies.as_bytes()).await?;
                            replies.clear();
                            let result = match self.intake.deliver(&envelope.mail_from, envelope.data).await {
                                Ok(r) => {
                                    self.intake.metrics().mail(if r.duplicate { "duplicate" } else { "accepted" });
                                    DeliveryResult::Stored { ticket: r.ticket.to_string() }
                                }
                                Err(e) => {
                                    self.intake.metrics().mail("temp_failed");
                                    tracing::error!(error = %e, "mail not stored; answered 451");
                                    DeliveryResult::TryLater
                                }
                            };
                            replies.push_str(&session.delivered(&result));
                            act = true;
                        }
                        Output::StartTls => {
                            stream.write_all(replies.as_bytes()).await?;
                            stream.flush().await?;
                            return Ok(Ending::StartTls);
                        }
                        Output::Close => {
                            stream.write_all(replies.as_bytes()).await?;
                            stream.flush().await?;
                            return Ok(Ending::Closed);
                        }
                    }
                }
                if !act || pending.is_empty() {
                    break;
                }
            }
            if !replies.is_empty() {
                stream.write_all(replies.as_bytes()).await?;
                stream.flush().await?;
            }
            if session.in_transaction() {
                hold.get_or_insert_with(|| drain.hold());
            } else {
                hold = None;
            }
            let read = tokio::select! {
                biased;
                _ = drain.begun(), if !session.in_transaction() => {
                    stream.write_all(session.closing().as_bytes()).await?;
                    return Ok(Ending::Closed);
                }
                _ = stop.cancelled(), if !session.in_data() => {
                    stream.write_all(b"421 4.3.2 Service shutting down; try again later\r\n").await?;
                    return Ok(Ending::Closed);
                }
                read = tokio::time::timeout(self.timeout, stream.read(&mut chunk)) => read,
            };
            match read {
                Ok(Ok(0)) => return Ok(Ending::Closed),
                Ok(Ok(n)) => pending.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    stream.write_all(b"421 4.4.2 Timeout; closing the connection\r\n").await?;
                    return Ok(Ending::Closed);
                }
            }
        }
    }
}

/// The `madoguchi_mails_total` result a session's reply stands for, when it refuses a message
/// or a recipient (552 too large, by SIZE or after DATA; 550 an unknown recipient).
fn refusal(reply: &str) -> Option<&'static str> {
    match reply.get(..3)? {
        "552" => Some("too_large"),
        "550" => Some("recipient_rejected"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusals_are_named_by_their_reply_code() {
        assert_eq!(super::refusal("552 5.3.4 Message size exceeds the limit\r\n"), Some("too_large"));
        assert_eq!(super::refusal("550 5.1.1 No such recipient here\r\n"), Some("recipient_rejected"));
        assert_eq!(super::refusal("250 2.1.5 Recipient OK\r\n"), None);
        assert_eq!(super::refusal(""), None);
    }
}
