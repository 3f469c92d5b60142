//! Announcement versions over the API: list the slots and their versions, request a new version
//! (operators), approve or reject it (a supervisor who did not request it), roll back to an
//! earlier approved version (supervisors), and fetch a version's audio to preview it. Every step
//! is audited; the announcer is woken so the next call hears the outcome.

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath};
use super::{ApiError, AppState};
use crate::domain::prompt::{Refusal, check_window, slot_problem};
use crate::domain::time::now_millis;
use crate::domain::user::Role;
use crate::media::audio::RATE;
use crate::media::upload;
use crate::store::{PromptChange, PromptRequest, PromptVersion};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `GET /api/prompts`: `{"slots": {"welcome": [versions…], …}, "playing": {"welcome": 2, …},
/// "notices_playing": [ids of the notices callers hear now]}`.
#[utoipa::path(
    get,
    path = "/api/prompts",
    tag = "announcements",
    operation_id = "list_prompts",
    responses((status = 200, description = "{slots, playing, notices_playing}", body = Object))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut slots: BTreeMap<String, Vec<PromptVersion>> = BTreeMap::new();
    for v in state.store.prompt_versions(None).await? {
        slots.entry(v.slot.clone()).or_default().push(v);
    }
    let playing: BTreeMap<String, i64> = state.announcements.playing().into_iter().collect();
    let notices = state.announcements.notices_playing();
    Ok(Json(json!({ "slots": slots, "playing": playing, "notices_playing": notices })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    /// The audio file (WAV or MP3), base64; or
    audio_base64: Option<String>,
    /// Japanese text for the speech synthesiser (`[prompts] tts_command`).
    text: Option<String>,
    #[serde(default)]
    reason: String,
    valid_from: Option<chrono::DateTime<chrono::FixedOffset>>,
    valid_until: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// `POST /api/prompts/{slot}/versions`: 201 `{"slot", "version", "state": "pending"}`. A slot
/// that does not exist yet is added only by an admin.
#[utoipa::path(
    post,
    path = "/api/prompts/{slot}/versions",
    tag = "announcements",
    operation_id = "request_prompt",
    params(("slot" = String, Path, description = "the announcement slot (welcome, menu, ...)")),
    request_body = NewVersion,
    responses((status = 201, description = "{slot, version, state}", body = Object), (status = 403, description = "a new slot needs an admin", body = super::openapi::ErrorBody), (status = 422, description = "a bad slot name, window, or audio", body = super::openapi::ErrorBody))
)]
pub async fn request(
    State(state): State<AppState>,
    ApiPath(slot): ApiPath<String>,
    acting: Acting,
    ApiJson(body): ApiJson<NewVersion>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if let Some(problem) = slot_problem(&slot) {
        return Err(ApiError::Invalid(problem.into()));
    }
    if state.store.prompt_versions(Some(&slot)).await?.is_empty() {
        acting.require(Role::Admin)?;
    }
    let (from, until) = (body.valid_from.map(|t| t.timestamp_millis()), body.valid_until.map(|t| t.timestamp_millis()));
    check_window(from, until).map_err(|e| ApiError::Invalid(e.to_string()))?;
    if body.reason.chars().count() > 2000 {
        return Err(ApiError::Invalid("reason: at most 2,000 characters".into()));
    }
    let Some(samples) = audio_of(&state, body.audio_base64, body.text.as_deref()).await? else {
        return Err(ApiError::Invalid(
            "give audio_base64 (a WAV or MP3 file) or text (1 to 2,000 characters to be spoken)".into(),
        ));
    };
    let request = PromptRequest {
        slot: slot.clone(),
        wav: upload::wav_bytes(&samples),
        duration_ms: samples.len() as i64 * 1000 / i64::from(RATE),
        requested_by: acting.login(),
        reason: body.reason,
        valid_from: from,
        valid_until: until,
    };
    let version = state.store.request_prompt(&request, now_millis()).await?;
    audit(&state, &acting, "prompt_requested", &slot, version).await;
    tracing::info!(slot, version, actor = %acting.0.login, "announcement version requested");
    state.announcements.changed().await;
    Ok((StatusCode::CREATED, Json(json!({"slot": slot, "version": version, "state": "pending"}))))
}

