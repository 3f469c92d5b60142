//! The satisfaction survey's public page, `/survey/{token}`, answered without signing in: the
//! link's token (256 random bits, of which the store keeps a SHA-256) is what authorises, so
//! the page needs no session and no CSRF token — a page elsewhere cannot post an answer without
//! knowing the token, and an answer is taken once. GET shows the question (Japanese first), POST
//! to the same address stores the rating and comment once. Plain HTML: no script, its own style
//! alone (CSP), never cached, no referrer (the address carries the token); what a requester
//! wrote is only ever text on the page (maud escapes it). The token is never logged.

use super::AppState;
use crate::domain::TicketNumber;
use crate::domain::survey::{self, AnswerRefusal, Standing};
use crate::domain::time::now_millis;
use crate::store::{AnswerOutcome, StoreError, SurveyLink, survey_token_hash};
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::Digest;
use std::sync::LazyLock;

pub fn routes() -> Router<AppState> {
    Router::new().route("/survey/{token}", get(page).post(answer))
}

const TITLE: &str = "満足度調査";
const TITLE_EN: &str = "Satisfaction survey";

const STYLE: &str = "body{font-family:system-ui,'Hiragino Sans','Noto Sans JP',sans-serif;margin:0;padding:1rem;\
color:#1a1a1a;background:#fff;line-height:1.6}main{max-width:40rem;margin:auto}h1{font-size:1.4rem}\
.en{color:#444}fieldset{border:1px solid #ccc;border-radius:4px;margin:1rem 0;padding:.5rem 1rem}\
legend{font-weight:bold}label.choice{display:block;padding:.2rem 0}textarea{width:100%;box-sizing:border-box;\
font:inherit}.error{border-left:6px solid #b00020;background:#fdecee;padding:.5rem 1rem}\
button{font:inherit;padding:.4rem 1.5rem;margin-top:1rem}.note{font-size:.9rem;color:#555}";

/// Its own style and nothing else; the form posts to this page alone; no site may frame it.
static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

/// The answers offered, best first: value, Japanese, English.
const CHOICES: [(i64, &str, &str); 5] = [
    (5, "とても満足", "Very satisfied"),
    (4, "満足", "Satisfied"),
    (3, "どちらともいえない", "Neither satisfied nor dissatisfied"),
    (2, "不満", "Dissatisfied"),
    (1, "とても不満", "Very dissatisfied"),
];

/// Why a survey page cannot take an answer; each is a page of its own, Japanese first.
#[derive(Debug, thiserror::Error)]
enum SurveyError {
    #[error("no such survey")]
    Unknown,
    #[error("already answered")]
    Answered,
    #[error("expired")]
    Expired,
    #[error("the form is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
}

impl SurveyError {
    /// Status, then the heading and the explanation in Japanese and in English.
    fn page(&self) -> (StatusCode, [&'static str; 4]) {
        match self {
            SurveyError::Unknown => (
                StatusCode::NOT_FOUND,
                [
                    "このアンケートは見つかりません",
                    "メールのリンクを最後まで正しく開いているかご確認ください。",
                    "Survey not found",
                    "Please check that the whole link from the e-mail was opened.",
                ],
            ),
            SurveyError::Answered => (
                StatusCode::CONFLICT,
                [
                    "このアンケートには回答済みです",
                    "回答は一度だけ受け付けています。ご協力ありがとうございました。",
                    "Already answered",
                    "Each survey takes one answer. Thank you for taking part.",
                ],
            ),
            SurveyError::Expired => (
                StatusCode::GONE,
                [
                    "回答の受付期間が終了しました",
                    "このアンケートの回答期限を過ぎています。",
                    "This survey has closed",
                    "The time to answer this survey is over.",
                ],
            ),
            SurveyError::TooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                [
                    "送信された内容が大きすぎます",
                    "ご意見を短くして、もう一度お試しください。何も保存していません。",
                    "Too much was sent",
                    "Please shorten your comments and try again. Nothing was stored.",
                ],
            ),
            SurveyError::Store(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    "ただいま回答を受け付けられません",
                    "しばらくしてから、もう一度お試しください。何も保存していません。",
                    "The survey is unavailable",
                    "Please try again later. Nothing was stored.",
                ],
            ),
        }
    }
}

impl IntoResponse for SurveyError {
    fn into_response(self) -> Response {
        if let SurveyError::Store(e) = &self {
            tracing::error!(error = %e, "survey page: store error");
        }
        let (status, [title, message, title_en, message_en]) = self.page();
        let body = document(html! {
            h1 { (title) " " span.en lang="en" { "/ " (title_en) } }
            p { (message) }
            p.en lang="en" { (message_en) }
        });
        respond(status, body)
    }
}

fn document(content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (TITLE) " / " (TITLE_EN) }
                style { (PreEscaped(STYLE)) }
            }
            body { main { (content) } }
        }
    }
}

