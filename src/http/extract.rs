//! JSON, query and path extractors whose rejections are `ApiError`s (JSON bodies with clear
//! messages) instead of axum's plain-text ones. Caller-supplied values quoted in serde's or the
//! domain's messages are blanked, so callers' data never comes back in an error: the message
//! names the field and what is allowed, never what was sent.

use super::ApiError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
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
    let text = match path_error::<serde_json::Error>(&r) {
        Some(e) => describe(e),
        None => scrub(&r.body_text()),
    };
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
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| ApiQuery(q.0)).map_err(
            |r: QueryRejection| {
                ApiError::BadRequest(match path_error::<serde_urlencoded::de::Error>(&r) {
                    Some(e) => format!("query string: {}", describe(e)),
                    None => scrub(&r.body_text()),
                })
            },
        )
    }
}

/// The deserializer's error inside an axum rejection, with the path to the value that failed.
fn path_error<'a, E: std::error::Error + 'static>(
    rejection: &'a (dyn std::error::Error + 'static),
) -> Option<&'a serde_path_to_error::Error<E>> {
    let mut cause = rejection.source();
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<serde_path_to_error::Error<E>>() {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

/// `caller.number: invalid type: integer `…`, expected a string`: the path with any key that is
/// not a field name blanked (an unknown field's key is the caller's), and the message scrubbed.
fn describe<E: std::fmt::Display>(e: &serde_path_to_error::Error<E>) -> String {
    use serde_path_to_error::Segment;
    let mut path = String::new();
    for segment in e.path() {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key: name } | Segment::Enum { variant: name } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(if looks_like_field(name) { name } else { "…" });
            }
            Segment::Unknown => {}
        }
    }
    let message = scrub(&e.inner().to_string());
    if path.is_empty() { message } else { format!("{path}: {message}") }
}

/// Path parameters; a value that cannot be decoded (`%FF`) or parsed (`/api/attachments/abc`)
/// is a 400 that names the parameter and what it must be.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|r| ApiError::BadRequest(path_message(&r)))
    }
}

fn path_message(r: &PathRejection) -> String {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(e) = r else {
        return "the path is not valid; the API is described in README.md".into();
    };
    match e.kind() {
        ErrorKind::InvalidUtf8InPathParam { key } => format!("path parameter `{key}` is not valid UTF-8"),
        ErrorKind::ParseErrorAtKey { key, expected_type, .. } => {
            format!("path parameter `{key}` must be {}", expected(expected_type))
        }
        ErrorKind::ParseErrorAtIndex { expected_type, .. } | ErrorKind::ParseError { expected_type, .. } => {
            format!("a path parameter must be {}", expected(expected_type))
        }
        _ => "the path is not valid; the API is described in README.md".into(),
    }
}

fn expected(rust_type: &str) -> &'static str {
    match rust_type {
        "i64" | "u64" | "i32" | "u32" => "a whole number",
        _ => "text",
    }
}

/// A caller-safe message for a domain value that did not parse (`'…' is not a valid channel`):
/// what and what is allowed, not the value.
pub fn not_valid(e: &crate::domain::ParseEnumError, field: &str) -> String {
    format!("{field} is not a valid {} (expected one of: {})", e.what, e.expected.trim())
}

/// Blanks what callers sent out of serde's and the domain's messages, keeping field names and
/// what is expected. serde writes string values in double quotes; numbers, unknown variants and
/// field names in backticks; the domain writes `'value' is not a valid …`.
pub(super) fn scrub(s: &str) -> String {
    let s = match s.rfind("' is not a valid ") {
        Some(end) => match s[..end].find('\'') {
            Some(start) => format!("{}…{}", &s[..=start], &s[end..]),
            None => s.to_owned(),
        },
        None => s.to_owned(),
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(start) = rest.find(['"', '`']) {
        let quote = rest[start..].chars().next().unwrap_or('"');
        let before = &rest[..start];
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        let Some(len) = after.find(quote) else {
            out.push('…');
            return out;
        };
        let inner = &after[..len];
        // A variant the caller sent is a value; a field name is kept if it looks like one.
        let is_name = quote == '`' && !before.ends_with("unknown variant ") && looks_like_field(inner);
        out.push_str(if is_name { inner } else { "…" });
        out.push(quote);
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// `caller`, `content_base64`, `attachments[0]`: lower-case ASCII, digits, `_`, `.`, `[`, `]`,
/// starting with a letter, at most 40 characters. A name or phone number is not.
fn looks_like_field(s: &str) -> bool {
    s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.[]".contains(c))
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn quoted_values_are_blanked_and_field_names_kept() {
        let s = "invalid type: string \"03-1234-5678\", expected u8 at `tier`";
        assert_eq!(scrub(s), "invalid type: string \"…\", expected u8 at `tier`");
        let s = "invalid type: integer `312345678`, expected a string at line 1 column 9";
        assert_eq!(scrub(s), "invalid type: integer `…`, expected a string at line 1 column 9");
        assert_eq!(scrub("unclosed \"abc"), "unclosed \"…");
        let s = "channel: '山田太郎 090-1234-5678' is not a valid channel (expected one of: phone email )";
        assert_eq!(scrub(s), "channel: '…' is not a valid channel (expected one of: phone email )");
        let s = "unknown variant `yamada`, expected one of `phone`, `email`";
        assert_eq!(scrub(s), "unknown variant `…`, expected one of `phone`, `email`");
        let s = "unknown field `Yamada Taro 0312345678`, expected one of `channel`";
        assert_eq!(scrub(s), "unknown field `…`, expected one of `channel`");
        assert_eq!(scrub("unknown field `colour`"), "unknown field `colour`");
    }
}
