//! Reading a message as it really arrives: mail-parser finds the MIME structure; the text in it
//! (subject, sender name, bodies, file names) is decoded from the raw bytes by [`charset`] and
//! [`header`], which read what Japanese clients write: undeclared ISO-2022-JP, Shift_JIS or
//! EUC-JP, CP932 and ISO-2022-JP variants under all their labels, broken base64 and
//! quoted-printable. HTML-only mail is turned into text. A message mail-parser cannot read at all
//! still yields what can be read: its bytes as text.

use super::charset::{self, Declared};
use super::header;
use crate::domain::AttachmentUpload;
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};
use std::borrow::Cow;
use std::collections::BTreeMap;

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
    /// The charset each text was read as where it declared none, or one its bytes do not fit:
    /// "subject", "from" (the display name), "body", "body 2" …, "attachment 1 filename" ….
    pub charset_guess: BTreeMap<String, &'static str>,
}

pub fn parse(raw: &[u8], envelope_from: &str) -> ParsedMail {
    let headers = header_block(raw);
    let Some(message) = MessageParser::default().parse(raw) else {
        let decoded = charset::decode(raw, None, None);
        return ParsedMail {
            body: decoded.text.chars().take(UNPARSED_BODY_MAX).collect(),
            automatic: automatic_by_envelope(envelope_from, None),
            headers,
            problem: Some("the message could not be parsed as MIME; its text is kept as received".into()),
            charset_guess: decoded.guess.map(|g| ("body".to_owned(), g)).into_iter().collect(),
            ..Default::default()
        };
    };
    let root = message.root_part();
    let subject_raw = raw_header(raw, root, "Subject");
    let from_raw = raw_header(raw, root, "From");
    let mut lost: Vec<u32> =
        message.attachments.iter().copied().filter(|&id| message.part(id).is_some_and(is_lost_body)).collect();
    lost.sort_unstable();
    let mut body_ids: Vec<u32> = message.text_body.iter().chain(&lost).copied().collect();
    body_ids.sort_unstable();
    body_ids.dedup();
    let bodies: Vec<(&MessagePart<'_>, Cow<'_, [u8]>)> = body_ids
        .iter()
        .filter_map(|&id| message.part(id))
        .map(|part| (part, charset::transfer_decode(raw_body(raw, part), part.content_transfer_encoding())))
        .collect();
    let files: Vec<&MessagePart<'_>> = message
        .attachments
        .iter()
        .filter(|id| lost.binary_search(id).is_err())
        .filter_map(|&id| message.part(id))
        .collect();
    let hint = hint(raw, &bodies, [subject_raw, from_raw], &files);

    let mut guesses = BTreeMap::new();
    let mut record = |what: &str, decoded: charset::Decoded| {
        if let Some(guess) = decoded.guess {
            guesses.insert(what.to_owned(), guess);
        }
        Some(decoded.text).filter(|t| !t.is_empty())
    };
    let subject = subject_raw.map(|v| header::text(v, hint)).and_then(|s| record("subject", s));
    let (name, address) = from_raw.map(|v| header::mailbox(v, hint)).unwrap_or_default();
    let from = message.from().and_then(|a| a.first());
    let from_name = name.and_then(|n| record("from", n)).or_else(|| {
        from.and_then(|a| a.name()).map(|n| n.trim().trim_matches('"').to_owned()).filter(|n| !n.is_empty())
    });
    let from_addr = from.and_then(|a| a.address()).filter(|a| a.contains('@')).map(str::to_owned).or(address);
    let mut texts: Vec<String> = Vec::new();
    for (part, bytes) in &bodies {
        let decoded = part_text(part, bytes, hint);
        let what = if texts.is_empty() { "body".to_owned() } else { format!("body {}", texts.len() + 1) };
        texts.extend(record(&what, decoded));
    }
    let attachments =
        files.iter().enumerate().map(|(i, part)| attachment(raw, part, i + 1, hint, &mut record)).collect();
    ParsedMail {
        message_id: message.message_id().map(bare_id),
        in_reply_to: id_list(message.in_reply_to()),
        references: id_list(message.references()),
        subject,
        from_name,
        date_ms: message.date().map(|d| d.to_timestamp() * 1000),
        body: texts.join("\n\n"),
        attachments,
        automatic: automatic(&message, envelope_from, from_addr.as_deref()),
        from_addr,
        headers,
        problem: None,
        charset_guess: guesses,
    }
}