fn respond(status: StatusCode, body: Markup) -> Response {
    let mut response = (status, body.into_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// What the form shows: the ticket, the choice and comment sent before, and why they were refused.
struct FormState<'a> {
    ticket: &'a TicketNumber,
    max_chars: usize,
    rating: Option<i64>,
    comment: &'a str,
    refused: Option<AnswerRefusal>,
}

fn form(f: &FormState<'_>) -> Markup {
    let max = f.max_chars;
    document(html! {
        h1 { (TITLE) " " span.en lang="en" { "/ " (TITLE_EN) } }
        p {
            "受付番号 " strong { (f.ticket.as_str()) } " のお問い合わせへの対応について、お聞かせください。"
            br;
            span.en lang="en" { "Please tell us about how your inquiry (ticket " (f.ticket.as_str()) ") was handled." }
        }
        @if let Some(why) = f.refused {
            p.error role="alert" { (why.to_string()) "。何も保存していません / Nothing was stored." }
        }
        form method="post" {
            fieldset {
                legend { "今回の対応への満足度（必須） " span.en lang="en" { "How satisfied are you? (required)" } }
                @for (value, ja, en) in CHOICES {
                    label.choice {
                        input type="radio" name="rating" value=(value) required checked[f.rating == Some(value)];
                        " " (value) " — " (ja) " " span.en lang="en" { (en) }
                    }
                }
            }
            label for="comment" {
                "ご意見・ご感想（任意、" (max) " 文字まで） "
                span.en lang="en" { "Comments (optional, up to " (max) " characters)" }
            }
            textarea id="comment" name="comment" rows="6" maxlength=(max) { (f.comment) }
            p.note {
                "氏名や電話番号などの個人情報は書かないでください。回答は一度だけです。"
                br;
                span.en lang="en" { "Please leave out personal details such as your name or phone number. You can answer once." }
            }
            button type="submit" { "送信する / Send" }
        }
    })
}

fn thanks(ticket: &TicketNumber) -> Markup {
    document(html! {
        h1 { "ご回答ありがとうございました" " " span.en lang="en" { "/ Thank you for your answer" } }
        p { "受付番号 " (ticket.as_str()) " についての回答を受け付けました。今後の対応の改善に役立てます。" }
        p.en lang="en" { "Your answer about ticket " (ticket.as_str()) " has been received. It helps us improve." }
    })
}

/// The link's token; a path that cannot be read as one names no survey.
fn token_of(path: Result<Path<String>, PathRejection>) -> Result<String, SurveyError> {
    path.map(|Path(token)| token).map_err(|_| SurveyError::Unknown)
}

/// The open survey the token names, or why it cannot be answered.
async fn open_survey(state: &AppState, token: &str) -> Result<SurveyLink, SurveyError> {
    if !survey::is_token(token) {
        return Err(SurveyError::Unknown);
    }
    let link = state.store.survey_link(&survey_token_hash(token), now_millis()).await?.ok_or(SurveyError::Unknown)?;
    match link.standing {
        Standing::Open => Ok(link),
        Standing::Answered => Err(SurveyError::Answered),
        Standing::Expired => Err(SurveyError::Expired),
    }
}

/// The most a form may weigh: the comment's characters, percent-encoded (up to 3 bytes of
/// UTF-8 each, 3 characters per byte), and room for the rest.
fn form_limit(max_chars: usize) -> usize {
    max_chars.saturating_mul(9).saturating_add(4096)
}

/// `GET /survey/{token}`
async fn page(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, SurveyError> {
    let token = token_of(path)?;
    let link = open_survey(&state, &token).await?;
    let max_chars = state.limits.survey_max_comment_chars;
    let shown = FormState { ticket: &link.ticket, max_chars, rating: None, comment: "", refused: None };
    Ok(respond(StatusCode::OK, form(&shown)))
}

/// `POST /survey/{token}` (a form: `rating` 1–5, `comment`): stored once; otherwise a page that
/// says why, and nothing stored.
async fn answer(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Body,
) -> Result<Response, SurveyError> {
    let token = token_of(path)?;
    let link = open_survey(&state, &token).await?;
    let max_chars = state.limits.survey_max_comment_chars;
    let limit = form_limit(max_chars);
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| SurveyError::TooLarge(limit))?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let field = |name: &str| fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let (rating, comment) = (field("rating"), field("comment"));
    let answer = match survey::answer(rating, comment, max_chars) {
        Ok(answer) => answer,
        Err(refused) => {
            let rating = rating.and_then(|r| r.trim().parse::<i64>().ok());
            let shown = FormState {
                ticket: &link.ticket,
                max_chars,
                rating,
                comment: comment.unwrap_or_default(),
                refused: Some(refused),
            };
            return Ok(respond(StatusCode::UNPROCESSABLE_ENTITY, form(&shown)));
        }
    };
    match state.store.answer_survey(&survey_token_hash(&token), &answer, now_millis()).await? {
        AnswerOutcome::Stored(ticket) => {
            tracing::info!(ticket = %ticket, rating = answer.rating, "satisfaction survey answered");
            Ok(respond(StatusCode::OK, thanks(&ticket)))
        }
        AnswerOutcome::Unknown => Err(SurveyError::Unknown),
        AnswerOutcome::AlreadyAnswered => Err(SurveyError::Answered),
        AnswerOutcome::Expired => Err(SurveyError::Expired),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_requester_wrote_is_text_on_the_page() {
        let ticket: TicketNumber = "20261121-0007".parse().unwrap();
        let shown = FormState {
            ticket: &ticket,
            max_chars: 1000,
            rating: Some(4),
            comment: "</textarea><script>alert(1)</script>",
            refused: Some(AnswerRefusal::CommentTooLong { max: 1000, given: 1001 }),
        };
        let page = form(&shown).into_string();
        assert!(page.contains("&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(page.contains("value=\"4\" required checked"), "{page}");
        assert!(page.find("満足度調査").unwrap() < page.find("Satisfaction survey").unwrap());
    }

    #[test]
    fn the_page_style_is_the_one_the_policy_allows_and_no_script_is() {
        let page = SurveyError::Unknown.into_response();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'") && !csp.contains("script"));
        assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    }
}
