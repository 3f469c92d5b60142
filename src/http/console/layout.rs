//! The page shell every console page is built on: the header (product, who is signed in,
//! navigation, sign-out, language), a `<main>` slot, and the headers every HTML answer carries.
//! Text is Japanese unless the `lang` cookie chooses English; it goes through [`t`].

use super::assets;
use crate::domain::user::{Identity, Role};
use crate::http::auth::{Acting, CSRF_FIELD, Session};
use crate::http::{ApiError, cookie};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

/// No inline script or style anywhere: everything the console runs comes from `/assets/`.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ja,
    En,
}

impl Lang {
    /// The `lang` cookie's choice; Japanese unless it says `en`.
    pub fn of(headers: &HeaderMap) -> Lang {
        match cookie::get(headers, cookie::LANG) {
            Some("en") => Lang::En,
            _ => Lang::Ja,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }
}

/// The text in the reader's language.
pub fn t(lang: Lang, ja: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}

fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Operator => t(lang, "オペレーター", "Operator"),
        Role::Supervisor => t(lang, "スーパーバイザー", "Supervisor"),
        Role::Admin => t(lang, "管理者", "Admin"),
    }
}

/// Who is looking at a page, in which language, and the token their forms send back.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub identity: Identity,
    pub lang: Lang,
    /// The session's CSRF token (none when the page was fetched with a Bearer token).
    pub csrf: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Acting(identity) = Acting::from_request_parts(parts, state).await?;
        let csrf = parts.extensions.get::<Session>().map(|s| s.csrf.clone());
        Ok(Viewer { identity, lang: Lang::of(&parts.headers), csrf })
    }
}

/// Where each navigation link goes, and which page is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Queue,
    Mine,
    Calls,
    Callbacks,
    New,
    Announcements,
    ContactList,
    InterviewTemplates,
    Faq,
    Reports,
    Admin,
    None,
}

/// A whole console page: `title`, the header, and `main` inside `<main>`.
pub fn layout(viewer: &Viewer, title: &str, current: Nav, main: Markup) -> Markup {
    let lang = viewer.lang;
    let links = [
        (Nav::Queue, "/", t(lang, "キュー", "Queue")),
        (Nav::Mine, "/mine", t(lang, "自分の担当", "My tickets")),
        (Nav::Calls, "/calls", t(lang, "通話履歴", "Calls")),
        (Nav::Callbacks, "/callbacks", t(lang, "折り返し", "Callbacks")),
        (Nav::New, "/new", t(lang, "受付を記録", "Log a contact")),
        (Nav::Announcements, "/announcements", t(lang, "アナウンス", "Announcements")),
        (Nav::ContactList, "/contact-list", t(lang, "連絡先一覧", "Contact list")),
        (Nav::InterviewTemplates, "/interview-templates", t(lang, "問診テンプレート", "Interviews")),
        (Nav::Faq, "/faq-desk", "FAQ"),
    ];
    let admin = viewer.identity.role.allows(Role::Admin);
    let supervisor = viewer.identity.role.allows(Role::Supervisor);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(title))
            body {
                header.site {
                    a.product href="/" { "窓口 " span.latin { "madoguchi" } }
                    nav aria-label=(t(lang, "メニュー", "Menu")) {
                        @for (nav, href, label) in links {
                            a href=(href) aria-current=[(nav == current).then_some("page")] { (label) }
                        }
                        @if supervisor {
                            a href="/reports" aria-current=[(current == Nav::Reports).then_some("page")] {
                                (t(lang, "報告", "Reports"))
                            }
                        }
                        @if admin {
                            a href="/admin" aria-current=[(current == Nav::Admin).then_some("page")] {
                                (t(lang, "管理", "Admin"))
                            }
                        }
                    }
                    span #live .live role="status" { (t(lang, "接続中…", "Connecting…")) }
                    div.who {
                        span.user-name { (viewer.identity.name) }
                        " "
                        span.role { "(" (role_name(lang, viewer.identity.role)) ")" }
                    }
                    (language_switch(lang))
                    form.sign-out method="post" action="/logout" {
                        input type="hidden" name=(CSRF_FIELD) value=(viewer.csrf.as_deref().unwrap_or_default());
                        button type="submit" { (t(lang, "ログアウト", "Sign out")) }
                    }
                }
                div #flash aria-live="polite" {}
                aside #pops aria-label=(t(lang, "着信", "Incoming calls")) {}
                main { (main) }
            }
        }
    }
}

/// `<head>`: the title, the stylesheet and the script (both named by content hash, so a
/// browser may keep them for ever).
pub fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " — 窓口 madoguchi" }
            // No icon yet: an empty one, so browsers do not ask for /favicon.ico.
            link rel="icon" href="data:,";
            link rel="stylesheet" href=(assets::url("console.css"));
            link rel="stylesheet" href=(assets::url("desk.css"));
            script src=(assets::url("console.js")) defer {}
            script src=(assets::url("desk.js")) defer {}
        }
    }
}

/// Buttons console.js turns into a `lang` cookie and a reload.
pub fn language_switch(lang: Lang) -> Markup {
    html! {
        div.lang-switch {
            @match lang {
                Lang::Ja => button type="button" data-lang="en" lang="en" { "English" },
                Lang::En => button type="button" data-lang="ja" lang="ja" { "日本語" },
            }
        }
    }
}

/// An HTML answer with the headers every page carries: the CSP, nosniff, no referrer to other
/// sites, and never cached (pages show personal data).
pub fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(role: Role, lang: Lang) -> Viewer {
        let identity = Identity { user_id: 1, login: "sato".into(), name: "佐藤 <花子>".into(), role };
        Viewer { identity, lang, csrf: Some("c5rf".into()) }
    }

    #[test]
    fn the_layout_names_the_user_escaped_and_shows_admin_only_to_admins() {
        let body = html! { p { "本文" } };
        let page = layout(&viewer(Role::Operator, Lang::Ja), "キュー", Nav::Queue, body.clone()).into_string();
        assert!(page.starts_with("<!DOCTYPE html><html lang=\"ja\">"), "{page}");
        assert!(page.contains("佐藤 &lt;花子&gt;"), "escaped: {page}");
        assert!(page.contains("(オペレーター)") && page.contains("自分の担当"), "{page}");
        assert!(!page.contains("href=\"/admin\""), "{page}");
        assert!(page.contains("name=\"csrf\" value=\"c5rf\""), "{page}");
        assert!(page.contains("<main><p>本文</p></main>"), "{page}");
        assert!(page.contains("<a href=\"/\" aria-current=\"page\">キュー</a>"), "{page}");
        assert!(page.contains("<a href=\"/announcements\">アナウンス</a>"), "every role sees announcements: {page}");
        let page = layout(&viewer(Role::Admin, Lang::En), "Queue", Nav::Admin, body).into_string();
        assert!(page.contains("<html lang=\"en\">") && page.contains("My tickets"), "{page}");
        assert!(page.contains("href=\"/admin\" aria-current=\"page\""), "{page}");
        assert!(page.contains("data-lang=\"ja\""), "{page}");
        let page =
            layout(&viewer(Role::Supervisor, Lang::En), "Announcements", Nav::Announcements, html! {}).into_string();
        assert!(page.contains("<a href=\"/announcements\" aria-current=\"page\">Announcements</a>"), "{page}");
    }

    #[test]
    fn pages_carry_the_security_headers() {
        let r = page(StatusCode::OK, html! { p { "x" } });
        assert_eq!(r.headers()[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(r.headers()[header::REFERRER_POLICY], "same-origin");
    }
}