/// A part's header value as received (mail-parser keeps its offsets into the raw message).
fn raw_header<'a>(raw: &'a [u8], part: &MessagePart<'_>, name: &str) -> Option<&'a [u8]> {
    let header = part.headers.iter().find(|h| h.name().eq_ignore_ascii_case(name))?;
    raw.get(header.offset_start() as usize..header.offset_end() as usize)
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

/// What the message's undeclared 8-bit text is written in, for the texts too short to tell: the
/// Shift_JIS or EUC-JP its text body declares, else what all its undeclared texts (bodies without
/// a usable charset, raw headers, raw file names) read as together.
fn hint(
    raw: &[u8],
    bodies: &[(&MessagePart<'_>, Cow<'_, [u8]>)],
    headers: [Option<&[u8]>; 2],
    files: &[&MessagePart<'_>],
) -> Option<&'static str> {
    let mut samples: Vec<&[u8]> = headers.into_iter().flatten().collect();
    for (part, bytes) in bodies {
        match charset::declared(part.content_type().and_then(|ct| ct.attribute("charset"))) {
            Declared::Guessable(name @ (charset::SHIFT_JIS_NAME | charset::EUC_JP_NAME)) => return Some(name),
            Declared::Nothing => samples.push(bytes),
            _ => {}
        }
    }
    for part in files {
        samples.extend(["Content-Disposition", "Content-Type"].iter().filter_map(|h| raw_header(raw, part, h)));
    }
    charset::joint_guess(&samples).filter(|&g| g != charset::UTF_8_NAME)
}

/// A text part mail-parser filed as an attachment only because its transfer encoding was broken
/// (a stray character in base64, say): plain text, neither marked nor named as an attachment.
fn is_lost_body(part: &MessagePart<'_>) -> bool {
    let plain = part.content_type().is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text") && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
    });
    part.is_encoding_problem
        && plain
        && !part.content_disposition().is_some_and(|d| d.is_attachment())
        && part.attachment_name().is_none()
}

fn raw_body<'a>(raw: &'a [u8], part: &MessagePart<'_>) -> &'a [u8] {
    raw.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default()
}

/// A text part's transfer-decoded bytes in its charset; HTML becomes text, lines end in `\n`.
fn part_text(part: &MessagePart<'_>, bytes: &[u8], hint: Option<&'static str>) -> charset::Decoded {
    let content_type = part.content_type();
    let mut decoded = charset::decode(bytes, content_type.and_then(|ct| ct.attribute("charset")), hint);
    let html = content_type.is_some_and(|ct| ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("html")));
    if html || matches!(part.body, PartType::Html(_)) {
        decoded.text = mail_parser::decoders::html::html_to_text(&decoded.text);
    }
    decoded.text = decoded.text.replace("\r\n", "\n");
    decoded.text.truncate(decoded.text.trim_end().len());
    decoded
}

