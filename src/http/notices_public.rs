//! The public side of system operation notices, readable without signing in: the page
//! `/notices` (Japanese first, the English beside it where there is one; embeddable in the
//! ministry portal), its Atom feed `/notices.atom` and `/notices.json`. Only published notices
//! within their window appear; drafts, rejected and withdrawn ones never, and nothing about who
//! drafted or approved them.

use super::{ApiError, AppState};
use crate::domain::time::{now_millis, to_jst};
use crate::store::Notice;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Value, json};
use sha2::Digest;
use std::sync::LazyLock;

pub fn routes() -> Router<AppState> {
    Router::new().route("/notices", get(page)).route("/notices.atom", get(feed)).route("/notices.json", get(list))
}

const TITLE: &str = "システム運用のお知らせ";
const TITLE_EN: &str = "System operation notices";

const STYLE: &str = "body{font-family:system-ui,'Hiragino Sans','Noto Sans JP',sans-serif;margin:0;padding:1rem;\
color:#1a1a1a;background:#fff;line-height:1.6}main{max-width:48rem;margin:auto}h1{font-size:1.4rem}\
article{border:1px solid #ccc;border-left:6px solid #888;border-radius:4px;padding:.5rem 1rem;margin:1rem 0}\
article.failure{border-left-color:#b00020}article.maintenance{border-left-color:#1565c0}\
h2{font-size:1.15rem;margin:.3rem 0}.kind{display:inline-block;font-size:.85rem;padding:0 .4rem;margin-right:.5rem;\
border-radius:3px;color:#fff;background:#888}.failure .kind{background:#b00020}.maintenance .kind{background:#1565c0}\
.body{white-space:pre-wrap;overflow-wrap:anywhere}.en{color:#444}.when{font-size:.9rem;color:#444}\
footer{font-size:.85rem;color:#555}";

/// The page allows its own style and nothing else: no script, no frames, no forms; any site
/// may frame it (it holds nothing but what it shows to everyone).
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes()));
    format!("default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors *; base-uri 'none'; form-action 'none'")
});

/// The notices public now, newest first.
async fn public(state: &AppState) -> Result<Vec<Notice>, ApiError> {
    let now = now_millis();
    Ok(state.store.published_notices(now).await?.into_iter().filter(|n| n.facts().public(now)).collect())
}

fn jst_words(millis: i64) -> String {
    to_jst(millis).format("%Y年%-m月%-d日 %H:%M").to_string()
}

/// "2026年12月28日 18:00 から 2027年1月4日 08:30 まで (JST)", or as much of it as is set.
fn window_words(n: &Notice) -> Option<String> {
    match (n.valid_from, n.valid_until) {
        (None, None) => None,
        (Some(f), None) => Some(format!("{} から (JST)", jst_words(f))),
        (None, Some(u)) => Some(format!("{} まで (JST)", jst_words(u))),
        (Some(f), Some(u)) => Some(format!("{} から {} まで (JST)", jst_words(f), jst_words(u))),
    }
}

fn headers(response: &mut Response, content_type: &'static str, vary_host: bool) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=30"));
    if vary_host {
        h.insert(header::VARY, HeaderValue::from_static("Host"));
    }
}

/// `GET /notices`
async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    let notices = public(&state).await?;
    let mut response = render(&notices).into_string().into_response();
    headers(&mut response, "text/html; charset=utf-8", false);
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

fn render(notices: &[Notice]) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (TITLE) " / " (TITLE_EN) }
                link rel="alternate" type="application/atom+xml" href="/notices.atom" title=(TITLE);
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { (TITLE) " " span.en lang="en" { "/ " (TITLE_EN) } }
                    @if notices.is_empty() {
                        p.none { "現在、お知らせはありません。" span.en lang="en" { " There are no notices at present." } }
                    }
                    @for n in notices {
                        @let kind = n.kind();
                        article class=(format!("notice {}", n.kind)) id=(format!("notice-{}", n.id)) {
                            h2 {
                                span.kind { (kind.label_ja()) }
                                (n.title)
                            }
                            @if !n.title_en.is_empty() {
                                p.en lang="en" { strong { (kind.label_en()) ": " (n.title_en) } }
                            }
                            @if let Some(when) = window_words(n) {
                                p.when { "掲載期間 / Period: " (when) }
                            }
                            div.body { (n.body) }
                            @if !n.body_en.is_empty() {
                                div.body.en lang="en" { (n.body_en) }
                            }
                        }
                    }
                    footer {
                        a href="/notices.atom" { "Atom フィード / feed" }
                        " · "
                        a href="/notices.json" { "JSON" }
                    }
                }
            }
        }
    }
}

/// Where the feed's links point: `[http] public_url`, or this request's scheme and host.
pub(super) fn base_url(state: &AppState, headers: &HeaderMap) -> (String, bool) {
    if !state.limits.public_url.is_empty() {
        return (state.limits.public_url.to_string(), false);
    }
    let scheme = if state.limits.secure { "https" } else { "http" };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b)))
        .unwrap_or("localhost");
    (format!("{scheme}://{host}"), true)
}

fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0; drafts are checked for them, this is the last line.
            c if c.is_control() && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

fn rfc3339(millis: i64) -> String {
    crate::domain::time::jst_rfc3339(millis)
}

