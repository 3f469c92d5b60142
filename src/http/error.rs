//! API errors: JSON `{"error": {"code", "message"}}` with the status code that says what happened.
//! Messages never carry callers' personal data or internal details.

use crate::domain::reply::ReplyRefusal;
use crate::intake::IntakeError;
use crate::store::{Refusal, StoreError};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Busy(String),
    #[error("sign in, or send Authorization: Bearer <token> (madoguchi token add)")]
    Unauthenticated,
    #[error("this needs the {0} role")]
    Forbidden(crate::domain::user::Role),
    /// The role allows the route but not this particular change.
    #[error("{0}")]
    Denied(String),
    #[error("this service does not answer to that host name; add it to [http] hostnames")]
    MisdirectedHost,
    #[error(
        "リクエストが多すぎます。{retry_after_secs} 秒後にもう一度お試しください / too many requests with this credential; \
try again in {retry_after_secs} s"
    )]
    TooManyRequests { retry_after_secs: u64 },
    #[error(
        "CSRFトークンがないか、違います。ページを読み込み直してください / the CSRF token (X-CSRF-Token header, or \
csrf form field) is missing or wrong; reload the page"
    )]
    Csrf,
    #[error("別のサイトからの変更は受け付けません / a change from a page of another site is refused")]
    CrossOrigin,
    #[error("internal error; nothing was changed")]
    Internal,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ApiError::Forbidden(_) | ApiError::Denied(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::MisdirectedHost => (StatusCode::MISDIRECTED_REQUEST, "misdirected"),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            ApiError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            ApiError::CrossOrigin => (StatusCode::FORBIDDEN, "cross_origin"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let retry_after = match self {
            ApiError::TooManyRequests { retry_after_secs } => Some(HeaderValue::from(retry_after_secs)),
            _ => None,
        };
        let mut response =
            (status, Json(json!({"error": {"code": code, "message": self.to_string()}}))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"madoguchi\""));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if let StoreError::TimedOut(limit) = e {
            tracing::warn!(limit_ms = limit.as_millis() as u64, "a read took too long and was stopped");
            return ApiError::Busy(format!(
                "the query took longer than {} ms and was stopped; narrow it (fewer or longer words, a filter) or try again",
                limit.as_millis()
            ));
        }
        tracing::error!(error = %e, "store error");
        ApiError::Internal
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> ApiError {
        match e {
            IntakeError::Refused(r) => match r {
                Refusal::NoSuchTicket(n) => ApiError::NotFound(format!("ticket {n} does not exist")),
                Refusal::Closed(_)
                | Refusal::Transition(_)
                | Refusal::MergeTargetClosed(_)
                | Refusal::AlreadyMerged(..)
                | Refusal::NotOpen(_) => ApiError::Conflict(r.to_string()),
                Refusal::UnknownGroup(_) => ApiError::Invalid(r.to_string()),
                Refusal::ResolutionRequired | Refusal::UnknownOwner | Refusal::MergeIntoItself => {
                    ApiError::Invalid(r.to_string())
                }
                Refusal::NeedsRole { .. } => ApiError::Denied(r.to_string()),
                Refusal::Reply(r @ ReplyRefusal::Closed(_)) => ApiError::Conflict(r.to_string()),
                Refusal::Reply(r) => ApiError::Invalid(r.to_string()),
            },
            IntakeError::Busy | IntakeError::Stopped => ApiError::Busy(e.to_string()),
            IntakeError::File(_) | IntakeError::Store(_) => {
                tracing::error!(error = %e, "intake failed");
                ApiError::Internal
            }
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; the API is described in README.md".into())
}

pub async fn method_not_allowed() -> Response {
    let body =
        Json(json!({"error": {"code": "method_not_allowed", "message": "this endpoint does not take that method"}}));
    (StatusCode::METHOD_NOT_ALLOWED, body).into_response()
}
