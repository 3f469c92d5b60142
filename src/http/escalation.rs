//! Escalation over the API: the contact list (`GET /api/groups`), relaying a ticket to a group
//! (`POST /api/tickets/{number}/escalate`), logging a relay made by phone (`POST
//! /api/tickets/{number}/relays`), and a ticket's SLA clocks (`GET /api/tickets/{number}/sla`).

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath};
use super::tickets::parse_number;
use super::{ApiError, AppState};
use crate::domain::time::now_millis;
use crate::escalation::Hours;
use crate::store::{SlaClock, TicketSummary};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET /api/groups`: every group of the contact list, by tier, with its people and hours.
#[utoipa::path(
    get,
    path = "/api/groups",
    tag = "escalation",
    operation_id = "groups",
    responses((status = 200, description = "{groups}: the contact list", body = Object))
)]
pub async fn groups(State(state): State<AppState>) -> Json<Value> {
    let list = state.store.escalation().contacts;
    let groups: Vec<Value> = list
        .groups
        .iter()
        .map(|g| {
            let hours = match g.hours {
                Hours::Always => "24x7".to_owned(),
                Hours::Between(open, close) => format!("{}-{}", open.format("%H:%M"), close.format("%H:%M")),
            };
            let contacts: Vec<Value> =
                g.contacts.iter().map(|c| json!({"name": c.name, "email": c.email, "phone": c.phone})).collect();
            json!({"id": g.id, "tier": g.tier, "name": g.name, "name_en": g.name_en, "hours": hours, "contacts": contacts})
        })
        .collect();
    Json(json!({ "groups": groups }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateBody {
    /// A group of the contact list; none: the next tier's first group.
    group: Option<String>,
    reason: String,
}

fn checked_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::Invalid(format!("{field}: 入力してください / {field} is required")));
    }
    if text.chars().count() > max {
        return Err(ApiError::Invalid(format!("{field}: {max} 文字までです / at most {max} characters")));
    }
    Ok(())
}

/// `POST /api/tickets/{number}/escalate`: the ticket moves to the group's tier, escalated, and
/// the group is mailed (at its next opening unless the ticket is urgent); the relay is in the
/// history. 200 with the ticket.
#[utoipa::path(
    post,
    path = "/api/tickets/{number}/escalate",
    tag = "escalation",
    operation_id = "escalate",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = EscalateBody,
    responses((status = 200, description = "the ticket, escalated", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket's status does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "an unknown group, or no reason", body = super::openapi::ErrorBody))
)]
pub async fn escalate(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<EscalateBody>,
) -> Result<Json<TicketSummary>, ApiError> {
    let number = parse_number(&number)?;
    checked_text("reason", &body.reason, 2000)?;
    let group = body.group.map(|g| g.trim().to_owned()).filter(|g| !g.is_empty());
    let update = state.intake.escalate(number, group, body.reason.trim().to_owned(), acting.login()).await?;
    Ok(Json(update.ticket))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayBody {
    group: String,
    /// Whom the operator reached.
    #[serde(default)]
    contact: String,
    /// "phone" (default), "mail" (sent outside madoguchi) or "in_person".
    #[serde(default = "phone")]
    how: String,
    /// When it happened (default: now).
    at: Option<chrono::DateTime<chrono::FixedOffset>>,
    note: String,
}

fn phone() -> String {
    "phone".into()
}

/// `POST /api/tickets/{number}/relays`: a relay the operator made outside madoguchi (by phone),
/// recorded in the history with its time. 201.
#[utoipa::path(
    post,
    path = "/api/tickets/{number}/relays",
    tag = "escalation",
    operation_id = "log_relay",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = RelayBody,
    responses((status = 201, description = "the relay as recorded", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket's status does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn log_relay(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<RelayBody>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let number = parse_number(&number)?;
    checked_text("note", &body.note, 2000)?;
    if body.contact.chars().count() > 200 {
        return Err(ApiError::Invalid("contact: 200 文字までです / at most 200 characters".into()));
    }
    let Some(group) = state.store.escalation().contacts.group(body.group.trim()).cloned() else {
        return Err(ApiError::Invalid(format!(
            "group: 連絡先一覧にありません / no group {} in the contact list",
            body.group
        )));
    };
    if !matches!(body.how.as_str(), "phone" | "mail" | "in_person") {
        return Err(ApiError::Invalid("how: phone, mail or in_person".into()));
    }
    let now = now_millis();
    let at = body.at.map_or(now, |t| t.timestamp_millis());
    if at > now + 60_000 {
        return Err(ApiError::Invalid("at: 未来の時刻は記録できません / a relay cannot be in the future".into()));
    }
    let detail = json!({
        "group": group.id, "group_name": group.name, "tier": group.tier, "to": body.contact.trim(), "how": body.how,
        "at": crate::domain::time::jst_rfc3339(at), "note": body.note.trim(), "by": acting.login(),
    });
    state.intake.event(number.clone(), &acting.login(), "relay", detail.clone()).await?;
    Ok((axum::http::StatusCode::CREATED, Json(detail)))
}

/// `GET /api/tickets/{number}/sla`: `{"clocks": [...]}` with each clock's target, time used
/// (business time), due time, and whether it warned or breached.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/sla",
    tag = "escalation",
    operation_id = "sla_clocks",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    responses((status = 200, description = "{clocks}", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody))
)]
pub async fn clocks(State(state): State<AppState>, ApiPath(number): ApiPath<String>) -> Result<Json<Value>, ApiError> {
    let number = parse_number(&number)?;
    if state.store.ticket_summary(&number).await?.is_none() {
        return Err(ApiError::NotFound(format!("ticket {number} does not exist")));
    }
    let clocks: Vec<SlaClock> = state.store.sla_clocks(&number, now_millis()).await?;
    Ok(Json(json!({ "clocks": clocks })))
}
