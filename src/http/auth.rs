//! Who is asking: every route but `/healthz` needs an identity, from `Authorization: Bearer
//! <token>` (later also the console's session cookie). The identity is the acting user of every
//! change; a handler that needs more than an operator asks with [`Acting::require`].

use super::{ApiError, AppState};
use crate::domain::user::{Identity, Role};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The authenticated identity of a request (put there by [`authenticate`]).
#[derive(Debug, Clone)]
pub struct Acting(pub Identity);

impl Acting {
    pub fn require(&self, role: Role) -> Result<&Identity, ApiError> {
        if self.0.role.allows(role) { Ok(&self.0) } else { Err(ApiError::Forbidden(role)) }
    }

    pub fn login(&self) -> String {
        self.0.login.clone()
    }
}

/// Which credential authenticated a request (put there by [`authenticate`] next to [`Acting`]):
/// what per-client limits count against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// An API token, by its stored hash.
    Token(String),
}

impl<S: Send + Sync> FromRequestParts<S> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Acting>().cloned().ok_or(ApiError::Unauthenticated)
    }
}

/// Middleware: 401 unless the request carries a valid token of an enabled user.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(token) = bearer(&request) else { return ApiError::Unauthenticated.into_response() };
    let hash = crate::auth::token_hash(token);
    match state.store.identity_for_token(&hash).await {
        Ok(Some(identity)) => {
            request.extensions_mut().insert(Acting(identity));
            request.extensions_mut().insert(Credential::Token(hash));
            next.run(request).await
        }
        Ok(None) => ApiError::Unauthenticated.into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Middleware: 421 for a Host header that names someone else's host (DNS rebinding).
pub async fn known_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // HTTP/1.0 clients (probes) may send none; browsers, which rebinding abuses, always do.
    let host = request.headers().get(header::HOST).map(|h| h.to_str().unwrap_or_default());
    if host.is_none_or(|h| crate::domain::host::host_allowed(h, &state.limits.hostnames)) {
        next.run(request).await
    } else {
        ApiError::MisdirectedHost.into_response()
    }
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}
