//! FAQ upkeep over the API: candidates from the resolved tickets, drafts linked to them (operators
//! and up), edits, submission, each approval step recorded by a supervisor who did not write the
//! entry (`[faq] approvals`, in order), rejection back to draft, publication and withdrawal
//! (supervisors). Every change is audited in its transaction. The public side (`/faq`,
//! `/faq.json`) is [`super::faq_public`].

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::{ApiError, AppState};
use crate::domain::faq::{self, Audience, RefusalKind, State as EntryState, Steps, Wording, wording_problem};
use crate::domain::faq_candidates::clusters;
use crate::domain::time::{now_millis, to_jst};
use crate::domain::user::Role;
use crate::store::{FaqAction, FaqChange, FaqEntry, FaqFilter};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;
use serde_json::{Value, json};

/// The most entries a list answers with.
const MAX_LIST: i64 = 500;
const DEFAULT_LIST: i64 = 200;
/// The most resolved tickets one look for candidates reads.
pub const MAX_CANDIDATE_TICKETS: usize = 5_000;
/// Days the candidates look back by default (today included).
const CANDIDATE_DAYS: i64 = 30;
const MAX_COMMENT: usize = 2_000;

/// An entry as the API shows it: its fields, and `steps`, each configured approval step in
/// order with whether (and by whom) it was obtained in this round, and `next_step`.
pub(super) fn entry_json(e: &FaqEntry, steps: &Steps) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    let approved: Vec<_> =
        e.decisions.iter().filter(|d| d.review_round == e.review_round && d.decision == "approved").collect();
    let state = e.state();
    let listed: Vec<Value> = steps
        .names()
        .iter()
        .map(|step| {
            let (label, label_en) = faq::step_label(step);
            let done = approved.iter().find(|d| &d.step == step);
            json!({
                "step": step, "label": label, "label_en": label_en, "done": done.is_some(),
                "decided_by": done.map(|d| &d.decided_by),
                "decided_at": done.map(|d| crate::domain::time::jst_rfc3339(d.decided_at)),
                "comment": done.and_then(|d| d.comment.as_ref()),
            })
        })
        .collect();
    let next = (state == EntryState::Submitted).then(|| steps.next(approved.len())).flatten().map(|step| {
        let (label, label_en) = faq::step_label(step);
        json!({ "step": step, "label": label, "label_en": label_en })
    });
    v["steps"] = json!(listed);
    v["next_step"] = next.unwrap_or(Value::Null);
    v
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    q: Option<String>,
    state: Option<String>,
    category: Option<String>,
    audience: Option<String>,
    limit: Option<i64>,
}

