//! One source fetched once: a GET that must finish (connection, answer and body) within the
//! source's time limit, of which at most `max_bytes` are read. Whatever happens becomes a
//! [`Fetched`] to store: a timeout, a refused connection, bad TLS, a non-2xx answer or one too
//! large are failures with a message, never an error for the caller.
//!
//! No cookies are kept (reqwest without its cookie store), no proxy from the environment is
//! used (the sources are the site's own systems), and a redirect is followed only within the
//! source's origin (scheme, host, port), at most five times.

use super::sources::Source;
use crate::diagnostic::each_cause_once;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::redirect::{Action, Attempt, Policy};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::time::{Duration, Instant};

const MAX_REDIRECTS: usize = 5;
/// A failure's detail (from the HTTP client) is cut at this length.
const DETAIL_MAX_CHARS: usize = 300;
const CONTENT_TYPE_MAX_CHARS: usize = 200;

/// What one fetch came to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fetched {
    /// A 2xx answer, read whole within the limits.
    pub ok: bool,
    pub http_status: Option<u16>,
    pub content_type: Option<String>,
    /// The answer as text (JSON pretty-printed; bytes that are not UTF-8 replaced), also for a
    /// non-2xx answer (it often says why); none when nothing was answered.
    pub body: Option<String>,
    /// More than `max_bytes` came: `body` is the first `max_bytes`.
    pub truncated: bool,
    pub error: Option<FetchError>,
    pub duration: Duration,
}

impl Fetched {
    pub(crate) fn failed(error: FetchError, duration: Duration) -> Fetched {
        Fetched {
            ok: false,
            http_status: None,
            content_type: None,
            body: None,
            truncated: false,
            error: Some(error),
            duration,
        }
    }
}

/// Why a fetch failed, as operators read it (Japanese first). Never holds the URL, which may
/// carry a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{0} ミリ秒以内に応答がありませんでした / no answer within {0} ms")]
    Timeout(u64),
    #[error("接続を拒否されました / connection refused")]
    Refused,
    #[error("接続できませんでした / could not connect: {0}")]
    Connect(String),
    #[error("TLS で接続できませんでした（証明書など） / TLS failed (certificate?): {0}")]
    Tls(String),
    #[error(
        "別のホストへの転送、または多すぎる転送は追いません / a redirect to another origin, or too many, is not followed"
    )]
    Redirect,
    #[error("HTTP {0} が返りました / the source answered HTTP {0}")]
    Status(u16),
    #[error(
        "応答が {0} バイトを超えたため、先頭 {0} バイトだけを保存しました / the answer was larger than {0} bytes; its first {0} bytes are kept"
    )]
    TooLarge(usize),
    #[error("応答の途中で失敗しました / the answer broke off: {0}")]
    Body(String),
    #[error("要求できませんでした / the request failed: {0}")]
    Request(String),
    #[error("取得待ちが多すぎたため取得しませんでした / not fetched: too many fetches were waiting")]
    Skipped,
}

/// Why a redirect was not followed (inside reqwest's error, to tell it from others).
#[derive(Debug, thiserror::Error)]
#[error("redirect not followed")]
struct RedirectRefused;

/// The HTTP client every fetch shares (its connections are reused).
pub(crate) fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(Policy::custom(same_origin))
        .no_proxy()
        .user_agent(concat!("madoguchi/", env!("CARGO_PKG_VERSION"), " (system facts)"))
        .build()
}

fn same_origin(attempt: Attempt) -> Action {
    let first = attempt.previous().first().map(|u| u.origin());
    if attempt.previous().len() > MAX_REDIRECTS || first.as_ref() != Some(&attempt.url().origin()) {
        return attempt.error(RedirectRefused);
    }
    attempt.follow()
}

