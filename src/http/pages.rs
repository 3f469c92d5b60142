//! `GET /api/attachments/{id}/pages` and `…/pages/{n}`: a fax's TIFF shown in the browser, one
//! page at a time as PNG, converted here. Only content that is a TIFF by its first bytes is
//! read; decoding runs on the blocking pool, a few pages at a time.

use super::auth::Acting;
use super::extract::ApiPath;
use super::tickets::attachment_content;
use super::{ApiError, AppState};
use crate::fax_pages::{self, PageError};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Pages decoded at once; more requests wait their turn (each page is up to 50 megapixels).
static DECODING: Semaphore = Semaphore::const_new(2);

#[utoipa::path(
    get,
    path = "/api/attachments/{id}/pages",
    tag = "attachments",
    operation_id = "fax_pages",
    params(("id" = i64, Path, description = "the attachment's id")),
    responses((status = 200, description = "{pages}", body = Object), (status = 404, description = "no such attachment", body = super::openapi::ErrorBody), (status = 415, description = "the attachment is not a TIFF", body = super::openapi::ErrorBody), (status = 422, description = "the TIFF is damaged or too large", body = super::openapi::ErrorBody))
)]
pub async fn count(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
) -> Result<Json<Value>, ApiError> {
    let bytes = tiff(&state, id).await?;
    let pages = decode(move || fax_pages::page_count(&bytes)).await?;
    audit(&state, &acting, id, json!({"pages": pages})).await;
    Ok(Json(json!({ "pages": pages })))
}

#[utoipa::path(
    get,
    path = "/api/attachments/{id}/pages/{page}",
    tag = "attachments",
    operation_id = "fax_page",
    params(("id" = i64, Path, description = "the attachment's id"), ("page" = u32, Path, minimum = 1, description = "the page, from 1")),
    responses((status = 200, description = "the page as PNG", body = Vec<u8>, content_type = "image/png"), (status = 404, description = "no such attachment or page", body = super::openapi::ErrorBody), (status = 415, description = "the attachment is not a TIFF", body = super::openapi::ErrorBody), (status = 422, description = "the TIFF is damaged or too large", body = super::openapi::ErrorBody))
)]
pub async fn page(
    State(state): State<AppState>,
    ApiPath((id, number)): ApiPath<(i64, u32)>,
    acting: Acting,
) -> Result<Response, ApiError> {
    let bytes = tiff(&state, id).await?;
    let png = decode(move || fax_pages::page_png(&bytes, number as usize)).await?;
    audit(&state, &acting, id, json!({"page": number})).await;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/png")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'")),
        ],
        png,
    )
        .into_response())
}

/// The attachment's content, when it is a TIFF.
async fn tiff(state: &AppState, id: i64) -> Result<Vec<u8>, ApiError> {
    let (_, bytes) = attachment_content(state, id).await?;
    if !fax_pages::is_tiff(&bytes) {
        return Err(refusal(PageError::NotTiff));
    }
    Ok(bytes)
}

async fn decode<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = DECODING.acquire().await.map_err(|_| ApiError::Internal)?;
    tokio::task::spawn_blocking(work).await.map_err(|_| ApiError::Internal)?.map_err(refusal)
}

fn refusal(e: PageError) -> ApiError {
    match e {
        PageError::NotTiff => ApiError::UnsupportedMediaType(e.to_string()),
        PageError::NoSuchPage { .. } => ApiError::NotFound(e.to_string()),
        PageError::Encode => {
            tracing::error!("a fax page could not be encoded as PNG");
            ApiError::Internal
        }
        _ => ApiError::Invalid(e.to_string()),
    }
}

/// A page shown, or the pages counted, is a read of the attachment.
async fn audit(state: &AppState, acting: &Acting, id: i64, detail: Value) {
    if let Err(e) = state.store.audit(&acting.0.login, "attachment_read", &id.to_string(), &detail).await {
        tracing::error!(error = %e, action = "attachment_read", "audit not written");
    }
}
