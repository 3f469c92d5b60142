//! Reading a message as it really arrives: Japanese charsets (ISO-2022-JP, Shift_JIS, EUC-JP,
//! UTF-8 in base64 or quoted-printable), encoded-word subjects and names, RFC 2231 file names,
//! HTML-only mail turned into text, attachments and inline images. A message mail-parser cannot
//! read at all still yields what can be read: its bytes as text.

use crate::domain::AttachmentUpload;
use mail_parser::{Message, MessageParser, MimeHeaders};

/// Text kept from a message that could not be parsed at all.
const UNPARSED_BODY_MAX: usize = 100 * 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedMail {
    /// Message-IDs without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: Option<String>,
    pub from_name: Option<String>,
    pub from_addr: Option<String>,
    pub date_ms: Option<i64>,
    pub body: String,
    pub attachments: Vec<AttachmentUpload>,
    /// Why this is not a person writing (auto-reply, bounce, bulk): never acknowledged.
    pub automatic: Option<&'static str>,
    /// The header block as received, for fax profiles and the ticket's raw source.
    pub headers: String,
    /// Set when the message could not be parsed as MIME.
    pub problem: Option<String>,
}

pub fn parse(raw: &[u8], envelope_from: &str) -> ParsedMail {
    let headers = header_block(raw);
    let Some(message) = MessageParser::default().parse(raw) else {
        let text: String = String::from_utf8_lossy(raw).chars().take(UNPARSED_BODY_MAX).collect();
        return ParsedMail {
            body: text,
            automatic: automatic_by_envelope(envelope_from, None),
            headers,
            problem: Some("the message could not be parsed as MIME; its text is kept as received".into()),
            ..Default::default()
        };
    };
    let from = message.from().and_then(|a| a.first());
    let from_addr = from.and_then(|a| a.address()).map(str::to_owned);
    ParsedMail {
        message_id: message.message_id().map(bare_id),
        in_reply_to: id_list(message.in_reply_to()),
        references: id_list(message.references()),
        subject: message.subject().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
        from_name: from.and_then(|a| a.name()).map(|n| n.trim().trim_matches('"').to_owned()).filter(|n| !n.is_empty()),
        date_ms: message.date().map(|d| d.to_timestamp() * 1000),
        body: body_text(&message),
        attachments: attachments(&message),
        automatic: automatic(&message, envelope_from, from_addr.as_deref()),
        from_addr,
        headers,
        problem: None,
    }
}

fn bare_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').to_owned()
}

fn id_list(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match (value.as_text_list(), value.as_text()) {
        (Some(list), _) => list.iter().map(|s| bare_id(s)).collect(),
        (None, Some(one)) => one.split_whitespace().map(bare_id).collect(),
        _ => Vec::new(),
    }
}

fn body_text(message: &Message<'_>) -> String {
    let parts: Vec<String> = (0..message.text_body_count())
        .filter_map(|i| message.body_text(i))
        .map(|t| t.trim_end().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    parts.join("\n\n")
}

fn attachments(message: &Message<'_>) -> Vec<AttachmentUpload> {
    message
        .attachments()
        .enumerate()
        .map(|(i, part)| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase();
            let filename = part
                .attachment_name()
                .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_owned())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("attachment-{}{}", i + 1, extension(&content_type)));
            AttachmentUpload { filename, content_type, bytes: part.contents().to_vec() }
        })
        .collect()
}

fn extension(content_type: &str) -> &'static str {
    match content_type {
        "application/pdf" => ".pdf",
        "image/tiff" => ".tif",
        "image/png" => ".png",
        "image/jpeg" => ".jpg",
        "image/gif" => ".gif",
        "message/rfc822" => ".eml",
        "text/plain" => ".txt",
        "text/html" => ".html",
        _ => ".bin",
    }
}

fn automatic(message: &Message<'_>, envelope_from: &str, from_addr: Option<&str>) -> Option<&'static str> {
    let header = |name: &str| message.header_raw(name).map(|v| v.trim().to_ascii_lowercase());
    if header("Auto-Submitted").is_some_and(|v| !v.starts_with("no")) {
        return Some("auto-submitted");
    }
    if header("X-Autoreply").is_some()
        || header("X-Autorespond").is_some()
        || header("X-Auto-Response-Suppress").is_some_and(|v| v.contains("all") || v.contains("oof"))
    {
        return Some("auto-reply");
    }
    if header("Precedence").is_some_and(|v| matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply")) {
        return Some("bulk");
    }
    if header("List-Id").is_some() || header("List-Unsubscribe").is_some() {
        return Some("mailing list");
    }
    let report = message.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart") && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
    });
    if report {
        return Some("bounce");
    }
    automatic_by_envelope(envelope_from, from_addr)
}

