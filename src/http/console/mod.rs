//! The operator console, served by `madoguchi serve` itself: server-rendered pages (maud,
//! escaped by default) on the JSON API, signed in with a session cookie.
//!
//! - `login`: the sign-in form, sign-in (rate-limited, audited) and sign-out.
//! - `layout`: the page shell and the headers every page carries.
//! - `assets`: the stylesheet and scripts, inside the binary.
//!
//! Pages without a session go to `/login?next=…`; `/api/session` tells the console's script who
//! is signed in and the CSRF token its changes must send.

mod assets;
mod layout;
mod login;
mod reports;

use super::auth::{self, Acting, MaybeSession};
use super::{ApiError, AppState};
use crate::domain::login_limit::LoginLimiter;
use crate::domain::user::Role;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use layout::{Nav, Viewer, layout, page, t};
use maud::html;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// The console's routes: the sign-in page and assets open to all, the pages behind a session
/// (or a token); `/api/session` is in [`api_routes`].
pub fn routes(state: &AppState) -> Router<AppState> {
    let limiter: login::Limiter = Arc::new(Mutex::new(LoginLimiter::default()));
    let open = Router::new()
        .route("/login", get(login::form).post(login::sign_in))
        .route("/assets/{name}", get(assets::serve))
        .layer(Extension(limiter));
    let pages = Router::new()
        .route("/", get(queue))
        .route("/mine", get(mine))
        .route("/calls", get(calls))
        .route("/callbacks", get(callbacks))
        .route("/new", get(new_contact))
        .route("/announcements", get(announcements))
        .route("/contact-list", get(contact_list))
        .route("/interview-templates", get(interview_templates))
        .route("/faq-desk", get(faq_desk))
        .route("/admin", get(admin))
        .route("/reports", get(reports::reports))
        .route("/tickets/{number}", get(ticket))
        .route("/logout", post(login::sign_out))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate_page));
    open.merge(pages)
}

/// The console's JSON route, `/api/session`, behind the API's authentication (not its rate
/// limit); in the OpenAPI document with the rest of the API.
pub fn api_routes(state: &AppState) -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(session))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
}

/// `GET /api/session`: who is signed in, and the CSRF token (`null` for a Bearer token).
#[utoipa::path(
    get,
    path = "/api/session",
    tag = "session",
    operation_id = "session",
    responses((status = 200, description = "{login, name, role, csrf}: who is signed in", body = Object))
)]
async fn session(acting: Acting, MaybeSession(session): MaybeSession) -> Json<Value> {
    let who = acting.0;
    Json(json!({
        "login": who.login,
        "name": who.name,
        "role": who.role,
        "csrf": session.map(|s| s.csrf),
    }))
}

/// A page the console's script fills from the JSON API: its title, and an element naming the
/// page (`data-page`) with what the script needs (`data-ticket`). Without JavaScript it says so.
fn desk_page(viewer: &Viewer, title: &str, nav: Nav, name: &str, ticket: Option<&str>) -> Response {
    let lang = viewer.lang;
    let body = html! {
        // The ticket page's own heading (number and subject) comes with its data.
        @if ticket.is_none() { h1 { (title) } }
        div.desk data-page=(name) data-ticket=[ticket] {
            noscript { (t(lang, "この画面には JavaScript が必要です。", "This page needs JavaScript.")) }
        }
    };
    page(StatusCode::OK, layout(viewer, title, nav, body))
}

/// `GET /`: the live queue of each tier (new, in progress, escalated, waiting), search and filters.
async fn queue(viewer: Viewer) -> Response {
    desk_page(&viewer, t(viewer.lang, "キュー", "Queue"), Nav::Queue, "queue", None)
}

/// `GET /mine`: the signed-in user's open tickets.
async fn mine(viewer: Viewer) -> Response {
    desk_page(&viewer, t(viewer.lang, "自分の担当", "My tickets"), Nav::Mine, "mine", None)
}

/// `GET /calls`: recent calls with number, name, time, outcome and ticket.
async fn calls(viewer: Viewer) -> Response {
    desk_page(&viewer, t(viewer.lang, "通話履歴", "Calls"), Nav::Calls, "calls", None)
}

/// `GET /callbacks`: each tier's open callback tasks, oldest first, with a form per task to
/// record an attempt.
async fn callbacks(viewer: Viewer) -> Response {
    desk_page(&viewer, t(viewer.lang, "折り返し", "Callbacks"), Nav::Callbacks, "callbacks", None)
}

/// `GET /new`: log a contact by hand (a walk-in, a call on an ordinary phone).
async fn new_contact(viewer: Viewer) -> Response {
    desk_page(&viewer, t(viewer.lang, "受付を記録", "Log a contact"), Nav::New, "new", None)
}