/// Fetches `source` once, within its limits.
pub(crate) async fn fetch(client: &reqwest::Client, source: &Source) -> Fetched {
    let started = Instant::now();
    let answered = tokio::time::timeout(source.timeout, get(client, source)).await;
    let duration = started.elapsed();
    match answered {
        Err(_) => Fetched::failed(FetchError::Timeout(source.timeout.as_millis() as u64), duration),
        Ok(Err(e)) => Fetched::failed(e, duration),
        Ok(Ok((status, content_type, body))) => {
            let ok_status = (200..300).contains(&status);
            let error = if !ok_status {
                Some(FetchError::Status(status))
            } else if body.truncated {
                Some(FetchError::TooLarge(source.max_bytes))
            } else {
                None
            };
            Fetched {
                ok: error.is_none(),
                http_status: Some(status),
                content_type,
                body: Some(text_of(&body.bytes, body.truncated)),
                truncated: body.truncated,
                error,
                duration,
            }
        }
    }
}

async fn get(client: &reqwest::Client, source: &Source) -> Result<(u16, Option<String>, Collected), FetchError> {
    let mut response = client
        .get(source.url.clone())
        .header(ACCEPT, "application/json, text/plain;q=0.9, */*;q=0.5")
        .send()
        .await
        .map_err(classify)?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(CONTENT_TYPE_MAX_CHARS).collect());
    let expected = response.content_length().unwrap_or(8 * 1024) as usize;
    let mut body = Collected::new(source.max_bytes, expected);
    while let Some(chunk) = response.chunk().await.map_err(|e| FetchError::Body(detail(e)))? {
        if !body.push(&chunk) {
            break;
        }
    }
    Ok((status, content_type, body))
}

/// A failure the HTTP client reported, told apart by what caused it.
fn classify(e: reqwest::Error) -> FetchError {
    let e = e.without_url();
    if e.is_redirect() || caused_by::<RedirectRefused>(&e) {
        return FetchError::Redirect;
    }
    if caused_by::<tokio_rustls::rustls::Error>(&e) {
        return FetchError::Tls(detail(e));
    }
    let refused = io_errors(&e).any(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
    if refused {
        return FetchError::Refused;
    }
    if e.is_connect() {
        let text = detail(e);
        let lower = text.to_lowercase();
        if ["certificate", "tls", "handshake"].iter().any(|w| lower.contains(w)) {
            return FetchError::Tls(text);
        }
        return FetchError::Connect(text);
    }
    FetchError::Request(detail(e))
}

/// The errors in `e`'s chain, and the ones io::Errors wrap (whose `source` skips them).
fn causes<'a>(e: &'a (dyn std::error::Error + 'static)) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    let mut next = Some(e);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
        Some(current)
    })
}

fn caused_by<T: std::error::Error + 'static>(e: &reqwest::Error) -> bool {
    causes(e).any(|c| c.is::<T>())
}

fn io_errors(e: &reqwest::Error) -> impl Iterator<Item = &std::io::Error> {
    causes(e).filter_map(|c| c.downcast_ref::<std::io::Error>())
}

fn detail(e: reqwest::Error) -> String {
    let text = each_cause_once(&e.without_url());
    if text.chars().count() > DETAIL_MAX_CHARS {
        return text.chars().take(DETAIL_MAX_CHARS).chain(['…']).collect();
    }
    text
}

/// The first `max` bytes of an answer, and whether there were more.
#[derive(Debug)]
pub(crate) struct Collected {
    pub bytes: Vec<u8>,
    pub truncated: bool,
    max: usize,
}

impl Collected {
    pub(crate) fn new(max: usize, expected: usize) -> Collected {
        Collected { bytes: Vec::with_capacity(expected.min(max)), truncated: false, max }
    }

    /// Takes the next chunk; false once more than `max` bytes came (read no further).
    pub(crate) fn push(&mut self, chunk: &[u8]) -> bool {
        let room = self.max - self.bytes.len();
        if chunk.len() > room {
            self.bytes.extend_from_slice(&chunk[..room]);
            self.truncated = true;
            return false;
        }
        self.bytes.extend_from_slice(chunk);
        true
    }
}

/// The answer as text: JSON pretty-printed (keys in their order) when the whole answer is JSON;
/// otherwise as it came, with bytes that are not UTF-8 replaced and a character cut off by the
/// size limit dropped. NUL is left out (PostgreSQL's text cannot hold it).
pub(crate) fn text_of(bytes: &[u8], truncated: bool) -> String {
    let starts_like_json = bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|b| matches!(b, b'{' | b'['));
    if !truncated
        && starts_like_json
        && let Ok(json) = serde_json::from_slice::<Json>(bytes)
        && let Ok(pretty) = serde_json::to_string_pretty(&json)
    {
        return pretty.replace('\0', "");
    }
    let bytes = if truncated { without_cut_character(bytes) } else { bytes };
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    text.retain(|c| c != '\0');
    text
}

