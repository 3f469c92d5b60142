//! The public FAQ, readable without signing in: the page `/faq` (Japanese first; any site may
//! frame it; no script) and `/faq.json` (for a portal, CORS open). Only published entries meant
//! for the public appear; drafts, entries under review, withdrawn and internal ones never, and
//! nothing about who wrote or approved them or which tickets they came from.

use super::notices_public::base_url;
use super::{ApiError, AppState};
use crate::domain::time::jst_rfc3339;
use crate::routing::Rules;
use crate::store::FaqEntry;
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
    Router::new().route("/faq", get(page)).route("/faq.json", get(list))
}

const TITLE: &str = "よくあるご質問";
const TITLE_EN: &str = "Frequently asked questions";

const STYLE: &str = "body{font-family:system-ui,'Hiragino Sans','Noto Sans JP',sans-serif;margin:0;padding:1rem;\
color:#1a1a1a;background:#fff;line-height:1.6}main{max-width:48rem;margin:auto}h1{font-size:1.4rem}\
h2{font-size:1.15rem;border-bottom:2px solid #1565c0;margin:1.5rem 0 .5rem}\
article{border:1px solid #ccc;border-radius:4px;padding:.5rem 1rem;margin:.8rem 0}\
h3{font-size:1rem;margin:.3rem 0}h3::before{content:'Q. ';color:#1565c0}\
.answer{white-space:pre-wrap;overflow-wrap:anywhere}.answer::before{content:'A. ';font-weight:bold;color:#b00020}\
.en{color:#444}footer{font-size:.85rem;color:#555}";

/// Its own style and nothing else: no script, no frames, no forms; any site may frame it.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes()));
    format!("default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors *; base-uri 'none'; form-action 'none'")
});

fn headers(response: &mut Response, content_type: &'static str) {
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=30"));
}

/// The published public entries, by category; each category with its label.
fn by_category<'a>(entries: &'a [FaqEntry], rules: &'a Rules) -> Vec<(&'a str, Vec<&'a FaqEntry>)> {
    let mut groups: Vec<(&str, Vec<&FaqEntry>)> = Vec::new();
    for e in entries {
        match groups.iter_mut().find(|(c, _)| *c == e.category) {
            Some((_, list)) => list.push(e),
            None => groups.push((&e.category, vec![e])),
        }
    }
    groups.into_iter().map(|(c, list)| (rules.category_label(c), list)).collect()
}

/// `GET /faq`
async fn page(State(state): State<AppState>) -> Result<Response, ApiError> {
    let entries = state.store.public_faq().await?;
    let rules = state.intake.rules();
    let mut response = render(&by_category(&entries, &rules)).into_string().into_response();
    headers(&mut response, "text/html; charset=utf-8");
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

fn render(groups: &[(&str, Vec<&FaqEntry>)]) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (TITLE) " / " (TITLE_EN) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                main {
                    h1 { (TITLE) " " span.en lang="en" { "/ " (TITLE_EN) } }
                    @if groups.is_empty() {
                        p.none { "現在、掲載している質問はありません。" span.en lang="en" { " There are no questions at present." } }
                    }
                    @for (label, entries) in groups {
                        section {
                            h2 { (label) }
                            @for e in entries {
                                article.faq id=(format!("faq-{}", e.id)) {
                                    h3 { (e.question) }
                                    div.answer { (e.answer) }
                                }
                            }
                        }
                    }
                    footer { a href="/faq.json" { "JSON" } }
                }
            }
        }
    }
}

/// `GET /faq.json`: `{"entries": [...]}`, for a portal to show them its own way.
async fn list(State(state): State<AppState>, request: HeaderMap) -> Result<Response, ApiError> {
    let entries = state.store.public_faq().await?;
    let rules = state.intake.rules();
    let (base, vary) = base_url(&state, &request);
    let entries: Vec<Value> = entries.iter().map(|e| public_json(&base, e, &rules)).collect();
    let mut response = axum::Json(json!({ "entries": entries })).into_response();
    headers(&mut response, "application/json");
    if vary {
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Host"));
    }
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    Ok(response)
}

/// What the public may know of an entry: not who wrote or approved it, nor its tickets.
fn public_json(base: &str, e: &FaqEntry, rules: &Rules) -> Value {
    json!({
        "id": e.id,
        "question": e.question,
        "answer": e.answer,
        "category": e.category,
        "category_label": rules.category_label(&e.category),
        "published_at": e.published_at.map(jst_rfc3339),
        "url": format!("{base}/faq#faq-{}", e.id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(question: &str, answer: &str) -> FaqEntry {
        FaqEntry {
            id: 3,
            question: question.into(),
            answer: answer.into(),
            category: "account_unlock".into(),
            audience: "public",
            state: "published",
            author: "sato".into(),
            edited_by: "sato".into(),
            created_at: 1_800_000_000_000,
            updated_at: 1_800_000_000_000,
            submitted_at: None,
            submitted_by: Some("sato".into()),
            published_at: Some(1_800_000_000_000),
            published_by: Some("suzuki".into()),
            withdrawn_at: None,
            withdrawn_by: None,
            tickets: vec!["20270115-0001".into()],
            decisions: Vec::new(),
            uses: 4,
            review_round: 1,
        }
    }

    #[test]
    fn markup_in_an_entry_is_text_on_the_page() {
        let e = entry("<script>alert(1)</script> ロック & 解除", "<b>窓口</b>へ");
        let page = render(&[("アカウントロック解除", vec![&e])]).into_string();
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; ロック &amp; 解除"), "{page}");
        assert!(page.contains("&lt;b&gt;窓口&lt;/b&gt;へ"), "{page}");
        assert!(!page.contains("<script>") && !page.contains("<b>"), "{page}");
        assert!(page.contains("<h2>アカウントロック解除</h2>") && page.contains("id=\"faq-3\""), "{page}");
    }

    #[test]
    fn the_public_json_says_nothing_of_the_review() {
        let rules = crate::routing::parse("routing.toml", crate::routing::BUILTIN_RULES).unwrap();
        let v = public_json("http://x", &entry("ロック", "解除します"), &rules);
        let text = v.to_string();
        for private in ["sato", "suzuki", "20270115-0001", "author", "uses", "decisions"] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        assert_eq!(v["url"], "http://x/faq#faq-3");
        assert_eq!(v["category_label"], "アカウントロック解除 / Account unlock");
    }

    #[test]
    fn the_page_style_is_the_one_the_policy_allows() {
        let page = render(&[]).into_string();
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
        assert!(CSP.contains("style-src 'sha256-") && !CSP.contains("script-src"), "{}", *CSP);
        assert!(page.contains("現在、掲載している質問はありません"));
    }
}