/// Attachment `n` (from 1): its file name decoded from the raw headers, its own bytes.
fn attachment(
    raw: &[u8],
    part: &MessagePart<'_>,
    n: usize,
    hint: Option<&'static str>,
    record: &mut impl FnMut(&str, charset::Decoded) -> Option<String>,
) -> AttachmentUpload {
    let content_type = part
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase();
    let name = raw_header(raw, part, "Content-Disposition")
        .and_then(|v| header::parameter(v, "filename", hint))
        .or_else(|| raw_header(raw, part, "Content-Type").and_then(|v| header::parameter(v, "name", hint)))
        .and_then(|name| record(&format!("attachment {n} filename"), name))
        .or_else(|| part.attachment_name().map(str::to_owned));
    let filename = name
        .as_deref()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("attachment-{n}{}", extension(&content_type)));
    // A file keeps its own bytes: mail-parser has turned text parts into UTF-8 (lossily for
    // charsets it does not know) and left broken base64 undecoded.
    let bytes = match part.body {
        PartType::Text(_) | PartType::Html(_) => {
            charset::transfer_decode(raw_body(raw, part), part.content_transfer_encoding()).into_owned()
        }
        _ => part.contents().to_vec(),
    };
    AttachmentUpload { filename, content_type, bytes }
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
    // Raw 8-bit headers (a client that said HELO, or ignored 8BITMIME) read as their charset.
    charset::decode(head, None, None).text
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
    fn undeclared_japanese_in_headers_and_body_is_guessed_and_recorded() {
        let sjis = |s: &str| encoding_rs::SHIFT_JIS.encode(s).0.into_owned();
        let mut raw = b"From: \x1b$B;3ED\x1b(B <yamada@example.go.jp>\r\nSubject: ".to_vec();
        raw.extend(sjis("プリンタ故障①"));
        raw.extend(b"\r\nMIME-Version: 1.0\r\n\r\n\x1b$B%Q%9%o!<%I\x1b(B\r\n");
        let m = parse(&raw, "yamada@example.go.jp");
        assert_eq!(m.subject.as_deref(), Some("プリンタ故障①"));
        assert_eq!(m.from_name.as_deref(), Some("山田"));
        assert_eq!(m.from_addr.as_deref(), Some("yamada@example.go.jp"));
        assert_eq!(m.body, "パスワード");
        let guesses: Vec<(&str, &str)> = m.charset_guess.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(guesses, [("body", "ISO-2022-JP"), ("from", "ISO-2022-JP"), ("subject", "Shift_JIS")]);
    }

    #[test]
    fn short_undeclared_headers_read_like_the_rest_of_the_message() {
        let (sjis, euc) = (encoding_rs::SHIFT_JIS, encoding_rs::EUC_JP);
        let mail = |encoding: &'static encoding_rs::Encoding, from: &str, subject: &str, body: &str| {
            let e = |s: &str| encoding.encode(s).0.into_owned();
            [&b"From: "[..], &e(from), b" <a@x.jp>\r\nSubject: ", &e(subject), b"\r\n\r\n", &e(body)].concat()
        };
        // Alone, 「ｶﾀｶﾅ」 in Shift_JIS reads as two EUC-JP kanji, and 「山田」 in EUC-JP as Shift_JIS
        // half-width katakana would without the tie-break; the body settles both.
        let m = parse(&mail(sjis, "ﾔﾏﾀﾞ", "ｶﾀｶﾅ", "お世話になっております。"), "a@x.jp");
        assert_eq!((m.from_name.as_deref(), m.subject.as_deref()), (Some("ﾔﾏﾀﾞ"), Some("ｶﾀｶﾅ")));
        assert_eq!(m.charset_guess.values().collect::<Vec<_>>(), [&"Shift_JIS"; 3]);
        let m = parse(&mail(euc, "山田", "障害", "ネットワーク障害です。"), "a@x.jp");
        assert_eq!((m.from_name.as_deref(), m.subject.as_deref()), (Some("山田"), Some("障害")));
        assert_eq!(m.body, "ネットワーク障害です。");
        assert_eq!(m.charset_guess.values().collect::<Vec<_>>(), [&"EUC-JP"; 3]);
        // A body that declares Shift_JIS speaks for the raw header too.
        let mut raw = mail(sjis, "ﾔﾏﾀﾞ", "ｶﾀｶﾅ", "");
        raw.splice(raw.len() - 2..raw.len() - 2, b"Content-Type: text/plain; charset=Shift_JIS\r\n".iter().copied());
        raw.extend(b"ok");
        let m = parse(&raw, "a@x.jp");
        assert_eq!((m.from_name.as_deref(), m.subject.as_deref(), m.body.as_str()), (Some("ﾔﾏﾀﾞ"), Some("ｶﾀｶﾅ"), "ok"));
    }

    #[test]
    fn broken_transfer_encodings_keep_the_body_and_the_attachment() {
        let raw = b"From: a@x.jp\r\nSubject: =?UTF-8?B?44!GC?=\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n44GC!44GE\r\n*****\r\n\
--b\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n1+1==2 =e3=81=86 soft=  \r\nbreak\r\n\
--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBE Ri0x!LjQ=\r\n--b--\r\n";
        let m = parse(raw, "a@x.jp");
        assert_eq!(m.subject.as_deref(), Some("あ"));
        assert_eq!(m.body, "あい\n\n1+1==2 う softbreak");
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(
            (m.attachments[0].filename.as_str(), m.attachments[0].bytes.as_slice()),
            ("a.pdf", &b"%PDF-1.4"[..])
        );
        assert!(m.charset_guess.is_empty(), "{:?}", m.charset_guess);
    }

    #[test]
    fn arbitrary_mixtures_of_mail_fragments_never_panic() {
        let fragments: [&[u8]; 24] = [
            b"From: ",
            b"Subject: ",
            b"\r\n",
            b"\n",
            b" ",
            b"\"",
            b"\\",
            b"<a@x.jp>",
            b"=?",
            b"?=",
            b"?B?",
            b"?Q?",
            b"=?CP932?B?h0A",
            b"\x1b$B",
            b"\x1b(B",
            b"\x1b$(D",
            b"\x1b(I",
            b"\x0e",
            b"\x87\x40\x5c",
            b"\xa4\xa2\x8e",
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n",
            b"Content-Transfer-Encoding: base64\r\n",
            b"Content-Disposition: attachment; filename*0*=cp932''%87; filename*1=\"\x81",
            b"=\r\n=4",
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state >> 32
        };
        for _ in 0..3000 {
            let raw: Vec<u8> = (0..next() % 60).flat_map(|_| fragments[(next() % 24) as usize]).copied().collect();
            let _ = parse(&raw, "a@x.jp");
        }
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
