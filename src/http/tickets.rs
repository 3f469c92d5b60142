//! `GET /api/tickets`, `GET /api/me/tickets`, `GET|PATCH /api/tickets/{number}`, the ticket's
//! lists a page at a time (`…/contacts`, `…/contacts/{id}/attachments`, `…/attachments`,
//! `…/history`), and `GET /api/attachments/{id}`.

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath, ApiQuery, not_valid};
use super::{ApiError, AppState};
use crate::domain::user::login_problem;
use crate::domain::{Channel, Priority, Status, TicketNumber, Tier};
use crate::store::{
    AttachmentRecord, ContactView, DetailLimits, HistoryEntry, OwnerFilter, Page, TicketChange, TicketDetail,
    TicketFilter, TicketPage, TicketSummary,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;
/// Who is acting, until the console's sign-in (a later issue) supplies it.

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses, or `open` for every status before resolved.
    status: Option<String>,
    channel: Option<Channel>,
    tier: Option<i64>,
    category: Option<String>,
    q: Option<String>,
    caller: Option<String>,
    /// A user's login, or `none` for the unassigned tickets.
    owner: Option<String>,
    before: Option<i64>,
    limit: Option<u32>,
}

/// The longest phone number or address a caller filter may be.
const CALLER_MAX_CHARS: usize = 254;

#[utoipa::path(
    get,
    path = "/api/tickets",
    tag = "tickets",
    operation_id = "list_tickets",
    params(ListParams),
    responses((status = 200, description = "{tickets, next}: a page of tickets, newest first", body = Object))
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<TicketPage>, ApiError> {
    let status = match p.status.as_deref() {
        None | Some("") => Vec::new(),
        Some("open") => open_statuses(),
        Some(list) => list
            .split(',')
            .map(|s| s.trim().parse::<Status>().map_err(|e| ApiError::BadRequest(not_valid(&e, "status"))))
            .collect::<Result<_, _>>()?,
    };
    let limit = page_limit(p.limit)?;
    if let Some(q) = &p.q {
        crate::domain::search::words(q).map_err(|e| ApiError::BadRequest(format!("q: {e}")))?;
    }
    if p.caller.as_deref().is_some_and(|c| c.chars().count() > CALLER_MAX_CHARS) {
        return Err(ApiError::BadRequest(format!("caller may have at most {CALLER_MAX_CHARS} characters")));
    }
    let owner = match p.owner.as_deref() {
        None | Some("") => None,
        Some("none") => Some(OwnerFilter::Nobody),
        Some(login) if login_problem(login).is_some() => {
            return Err(ApiError::BadRequest(
                "owner must be a user's login, or none for the unassigned tickets".into(),
            ));
        }
        Some(login) => Some(OwnerFilter::User(login.to_owned())),
    };
    let filter = TicketFilter {
        status,
        owner,
        channel: p.channel,
        tier: p.tier.map(Tier::new).transpose().map_err(|e| ApiError::BadRequest(not_valid(&e, "tier")))?,
        category: p.category.filter(|c| !c.is_empty()),
        text: p.q.filter(|q| !q.trim().is_empty()),
        caller: p.caller,
        before: p.before,
        limit,
    };
    Ok(Json(state.store.list_tickets(&filter).await?))
}

fn open_statuses() -> Vec<Status> {
    Status::ALL.iter().copied().filter(|s| s.is_open()).collect()
}

fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}"))),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MineParams {
    before: Option<i64>,
    limit: Option<u32>,
}

/// `GET /api/me/tickets`: the acting user's open tickets, newest first (the console's "my tickets").
#[utoipa::path(
    get,
    path = "/api/me/tickets",
    tag = "tickets",
    operation_id = "my_tickets",
    params(MineParams),
    responses((status = 200, description = "{tickets, next}: the acting user's open tickets", body = Object))
)]
pub async fn mine(
    State(state): State<AppState>,
    acting: Acting,
    ApiQuery(p): ApiQuery<MineParams>,
) -> Result<Json<TicketPage>, ApiError> {
    let filter = TicketFilter {
        status: open_statuses(),
        owner: Some(OwnerFilter::User(acting.login())),
        before: p.before,
        limit: page_limit(p.limit)?,
        ..Default::default()
    };
    Ok(Json(state.store.list_tickets(&filter).await?))
}

pub(super) fn parse_number(raw: &str) -> Result<TicketNumber, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest("not a ticket number (expected YYYYMMDD-NNNN)".into()))
}

/// What `GET /api/tickets/{number}` shows of each list; the rest is read a page at a time.
pub const DETAIL: DetailLimits =
    DetailLimits { contacts: 20, attachments_per_contact: 20, attachments: 100, history: 200 };
/// The most one page of a ticket's list may ask for.
pub const MAX_LIST_PAGE: u32 = 200;