/// `GET /notices.atom`
async fn feed(State(state): State<AppState>, request: HeaderMap) -> Result<Response, ApiError> {
    let notices = public(&state).await?;
    let (base, vary) = base_url(&state, &request);
    let mut response = atom(&base, &notices, now_millis()).into_response();
    headers(&mut response, "application/atom+xml; charset=utf-8", vary);
    Ok(response)
}

fn atom(base: &str, notices: &[Notice], now: i64) -> String {
    let base = xml(base);
    let updated = notices.iter().map(Notice::published_at).max().unwrap_or(now);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"ja\">\n\
         <title>{TITLE} / {TITLE_EN}</title>\n<id>{base}/notices</id>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{base}/notices.atom\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{base}/notices\"/>\n\
         <updated>{}</updated>\n<author><name>ヘルプデスク / Helpdesk</name></author>\n",
        rfc3339(updated)
    );
    for n in notices {
        let kind = n.kind();
        let mut content = n.body.clone();
        if let Some(when) = window_words(n) {
            content = format!("掲載期間 / Period: {when}\n\n{content}");
        }
        if !n.title_en.is_empty() || !n.body_en.is_empty() {
            content = format!("{content}\n\n{}\n{}", n.title_en, n.body_en);
        }
        let at = rfc3339(n.published_at());
        out.push_str(&format!(
            "<entry>\n<id>{base}/notices#notice-{id}</id>\n<title>[{label}] {title}</title>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{base}/notices#notice-{id}\"/>\n\
             <category term=\"{term}\" label=\"{label}\"/>\n<published>{at}</published>\n<updated>{at}</updated>\n\
             <content type=\"text\">{content}</content>\n</entry>\n",
            id = n.id,
            label = kind.label_ja(),
            title = xml(&n.title),
            term = kind.as_str(),
            content = xml(content.trim()),
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// `GET /notices.json`: `{"notices": [...]}`, for a portal to show them its own way.
async fn list(State(state): State<AppState>, request: HeaderMap) -> Result<Response, ApiError> {
    let notices = public(&state).await?;
    let (base, vary) = base_url(&state, &request);
    let notices: Vec<Value> = notices.iter().map(|n| public_json(&base, n)).collect();
    let mut response = axum::Json(json!({ "notices": notices })).into_response();
    headers(&mut response, "application/json", vary);
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(response)
}

/// What the public may know of a notice: not who drafted or approved it, nor the review.
fn public_json(base: &str, n: &Notice) -> Value {
    let kind = n.kind();
    json!({
        "id": n.id,
        "kind": n.kind,
        "kind_label": kind.label_ja(),
        "kind_label_en": kind.label_en(),
        "title": n.title,
        "title_en": n.title_en,
        "body": n.body,
        "body_en": n.body_en,
        "valid_from": n.valid_from.map(rfc3339),
        "valid_until": n.valid_until.map(rfc3339),
        "published_at": rfc3339(n.published_at()),
        "url": format!("{base}/notices#notice-{}", n.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(title: &str, body: &str) -> Notice {
        Notice {
            id: 7,
            kind: "failure",
            state: "published",
            title: title.into(),
            title_en: "Mail delayed".into(),
            body: body.into(),
            body_en: String::new(),
            valid_from: Some(1_800_000_000_000),
            valid_until: None,
            drafted_by: "sato".into(),
            decided_by: Some("suzuki".into()),
            decided_at: Some(1_800_000_000_000),
            comment: Some("内部のコメント".into()),
            withdrawn_by: None,
            withdrawn_at: None,
            has_audio: false,
            audio_text: String::new(),
            duration_ms: 0,
            created_at: 1_799_999_000_000,
            updated_at: 1_800_000_000_000,
        }
    }

    #[test]
    fn markup_in_a_notice_is_text_on_the_page_and_in_the_feed() {
        let n = notice("<script>alert(1)</script> & 遅延", "本文 <b>太字</b>");
        let page = render(std::slice::from_ref(&n)).into_string();
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; 遅延"), "{page}");
        assert!(!page.contains("<script>") && !page.contains("<b>"), "{page}");
        let feed = atom("https://helpdesk.example.go.jp", &[n], 0);
        assert!(feed.contains("<title>[障害] &lt;script&gt;alert(1)&lt;/script&gt; &amp; 遅延</title>"), "{feed}");
        assert!(feed.contains("<id>https://helpdesk.example.go.jp/notices#notice-7</id>"), "{feed}");
        assert!(feed.contains("<published>2027-01-15T17:00:00+09:00</published>"), "{feed}");
    }

    #[test]
    fn the_public_json_says_nothing_of_the_review() {
        let v = public_json("http://x", &notice("メール遅延", "復旧作業中"));
        let text = v.to_string();
        for private in ["sato", "suzuki", "内部のコメント", "drafted_by", "comment"] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        assert_eq!(v["url"], "http://x/notices#notice-7");
    }

    #[test]
    fn the_page_style_is_the_one_the_policy_allows() {
        let page = render(&[]).into_string();
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
        assert!(CSP.contains("style-src 'sha256-") && !CSP.contains("script-src"), "{}", *CSP);
        assert!(page.contains("現在、お知らせはありません"));
    }
}
