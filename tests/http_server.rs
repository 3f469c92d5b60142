//! The HTTP server's own doors: clients that send a request head slowly are dropped, HTTPS is
//! served directly (and the handshake is bounded too), and each API token has its rate.

mod common;

use common::{Db, TestDb, grant, spawn_with};
use madoguchi::domain::user::Role;
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the server may take to close what it must close: generous, the test machine is shared.
const DEADLINE: Duration = Duration::from_secs(20);

/// Reads until the server closes the connection (EOF or a reset), failing past `deadline`.
async fn closed_by_server(mut stream: TcpStream, deadline: tokio::time::Instant) {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("the server kept a connection open past the deadline"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_a_request_head_are_dropped() {
    let db = TestDb::new(Db::Sqlite, "slow_heads").await.unwrap();
    let app = spawn_with(db, |s| s.http.header_timeout_ms = 500).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    let health = reqwest::get(app.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200, "a normal request is answered while the slow ones are open");
    let authorised = app.client.get(app.url("/api/tickets")).send().await.unwrap();
    assert_eq!(authorised.status(), 200);

    let deadline = tokio::time::Instant::now() + DEADLINE;
    let waits: Vec<_> = slow.into_iter().map(|s| tokio::spawn(closed_by_server(s, deadline))).collect();
    for wait in waits {
        wait.await.unwrap();
    }

    // Keep-alive still works: two requests, one connection.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut seen = String::new();
    for answered in 1..=2 {
        stream.write_all(request).await.unwrap();
        while seen.matches("HTTP/1.1 200").count() < answered || !seen.ends_with("}") {
            let mut buf = [0u8; 1024];
            let n = tokio::time::timeout(DEADLINE, stream.read(&mut buf)).await.unwrap().unwrap();
            assert_ne!(n, 0, "the connection stayed open for a second request: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_served_directly_and_plain_http_is_not() {
    let test = "https_is_served_directly";
    if !common::tool("openssl", test) {
        return;
    }
    let db = TestDb::new(Db::Sqlite, test).await.unwrap();
    let (cert, key) = common::self_signed(db.dir.path());
    let app = spawn_with(db, move |s| {
        s.http.tls_cert = cert;
        s.http.tls_key = key;
        s.http.header_timeout_ms = 500;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let https = |token: Option<&str>| {
        let mut builder = reqwest::Client::builder().use_rustls_tls().danger_accept_invalid_certs(true);
        if let Some(token) = token {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
            builder = builder.default_headers(headers);
        }
        builder.build().unwrap()
    };
    let health = https(None).get(format!("https://{addr}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let tickets = https(Some(&app.token)).get(format!("https://{addr}/api/tickets")).send().await.unwrap();
    assert_eq!(tickets.status(), 200, "the API over HTTPS");
    let plain = reqwest::Client::new().get(format!("http://{addr}/healthz")).send().await;
    assert!(plain.is_err(), "plain HTTP to the HTTPS port: {plain:?}");

    // A client that opens a connection and never starts the handshake is dropped too.
    let silent = TcpStream::connect(&addr).await.unwrap();
    closed_by_server(silent, tokio::time::Instant::now() + DEADLINE).await;
    app.stop().await;
}

async fn each_token_has_its_own_rate(db: Db) {
    let Some(db) = TestDb::new(db, "rate_per_token").await else { return };
    let app = spawn_with(db, |s| s.http.requests_per_minute = 5).await;
    let other = common::authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    for i in 1..=5 {
        let r = app.client.get(app.url("/api/tickets")).send().await.unwrap();
        assert_eq!(r.status(), 200, "request {i} of the burst");
    }
    let refused = app.client.get(app.url("/api/tickets")).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "one request's share of a minute at 5/min: {retry}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("リクエストが多すぎます"), "{body}");

    assert_eq!(other.get(app.url("/api/tickets")).send().await.unwrap().status(), 200, "another token still passes");
    let anonymous = reqwest::Client::new();
    assert_eq!(anonymous.get(app.url("/api/tickets")).send().await.unwrap().status(), 401, "no token is 401, not 429");
    assert_eq!(anonymous.get(app.url("/healthz")).send().await.unwrap().status(), 200);
    app.stop().await;
}

on_both_backends!(each_token_has_its_own_rate);
