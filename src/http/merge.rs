//! `POST /api/tickets/{number}/merge`: the ticket's contacts and attachments move to the ticket
//! named in `into`, and the ticket is closed as merged. Operators may merge.

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath, not_valid};
use super::tickets::parse_number;
use super::{ApiError, AppState};
use crate::domain::TicketNumber;
use crate::domain::user::Role;
use crate::store::TicketSummary;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    into: String,
}

#[derive(Serialize)]
pub struct MergeAnswer {
    source: TicketSummary,
    target: TicketSummary,
    contacts_moved: u64,
}

#[utoipa::path(
    post,
    path = "/api/tickets/{number}/merge",
    tag = "tickets",
    operation_id = "merge",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = MergeBody,
    responses((status = 200, description = "{source, target, contacts_moved}", body = Object), (status = 404, description = "either ticket does not exist", body = super::openapi::ErrorBody), (status = 409, description = "into is closed, or the ticket is merged already", body = super::openapi::ErrorBody), (status = 422, description = "into itself, or into is not a ticket number", body = super::openapi::ErrorBody))
)]
pub async fn merge(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Json<MergeAnswer>, ApiError> {
    acting.require(Role::Operator)?;
    let source = parse_number(&number)?;
    let target: TicketNumber = body.into.trim().parse().map_err(|e| ApiError::Invalid(not_valid(&e, "into")))?;
    let merged = state.intake.merge(source, target, acting.login()).await?;
    Ok(Json(MergeAnswer {
        source: merged.source.ticket,
        target: merged.target.ticket,
        contacts_moved: merged.contacts_moved,
    }))
}
