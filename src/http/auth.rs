//! Who is asking: every route but `/healthz`, the sign-in page and the console's assets needs an
//! identity, from `Authorization: Bearer <token>` or, failing that, the console's session
//! cookie. The identity is the acting user of every change; a handler that needs more than an
//! operator asks with [`Acting::require`]. A change made with the cookie must carry the
//! session's CSRF token and must not come from a page of another origin.

use super::cookie;
use super::extract::BodyLimit;
use super::{ApiError, AppState};
use crate::domain::origin::origin_allowed;
use crate::domain::time::now_millis;
use crate::domain::user::{Identity, Role};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The header a console script sends the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The form field a plain HTML form sends it in.
pub const CSRF_FIELD: &str = "csrf";
/// Form bodies read to find the CSRF field at most, when no body limit is known.
const FORM_LIMIT: usize = 64 * 1024;

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

impl<S: Send + Sync> FromRequestParts<S> for Acting {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Acting>().cloned().ok_or(ApiError::Unauthenticated)
    }
}

/// Which credential a request was made with, `token:<id>` or `session:<id>` (row ids, no
/// secret): what a per-credential limit counts by. In the request's extensions with [`Acting`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Credential(pub String);

/// The console session of a request made with the cookie (absent for Bearer requests).
#[derive(Debug, Clone)]
pub struct Session {
    /// What the store keys the session by.
    pub id_hash: String,
    pub csrf: String,
}

/// The request's [`Session`], if it was made with the cookie.
pub struct MaybeSession(pub Option<Session>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeSession {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeSession(parts.extensions.get::<Session>().cloned()))
    }
}

/// Middleware for the API: 401 unless the request carries a valid token or session.
pub async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match identify(&state, request).await {
        Ok(request) => signed_in(request, next).await,
        Err(e) => e.into_response(),
    }
}

/// Runs the request; its response names who made it, for the access log.
async fn signed_in(request: Request, next: Next) -> Response {
    let login = request.extensions().get::<Acting>().map(|a| super::access::SignedIn(a.login()));
    let mut response = next.run(request).await;
    if let Some(login) = login {
        response.extensions_mut().insert(login);
    }
    response
}

/// Middleware for the console's pages: like [`authenticate`], but a browser without a session
/// is sent to the sign-in page (and back here afterwards) instead of being shown a 401.
pub async fn authenticate_page(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let back = (request.method() == Method::GET)
        .then(|| request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into()));
    match identify(&state, request).await {
        Ok(request) => signed_in(request, next).await,
        Err(ApiError::Unauthenticated) => to_login(back.as_deref()),
        Err(e) => e.into_response(),
    }
}

/// `303 /login?next=…`.
pub fn to_login(next: Option<&str>) -> Response {
    let location = match next {
        Some(next) if next != "/" => {
            format!("/login?{}", serde_urlencoded::to_string([("next", next)]).unwrap_or_default())
        }
        _ => "/login".to_owned(),
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// The request with [`Acting`], [`Credential`] (and for a cookie [`Session`]) in its
/// extensions, or why not. Bearer is tried first; a wrong token is not rescued by a cookie.
pub(super) async fn identify(state: &AppState, mut request: Request) -> Result<Request, ApiError> {
    if let Some(token) = bearer(&request) {
        let hash = crate::auth::token_hash(token);
        let (id, identity) = state.store.token_identity(&hash).await?.ok_or(ApiError::Unauthenticated)?;
        request.extensions_mut().insert(Acting(identity));
        request.extensions_mut().insert(Credential(format!("token:{id}")));
        return Ok(request);
    }
    let id = cookie::get(request.headers(), cookie::SESSION)
        .filter(|v| cookie::is_our_secret(v))
        .ok_or(ApiError::Unauthenticated)?;
    let id_hash = crate::auth::token_hash(id);
    let session =
        state.store.session(&id_hash, state.limits.session, now_millis()).await?.ok_or(ApiError::Unauthenticated)?;
    if changes_state(request.method()) {
        if !from_this_origin(&request, &state.limits.hostnames) {
            return Err(ApiError::CrossOrigin);
        }
        let (sent, checked) = csrf_sent(request).await?;
        request = checked;
        if !sent.is_some_and(|sent| crate::auth::same_secret(&sent, &session.csrf)) {
            return Err(ApiError::Csrf);
        }
    }
    request.extensions_mut().insert(Acting(session.identity));
    request.extensions_mut().insert(Credential(format!("session:{}", session.id)));
    request.extensions_mut().insert(Session { id_hash, csrf: session.csrf });
    Ok(request)
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// No `Origin` (an old browser, a script), or one naming the host the request was sent to or a
/// configured host name; and no `Sec-Fetch-Site` saying another site sent it.
pub fn from_this_origin<B>(request: &axum::http::Request<B>, hostnames: &[String]) -> bool {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    let origin_ok = match headers.get(header::ORIGIN) {
        None => true,
        Some(origin) => origin.to_str().is_ok_and(|o| origin_allowed(o, host, hostnames)),
    };
    let site_ok = match headers.get("sec-fetch-site") {
        None => true,
        Some(site) => matches!(site.to_str().unwrap_or_default(), "same-origin" | "none"),
    };
    origin_ok && site_ok
}

/// The CSRF token a request sent: the header, or a plain form's `csrf` field (the body is read
/// for it, and put back for the handler).
async fn csrf_sent(request: Request) -> Result<(Option<String>, Request), ApiError> {
    if let Some(value) = request.headers().get(CSRF_HEADER) {
        let sent = value.to_str().ok().map(str::to_owned);
        return Ok((sent, request));
    }
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Ok((None, request));
    }
    let limit = request.extensions().get::<BodyLimit>().map_or(FORM_LIMIT, |l| l.0);
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::TooLarge(limit))?;
    let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|fields| fields.into_iter().find(|(k, _)| k == CSRF_FIELD).map(|(_, v)| v));
    Ok((sent, Request::from_parts(parts, Body::from(bytes))))
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

pub(super) fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}
