//! Callback tasks (折り返し) over the API: the work list (`GET /api/callbacks`, open tasks
//! oldest first, by tier), one task, and recording an attempt (`POST /api/callbacks/{id}/attempts`), for
//! every signed-in role. An attempt is told to the tier's consoles (`callback.updated`) and to
//! whoever has the ticket open (`ticket.updated`).

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::{ApiError, AppState};
use crate::domain::callback::{self, Outcome, Refusal, State};
use crate::domain::time::now_millis;
use crate::domain::{FieldChange, Tier};
use crate::events::Kind;
use crate::store::{Attempt, Attempted, Callback, CallbackFilter};
use axum::Json;
use axum::extract::State as Shared;
use serde::Deserialize;
use serde_json::{Value, json};

pub(crate) const DEFAULT_LIMIT: u32 = 200;
pub(crate) const MAX_LIMIT: u32 = 500;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListParams {
    tier: Option<String>,
    state: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/callbacks?tier=&state=open|done&limit=`: `{"callbacks": [...], "results": [...]}`,
/// the results an attempt may record with their labels and whether they close the task.
#[utoipa::path(
    get,
    path = "/api/callbacks",
    tag = "callbacks",
    operation_id = "list_callbacks",
    params(ListParams),
    responses((status = 200, description = "{callbacks, results}", body = Object))
)]
pub(crate) async fn list(
    Shared(state): Shared<AppState>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let tier = match p.tier.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(
            t.parse::<i64>()
                .ok()
                .and_then(|n| Tier::new(n).ok())
                .ok_or_else(|| ApiError::BadRequest("tier must be 1, 2 or 3".into()))?,
        ),
    };
    let wanted = match p.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => State::Open,
        Some(s) => s.parse().map_err(|_| ApiError::BadRequest("state must be open or done".into()))?,
    };
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let filter = CallbackFilter { tier, state: wanted, created_before: None, limit };
    let callbacks = state.store.callbacks(&filter).await?;
    let results: Vec<Value> = Outcome::ALL
        .into_iter()
        .map(|o| json!({"result": o, "ja": o.label_ja(), "en": o.label_en(), "closes": o.closes()}))
        .collect();
    Ok(Json(json!({"callbacks": callbacks, "results": results})))
}

/// `GET /api/callbacks/{id}`: one task.
#[utoipa::path(
    get,
    path = "/api/callbacks/{id}",
    tag = "callbacks",
    operation_id = "show_callback",
    params(("id" = i64, Path, description = "the callback task's id")),
    responses((status = 200, description = "the task", body = Object), (status = 404, description = "no such task", body = super::openapi::ErrorBody))
)]
pub(crate) async fn show(
    Shared(state): Shared<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Callback>, ApiError> {
    state.store.callback(id).await?.map(Json).ok_or_else(|| ApiError::NotFound(format!("no callback {id}")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AttemptBody {
    result: String,
    note: Option<String>,
}

/// `POST /api/callbacks/{id}/attempts`: the task after the attempt.
#[utoipa::path(
    post,
    path = "/api/callbacks/{id}/attempts",
    tag = "callbacks",
    operation_id = "callback_attempt",
    params(("id" = i64, Path, description = "the callback task's id")),
    request_body = AttemptBody,
    responses((status = 200, description = "the task after the attempt", body = Object), (status = 404, description = "no such task", body = super::openapi::ErrorBody), (status = 409, description = "the task is done", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub(crate) async fn attempt(
    Shared(state): Shared<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
    ApiJson(body): ApiJson<AttemptBody>,
) -> Result<Json<Callback>, ApiError> {
    let (outcome, note) =
        callback::attempt_of(&body.result, body.note.as_deref()).map_err(|r| ApiError::Invalid(r.to_string()))?;
    let by = acting.login();
    let attempt = Attempt { id, outcome, note: note.as_deref(), by: &by };
    let task = match state.store.record_callback_attempt(&attempt, now_millis()).await? {
        Attempted::Recorded(task) => *task,
        Attempted::Missing => return Err(ApiError::NotFound(format!("no callback {id}"))),
        Attempted::Refused(r @ Refusal::Done) => return Err(ApiError::Conflict(r.to_string())),
        Attempted::Refused(r) => return Err(ApiError::Invalid(r.to_string())),
    };
    tracing::info!(callback = id, ticket = %task.ticket, result = outcome.as_str(), actor = %by, "callback attempt recorded");
    let data = json!({"callback": task, "ticket": task.ticket, "by": by});
    state.intake.events().publish(Kind::CallbackUpdated, Some(task.tier), data);
    let change = FieldChange { field: "callback", from: json!(null), to: json!(outcome) };
    state.intake.publish_change(&task.ticket, change, &by).await;
    Ok(Json(task))
}