/// `bytes` without a last UTF-8 character that the size limit cut in two.
fn without_cut_character(bytes: &[u8]) -> &[u8] {
    for back in 1..=3.min(bytes.len()) {
        let at = bytes.len() - back;
        let b = bytes[at];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let needs = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return bytes,
        };
        return if back < needs { &bytes[..at] } else { bytes };
    }
    bytes
}

/// JSON with its objects' keys in the order they came (serde_json's own map sorts them).
enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
                Ok(Json::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
                Ok(Json::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
                Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
            }
            fn visit_str<E>(self, v: &str) -> Result<Json, E> {
                Ok(Json::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Json, E> {
                Ok(Json::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Json::Object(entries))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => s.serialize_unit(),
            Json::Bool(b) => s.serialize_bool(*b),
            Json::Number(n) => n.serialize(s),
            Json::String(text) => s.serialize_str(text),
            Json::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_cut_at_max_bytes_and_marked() {
        let mut c = Collected::new(10, 1 << 20);
        assert!(c.bytes.capacity() <= 10);
        assert!(c.push(b"0123"));
        assert!(c.push(b"456789"), "exactly the limit is not truncated");
        assert!(!c.truncated);
        assert!(!c.push(b"x"), "one byte more is");
        assert_eq!((c.bytes.as_slice(), c.truncated), (&b"0123456789"[..], true));

        let mut c = Collected::new(4, 0);
        assert!(!c.push(&[b'a'; 5 * 1024 * 1024]));
        assert_eq!((c.bytes.len(), c.truncated), (4, true));

        let mut c = Collected::new(4, 0);
        assert!(c.push(b""));
        assert!(c.push(b"abcd"));
        assert_eq!((c.bytes.as_slice(), c.truncated), (&b"abcd"[..], false));
    }

    #[test]
    fn json_is_pretty_printed_in_its_own_order() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"web"},"value":[1700000000.5,"1"]}]},"ok":true,"none":null,"n":12345678901234}"#;
        let text = text_of(body, false);
        assert!(text.starts_with("{\n  \"status\": \"success\",\n  \"data\": {"), "{text}");
        assert!(text.contains("1700000000.5") && text.contains("12345678901234") && text.contains("\"none\": null"));
        assert!(text.find("\"status\"") < text.find("\"ok\""), "keys keep their order: {text}");
        // Not JSON after all, or cut off: as it came.
        assert_eq!(text_of(b"{not json", false), "{not json");
        assert_eq!(text_of(br#"{"a": 1, "b": "#, true), r#"{"a": 1, "b": "#);
        assert_eq!(text_of(b"  [1,2]  ", false), "[\n  1,\n  2\n]");
        assert_eq!(text_of(b"up 1\n", false), "up 1\n");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_and_nul_left_out() {
        assert_eq!(text_of(b"ok \xff\xfe done\0", false), "ok \u{fffd}\u{fffd} done");
        // Shift_JIS 障害 is not UTF-8.
        assert!(text_of(b"\x8f\xe1\x8a\x51", false).starts_with('\u{fffd}'));
        let jp = "障害発生".as_bytes();
        // Cut inside 生 (3 bytes): the piece is dropped, not shown as a replacement.
        assert_eq!(text_of(&jp[..10], true), "障害発");
        assert_eq!(text_of(&jp[..11], true), "障害発");
        assert_eq!(text_of(&jp[..12], true), "障害発生");
        assert_eq!(text_of(b"{\"a\":\"\\u0000\"}", false), "{\n  \"a\": \"\\u0000\"\n}");
    }

    #[test]
    fn failures_say_what_happened_without_the_url() {
        let e = FetchError::Timeout(3000);
        assert_eq!(e.to_string(), "3000 ミリ秒以内に応答がありませんでした / no answer within 3000 ms");
        assert!(FetchError::Status(503).to_string().contains("HTTP 503"));
        assert!(FetchError::TooLarge(65536).to_string().contains("first 65536 bytes are kept"));
    }
}
