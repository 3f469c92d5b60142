//! `POST /api/contacts`: an operator logs a contact by hand (a walk-in, a call taken on an
//! ordinary phone); it opens a ticket, or joins the one named in `ticket`, and is routed.

use super::auth::Acting;
use super::extract::{ApiJson, not_valid};
use super::{ApiError, AppState};
use crate::domain::contact::SUBJECT_MAX_CHARS;
use crate::domain::time::now_millis;
use crate::domain::{AttachmentUpload, CallerInfo, Channel, NewContact, TicketNumber};
use crate::routing::Decision;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    #[serde(default = "manual")]
    channel: Channel,
    ticket: Option<String>,
    subject: Option<String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    caller: CallerIn,
    dialed_number: Option<String>,
    menu_choices: Option<String>,
    /// RFC 3339; defaults to now.
    received_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    source_ref: Option<String>,
    #[serde(default)]
    attachments: Vec<AttachmentIn>,
}

#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CallerIn {
    number: Option<String>,
    name: Option<String>,
    email: Option<String>,
    fax: Option<String>,
    organisation: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AttachmentIn {
    filename: String,
    content_type: Option<String>,
    /// The file's content, base64. Not kept in the contact's raw request (the file is stored).
    #[serde(skip_serializing_if = "always")]
    #[schema(required = true)]
    content_base64: String,
}

fn always(_: &String) -> bool {
    true
}

fn manual() -> Channel {
    Channel::Manual
}

#[derive(Serialize)]
struct Created {
    ticket: TicketNumber,
    contact_id: i64,
    created: bool,
    routing: Decision,
}

const FIELD_MAX_CHARS: usize = 500;

#[utoipa::path(
    post,
    path = "/api/contacts",
    tag = "tickets",
    operation_id = "log_contact",
    request_body = ContactIn,
    responses((status = 201, description = "{ticket, contact_id, created, routing}: a new ticket (Location names it)", body = Object), (status = 200, description = "{ticket, contact_id, created, routing}: the contact joined the ticket named in ticket", body = Object), (status = 404, description = "the ticket named in ticket does not exist", body = super::openapi::ErrorBody), (status = 409, description = "the ticket named in ticket is closed", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn create(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(input): ApiJson<ContactIn>,
) -> Result<Response, ApiError> {
    if input.attachments.len() > state.limits.max_attachments {
        return Err(ApiError::Invalid(format!(
            "a contact may have at most {} attachments ([intake] max_attachments_per_contact); nothing was stored",
            state.limits.max_attachments
        )));
    }
    let actor = acting.login();
    // Decoding megabytes of base64 and serialising the request are CPU work: off the async threads.
    let contact =
        tokio::task::spawn_blocking(move || to_contact(input, actor)).await.map_err(|_| ApiError::Internal)??;
    let (recorded, routing) = state.intake.submit(contact).await?;
    let status = if recorded.created { StatusCode::CREATED } else { StatusCode::OK };
    let location =
        HeaderValue::from_str(&format!("/api/tickets/{}", recorded.ticket)).map_err(|_| ApiError::Internal)?;
    let body = Created { ticket: recorded.ticket, contact_id: recorded.contact_id, created: recorded.created, routing };
    Ok((status, [(header::LOCATION, location)], Json(body)).into_response())
}

fn to_contact(input: ContactIn, actor: String) -> Result<NewContact, ApiError> {
    let join = input
        .ticket
        .as_deref()
        .map(|t| t.parse::<TicketNumber>())
        .transpose()
        .map_err(|e| ApiError::Invalid(not_valid(&e, "ticket")))?;
    let c = &input.caller;
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    if blank(&input.subject)
        && input.body.trim().is_empty()
        && [&c.number, &c.name, &c.email, &c.fax].iter().all(|f| blank(f))
    {
        return Err(ApiError::Invalid("a contact needs a subject, a body or something about the caller".into()));
    }
    if input.subject.as_ref().is_some_and(|s| s.chars().count() > SUBJECT_MAX_CHARS * 5) {
        return Err(ApiError::Invalid(format!("subject is longer than {} characters", SUBJECT_MAX_CHARS * 5)));
    }
    let short_fields = [
        ("caller.number", &c.number),
        ("caller.name", &c.name),
        ("caller.email", &c.email),
        ("caller.fax", &c.fax),
        ("caller.organisation", &c.organisation),
        ("dialed_number", &input.dialed_number),
        ("menu_choices", &input.menu_choices),
        ("source_ref", &input.source_ref),
    ];
    for (name, value) in short_fields {
        if value.as_ref().is_some_and(|v| v.chars().count() > FIELD_MAX_CHARS) {
            return Err(ApiError::Invalid(format!("{name} is longer than {FIELD_MAX_CHARS} characters")));
        }
    }
    if let Some(email) = c.email.as_deref().filter(|e| !e.trim().is_empty())
        && !looks_like_address(email)
    {
        return Err(ApiError::Invalid("caller.email is not an e-mail address".into()));
    }
    let mut attachments = Vec::with_capacity(input.attachments.len());
    for (i, a) in input.attachments.iter().enumerate() {
        let filename = a.filename.rsplit(['/', '\\']).next().unwrap_or_default().trim().to_owned();
        if filename.is_empty() || filename.chars().count() > FIELD_MAX_CHARS {
            return Err(ApiError::Invalid(format!("attachments[{i}].filename must be a file name")));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(a.content_base64.trim())
            .map_err(|_| ApiError::Invalid(format!("attachments[{i}].content_base64 is not base64")))?;
        attachments.push(AttachmentUpload {
            filename,
            content_type: a.content_type.clone().unwrap_or_else(|| "application/octet-stream".into()),
            bytes,
        });
    }
    // The request as received, without the attachments' content (kept as files).
    let raw = serde_json::to_string(&input).ok();
    let trimmed = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    Ok(NewContact {
        channel: input.channel,
        join,
        subject: trimmed(input.subject),
        body: input.body,
        caller: CallerInfo {
            number: trimmed(input.caller.number),
            name: trimmed(input.caller.name),
            email: trimmed(input.caller.email),
            fax: trimmed(input.caller.fax),
            organisation: trimmed(input.caller.organisation),
        },
        dialed_number: trimmed(input.dialed_number),
        menu_choices: trimmed(input.menu_choices),
        received_at_ms: input.received_at.map(|t| t.timestamp_millis()).unwrap_or_else(now_millis),
        source_ref: trimmed(input.source_ref),
        raw,
        attachments,
        actor,
        ..Default::default()
    })
}

fn looks_like_address(s: &str) -> bool {
    match s.trim().rsplit_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace),
        None => false,
    }
}
