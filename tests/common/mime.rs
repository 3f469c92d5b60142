//! Writing test mail by hand (encodings as mail clients apply them) and reading what the
//! ticket's history says about it.

use base64::Engine;
use serde_json::Value;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `text` in the charset `label` names (encoding_rs's labels).
pub fn encode(text: &str, label: &str) -> Vec<u8> {
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap();
    encoding.encode(text).0.into_owned()
}

/// An RFC 2047 B encoded word of `bytes`, labelled `charset`.
pub fn b_word(charset: &str, bytes: &[u8]) -> String {
    format!("=?{charset}?B?{}?=", b64(bytes))
}

/// `text` as a B encoded word in `charset`.
pub fn encoded_word(text: &str, charset: &str) -> String {
    b_word(charset, &encode(text, charset))
}

/// Quoted-printable with CRLF line ends and soft breaks at 72 characters.
pub fn quoted_printable(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut line = 0;
    for &b in bytes {
        let piece = if b == b'\n' {
            line = 0;
            out.push_str("\r\n");
            continue;
        } else if b == b'=' || b >= 0x7f || (b < 0x20 && b != b'\t') {
            format!("={b:02X}")
        } else {
            (b as char).to_string()
        };
        if line + piece.len() > 72 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

/// The ticket's history entries with this action, oldest first.
pub fn history<'a>(ticket: &'a Value, action: &str) -> Vec<&'a Value> {
    ticket["history"].as_array().unwrap().iter().filter(|h| h["action"] == action).collect()
}

/// Every history entry's action, oldest first, but the SLA clocks' (tests/sla.rs looks at those).
pub fn actions(ticket: &Value) -> Vec<String> {
    let entries = ticket["history"].as_array().unwrap().iter().filter(|h| h["actor"] != "sla");
    entries.map(|h| h["action"].as_str().unwrap().to_owned()).collect()
}

/// What the intake read besides the caller (`intake_details`), `key` of it; null when absent.
pub fn intake_detail(ticket: &Value, key: &str) -> Value {
    history(ticket, "intake_details").first().map(|h| h["detail"]["details"][key].clone()).unwrap_or(Value::Null)
}