#[utoipa::path(
    get,
    path = "/api/tickets/{number}",
    tag = "tickets",
    operation_id = "show_ticket",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    responses((status = 200, description = "the ticket with the first page of its lists", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody))
)]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
) -> Result<Json<TicketDetail>, ApiError> {
    let number = parse_number(&number)?;
    let ticket = state.store.ticket(&number, DETAIL).await?.ok_or_else(|| no_ticket(&number))?;
    audit_read(&state, &acting, "ticket_read", number.as_str()).await;
    Ok(Json(ticket))
}

fn no_ticket(number: &TicketNumber) -> ApiError {
    ApiError::NotFound(format!("ticket {number} does not exist"))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// The `next` of the previous page.
    after: Option<i64>,
    limit: Option<u32>,
}

impl PageParams {
    fn limit(&self, default: u32) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(default) {
            n @ 1..=MAX_LIST_PAGE => Ok(n),
            _ => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIST_PAGE}"))),
        }
    }
}

/// One page of a ticket's list: `{"<list>": [...], "next": "<after for the next page>"}`.
#[derive(Serialize)]
pub struct ListPage<T: Serialize> {
    #[serde(flatten)]
    items: std::collections::BTreeMap<&'static str, Vec<T>>,
    next: Option<String>,
}

fn list_page<T: Serialize>(name: &'static str, page: Page<T>) -> Json<ListPage<T>> {
    Json(ListPage { items: [(name, page.items)].into(), next: page.next.map(|n| n.to_string()) })
}

/// `GET /api/tickets/{number}/contacts?after=&limit=`: contacts oldest first, each with its first
/// attachments and `attachment_count`.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/contacts",
    tag = "tickets",
    operation_id = "ticket_contacts",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$"), PageParams),
    responses((status = 200, description = "{contacts, next}: one page, oldest first", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody))
)]
pub async fn contacts(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    ApiQuery(p): ApiQuery<PageParams>,
    acting: Acting,
) -> Result<Json<ListPage<ContactView>>, ApiError> {
    let number = parse_number(&number)?;
    let limit = p.limit(DETAIL.contacts)?;
    let page = state.store.contacts(&number, p.after, limit, DETAIL.attachments_per_contact).await?;
    let page = page.ok_or_else(|| no_ticket(&number))?;
    audit_read(&state, &acting, "contacts_read", number.as_str()).await;
    Ok(list_page("contacts", page))
}

