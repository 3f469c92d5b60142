//! `GET /metrics`: the service's counters in the Prometheus text format (see
//! [`crate::metrics`]). On `[http] listen` it needs a supervisor's or an admin's token or
//! session, or `[metrics] token` (compared in constant time); on `[metrics] listen`, an address
//! of its own for the site's Prometheus, it needs nothing.

use super::auth::{self, Acting};
use super::{ApiError, AppState};
use crate::domain::user::Role;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// On the main listener: the metrics token, or a supervisor or admin.
pub async fn scrape(State(state): State<AppState>, request: Request) -> Response {
    let token = state.limits.metrics_token.expose();
    if !token.is_empty() && auth::bearer(&request).is_some_and(|sent| same_token(sent, token)) {
        return exposition(&state);
    }
    let request = match auth::identify(&state, request).await {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    match request.extensions().get::<Acting>().map(|a| a.require(Role::Supervisor)) {
        Some(Ok(_)) => exposition(&state),
        Some(Err(e)) => e.into_response(),
        None => ApiError::Unauthenticated.into_response(),
    }
}

/// On `[metrics] listen`: anyone who reaches that address.
pub async fn open(State(state): State<AppState>) -> Response {
    exposition(&state)
}

fn exposition(state: &AppState) -> Response {
    let sampled = crate::metrics::Sampled { intake_queue_depth: state.intake.queue_depth() };
    let mut response = state.store.metrics().render(sampled).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether `sent` is `ours`, in time that depends on neither (both are hashed first, so not
/// even their lengths are compared).
fn same_token(sent: &str, ours: &str) -> bool {
    use subtle::ConstantTimeEq;
    bool::from(Sha256::digest(sent.as_bytes()).ct_eq(&Sha256::digest(ours.as_bytes())))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_match_only_themselves() {
        assert!(super::same_token("a metrics token 123", "a metrics token 123"));
        assert!(!super::same_token("a metrics token 124", "a metrics token 123"));
        assert!(!super::same_token("", "a metrics token 123"));
    }
}