fn automatic_by_envelope(envelope_from: &str, from_addr: Option<&str>) -> Option<&'static str> {
    let envelope = envelope_from.trim().trim_start_matches('<').trim_end_matches('>');
    if envelope.is_empty() {
        return Some("bounce");
    }
    let daemon = |a: &str| {
        let local = a.split('@').next().unwrap_or_default().to_ascii_lowercase();
        local == "mailer-daemon" || local == "postmaster"
    };
    if daemon(envelope) || from_addr.is_some_and(daemon) {
        return Some("bounce");
    }
    None
}

/// The header block as received (up to the first empty line), lossily decoded.
fn header_block(raw: &[u8]) -> String {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").or_else(|| raw.windows(2).position(|w| w == b"\n\n"));
    let head = &raw[..end.unwrap_or(raw.len()).min(64 * 1024)];
    String::from_utf8_lossy(head).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_2022_jp_subject_and_body_are_decoded() {
        // 「パスワード」 in ISO-2022-JP, as a base64 encoded-word and in the body.
        let raw = b"From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@example.go.jp>\r\n\
Subject: =?ISO-2022-JP?B?GyRCJVElOSVvITwlSRsoQg==?=\r\n\
Message-ID: <abc@example.go.jp>\r\n\
In-Reply-To: <ack.1@madoguchi>\r\n\
Content-Type: text/plain; charset=ISO-2022-JP\r\n\
\r\n\
\x1b$B%Q%9%o!<%I\x1b(B\r\n";
        let m = parse(raw, "yamada@example.go.jp");
        assert_eq!(m.subject.as_deref(), Some("パスワード"));
        assert_eq!(m.from_name.as_deref(), Some("山田"));
        assert_eq!(m.from_addr.as_deref(), Some("yamada@example.go.jp"));
        assert_eq!(m.body, "パスワード");
        assert_eq!(m.message_id.as_deref(), Some("abc@example.go.jp"));
        assert_eq!(m.in_reply_to, ["ack.1@madoguchi"]);
        assert_eq!(m.automatic, None);
    }

    #[test]
    fn automatic_mail_is_recognised() {
        let table: [(&[u8], &str, Option<&str>); 6] = [
            (b"From: a@x.jp\r\nAuto-Submitted: auto-replied\r\n\r\nx", "a@x.jp", Some("auto-submitted")),
            (b"From: a@x.jp\r\nAuto-Submitted: no\r\n\r\nx", "a@x.jp", None),
            (b"From: a@x.jp\r\nPrecedence: bulk\r\n\r\nx", "a@x.jp", Some("bulk")),
            (b"From: a@x.jp\r\nX-Autoreply: yes\r\n\r\nx", "a@x.jp", Some("auto-reply")),
            (b"From: MAILER-DAEMON@x.jp\r\n\r\nx", "", Some("bounce")),
            (b"From: a@x.jp\r\nList-Id: <l.x.jp>\r\n\r\nx", "a@x.jp", Some("mailing list")),
        ];
        for (raw, envelope, want) in table {
            assert_eq!(parse(raw, envelope).automatic, want, "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn html_only_mail_becomes_readable_text() {
        let raw = b"From: a@x.jp\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<html><body><p>\xe5\x8d\xb0\xe5\x88\xb7\xe3\x81\xa7\xe3\x81\x8d\xe3\x81\xaa\xe3\x81\x84</p><br>\xe5\xaf\xbe\xe5\xbf\x9c\xe3\x81\x8a\xe9\xa1\x98\xe3\x81\x84\xe3\x81\x97\xe3\x81\xbe\xe3\x81\x99</body></html>\r\n";
        let m = parse(raw, "a@x.jp");
        assert!(m.body.contains("印刷できない"), "{}", m.body);
        assert!(m.body.contains("対応お願いします"), "{}", m.body);
        assert!(!m.body.contains('<'), "{}", m.body);
    }
}
