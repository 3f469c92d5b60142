//! The HTTP server loop: accepts connections (at most `[http] max_connections` at once; beyond
//! them new ones wait in the listen queue), does the TLS handshake when HTTPS is configured, and
//! serves the router over HTTP/1.1 with keep-alive. A client must finish the handshake and each
//! request head within `[http] header_timeout_ms`, or its connection is closed; responses (server-sent
//! events too) are never limited. Handlers can take `ConnectInfo<SocketAddr>`. On stop, no
//! connection is accepted any more, requests in flight finish, idle connections close.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// An accept that fails (out of file descriptors) is retried after a pause, and logged at most
/// once a second.
const ACCEPT_FAILURE_PAUSE: Duration = Duration::from_millis(100);
const ACCEPT_FAILURE_LOG_EVERY: Duration = Duration::from_secs(1);

/// How the server treats connections, from `[http]`.
#[derive(Clone)]
pub(crate) struct ServerConfig {
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// HTTPS when set.
    pub tls: Option<TlsAcceptor>,
}

impl ServerConfig {
    /// The settings' server, with the TLS acceptor already made from `[http] tls_cert`/`tls_key`.
    pub fn of(settings: &crate::config::HttpSettings, tls: Option<TlsAcceptor>) -> ServerConfig {
        ServerConfig {
            header_timeout: Duration::from_millis(settings.header_timeout_ms),
            max_connections: settings.max_connections as usize,
            tls,
        }
    }
}

/// Serves `router` on `listener` until `stop` is cancelled and every connection has finished.
pub(crate) async fn serve(listener: TcpListener, router: Router, config: ServerConfig, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let connections = TaskTracker::new();
    let mut last_failure_log: Option<tokio::time::Instant> = None;
    let mut failures_unlogged = 0u64;
    loop {
        let slot = tokio::select! {
            _ = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    failures_unlogged += 1;
                    if last_failure_log.is_none_or(|t| t.elapsed() >= ACCEPT_FAILURE_LOG_EVERY) {
                        tracing::warn!(error = %e, failures = failures_unlogged, "HTTP accept failed");
                        last_failure_log = Some(tokio::time::Instant::now());
                        failures_unlogged = 0;
                    }
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(ACCEPT_FAILURE_PAUSE) => continue,
                    }
                }
            },
        };
        let (router, config, stop) = (router.clone(), config.clone(), stop.clone());
        connections.spawn(async move {
            let _slot = slot;
            connection(stream, peer, router, &config, &stop).await;
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    config: &ServerConfig,
    stop: &CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    match &config.tls {
        None => http(stream, peer, router, config.header_timeout, stop).await,
        Some(acceptor) => match tokio::time::timeout(config.header_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => http(tls, peer, router, config.header_timeout, stop).await,
            Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!("TLS handshake timed out"),
        },
    }
}

/// HTTP/1.1 over one connection, until the client closes it, a head is too slow, or the service
/// stops (then after the request in flight).
async fn http<I>(io: I, peer: SocketAddr, router: Router, header_timeout: Duration, stop: &CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        tower_service::Service::call(&mut router.clone(), request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;

    #[tokio::test]
    async fn handlers_see_the_clients_address_and_stop_waits_for_requests_in_flight() {
        let (started, mut started_rx) = tokio::sync::mpsc::channel::<()>(1);
        let (release, release_rx) = tokio::sync::watch::channel(false);
        let router = Router::new()
            .route("/peer", get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }))
            .route(
                "/slow",
                get(move || {
                    let (started, mut release) = (started.clone(), release_rx.clone());
                    async move {
                        let _ = started.send(()).await;
                        let _ = release.wait_for(|r| *r).await;
                        "finished"
                    }
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let config = ServerConfig { header_timeout: Duration::from_secs(5), max_connections: 4, tls: None };
        let server = tokio::spawn(serve(listener, router, config, stop.clone()));

        let client = reqwest::Client::new();
        let seen = client.get(format!("{base}/peer")).send().await.unwrap().text().await.unwrap();
        let seen: SocketAddr = seen.parse().unwrap();
        assert!(seen.ip().is_loopback() && seen.port() != 0, "{seen}");

        let slow = tokio::spawn(client.get(format!("{base}/slow")).send());
        started_rx.recv().await.unwrap();
        stop.cancel();
        assert!(!server.is_finished());
        release.send(true).unwrap();
        let answer = slow.await.unwrap().unwrap();
        assert_eq!(answer.text().await.unwrap(), "finished", "the request in flight finished");
        server.await.unwrap();
        assert!(TcpStream::connect(base.trim_start_matches("http://")).await.is_err(), "no longer accepting");
    }
}
