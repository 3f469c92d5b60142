//! System operation notices over the API: list them all (signed in), draft one (operators and
//! up), approve (publish) or reject a draft (a supervisor who did not draft it), withdraw a
//! published one (supervisors), and fetch a notice's audio to preview it. Every step is
//! audited; the announcer is woken so callers hear (or stop hearing) a notice at once.
//! The public side (`/notices`, its feed and JSON) is [`super::notices_public`].

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath};
use super::prompts::{audio_of, comment_of, wav_response};
use super::{ApiError, AppState};
use crate::domain::notice::{Kind, Refusal, Wording, draft_problem};
use crate::domain::time::now_millis;
use crate::domain::user::Role;
use crate::media::audio::RATE;
use crate::media::upload;
use crate::store::{Notice, NoticeChange, NoticeDraft};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

/// How many notices the console's list shows.
const LIST_LIMIT: i64 = 500;

/// `GET /api/notices`: `{"notices": [...]}`, newest first, each with `public` (shown now).
#[utoipa::path(
    get,
    path = "/api/notices",
    tag = "notices",
    operation_id = "list_notices",
    responses((status = 200, description = "{notices}: newest first", body = Object))
)]
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = now_millis();
    let notices: Vec<Value> = state
        .store
        .notices(LIST_LIMIT)
        .await?
        .into_iter()
        .map(|n| {
            let public = n.facts().public(now);
            let mut v = serde_json::to_value(n).unwrap_or_default();
            v["public"] = json!(public);
            v
        })
        .collect();
    Ok(Json(json!({ "notices": notices })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNotice {
    kind: Kind,
    title: String,
    #[serde(default)]
    title_en: String,
    body: String,
    #[serde(default)]
    body_en: String,
    valid_from: Option<chrono::DateTime<chrono::FixedOffset>>,
    valid_until: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Audio for callers (WAV or MP3), base64; or
    audio_base64: Option<String>,
    /// Japanese text for the speech synthesiser; or neither: callers hear nothing of it.
    audio_text: Option<String>,
}

/// `POST /api/notices`: 201 with the draft.
#[utoipa::path(
    post,
    path = "/api/notices",
    tag = "notices",
    operation_id = "draft_notice",
    request_body = NewNotice,
    responses((status = 201, description = "the draft", body = Object), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn draft(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(body): ApiJson<NewNotice>,
) -> Result<(StatusCode, Json<Notice>), ApiError> {
    let now = now_millis();
    let (from, until) = (body.valid_from.map(|t| t.timestamp_millis()), body.valid_until.map(|t| t.timestamp_millis()));
    let wording = Wording { title: &body.title, title_en: &body.title_en, body: &body.body, body_en: &body.body_en };
    if let Some(problem) = draft_problem(&wording, from, until, now) {
        return Err(ApiError::Invalid(problem));
    }
    let audio_text = body.audio_text.filter(|t| !t.trim().is_empty());
    let samples = audio_of(&state, body.audio_base64, audio_text.as_deref()).await?;
    let draft = NoticeDraft {
        kind: body.kind,
        title: body.title.trim().to_owned(),
        title_en: body.title_en.trim().to_owned(),
        body: body.body,
        body_en: body.body_en,
        valid_from: from,
        valid_until: until,
        drafted_by: acting.login(),
        duration_ms: samples.as_ref().map_or(0, |s| s.len() as i64 * 1000 / i64::from(RATE)),
        wav: samples.as_deref().map(upload::wav_bytes),
        audio_text: audio_text.unwrap_or_default(),
    };
    let id = state.store.draft_notice(&draft, now).await?;
    audit(&state, &acting, "notice_drafted", id).await;
    tracing::info!(notice = id, actor = %acting.0.login, "notice drafted");
    let notice = state.store.notice(id).await?.ok_or(ApiError::Internal)?;
    Ok((StatusCode::CREATED, Json(notice)))
}

#[utoipa::path(
    post,
    path = "/api/notices/{id}/approve",
    tag = "notices",
    operation_id = "approve_notice",
    params(("id" = i64, Path, description = "the notice's id")),
    request_body = Option<super::prompts::Decision>,
    responses((status = 200, description = "the notice, published", body = Object), (status = 403, description = "a supervisor who did not draft it", body = super::openapi::ErrorBody), (status = 404, description = "no such notice", body = super::openapi::ErrorBody), (status = 409, description = "the notice is decided already", body = super::openapi::ErrorBody), (status = 422, description = "the body is not {comment}", body = super::openapi::ErrorBody))
)]
pub async fn approve(
    state: State<AppState>,
    path: ApiPath<i64>,
    acting: Acting,
    body: axum::body::Bytes,
) -> Result<Json<Notice>, ApiError> {
    decide(state, path, acting, body, true).await
}

#[utoipa::path(
    post,
    path = "/api/notices/{id}/reject",
    tag = "notices",
    operation_id = "reject_notice",
    params(("id" = i64, Path, description = "the notice's id")),
    request_body = Option<super::prompts::Decision>,
    responses((status = 200, description = "the notice, rejected", body = Object), (status = 403, description = "a supervisor who did not draft it", body = super::openapi::ErrorBody), (status = 404, description = "no such notice", body = super::openapi::ErrorBody), (status = 409, description = "the notice is decided already", body = super::openapi::ErrorBody), (status = 422, description = "the body is not {comment}", body = super::openapi::ErrorBody))
)]
pub async fn reject(
    state: State<AppState>,
    path: ApiPath<i64>,
    acting: Acting,
    body: axum::body::Bytes,
) -> Result<Json<Notice>, ApiError> {
    decide(state, path, acting, body, false).await
}

