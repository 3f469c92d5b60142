//! The SMTP/LMTP listener: accepts connections (at most `max_connections` at once), runs a
//! [`Session`] over each, stores delivered messages through [`MailIntake`], and upgrades to TLS
//! on STARTTLS. A client silent for `timeout_secs` is told 421 and disconnected; so is every
//! idle client when the service stops.

use super::deliver::MailIntake;
use super::session::{DeliveryResult, Output, Session, SessionConfig};
use crate::config::MailSettings;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path} holds no usable {what}")]
    Empty { path: String, what: &'static str },
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// A TLS acceptor from PEM files, for STARTTLS.
pub fn tls_acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| TlsError::Read { path: p.display().to_string(), source });
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice()).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::Empty { path: cert.display().to_string(), what: "certificate" });
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::Empty { path: key.display().to_string(), what: "private key" })?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

pub struct MailServer {
    listener: TcpListener,
    config: Arc<SessionConfig>,
    tls: Option<TlsAcceptor>,
    intake: MailIntake,
    slots: Arc<Semaphore>,
    timeout: Duration,
}

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
            timeout: Duration::from_secs(settings.timeout_secs),
        }
    }

    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `stop` is cancelled; connections run on `tracker`.
    pub async fn run(self, stop: CancellationToken, tracker: TaskTracker) {
        let server = Arc::new(self);
        loop {
            let slot = tokio::select! {
                _ = stop.cancelled() => break,
                slot = server.slots.clone().acquire_owned() => match slot { Ok(s) => s, Err(_) => break },
            };
            let (stream, peer) = tokio::select! {
                _ = stop.cancelled() => break,
                accepted = server.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "mail accept failed");
                        continue;
                    }
                },
            };
            let server = server.clone();
            let stop = stop.clone();
            tracker.spawn(async move {
                let _slot = slot;
                let _ = stream.set_nodelay(true);
                if let Err(e) = server.connection(stream, &stop).await {
                    tracing::debug!(error = %e, %peer, "mail connection ended with an error");
                }
            });
        }
    }

    async fn connection(&self, mut stream: tokio::net::TcpStream, stop: &CancellationToken) -> io::Result<()> {
        let mut session = Session::new(self.config.clone());
        stream.write_all(session.greeting().as_bytes()).await?;
        if let Ending::StartTls = self.converse(&mut stream, &mut session, stop).await? {
            let Some(acceptor) = &self.tls else { return Ok(()) };
            let mut tls = tokio::time::timeout(self.timeout, acceptor.accept(stream))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
            session.tls_started();
            self.converse(&mut tls, &mut session, stop).await?;
            let _ = tls.shutdown().await;
        }
        Ok(())
    }

    async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: &mut S,
        session: &mut Session,
        stop: &CancellationToken,
    ) -> io::Result<Ending> {
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
                        Output::Reply(r) => replies.push_str(&r),
                        Output::Deliver(envelope) => {
                            stream.write_all(replies.as_bytes()).await?;
                            replies.clear();
                            let result = match self.intake.deliver(&envelope.mail_from, envelope.data).await {
                                Ok(r) => DeliveryResult::Stored { ticket: r.ticket.to_string() },
                                Err(e) => {
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
            let read = tokio::select! {
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