/// The audio a request brings: its uploaded file (WAV or MP3, base64) or its text spoken by
/// `[prompts] tts_command`, prepared for the line; `None` when it brings neither.
pub(super) async fn audio_of(
    state: &AppState,
    audio_base64: Option<String>,
    text: Option<&str>,
) -> Result<Option<Vec<i16>>, ApiError> {
    let limits = state.limits.upload;
    let samples = match (audio_base64, text) {
        (None, None) => return Ok(None),
        (Some(encoded), None) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| ApiError::Invalid("audio_base64 is not base64".into()))?;
            tokio::task::spawn_blocking(move || upload::prepare(&bytes, &limits))
                .await
                .map_err(|_| ApiError::Internal)?
        }
        (None, Some(text)) if !text.trim().is_empty() && text.chars().count() <= 2000 => {
            upload::speak(text, &state.limits.tts_command, &limits).await
        }
        (None, Some(_)) => return Err(ApiError::Invalid("text: 1 to 2,000 characters to be spoken".into())),
        (Some(_), Some(_)) => {
            return Err(ApiError::Invalid("give audio_base64 (a WAV or MP3 file) or text, not both".into()));
        }
    };
    samples.map(Some).map_err(|e| ApiError::Invalid(e.to_string()))
}

/// An optional `{"comment": "…"}` body of an approval or rejection (an empty body is none).
pub(super) fn comment_of(body: &[u8]) -> Result<Option<String>, ApiError> {
    let decision: Decision = if body.iter().all(u8::is_ascii_whitespace) {
        Decision::default()
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::Invalid(format!("body: {e}")))?
    };
    Ok(decision.comment.filter(|c| !c.trim().is_empty()))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    comment: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/prompts/{slot}/versions/{version}/approve",
    tag = "announcements",
    operation_id = "approve_prompt",
    params(("slot" = String, Path, description = "the announcement slot (welcome, menu, ...)"), ("version" = i64, Path, description = "the version's number")),
    request_body = Option<Decision>,
    responses((status = 200, description = "the version, approved", body = Object), (status = 403, description = "a supervisor who did not request it", body = super::openapi::ErrorBody), (status = 404, description = "no such version", body = super::openapi::ErrorBody), (status = 409, description = "the version is decided already", body = super::openapi::ErrorBody), (status = 422, description = "the body is not {comment}", body = super::openapi::ErrorBody))
)]
pub async fn approve(
    state: State<AppState>,
    path: ApiPath<(String, i64)>,
    acting: Acting,
    body: axum::body::Bytes,
) -> Result<Json<PromptVersion>, ApiError> {
    decide(state, path, acting, body, true).await
}

#[utoipa::path(
    post,
    path = "/api/prompts/{slot}/versions/{version}/reject",
    tag = "announcements",
    operation_id = "reject_prompt",
    params(("slot" = String, Path, description = "the announcement slot (welcome, menu, ...)"), ("version" = i64, Path, description = "the version's number")),
    request_body = Option<Decision>,
    responses((status = 200, description = "the version, rejected", body = Object), (status = 403, description = "a supervisor who did not request it", body = super::openapi::ErrorBody), (status = 404, description = "no such version", body = super::openapi::ErrorBody), (status = 409, description = "the version is decided already", body = super::openapi::ErrorBody), (status = 422, description = "the body is not {comment}", body = super::openapi::ErrorBody))
)]
pub async fn reject(
    state: State<AppState>,
    path: ApiPath<(String, i64)>,
    acting: Acting,
    body: axum::body::Bytes,
) -> Result<Json<PromptVersion>, ApiError> {
    decide(state, path, acting, body, false).await
}

async fn decide(
    State(state): State<AppState>,
    ApiPath((slot, version)): ApiPath<(String, i64)>,
    acting: Acting,
    body: axum::body::Bytes,
    approve: bool,
) -> Result<Json<PromptVersion>, ApiError> {
    let comment = comment_of(&body)?;
    acting.require(Role::Supervisor)?;
    let who = &acting.0;
    let change = state
        .store
        .decide_prompt(&slot, version, &who.login, who.role, approve, comment.as_deref(), now_millis())
        .await?;
    let action = if approve { "prompt_approved" } else { "prompt_rejected" };
    done(&state, &acting, change, action, &slot, version).await
}

