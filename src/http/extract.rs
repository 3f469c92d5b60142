//! JSON and query extractors whose rejections are `ApiError`s (JSON bodies with clear messages)
//! instead of axum's plain-text ones. Values quoted in serde's messages are blanked, so callers'
//! data never comes back in an error.

use super::ApiError;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection, limit)),
        }
    }
}

/// The configured body limit, put in request extensions so the 413 message can state it.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

fn json_rejection(r: JsonRejection, limit: Option<usize>) -> ApiError {
    let status = r.status();
    let text = blank_quoted(&r.body_text());
    match r {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("send the body as JSON with Content-Type: application/json".into())
        }
        _ if status == StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(limit.unwrap_or(0)),
        JsonRejection::JsonSyntaxError(_) => ApiError::BadRequest(format!("body is not valid JSON: {text}")),
        JsonRejection::JsonDataError(_) => ApiError::Invalid(text),
        _ => ApiError::BadRequest(text),
    }
}

pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|r: QueryRejection| ApiError::BadRequest(blank_quoted(&r.body_text())))
    }
}

/// serde writes string values in double quotes, numbers and field names in backticks: blank the
/// values, keep the names (they have letters; a phone number does not).
fn blank_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let Some(len) = after.find(quote) else {
            out.push('…');
            return out;
        };
        let inner = &after[..len];
        let is_name = quote == '`' && inner.chars().any(|c| c.is_ascii_alphabetic()) && !inner.contains('@');
        out.push_str(if is_name { inner } else { "…" });
        out.push(quote);
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quoted_values_are_blanked_and_field_names_kept() {
        let s = "invalid type: string \"03-1234-5678\", expected u8 at `tier`";
        assert_eq!(super::blank_quoted(s), "invalid type: string \"…\", expected u8 at `tier`");
        let s = "invalid type: integer `312345678`, expected a string at line 1 column 9";
        assert_eq!(super::blank_quoted(s), "invalid type: integer `…`, expected a string at line 1 column 9");
        assert_eq!(super::blank_quoted("unclosed \"abc"), "unclosed \"…");
    }
}
