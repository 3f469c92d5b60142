//! `GET /api/calls`: the caller log, newest first, filtered by the caller's number (however
//! written) and by how the call ended.

use super::extract::ApiQuery;
use super::{ApiError, AppState};
use crate::domain::calls;
use crate::store::{CallFilter, CallPage};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;
/// The longest phone number a caller filter may be.
const CALLER_MAX_CHARS: usize = 64;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallParams {
    caller: Option<String>,
    outcome: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/calls",
    tag = "calls",
    operation_id = "list_calls",
    params(CallParams),
    responses((status = 200, description = "{calls, next}: newest first", body = Object))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<CallParams>,
) -> Result<Json<CallPage>, ApiError> {
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    if p.caller.as_deref().is_some_and(|c| c.chars().count() > CALLER_MAX_CHARS) {
        return Err(ApiError::BadRequest(format!("caller may have at most {CALLER_MAX_CHARS} characters")));
    }
    let endings = match p.outcome.as_deref().map(str::trim).filter(|o| !o.is_empty()) {
        None => None,
        Some(outcome) => Some(calls::endings(outcome).ok_or_else(|| {
            ApiError::BadRequest(format!("outcome is not a valid outcome (expected one of: {})", calls::names()))
        })?),
    };
    let filter = CallFilter { caller: p.caller, endings, before: p.before, limit };
    Ok(Json(state.store.list_calls(&filter).await?))
}
