//! `POST /api/tickets/{number}/replies`: an operator answers the requester by e-mail from the
//! ticket. The mail goes through the outbox like an acknowledgement; the history records it.

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath};
use super::tickets::parse_number;
use super::{ApiError, AppState};
use crate::domain::reply;
use crate::domain::time::now_millis;
use crate::store::ReplyDraft;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Notify;

/// What replies need besides the store: `[notify] reply_signature` and `from_name`, the host
/// name for Message-IDs (`[mail] hostname`), and the outbox worker to wake.
#[derive(Clone)]
pub struct ReplySetup {
    signature: Arc<str>,
    helpdesk: Arc<str>,
    hostname: Arc<str>,
    outbox: Arc<Notify>,
}

impl ReplySetup {
    pub fn of(settings: &crate::config::Settings, outbox: Arc<Notify>) -> ReplySetup {
        ReplySetup {
            signature: settings.notify.reply_signature.as_str().into(),
            helpdesk: settings.notify.from_name.as_str().into(),
            hostname: settings.mail.hostname.as_str().into(),
            outbox,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    body: String,
    /// An address that wrote to the ticket; default: the last e-mail or fax contact's.
    to: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/tickets/{number}/replies",
    tag = "tickets",
    operation_id = "reply",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = ReplyBody,
    responses((status = 202, description = "{ticket, status, outbox_id, to, subject, message_id, in_reply_to}: queued", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket is closed", body = super::openapi::ErrorBody), (status = 422, description = "no address to reply to, an address not on the ticket, or a body empty or too long", body = super::openapi::ErrorBody))
)]
pub async fn create(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(request): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let number = parse_number(&number)?;
    let invalid = |e: reply::ReplyRefusal| ApiError::Invalid(e.to_string());
    let body = reply::body(&request.body).map_err(invalid)?;
    let to = request.to.as_deref().filter(|t| !t.trim().is_empty()).map(reply::address).transpose().map_err(invalid)?;
    let setup = &state.replies;
    let name = match acting.0.name.trim() {
        "" => acting.0.login.clone(),
        name => name.to_owned(),
    };
    let signature = reply::signature(&setup.signature, &name, &setup.helpdesk, &number);
    let draft = ReplyDraft {
        number: number.clone(),
        actor: acting.login(),
        actor_name: name,
        to,
        text: reply::compose(&body, &signature),
        message_id: format!("reply.{}.{}@{}", now_millis(), crate::random::token(), setup.hostname),
    };
    let queued = state.intake.reply(draft).await?;
    setup.outbox.notify_one();
    let answer = json!({
        "ticket": number, "status": "queued", "outbox_id": queued.outbox_id, "to": queued.to,
        "subject": queued.subject, "message_id": queued.message_id, "in_reply_to": queued.in_reply_to,
    });
    Ok((StatusCode::ACCEPTED, Json(answer)))
}