/// `GET /api/tickets/{number}/contacts/{id}/attachments?after=&limit=`.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/contacts/{id}/attachments",
    tag = "tickets",
    operation_id = "contact_attachments",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$"), ("id" = i64, Path, description = "the contact's id"), PageParams),
    responses((status = 200, description = "{attachments, next}: one page, oldest first", body = Object), (status = 404, description = "no such ticket or contact", body = super::openapi::ErrorBody))
)]
pub async fn contact_attachments(
    State(state): State<AppState>,
    ApiPath((number, contact)): ApiPath<(String, i64)>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<ListPage<AttachmentRecord>>, ApiError> {
    let number = parse_number(&number)?;
    let limit = p.limit(DETAIL.attachments)?;
    let page = state.store.attachments(&number, Some(contact), p.after, limit).await?;
    let page = page.ok_or_else(|| ApiError::NotFound(format!("ticket {number} has no contact {contact}")))?;
    Ok(list_page("attachments", page))
}

/// `GET /api/tickets/{number}/attachments?after=&limit=`: every contact's, oldest first.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/attachments",
    tag = "tickets",
    operation_id = "ticket_attachments",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$"), PageParams),
    responses((status = 200, description = "{attachments, next}: one page, oldest first", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody))
)]
pub async fn attachments(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<ListPage<AttachmentRecord>>, ApiError> {
    let number = parse_number(&number)?;
    let limit = p.limit(DETAIL.attachments)?;
    let page = state.store.attachments(&number, None, p.after, limit).await?;
    Ok(list_page("attachments", page.ok_or_else(|| no_ticket(&number))?))
}

/// `GET /api/tickets/{number}/history?after=&limit=`.
#[utoipa::path(
    get,
    path = "/api/tickets/{number}/history",
    tag = "tickets",
    operation_id = "ticket_history",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$"), PageParams),
    responses((status = 200, description = "{history, next}: one page, oldest first", body = Object), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody))
)]
pub async fn history(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<ListPage<HistoryEntry>>, ApiError> {
    let number = parse_number(&number)?;
    let limit = p.limit(DETAIL.history)?;
    let page = state.store.history(&number, p.after, limit).await?;
    Ok(list_page("history", page.ok_or_else(|| no_ticket(&number))?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    status: Option<Status>,
    tier: Option<Tier>,
    category: Option<String>,
    priority: Option<Priority>,
    note: Option<String>,
    /// A login, or null to unassign (absent: unchanged).
    #[serde(default, deserialize_with = "present")]
    owner: Option<Option<String>>,
    resolution: Option<String>,
}

/// A field that may be null: `Some(None)` when it is, `None` (by `default`) when it is absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub const NOTE_MAX_CHARS: usize = 20_000;
pub const RESOLUTION_MAX_CHARS: usize = 20_000;

#[utoipa::path(
    patch,
    path = "/api/tickets/{number}",
    tag = "tickets",
    operation_id = "update_ticket",
    params(("number" = String, Path, description = "the ticket number, YYYYMMDD-NNNN", example = "20261121-0001", pattern = r"^[0-9]{8}-[0-9]{4}$")),
    request_body = PatchBody,
    responses((status = 200, description = "the ticket summary after the change", body = Object), (status = 403, description = "reopening a closed ticket needs a supervisor", body = super::openapi::ErrorBody), (status = 404, description = "no such ticket", body = super::openapi::ErrorBody), (status = 409, description = "the ticket's status does not allow it", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn update(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Json<TicketSummary>, ApiError> {
    let number = parse_number(&number)?;
    let change = TicketChange {
        status: body.status,
        tier: body.tier,
        category: body.category,
        priority: body.priority,
        note: body.note.filter(|n| !n.trim().is_empty()),
        owner: body.owner.map(|o| o.map(|login| login.trim().to_owned())),
        resolution: body.resolution.filter(|r| !r.trim().is_empty()),
    };
    if change.is_empty() {
        return Err(ApiError::Invalid(
            "nothing to change: give status, tier, category, priority, note, owner or resolution".into(),
        ));
    }
    if let Some(Some(login)) = &change.owner
        && login_problem(login).is_some()
    {
        return Err(ApiError::Invalid("owner must be a user's login, or null to unassign".into()));
    }
    if change.resolution.as_ref().is_some_and(|r| r.chars().count() > RESOLUTION_MAX_CHARS) {
        return Err(ApiError::Invalid(format!("resolution is longer than {RESOLUTION_MAX_CHARS} characters")));
    }
    if let Some(c) = &change.category {
        let categories = &state.intake.rules().categories;
        if !categories.is_empty() && !categories.contains_key(c) {
            return Err(ApiError::Invalid(format!(
                "unknown category; known: {}",
                categories.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if change.note.as_ref().is_some_and(|n| n.chars().count() > NOTE_MAX_CHARS) {
        return Err(ApiError::Invalid(format!("note is longer than {NOTE_MAX_CHARS} characters")));
    }
    let updated = state.intake.update(number, change, acting.login(), acting.0.role).await?;
    Ok(Json(updated.ticket))
}

#[utoipa::path(
    get,
    path = "/api/attachments/{id}",
    tag = "attachments",
    operation_id = "attachment",
    params(("id" = i64, Path, description = "the attachment's id")),
    responses((status = 200, description = "the file, as a download (a type a browser could run is served as application/octet-stream)", content((Vec<u8> = "application/octet-stream"), (Vec<u8> = "application/pdf"), (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/bmp"), (Vec<u8> = "image/tiff"), (Vec<u8> = "text/plain"), (Vec<u8> = "audio/wav"), (Vec<u8> = "audio/x-wav"), (Vec<u8> = "audio/wave"))), (status = 404, description = "no such attachment", body = super::openapi::ErrorBody))
)]
pub async fn attachment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
) -> Result<Response, ApiError> {
    let (a, bytes) = attachment_content(&state, id).await?;
    audit_read(&state, &acting, "attachment_read", &id.to_string()).await;
    let content_type = HeaderValue::from_str(&crate::domain::content::served_type(&a.content_type))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let disposition = format!("attachment; filename*=UTF-8''{}", percent_encode(&a.filename));
    let disposition = HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            // Opened directly anyway, it can run nothing and load nothing.
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'")),
        ],
        bytes,
    )
        .into_response())
}

/// An attachment and its content (from the database, or its file).
pub(super) async fn attachment_content(state: &AppState, id: i64) -> Result<(AttachmentRecord, Vec<u8>), ApiError> {
    let Some(a) = state.store.attachment(id).await? else {
        return Err(ApiError::NotFound(format!("attachment {id} does not exist")));
    };
    let bytes = match state.store.blob(&a.sha256).await? {
        Some(bytes) => bytes,
        None => {
            let files = state.files.clone();
            let sha = a.sha256.clone();
            let read = tokio::task::spawn_blocking(move || files.read(&sha)).await.map_err(|_| ApiError::Internal)?;
            read.map_err(|e| {
                tracing::error!(error = %e, attachment = id, "attachment file missing");
                ApiError::Internal
            })?
        }
    };
    Ok((a, bytes))
}

/// Who read which ticket or attachment, and when. A read is answered even when the audit
/// cannot be written (the failure is logged).
pub(super) async fn audit_read(state: &AppState, acting: &Acting, action: &str, subject: &str) {
    if let Err(e) = state.store.audit(&acting.0.login, action, subject, &serde_json::json!({})).await {
        tracing::error!(error = %e, action, "audit not written");
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