/// `GET /api/faq`: `{"entries": [...]}`, filtered and searched (`q`: words that must all
/// appear in the question, answer or category; Japanese works without spaces).
#[utoipa::path(
    get,
    path = "/api/faq",
    tag = "faq",
    operation_id = "list_faq",
    params(ListParams),
    responses((status = 200, description = "{entries}", body = Object), (status = 422, description = "a filter that does not fit", body = super::openapi::ErrorBody))
)]
pub async fn list(State(state): State<AppState>, ApiQuery(p): ApiQuery<ListParams>) -> Result<Json<Value>, ApiError> {
    let words = match p.q.as_deref() {
        Some(q) => crate::domain::search::words(q).map_err(|e| ApiError::Invalid(format!("q: {e}")))?,
        None => Vec::new(),
    };
    let filter = FaqFilter {
        words,
        state: non_empty(p.state)
            .map(|s| s.parse::<EntryState>())
            .transpose()
            .map_err(|_| ApiError::Invalid(allowed("state", "draft submitted approved published withdrawn")))?,
        category: non_empty(p.category),
        audience: non_empty(p.audience)
            .map(|a| a.parse::<Audience>())
            .transpose()
            .map_err(|_| ApiError::Invalid(allowed("audience", "internal public")))?,
        limit: match p.limit.unwrap_or(DEFAULT_LIST) {
            n @ 1..=MAX_LIST => n,
            _ => return Err(ApiError::Invalid(format!("limit must be between 1 and {MAX_LIST}"))),
        },
    };
    let steps = &state.limits.faq_steps;
    let entries: Vec<Value> = state.store.faq_entries(&filter).await?.iter().map(|e| entry_json(e, steps)).collect();
    Ok(Json(json!({ "entries": entries })))
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn allowed(field: &str, values: &str) -> String {
    format!("{field} is not a valid {field} (expected one of: {values})")
}

/// `GET /api/faq/{id}`
#[utoipa::path(
    get,
    path = "/api/faq/{id}",
    tag = "faq",
    operation_id = "show_faq",
    params(("id" = i64, Path, description = "the FAQ entry's id")),
    responses((status = 200, description = "the entry", body = Object), (status = 404, description = "no such entry", body = super::openapi::ErrorBody))
)]
pub async fn show(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Json<Value>, ApiError> {
    let entry = state.store.faq_entry(id).await?.ok_or_else(|| missing(id))?;
    Ok(Json(entry_json(&entry, &state.limits.faq_steps)))
}

fn missing(id: i64) -> ApiError {
    ApiError::NotFound(format!("no FAQ entry {id}"))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEntry {
    question: String,
    answer: String,
    category: String,
    /// Default internal: nothing is public unless someone says so.
    audience: Option<Audience>,
    /// The numbers of the tickets it is drafted from.
    #[serde(default)]
    tickets: Vec<String>,
}

/// `POST /api/faq`: 201 with the draft.
#[utoipa::path(
    post,
    path = "/api/faq",
    tag = "faq",
    operation_id = "draft_faq",
    request_body = NewEntry,
    responses((status = 201, description = "the entry, a draft", body = Object), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn draft(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(body): ApiJson<NewEntry>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let wording = Wording { question: &body.question, answer: &body.answer, category: &body.category };
    if let Some(problem) = wording_problem(&wording) {
        return Err(ApiError::Invalid(problem));
    }
    let tickets = ticket_ids(&state, &body.tickets).await?;
    let draft = crate::store::FaqDraft {
        question: body.question.trim().to_owned(),
        answer: body.answer.trim_end().to_owned(),
        category: body.category.trim().to_owned(),
        audience: body.audience.unwrap_or(Audience::Internal),
        author: acting.login(),
        tickets,
    };
    let id = state.store.draft_faq(&draft, now_millis()).await?;
    tracing::info!(faq = id, actor = %acting.0.login, action = "faq_drafted", "FAQ entry changed");
    let entry = state.store.faq_entry(id).await?.ok_or(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(entry_json(&entry, &state.limits.faq_steps))))
}

/// The ids of the tickets numbered `numbers` (each once); 422 naming the first that is not one.
async fn ticket_ids(state: &AppState, numbers: &[String]) -> Result<Vec<i64>, ApiError> {
    if numbers.len() > faq::MAX_TICKETS {
        return Err(ApiError::Invalid(format!("tickets: at most {} tickets", faq::MAX_TICKETS)));
    }
    for (i, n) in numbers.iter().enumerate() {
        n.parse::<crate::domain::TicketNumber>()
            .map_err(|_| ApiError::Invalid(format!("tickets[{i}] is not a ticket number (YYYYMMDD-NNNN)")))?;
    }
    let mut unique = numbers.to_vec();
    unique.sort();
    unique.dedup();
    let ids = state.store.ticket_ids(&unique).await?;
    if let Some(at) = ids.iter().position(Option::is_none) {
        let i = numbers.iter().position(|n| *n == unique[at]).unwrap_or(at);
        return Err(ApiError::Invalid(format!("tickets[{i}]: そのチケットはありません / no such ticket")));
    }
    Ok(ids.into_iter().flatten().collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Edit {
    question: Option<String>,
    answer: Option<String>,
    category: Option<String>,
    audience: Option<Audience>,
    /// More tickets to link (linked ones stay).
    tickets: Option<Vec<String>>,
}

/// `PATCH /api/faq/{id}`: new words; a submitted or approved entry goes back to draft.
#[utoipa::path(
    patch,
    path = "/api/faq/{id}",
    tag = "faq",
    operation_id = "edit_faq",
    params(("id" = i64, Path, description = "the FAQ entry's id")),
    request_body = Edit,
    responses((status = 200, description = "the entry", body = Object), (status = 403, description = "a role too small for this", body = super::openapi::ErrorBody), (status = 404, description = "no such entry", body = super::openapi::ErrorBody), (status = 409, description = "the entry's state does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn edit(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
    ApiJson(body): ApiJson<Edit>,
) -> Result<Json<Value>, ApiError> {
    if body.question.is_none()
        && body.answer.is_none()
        && body.category.is_none()
        && body.audience.is_none()
        && body.tickets.is_none()
    {
        return Err(ApiError::Invalid(
            "変更する項目がありません / give at least one of question, answer, category, audience, tickets".into(),
        ));
    }
    let entry = state.store.faq_entry(id).await?.ok_or_else(|| missing(id))?;
    let question = body.question.as_deref().map_or(entry.question.as_str(), str::trim);
    let answer = body.answer.as_deref().map_or(entry.answer.as_str(), str::trim_end);
    let category = body.category.as_deref().map_or(entry.category.as_str(), str::trim);
    if let Some(problem) = wording_problem(&Wording { question, answer, category }) {
        return Err(ApiError::Invalid(problem));
    }
    let tickets = ticket_ids(&state, body.tickets.as_deref().unwrap_or_default()).await?;
    let audience = body.audience.unwrap_or_else(|| entry.audience.parse().unwrap_or(Audience::Internal));
    let action = FaqAction::Edit { question, answer, category, audience, tickets: &tickets };
    change(&state, &acting, id, action).await
}

/// `POST /api/faq/{id}/submit`: a draft goes for approval.
#[utoipa::path(
    post,
    path = "/api/faq/{id}/submit",
    tag = "faq",
    operation_id = "submit_faq",
    params(("id" = i64, Path, description = "the FAQ entry's id")),
    responses((status = 200, description = "the entry", body = Object), (status = 403, description = "a role too small for this", body = super::openapi::ErrorBody), (status = 404, description = "no such entry", body = super::openapi::ErrorBody), (status = 409, description = "the entry's state does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn submit(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
) -> Result<Json<Value>, ApiError> {
    change(&state, &acting, id, FaqAction::Submit).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    step: String,
    comment: Option<String>,
}

/// `POST /api/faq/{id}/approve`: `{"step", "comment"}` records that the step was obtained.
#[utoipa::path(
    post,
    path = "/api/faq/{id}/approve",
    tag = "faq",
    operation_id = "approve_faq",
    params(("id" = i64, Path, description = "the FAQ entry's id")),
    request_body = Approval,
    responses((status = 200, description = "the entry", body = Object), (status = 403, description = "a role too small for this", body = super::openapi::ErrorBody), (status = 404, description = "no such entry", body = super::openapi::ErrorBody), (status = 409, description = "the entry's state does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn approve(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Supervisor)?;
    let body: Approval = decision(&body, "{\"step\": \"general_manager\", \"comment\": \"…\"}")?
        .ok_or_else(|| ApiError::Invalid("step: 承認した手順を指定してください / step is required".into()))?;
    let comment = comment(body.comment)?;
    let action = FaqAction::Approve { step: body.step.trim(), comment: comment.as_deref() };
    change(&state, &acting, id, action).await
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    comment: Option<String>,
}

/// `POST /api/faq/{id}/reject`: optional `{"comment"}`; back to draft.
#[utoipa::path(
    post,
    path = "/api/faq/{id}/reject",
    tag = "faq",
    operation_id = "reject_faq",
    params(("id" = i64, Path, description = "the FAQ entry's id")),
    request_body = Option<Rejection>,
    responses((status = 200, description = "the entry", body = Object), (status = 403, description = "a role too small for this", body = super::openapi::ErrorBody), (status = 404, description = "no such entry", body = super::openapi::ErrorBody), (status = 409, description = "the entry's state does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn reject(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Supervisor)?;
    let body: Rejection = decision(&body, "{\"comment\": \"…\"}")?.unwrap_or_default();
    let comment = comment(body.comment)?;
    change(&state, &acting, id, FaqAction::Reject { comment: comment.as_deref() }).await
}

/// The JSON body of a decision, read once the role is known to allow it (an empty body is
/// none); 422 showing the shape it takes, without repeating what was sent.
fn decision<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<Option<T>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        let field = match e.classify() {
            serde_json::error::Category::Data => super::extract::scrub(&e.to_string()),
            _ => "body is not valid JSON".to_owned(),
        };
        ApiError::Invalid(format!("{field}: send {shape}"))
    })
}

fn comment(comment: Option<String>) -> Result<Option<String>, ApiError> {
    let comment = comment.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        if c.chars().count() > MAX_COMMENT {
            return Err(ApiError::Invalid(format!(
                "comment: {MAX_COMMENT} 文字までです / at most {MAX_COMMENT} characters"
            )));
        }
        if c.chars().any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t')) {
            return Err(ApiError::Invalid("comment: 制御文字は使えません / control characters are not allowed".into()));
        }
    }
    Ok(comment)
}

/// `POST /api/faq/{id}/publish`: an approved entry is published (on `/faq` if it is public).
#[utoipa::path(
    post,
    path = "/api/faq/{id}/publish",
    tag = "faq",
    operation_id = "publish_faq",
    params(("id" = i64, Path, description = "the FAQ entry's id")),
    responses((status = 200, description = "the entry", body = Object), (status = 403, description = "a role too small for this", body = super::openapi::ErrorBody), (status = 404, description = "no such entry", body = super::openapi::ErrorBody), (status = 409, description = "the entry's state does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn publish(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Supervisor)?;
    change(&state, &acting, id, FaqAction::Publish).await
}

/// `POST /api/faq/{id}/withdraw`: a published entry is taken down now.
#[utoipa::path(
    post,
    path = "/api/faq/{id}/withdraw",
    tag = "faq",
    operation_id = "withdraw_faq",
    params(("id" = i64, Path, description = "the FAQ entry's id")),
    responses((status = 200, description = "the entry", body = Object), (status = 403, description = "a role too small for this", body = super::openapi::ErrorBody), (status = 404, description = "no such entry", body = super::openapi::ErrorBody), (status = 409, description = "the entry's state does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn withdraw(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Supervisor)?;
    change(&state, &acting, id, FaqAction::Withdraw).await
}

async fn change(state: &AppState, acting: &Acting, id: i64, action: FaqAction<'_>) -> Result<Json<Value>, ApiError> {
    let who = &acting.0;
    let steps = &state.limits.faq_steps;
    match state.store.change_faq(id, &action, &who.login, who.role, steps, now_millis()).await? {
        FaqChange::Done(entry) => {
            tracing::info!(faq = id, actor = %who.login, action = action.name(), state = entry.state, "FAQ entry changed");
            Ok(Json(entry_json(&entry, steps)))
        }
        FaqChange::Missing => Err(missing(id)),
        FaqChange::Refused(r) => Err(match r.kind() {
            RefusalKind::Denied => ApiError::Denied(r.to_string()),
            RefusalKind::Conflict => ApiError::Conflict(r.to_string()),
            RefusalKind::Invalid => ApiError::Invalid(r.to_string()),
        }),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CandidateParams {
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/faq/candidates?from=YYYY-MM-DD&to=YYYY-MM-DD` (JST days, both included; default
/// the last 30 days): resolved and closed tickets opened then, by category and wording, most
/// frequent first.
#[utoipa::path(
    get,
    path = "/api/faq/candidates",
    tag = "faq",
    operation_id = "faq_candidates",
    params(CandidateParams),
    responses((status = 200, description = "{from, to, tickets_read, truncated, clusters, candidates}", body = Object), (status = 422, description = "a wrong date, period or limit", body = super::openapi::ErrorBody))
)]
pub async fn candidates(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<CandidateParams>,
) -> Result<Json<Value>, ApiError> {
    let today = to_jst(now_millis()).date_naive();
    let to = day(p.to.as_deref(), "to")?.unwrap_or(today);
    let from = day(p.from.as_deref(), "from")?.unwrap_or(to - Duration::days(CANDIDATE_DAYS - 1));
    if from > to {
        return Err(ApiError::Invalid("from: 開始日が終了日より後です / from must not be after to".into()));
    }
    if (to - from).num_days() > 366 {
        return Err(ApiError::Invalid("from: 期間は1年までです / the period may be at most a year".into()));
    }
    let limit = match p.limit.unwrap_or(100) {
        n @ 1..=1000 => n,
        _ => return Err(ApiError::Invalid("limit must be between 1 and 1000".into())),
    };
    let (start, end) = faq::jst_days(from, to);
    let mut tickets = state.store.faq_candidate_tickets(start, end, MAX_CANDIDATE_TICKETS as i64 + 1).await?;
    let truncated = tickets.len() > MAX_CANDIDATE_TICKETS;
    tickets.truncate(MAX_CANDIDATE_TICKETS);
    let read = tickets.len();
    let found = tokio::task::spawn_blocking(move || clusters(&tickets)).await.map_err(|_| ApiError::Internal)?;
    let rules = state.intake.rules();
    let candidates: Vec<Value> = found
        .iter()
        .take(limit)
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["category_label"] = json!(rules.category_label(&c.category));
            v
        })
        .collect();
    Ok(Json(json!({
        "from": from.to_string(), "to": to.to_string(), "tickets_read": read, "truncated": truncated,
        "clusters": found.len(), "candidates": candidates,
    })))
}

/// A JST day `YYYY-MM-DD`; 422 naming the field when it is not one.
fn day(value: Option<&str>, field: &str) -> Result<Option<NaiveDate>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| ApiError::Invalid(format!("{field} is not a date (YYYY-MM-DD, Japan time)"))),
    }
}
