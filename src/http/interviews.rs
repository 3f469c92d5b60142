//! 問診 over the API: `GET /api/interviews` (the templates, their question ids and types), `GET
//! /api/tickets/{number}/interview`, `PUT` (the whole interview, every required question asked
//! answered) and `PATCH` (answers as the operator enters them). A PUT or PATCH with a wrong answer
//! is refused (422) naming each question, and stores nothing.

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath};
use super::tickets::parse_number;
use super::{ApiError, AppState};
use crate::domain::interview::{AnswerProblem, Template};
use crate::store::{InterviewSave, TicketSummary};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// `GET /api/interviews`: `{"templates": [{"id", "name", "name_en", "categories", "questions":
/// [{"id", "text", "text_en", "type", "required", "hint", "choices", "when", "personal"}]}]}`.
#[utoipa::path(
    get,
    path = "/api/interviews",
    tag = "interviews",
    operation_id = "interview_templates",
    responses((status = 200, description = "{templates}", body = Object))
)]
pub async fn templates(State(state): State<AppState>) -> Json<Value> {
    Json(json!(*state.store.interviews()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersBody {
    /// A template id; default: the one already started, else the category's.
    template: Option<String>,
    answers: Map<String, Value>,
}

async fn ticket(state: &AppState, number: &str) -> Result<TicketSummary, ApiError> {
    let number = parse_number(number)?;
    state
        .store
        .ticket_summary(&number)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("ticket {number} does not exist")))
}

/// `GET /api/tickets/{number}/interview`: `{"template", "complete", "answers", "updated_by",
/// "updated_at"}`; before anything is saved, the category's template and no answers.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/interview",
    tag = "interviews",
    operation_id = "show_interview",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    responses((status = 200, description = "{template, complete, answers, updated_by, updated_at}", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody))
)]
pub async fn show(State(state): State<AppState>, ApiPath(number): ApiPath<String>) -> Result<Json<Value>, ApiError> {
    let t = ticket(&state, &number).await?;
    let saved = state.store.interview(t.id).await?;
    let templates = state.store.interviews();
    Ok(Json(match saved {
        Some(i) => json!(i),
        None => json!({
            "template": templates.for_category(&t.category).map(|t| t.id.clone()),
            "complete": false, "answers": {}, "updated_by": null, "updated_at": null,
        }),
    }))
}

fn refused(problems: Vec<AnswerProblem>) -> ApiError {
    ApiError::Invalid(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
}

/// `PUT /api/tickets/{number}/interview` `{"template"?, "answers": {id: value}}`: the whole
/// interview; 200 with it, 422 naming each question missing or wrong.
#[utoipa::path(
    put,
    path = "/api/tickets/{number}/interview",
    tag = "interviews",
    operation_id = "put_interview",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = AnswersBody,
    responses((status = 200, description = "{interview, changed}", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket's status does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "an answer that does not fit (the message names each question)", body = super::openapi::ErrorBody))
)]
pub async fn put(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<AnswersBody>,
) -> Result<Json<Value>, ApiError> {
    save(state, number, acting, body, false).await
}

/// `PATCH /api/tickets/{number}/interview`: answers to add or change (`null` clears one);
/// required questions may still be open. 200 with the interview.
#[utoipa::path(
    patch,
    path = "/api/tickets/{number}/interview",
    tag = "interviews",
    operation_id = "patch_interview",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = AnswersBody,
    responses((status = 200, description = "{interview, changed}", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket's status does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "an answer that does not fit (the message names each question)", body = super::openapi::ErrorBody))
)]
pub async fn patch(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<AnswersBody>,
) -> Result<Json<Value>, ApiError> {
    save(state, number, acting, body, true).await
}

async fn save(
    state: AppState,
    number: String,
    acting: Acting,
    body: AnswersBody,
    partial: bool,
) -> Result<Json<Value>, ApiError> {
    let t = ticket(&state, &number).await?;
    let saved = state.store.interview(t.id).await?;
    let templates = state.store.interviews();
    let wanted = body
        .template
        .clone()
        .or_else(|| saved.as_ref().map(|s| s.template.clone()))
        .or_else(|| templates.for_category(&t.category).map(|t| t.id.clone()));
    let Some(template): Option<&Template> = wanted.as_deref().and_then(|id| templates.get(id)) else {
        return Err(ApiError::Invalid(format!(
            "template: 問診テンプレート {} はありません / no interview template {}",
            wanted.as_deref().unwrap_or("-"),
            wanted.as_deref().unwrap_or("(none for this category)")
        )));
    };
    let mut answers = match (&saved, partial) {
        (Some(s), true) if s.template == template.id => s.answers.clone(),
        _ => Map::new(),
    };
    let body_keys: Vec<String> = body.answers.keys().cloned().collect();
    for (k, v) in body.answers {
        if v.is_null() {
            answers.remove(&k);
        } else {
            answers.insert(k, v);
        }
    }
    let checked = template.check(&answers, !partial).map_err(refused)?;
    // A PATCH sends only what it changes, merged in the writer: two answers saved at once (two
    // fields left in quick succession) must not undo each other.
    let merge = partial && saved.as_ref().is_none_or(|s| s.template == template.id);
    let answers = if merge {
        body_keys.into_iter().map(|k| (k.clone(), checked.get(&k).cloned().unwrap_or(Value::Null))).collect()
    } else {
        checked
    };
    let save = InterviewSave { template: template.id.clone(), answers, merge };
    let changed = state.intake.save_interview(t.number.clone(), save, &acting.login()).await?;
    let after = state.store.interview(t.id).await?;
    Ok(Json(json!({ "interview": after, "changed": changed })))
}
