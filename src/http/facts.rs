//! System facts over the API: `GET /api/tickets/{number}/system-facts` (what the monitoring
//! systems answered about the ticket, newest first) and `POST …/system-facts` (an operator
//! fetches now, from every source or `{"source": "<name>"}`; answered once they are stored, each
//! source within its own time limit).

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::tickets::parse_number;
use super::{ApiError, AppState};
use crate::domain::user::Role;
use crate::facts::runner::FactsError;
use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use serde::Deserialize;
use serde_json::{Value, json};

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    limit: Option<u32>,
}

/// `GET /api/tickets/{number}/system-facts?limit=20`: `{"ticket", "facts": [{"id", "source",
/// "fetched_at" (JST), "duration_ms", "ok", "status", "content_type", "truncated", "error",
/// "body", "requested_by"}]}`, newest first.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/system-facts",
    tag = "tickets",
    operation_id = "system_facts",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$"), ListQuery),
    responses((status = 200, description = "{ticket, facts}: newest first", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 422, description = "limit out of range", body = super::openapi::ErrorBody))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let number = parse_number(&number)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::Invalid(format!("limit: 1 から {MAX_LIMIT} まで / 1 to {MAX_LIMIT}")));
    }
    if state.store.ticket_summary(&number).await?.is_none() {
        return Err(ApiError::NotFound(format!("ticket {number} does not exist")));
    }
    let facts = state.store.system_facts(&number, limit).await?;
    Ok(Json(json!({"ticket": number, "facts": facts})))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchBody {
    /// One source's name; none: every source.
    source: Option<String>,
}

/// `POST /api/tickets/{number}/system-facts` with `{"source": "<name>"}`, `{}` or no body: the
/// sources are fetched now (at once, each within its limits) and their answers stored; 200 with
/// `{"ticket", "facts": [...]}` as `GET` shows them, failures included. 404 an unknown ticket,
/// 422 an unknown source or none configured.
#[utoipa::path(
    post,
    path = "/api/tickets/{number}/system-facts",
    tag = "tickets",
    operation_id = "fetch_system_facts",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = Option<FetchBody>,
    responses((status = 200, description = "{ticket, facts}: fetched now", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket's status does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "an unknown source, or none configured", body = super::openapi::ErrorBody))
)]
pub async fn fetch(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Operator)?;
    let number = parse_number(&number)?;
    let has_body = request.headers().contains_key(header::CONTENT_TYPE)
        || request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).is_some_and(|n| n.trim() != "0");
    let body =
        if has_body { ApiJson::<FetchBody>::from_request(request, &state).await?.0 } else { FetchBody::default() };
    let sources = state.facts.sources();
    if sources.is_empty() {
        return Err(ApiError::Invalid(
            "システム情報の取得元が設定されていません / no [[status_sources]] are configured".into(),
        ));
    }
    let chosen = match body.source.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => match sources.named(name) {
            Some(source) => vec![source.clone()],
            None => {
                let names: Vec<&str> = sources.all().iter().map(|s| s.name.as_str()).collect();
                return Err(ApiError::Invalid(format!(
                    "source: その名前の取得元はありません / no status source has that name (取得元 / sources: {})",
                    names.join(", ")
                )));
            }
        },
        None => sources.all().to_vec(),
    };
    if state.store.ticket_summary(&number).await?.is_none() {
        return Err(ApiError::NotFound(format!("ticket {number} does not exist")));
    }
    let facts = state.facts.collect(&state.intake, &number, &chosen, &acting.login()).await.map_err(|e| match e {
        FactsError::NoSuchTicket(n) => ApiError::NotFound(format!("ticket {n} does not exist")),
        FactsError::Store(e) => e.into(),
        FactsError::Intake(e) => e.into(),
    })?;
    Ok(Json(json!({"ticket": number, "facts": facts})))
}
