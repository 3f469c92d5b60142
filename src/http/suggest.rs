//! Suggestions over the API: `GET /api/tickets/{number}/suggestions` (the resolved tickets and
//! FAQ entries most like this inquiry, best first, with the words that matched) and `POST
//! /api/tickets/{number}/answered-from` (the operator answered from one of them; it counts
//! towards its use).

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::tickets::parse_number;
use super::{ApiError, AppState};
use crate::store::Suggestion;
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

const DEFAULT_LIMIT: usize = 5;
const MAX_LIMIT: usize = 20;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SuggestQuery {
    limit: Option<usize>,
}

/// `GET /api/tickets/{number}/suggestions?limit=5`: `{"suggestions": [{"kind", "ticket" |
/// "faq_id", "title", "answer", "category", "score", "relevance", "why"}]}`.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/suggestions",
    tag = "tickets",
    operation_id = "suggestions",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$"), SuggestQuery),
    responses((status = 200, description = "{suggestions}: best first", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 422, description = "limit out of range", body = super::openapi::ErrorBody))
)]
pub async fn suggestions(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    ApiQuery(query): ApiQuery<SuggestQuery>,
) -> Result<Json<Value>, ApiError> {
    let number = parse_number(&number)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::Invalid(format!("limit: 1 から {MAX_LIMIT} まで / 1 to {MAX_LIMIT}")));
    }
    let Some(ticket) = state.store.ticket_summary(&number).await? else {
        return Err(ApiError::NotFound(format!("ticket {number} does not exist")));
    };
    let found: Vec<Suggestion> = state.store.suggestions_for_ticket(ticket.id, limit).await?.unwrap_or_default();
    Ok(Json(json!({ "suggestions": found })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnsweredFrom {
    /// A resolved ticket whose answer was used…
    ticket: Option<String>,
    /// …or a published FAQ entry.
    faq_id: Option<i64>,
}

/// `POST /api/tickets/{number}/answered-from` `{"ticket": "…"}` or `{"faq_id": N}`: recorded
/// in the ticket's history (`answered_from`); 201.
#[utoipa::path(
    post,
    path = "/api/tickets/{number}/answered-from",
    tag = "tickets",
    operation_id = "answered_from",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = AnsweredFrom,
    responses((status = 201, description = "what was recorded", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket's status does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "neither, both, this ticket, or an unknown one", body = super::openapi::ErrorBody))
)]
pub async fn answered_from(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<AnsweredFrom>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let number = parse_number(&number)?;
    let detail = match (body.ticket, body.faq_id) {
        (Some(source), None) => {
            let source = parse_number(&source)?;
            if source == number {
                return Err(ApiError::Invalid("ticket: 同じチケットです / that is this ticket".into()));
            }
            let Some(found) = state.store.ticket_summary(&source).await? else {
                return Err(ApiError::Invalid(format!("ticket: {source} はありません / no ticket {source}")));
            };
            json!({"kind": "ticket", "ticket": found.number, "subject": found.subject})
        }
        (None, Some(id)) => match state.store.faq_entry(id).await? {
            Some(entry) if entry.state == "published" => {
                json!({"kind": "faq", "faq_id": id, "question": entry.question})
            }
            _ => {
                return Err(ApiError::Invalid(format!(
                    "faq_id: 公開中のFAQ {id} はありません / no published entry {id}"
                )));
            }
        },
        _ => return Err(ApiError::Invalid("ticket か faq_id のどちらか一つ / give one of ticket or faq_id".into())),
    };
    let faq = detail["faq_id"].as_i64();
    state.intake.event(number.clone(), &acting.login(), "answered_from", detail.clone()).await?;
    if let (Some(entry), Some(ticket)) = (faq, state.store.ticket_summary(&number).await?) {
        state.store.record_faq_use(entry, ticket.id, &acting.login(), crate::domain::time::now_millis()).await?;
    }
    Ok((axum::http::StatusCode::CREATED, Json(detail)))
}