async fn decide(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
    body: axum::body::Bytes,
    approve: bool,
) -> Result<Json<Notice>, ApiError> {
    let comment = comment_of(&body)?;
    acting.require(Role::Supervisor)?;
    let who = &acting.0;
    let change = state.store.decide_notice(id, &who.login, who.role, approve, comment.as_deref(), now_millis()).await?;
    let action = if approve { "notice_published" } else { "notice_rejected" };
    done(&state, &acting, change, action, id).await
}

/// `POST /api/notices/{id}/withdraw`: a published notice is taken down now.
#[utoipa::path(
    post,
    path = "/api/notices/{id}/withdraw",
    tag = "notices",
    operation_id = "withdraw_notice",
    params(("id" = i64, Path, description = "the notice's id")),
    responses((status = 200, description = "the notice, withdrawn", body = Object), (status = 403, description = "supervisors only", body = super::openapi::ErrorBody), (status = 404, description = "no such notice", body = super::openapi::ErrorBody), (status = 409, description = "the notice is not published", body = super::openapi::ErrorBody))
)]
pub async fn withdraw(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    acting: Acting,
) -> Result<Json<Notice>, ApiError> {
    acting.require(Role::Supervisor)?;
    let change = state.store.withdraw_notice(id, &acting.0.login, acting.0.role, now_millis()).await?;
    done(&state, &acting, change, "notice_withdrawn", id).await
}

async fn done(
    state: &AppState,
    acting: &Acting,
    change: NoticeChange,
    action: &'static str,
    id: i64,
) -> Result<Json<Notice>, ApiError> {
    match change {
        NoticeChange::Done(n) => {
            audit(state, acting, action, id).await;
            tracing::info!(notice = id, actor = %acting.0.login, action, "notice changed");
            state.announcements.changed().await;
            Ok(Json(*n))
        }
        NoticeChange::Missing => Err(ApiError::NotFound(format!("no notice {id}"))),
        NoticeChange::Refused(r @ (Refusal::NotSupervisor | Refusal::OwnDraft)) => Err(ApiError::Denied(r.to_string())),
        NoticeChange::Refused(r) => Err(ApiError::Conflict(r.to_string())),
    }
}

/// `GET /api/notices/{id}/audio`: what callers hear of it, to preview in a browser.
#[utoipa::path(
    get,
    path = "/api/notices/{id}/audio",
    tag = "notices",
    operation_id = "notice_audio",
    params(("id" = i64, Path, description = "the notice's id")),
    responses((status = 200, description = "what callers hear, as 8 kHz WAV", body = Vec<u8>, content_type = "audio/wav"), (status = 404, description = "no such notice, or no audio", body = super::openapi::ErrorBody))
)]
pub async fn audio(State(state): State<AppState>, ApiPath(id): ApiPath<i64>) -> Result<Response, ApiError> {
    match state.store.notice_audio(id).await? {
        Some(wav) => Ok(wav_response(wav)),
        None => Err(ApiError::NotFound(format!("notice {id} has no audio"))),
    }
}

async fn audit(state: &AppState, acting: &Acting, action: &str, id: i64) {
    let detail = json!({ "notice": id });
    if let Err(e) = state.store.audit(&acting.0.login, action, &format!("notice#{id}"), &detail).await {
        tracing::error!(error = %e, action, "audit not written");
    }
}
