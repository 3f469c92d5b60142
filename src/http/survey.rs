//! A ticket's satisfaction survey for operators: `GET /api/tickets/{number}/survey` (operator and
//! up) answers `{sent_at, expires_at, answered_at, rating, comment}`, or 404 when the ticket has
//! none. The comment is the requester's own words: the read is audited, like a ticket's.

use super::auth::Acting;
use super::extract::ApiPath;
use super::tickets::{audit_read, parse_number};
use super::{ApiError, AppState};
use crate::store::SurveyRecord;
use axum::Json;
use axum::extract::State;

/// `GET /api/tickets/{number}/survey`
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/survey",
    tag = "tickets",
    operation_id = "ticket_survey",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    responses((status = 200, description = "{sent_at, expires_at, answered_at, rating, comment}", body = Object), (status = 404, description = "no such ticket, or no survey sent", body = super::openapi::ErrorBody))
)]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
) -> Result<Json<SurveyRecord>, ApiError> {
    let number = parse_number(&number)?;
    let record = match state.store.ticket_survey(&number).await? {
        None => return Err(ApiError::NotFound(format!("ticket {number} does not exist"))),
        Some(None) => {
            return Err(ApiError::NotFound(format!(
                "チケット {number} の満足度調査はありません / no satisfaction survey was sent for ticket {number}"
            )));
        }
        Some(Some(record)) => record,
    };
    audit_read(&state, &acting, "survey_read", number.as_str()).await;
    Ok(Json(record))
}