/// `GET /announcements`: each announcement slot, the version it plays and its versions (preview,
/// request, approve or reject, roll back), for every signed-in role; the API decides who may do
/// what.
async fn announcements(viewer: Viewer) -> Response {
    let title = t(viewer.lang, "アナウンス", "Announcements");
    desk_page(&viewer, title, Nav::Announcements, "announcements", None)
}

/// `GET /contact-list`: the escalation contact list by tier for every role; admins edit it here.
async fn contact_list(viewer: Viewer) -> Response {
    let title = t(viewer.lang, "連絡先一覧", "Contact list");
    desk_page(&viewer, title, Nav::ContactList, "contact_list", None)
}

/// `GET /faq-desk`: FAQ upkeep for every role (`/faq` is the public page): candidates from the
/// resolved tickets, drafts, the review step by step, publication; the API decides who may do what.
async fn faq_desk(viewer: Viewer) -> Response {
    desk_page(&viewer, "FAQ", Nav::Faq, "faq", None)
}

/// `GET /interview-templates`: the 問診 templates for every role; admins edit them here.
async fn interview_templates(viewer: Viewer) -> Response {
    let title = t(viewer.lang, "問診テンプレート", "Interview templates");
    desk_page(&viewer, title, Nav::InterviewTemplates, "interview_templates", None)
}

/// `GET /admin`: users and tokens (admins only).
async fn admin(viewer: Viewer) -> Response {
    let lang = viewer.lang;
    if !viewer.identity.role.allows(Role::Admin) {
        let text = t(lang, "この画面は管理者だけが使えます。", "Only admins may use this page.");
        let body = html! { h1 { (t(lang, "管理", "Admin")) } p.error { (text) } };
        return page(StatusCode::FORBIDDEN, layout(&viewer, t(lang, "管理", "Admin"), Nav::Admin, body));
    }
    desk_page(&viewer, t(lang, "管理", "Admin"), Nav::Admin, "admin", None)
}

/// `GET /tickets/{number}`: the ticket's timeline, work on it, reply, merge.
async fn ticket(viewer: Viewer, Path(number): Path<String>) -> Result<Response, ApiError> {
    let number: crate::domain::TicketNumber =
        number.parse().map_err(|_| ApiError::NotFound("no such ticket".into()))?;
    let title = format!("{} {}", t(viewer.lang, "チケット", "Ticket"), number.as_str());
    Ok(desk_page(&viewer, &title, Nav::None, "ticket", Some(number.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::user::Identity;
    use layout::Lang;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn viewer(role: Role, lang: Lang) -> Viewer {
        let identity = Identity { user_id: 7, login: "sato".into(), name: "佐藤".into(), role };
        Viewer { identity, lang, csrf: Some("c5rf".into()) }
    }

    #[tokio::test]
    async fn the_announcements_page_is_a_desk_page_for_every_role() {
        for role in [Role::Operator, Role::Supervisor, Role::Admin] {
            let response = announcements(viewer(role, Lang::Ja)).await;
            assert_eq!(response.status(), StatusCode::OK);
            let page = body(response).await;
            assert!(page.contains("<h1>アナウンス</h1>"), "{page}");
            assert!(page.contains("<div class=\"desk\" data-page=\"announcements\">"), "{page}");
            assert!(page.contains("<a href=\"/announcements\" aria-current=\"page\">アナウンス</a>"), "{page}");
        }
        let page = body(announcements(viewer(Role::Operator, Lang::En)).await).await;
        assert!(page.contains("<title>Announcements — 窓口 madoguchi</title>"), "{page}");
    }

    #[tokio::test]
    async fn the_faq_desk_is_a_desk_page_with_its_nav_link() {
        for role in [Role::Operator, Role::Supervisor] {
            let page = body(faq_desk(viewer(role, Lang::Ja)).await).await;
            assert!(page.contains("<h1>FAQ</h1>"), "{page}");
            assert!(page.contains("<div class=\"desk\" data-page=\"faq\">"), "{page}");
            assert!(page.contains("<a href=\"/faq-desk\" aria-current=\"page\">FAQ</a>"), "{page}");
        }
    }

    #[tokio::test]
    async fn the_callbacks_page_is_a_desk_page_with_its_nav_link() {
        let page = body(callbacks(viewer(Role::Operator, Lang::Ja)).await).await;
        assert!(page.contains("<h1>折り返し</h1>"), "{page}");
        assert!(page.contains("<div class=\"desk\" data-page=\"callbacks\">"), "{page}");
        assert!(page.contains("<a href=\"/callbacks\" aria-current=\"page\">折り返し</a>"), "{page}");
        let page = body(callbacks(viewer(Role::Supervisor, Lang::En)).await).await;
        assert!(page.contains("<a href=\"/callbacks\" aria-current=\"page\">Callbacks</a>"), "{page}");
    }
}