/// `POST /api/prompts/{slot}/versions/{version}/rollback`: that approved version plays again.
#[utoipa::path(
    post,
    path = "/api/prompts/{slot}/versions/{version}/rollback",
    tag = "announcements",
    operation_id = "roll_back_prompt",
    params(("slot" = String, Path, description = "the announcement slot (welcome, menu, ...)"), ("version" = i64, Path, description = "the version's number")),
    responses((status = 200, description = "the version, playing again", body = Object), (status = 403, description = "supervisors only", body = super::openapi::ErrorBody), (status = 404, description = "no such version", body = super::openapi::ErrorBody), (status = 409, description = "the version was not approved", body = super::openapi::ErrorBody))
)]
pub async fn roll_back(
    State(state): State<AppState>,
    ApiPath((slot, version)): ApiPath<(String, i64)>,
    acting: Acting,
) -> Result<Json<PromptVersion>, ApiError> {
    acting.require(Role::Supervisor)?;
    let change = state.store.roll_back_prompt(&slot, version, acting.0.role, now_millis()).await?;
    done(&state, &acting, change, "prompt_rolled_back", &slot, version).await
}

async fn done(
    state: &AppState,
    acting: &Acting,
    change: PromptChange,
    action: &'static str,
    slot: &str,
    version: i64,
) -> Result<Json<PromptVersion>, ApiError> {
    match change {
        PromptChange::Done(v) => {
            audit(state, acting, action, slot, version).await;
            tracing::info!(slot, version, actor = %acting.0.login, action, "announcement version changed");
            state.announcements.changed().await;
            Ok(Json(*v))
        }
        PromptChange::Missing => Err(ApiError::NotFound(format!("{slot} has no version {version}"))),
        PromptChange::Refused(r @ Refusal::NotSupervisor) => Err(ApiError::Denied(r.to_string())),
        PromptChange::Refused(r @ Refusal::OwnRequest) => Err(ApiError::Denied(r.to_string())),
        PromptChange::Refused(r) => Err(ApiError::Conflict(r.to_string())),
    }
}

/// `GET /api/prompts/{slot}/versions/{version}/audio`: 8 kHz WAV, to preview in a browser.
#[utoipa::path(
    get,
    path = "/api/prompts/{slot}/versions/{version}/audio",
    tag = "announcements",
    operation_id = "prompt_audio",
    params(("slot" = String, Path, description = "the announcement slot (welcome, menu, ...)"), ("version" = i64, Path, description = "the version's number")),
    responses((status = 200, description = "the 8 kHz WAV", body = Vec<u8>, content_type = "audio/wav"), (status = 404, description = "no such version, or the shipped one", body = super::openapi::ErrorBody))
)]
pub async fn audio(
    State(state): State<AppState>,
    ApiPath((slot, version)): ApiPath<(String, i64)>,
) -> Result<Response, ApiError> {
    match state.store.prompt_audio(&slot, version).await? {
        Some(Some(wav)) => Ok(wav_response(wav)),
        Some(None) => Err(ApiError::NotFound(
            "version 1 is the shipped announcement: the file in [sip] prompts (or the built-in one)".into(),
        )),
        None => Err(ApiError::NotFound(format!("{slot} has no version {version}"))),
    }
}

/// 8 kHz WAV for the browser's player; never rendered as anything else.
pub(super) fn wav_response(wav: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("audio/wav")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'")),
            (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600")),
        ],
        wav,
    )
        .into_response()
}

async fn audit(state: &AppState, acting: &Acting, action: &str, slot: &str, version: i64) {
    let detail = json!({"slot": slot, "version": version});
    if let Err(e) = state.store.audit(&acting.0.login, action, &format!("{slot}#{version}"), &detail).await {
        tracing::error!(error = %e, action, "audit not written");
    }
}
