//! Signing in and out of the console. The sign-in form carries its own CSRF token, bound to a
//! short-lived `madoguchi_login` cookie, so no other site can sign a browser in as someone else;
//! failures are counted per account and per address (`domain::login_limit`); every sign-in,
//! failure and sign-out is audited with the source address, never the password.

use super::layout::{self, Lang, language_switch, page, t};
use crate::domain::login_limit::{LoginLimiter, retry_after_secs};
use crate::domain::origin::local_path;
use crate::domain::time::now_millis;
use crate::http::auth::{Acting, CSRF_FIELD, MaybeSession, from_this_origin, to_login};
use crate::http::cookie::{self, SetCookie};
use crate::http::{ApiError, AppState};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

/// The failure counters, shared by every sign-in.
pub type Limiter = Arc<Mutex<LoginLimiter>>;

/// How long the sign-in form may stay open before it must be loaded again.
const FORM_SECONDS: u64 = 3600;

/// The client's address, when the server was started with it (tests that build the router
/// alone have none, and then only accounts are counted).
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NextQuery {
    next: String,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct LoginForm {
    login: String,
    password: String,
    next: String,
    csrf: String,
}

/// What the form says above its fields.
enum Notice {
    None,
    WrongCredentials,
    Expired,
    OtherSite,
    TooMany { minutes: u64 },
    Unavailable,
}

/// `GET /login`: the sign-in form.
pub async fn form(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NextQuery>) -> Response {
    form_page(&state, Lang::of(&headers), StatusCode::OK, &q.next, "", Notice::None)
}

/// `POST /login` (form fields `login`, `password`, `next`, `csrf`): 303 to `next` with a new
/// session, or the form again with why not.
pub async fn sign_in(
    State(state): State<AppState>,
    Extension(limiter): Extension<Limiter>,
    Peer(peer): Peer,
    RequestHead(head): RequestHead,
    body: Bytes,
) -> Response {
    let same_origin = from_this_origin(&head, &state.limits.hostnames);
    let headers = head.headers();
    let lang = Lang::of(headers);
    let f: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let again = |status, notice| form_page(&state, lang, status, &f.next, &f.login, notice);
    if !same_origin {
        return again(StatusCode::FORBIDDEN, Notice::OtherSite);
    }
    let bound = cookie::get(headers, cookie::LOGIN).unwrap_or_default();
    if !crate::auth::same_secret(&f.csrf, bound) {
        return again(StatusCode::FORBIDDEN, Notice::Expired);
    }
    let source = json!(peer.map(|ip| ip.to_string()));
    let typed: String = f.login.trim().chars().take(64).collect();
    let now = now_millis();
    // Counted as a failure before the password is checked, so parallel guesses all count; a
    // success takes it back.
    let blocked = {
        let mut limiter = limiter.lock().unwrap_or_else(|p| p.into_inner());
        let blocked = limiter.check(&typed, peer, now).err();
        if blocked.is_none() {
            limiter.failed(&typed, peer, now);
        }
        blocked
    };
    if let Some(ms) = blocked {
        audit(&state, "-", "login_failed", &typed, json!({"source": source, "reason": "rate_limited"})).await;
        let secs = retry_after_secs(ms);
        let mut response = again(StatusCode::TOO_MANY_REQUESTS, Notice::TooMany { minutes: secs.div_ceil(60) });
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    // A login longer than any login can be is nobody's (and is not sent to the database).
    let login = f.login.trim();
    let known = if login.chars().count() <= 64 { state.store.user_credentials(login).await } else { Ok(None) };
    let credentials = match known {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "sign-in: the store did not answer");
            limiter.lock().unwrap_or_else(|p| p.into_inner()).withdrawn(&typed, peer);
            return again(StatusCode::SERVICE_UNAVAILABLE, Notice::Unavailable);
        }
    };
    let password = f.password.clone();
    let stored = credentials.as_ref().map(|(_, hash)| hash.clone());
    let verified = tokio::task::spawn_blocking(move || crate::auth::verify_or_waste(&password, stored.as_deref()))
        .await
        .unwrap_or(false);
    let identity = match credentials {
        Some((identity, _)) if verified => identity,
        _ => {
            audit(&state, "-", "login_failed", &typed, json!({"source": source, "reason": "wrong_login_or_password"}))
                .await;
            return again(StatusCode::UNAUTHORIZED, Notice::WrongCredentials);
        }
    };
    limiter.lock().unwrap_or_else(|p| p.into_inner()).succeeded(&typed, peer);
    let (id, id_hash) = crate::auth::new_session_id();
    let csrf = crate::auth::random_hex();
    let replacing =
        cookie::get(headers, cookie::SESSION).filter(|v| cookie::is_our_secret(v)).map(crate::auth::token_hash);
    let started = state
        .store
        .start_session(identity.user_id, &id_hash, &csrf, replacing.as_deref(), state.limits.session, now)
        .await;
    if let Err(e) = started {
        tracing::error!(error = %e, "sign-in: the session was not stored");
        return again(StatusCode::SERVICE_UNAVAILABLE, Notice::Unavailable);
    }
    audit(&state, &identity.login, "login_ok", &identity.login, json!({"source": source})).await;
    let next = local_path(&f.next).filter(|n| !n.starts_with("/login")).unwrap_or("/");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_str(next).unwrap_or(HeaderValue::from_static("/")));
    let secure = state.limits.secure;
    let session = SetCookie { name: cookie::SESSION, value: &id, path: "/", max_age: None, same_site: "Lax", secure };
    h.append(header::SET_COOKIE, session.header());
    h.append(header::SET_COOKIE, SetCookie::removal(cookie::LOGIN, "/login", secure).header());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /logout` (with the session's CSRF token): the session ends; 303 to the sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
    Acting(identity): Acting,
    MaybeSession(session): MaybeSession,
    Peer(peer): Peer,
) -> Response {
    if let Some(session) = session {
        if let Err(e) = state.store.end_session(&session.id_hash).await {
            return ApiError::from(e).into_response();
        }
        let source = json!(peer.map(|ip| ip.to_string()));
        audit(&state, &identity.login, "logout", &identity.login, json!({"source": source})).await;
    }
    let mut response = to_login(None);
    let removal = SetCookie::removal(cookie::SESSION, "/", state.limits.secure);
    response.headers_mut().append(header::SET_COOKIE, removal.header());
    response
}

/// The request's head, the body being read after it.
pub struct RequestHead(axum::http::Request<()>);

impl<S: Send + Sync> FromRequestParts<S> for RequestHead {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(RequestHead(axum::http::Request::from_parts(parts.clone(), ())))
    }
}

/// A sign-in is answered even when its audit line could not be written (and that is logged).
async fn audit(state: &AppState, actor: &str, action: &str, subject: &str, detail: serde_json::Value) {
    if let Err(e) = state.store.audit(actor, action, subject, &detail).await {
        tracing::error!(error = %e, action, "audit not written");
    }
}

/// The form with a new CSRF token (and its cookie), `login` filled in again.
fn form_page(state: &AppState, lang: Lang, status: StatusCode, next: &str, login: &str, notice: Notice) -> Response {
    let token = crate::auth::random_hex();
    let next = local_path(next).unwrap_or("/");
    let mut response = page(status, login_page(lang, &token, next, login, &notice));
    let bound = SetCookie {
        name: cookie::LOGIN,
        value: &token,
        path: "/login",
        max_age: Some(FORM_SECONDS),
        same_site: "Strict",
        secure: state.limits.secure,
    };
    response.headers_mut().append(header::SET_COOKIE, bound.header());
    response
}

fn notice_text(lang: Lang, notice: &Notice) -> Option<String> {
    let text = match notice {
        Notice::None => return None,
        Notice::WrongCredentials => {
            t(lang, "ログインIDまたはパスワードが違います / wrong login or password", "Wrong login or password.").into()
        }
        Notice::Expired => t(
            lang,
            "ページの有効期限が切れました。もう一度ログインしてください / the page had expired; please sign in again",
            "The page had expired; please sign in again.",
        )
        .into(),
        Notice::OtherSite => t(
            lang,
            "別のサイトからのログインは受け付けません / sign-in from another site is refused",
            "Sign-in from another site is refused.",
        )
        .into(),
        Notice::TooMany { minutes } => match lang {
            Lang::Ja => format!(
                "ログインの失敗が続いたため、{minutes}分ほどログインできません / too many failed sign-ins; try again in {minutes} min"
            ),
            Lang::En => format!("Too many failed sign-ins; try again in {minutes} min."),
        },
        Notice::Unavailable => t(
            lang,
            "ただいまログインできません。しばらくしてからお試しください / sign-in is unavailable; try again shortly",
            "Sign-in is unavailable; try again shortly.",
        )
        .into(),
    };
    Some(text)
}

fn login_page(lang: Lang, token: &str, next: &str, login: &str, notice: &Notice) -> Markup {
    let title = t(lang, "ログイン", "Sign in");
    html! {
        (maud::DOCTYPE)
        html lang=(lang.code()) {
            (layout::head(title))
            body.login {
                main.login-box {
                    h1 { "窓口 madoguchi" }
                    p.subtitle { (t(lang, "ヘルプデスク コンソールにログイン", "Sign in to the helpdesk console")) }
                    @if let Some(text) = notice_text(lang, notice) {
                        p.error role="alert" { (text) }
                    }
                    form method="post" action="/login" {
                        input type="hidden" name=(CSRF_FIELD) value=(token);
                        input type="hidden" name="next" value=(next);
                        label for="login" { (t(lang, "ログインID", "Login")) }
                        input #login type="text" name="login" value=(login) autocomplete="username" required autofocus[login.is_empty()];
                        label for="password" { (t(lang, "パスワード", "Password")) }
                        input #password type="password" name="password" autocomplete="current-password" required autofocus[!login.is_empty()];
                        button type="submit" { (title) }
                    }
                    (language_switch(lang))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_what_was_typed_and_keeps_only_local_next() {
        let html = login_page(Lang::Ja, "tok", "/mine", "\"><script>", &Notice::WrongCredentials).into_string();
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""), "{html}");
        assert!(html.contains("ログインIDまたはパスワードが違います / wrong login or password"), "{html}");
        assert!(html.contains("name=\"next\" value=\"/mine\""), "{html}");
        assert!(!html.contains("<script>") && !html.contains("style="), "{html}");
        let html = login_page(Lang::En, "tok", "/", "", &Notice::TooMany { minutes: 3 }).into_string();
        assert!(html.contains("try again in 3 min") && html.contains("<html lang=\"en\">"), "{html}");
    }
}
