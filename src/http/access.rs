//! The access log: one line per HTTP request, at info with target `access` (`[log] access`):
//! method, route, status, time to the response's head, body bytes (when known before it is
//! sent; a stream such as `/api/events` has none), the signed-in login and the client's address.
//! The route is the pattern that matched (`/api/tickets/{number}`, `/survey/{token}`), never the
//! path as sent nor its query string: searches (`?q=`, `?caller=`) carry personal data and a
//! survey's path its secret. A request no route matched is logged as route `-`.

use axum::body::HttpBody;
use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;
use std::time::Instant;

/// In a response's extensions: the login of the user who made the request.
#[derive(Debug, Clone)]
pub struct SignedIn(pub String);

pub async fn log(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    let remote = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let response = next.run(request).await;
    let line = Line {
        method: method.as_str(),
        route: route.as_deref().unwrap_or("-"),
        status: response.status().as_u16(),
        seconds: started.elapsed().as_secs_f64(),
        bytes: response.body().size_hint().exact(),
        user: response.extensions().get::<SignedIn>().map(|s| s.0.as_str()).unwrap_or("-"),
        remote: remote.map(|ip| ip.to_string()).unwrap_or_else(|| "-".into()),
    };
    line.emit();
    response
}

/// What one access line says.
struct Line<'a> {
    method: &'a str,
    route: &'a str,
    status: u16,
    seconds: f64,
    bytes: Option<u64>,
    user: &'a str,
    remote: String,
}

impl Line<'_> {
    fn emit(&self) {
        let Line { method, route, status, user, .. } = self;
        let (ms, remote) = ((self.seconds * 1e6).round() / 1e3, self.remote.as_str());
        // Shown as they are, unquoted: none holds a space (a route is a pattern, a login a word).
        match self.bytes {
            Some(bytes) => tracing::info!(
                target: "access", method = %method, route = %route, status, ms, bytes, user = %user, remote = %remote, "access"
            ),
            None => tracing::info!(
                target: "access", method = %method, route = %route, status, ms, user = %user, remote = %remote, "access"
            ),
        }
    }
}
