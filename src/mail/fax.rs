//! FAX-to-mail: recognising a fax gateway's mail and reading the sending fax number (TSI/CSID
//! or caller ID), the page count and the receive time. Profiles for HylaFAX's `faxrcvd`,
//! FreePBX's `fax2mail` and a multifunction printer's fax forward (Ricoh's
//! "From <CSI> (Fax Message No. N)") are built in; admins add their own in `[fax]`.
//! Where a gateway does not say how many pages came (FreePBX, printers), the PDF or TIFF
//! attachment is counted.
//!
//! # The generic detector
//!
//! When no profile matches, [`generic::detect`] (on unless `[fax] generic = false`) recognises
//! the gateways nobody wrote a profile for (an Asterisk dialplan's `mail` command, FreeSWITCH,
//! cloud PBXs, e-fax services, printers' "ファクス受信" forwards) as profile `generic`. A person's
//! mail about a fax, with a PDF, is the false positive to avoid, so the rule is gated and scored.
//!
//! Gates (all must hold, else it is e-mail):
//! 1. a document: a TIFF or PDF attachment, or else exactly one image (PNG, JPEG, GIF); known by
//!    content type, file name or magic bytes;
//! 2. not a reply or forward: no `In-Reply-To`/`References`, no `Re:`/`Fwd:`/`転送:` subject,
//!    no `受付番号` (our acknowledgement's subject) in the subject;
//! 3. a fax word (FAX, ＦＡＸ, fax, facsimile, ファクス, ファックス, ファクシミリ) in the sender's
//!    display name or address local part, the subject, or the cleaned body.
//!
//! The cleaned body has no quoted lines (`>`, or a fax ticket's own `[FAX] 送信元` line), nothing after a reply's or forward's separator
//! or a `-- ` signature, and no contact-card paragraph (a `FAX: …` line beside a `TEL`, an
//! address, a URL or `〒`: "TEL: 03-… FAX: 03-…" in a business signature is the writer's own).
//!
//! Score (what was weighed goes into the ticket's fax details as `evidence`):
//!
//! | evidence | points |
//! | --- | --- |
//! | a gateway subject: starts with FAX受信, 受信FAX, PC-FAX受信, [FAX] 受信通知, FAXお知らせ, Fax received, FAX from, New fax, eFax message from, You have received a … fax; without a word of a person's question or a machine's report (できません, エラー, について, 変更, お願い, ?, not, problem, レポート, 容量 …) | +3 |
//! | otherwise a fax word in the subject | +1 |
//! | a fax word in the sender's name or local part (`fax@`, "FAX Agent") | +2 |
//! | a machine sender (noreply, asterisk, pbx, mfp, scanner, a printer brand; `Auto-Submitted: auto-generated`, a fax or PBX `X-Mailer`, an `X-…Fax…` header) | +1 |
//! | the sender's number under a sender label (発信元, 送信元, 相手先, 送信者, 発信者番号, From, Sender, Remote station ID, CSID, TSI, Caller ID) or in a fax phrase ("fax from 03-…", "ＦＡＸ受信 ０３-…", "03-…からFAX") | +2 |
//! | otherwise a number under 番号/Number or on a line with a fax word | +1 |
//! | a page count written (2 page(s), Pages: 2, 3ページ, 枚数: 2) | +1 |
//! | a fax word in the cleaned body | +1 |
//! | a TIFF (fax's own format; PDFs are everywhere) | +1 |
//! | the cleaned body is short (≤ 600 characters): gateways send templates, the attachment is the content | +1 |
//! | the cleaned body is long (> 1500 characters) | −2 |
//! | a greeting (お世話になっております, お疲れ様です, Dear, Hi) | −3 |
//! | a closing (よろしくお願いいたします, 敬具, Regards) | −3 |
//! | a request or question (教えてください, でしょうか, したいので, could you) | −3 |
//! | a contact card with a fax number was taken out | −2 |
//! | other attachments (office documents, archives) | −2 |
//!
//! It is a fax when the score is at least [`generic::THRESHOLD`] (5) **and** there is a gateway
//! subject or a sender number under a sender label or fax phrase. A number only under
//! 番号 or beside a bare "FAX" counts with a gateway subject only; without any number a gateway
//! subject with a TIFF, or with a fax or machine sender, is still a fax, from an unknown
//! number. Numbers on lines labelled for someone else (宛先, 着信先, 受信番号, To, Called, TEL,
//! 電話) are never the sender's. A caller ID is preferred to a station ID, then reading order:
//! subject, body, sender name.
//!
//! Numbers are stored as [`crate::domain::phone::normalize`] writes them (`0312345678` for
//! `+81 3-1234-5678`, `０３－１２３４－５６７８` or `03(1234)5678`; `+<digits>` abroad), so a
//! search by the number in any format finds the ticket. Only what can be a telephone number is
//! read: a Japanese number of 10 digits (11 for 020/050/060/070/080/090/0800) or `+` and 8–15
//! digits; dates, times, postal codes, page counts, message numbers and long IDs are not.
//! Pages are the count written in the text, else counted in the PDFs and TIFFs, else 1 for a
//! single image. Only the body's first 32 KiB are read; a body longer than that scores as long.

use crate::config::FaxProfileSettings;
use crate::domain::AttachmentUpload;
use regex::Regex;

pub mod generic;

#[derive(Debug, Clone)]
pub struct FaxProfile {
    pub name: String,
    /// All that are set must match for the profile to apply.
    pub from: Option<Regex>,
    pub subject: Option<Regex>,
    pub body: Option<Regex>,
    pub headers: Option<Regex>,
    /// The first capture group (or the group named `number`) of the first that matches the
    /// subject, then the body.
    pub number: Vec<Regex>,
    pub pages: Option<Regex>,
    pub received: Option<Regex>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FaxInfo {
    pub profile: String,
    pub number: Option<String>,
    pub pages: Option<u32>,
    pub received: Option<String>,
    /// What the generic detector weighed (`subject+3 number+2 … = 8`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("built-in fax patterns are valid")
}

pub fn builtin_profiles() -> Vec<FaxProfile> {
    vec![
        FaxProfile {
            name: "hylafax".into(),
            from: None,
            subject: Some(re(r#"^Fax received from "?(.*?)"?$"#)),
            body: Some(re(r"(?m)^\s*CommID:\s")),
            headers: None,
            number: vec![re(r"(?m)^\s*CallID1:\s*(\+?[\d][\d\- ]{3,})\s*$"), re(r"(?m)^\s*Sender:\s*(.+?)\s*$")],
            pages: Some(re(r"(?m)^\s*Pages:\s*(\d+)")),
            received: Some(re(r"(?m)^\s*Received:\s*(\d{4}:\d\d:\d\d \d\d:\d\d:\d\d)")),
        },
        FaxProfile {
            name: "freepbx".into(),
            from: None,
            subject: Some(re(r"^New fax (from: |received)")),
            body: Some(re(r"(?m)^Enclosed, please find a new fax\b")),
            headers: None,
            number: vec![
                re(r#"(?m)^Enclosed, please find a new fax from: (?:"[^"]*"\s*)?<?(\+?[\d#*][\d#*\- ]*)>?\s*$"#),
                re(r"(?m)^Enclosed, please find a new fax from: (.+?)\s*$"),
            ],
            pages: None,
            received: Some(re(r"(?m)^Received & processed: (.+?)\s*$")),
        },
        FaxProfile {
            name: "mfp-forward".into(),
            from: None,
            subject: Some(re(r"\(Fax Message No\.\s*\d+\)")),
            body: None,
            headers: None,
            number: vec![re(r#"^From\s+"?(\+?[\d][\d\- ]*\d)"?"#), re(r#"^From\s+"?([^"(]+?)"?\s*\("#)],
            pages: None,
            received: None,
        },
    ]
}

impl FaxProfile {
    /// A configured profile; its patterns were compiled (and bad ones reported) when the
    /// configuration was read.
    pub fn from_settings(s: &FaxProfileSettings) -> FaxProfile {
        let regex = |p: &crate::config::Pattern| p.regex().cloned();
        FaxProfile {
            name: s.name.clone(),
            from: regex(&s.from),
            subject: regex(&s.subject),
            body: regex(&s.body),
            headers: regex(&s.headers),
            number: s.number.iter().filter_map(regex).collect(),
            pages: regex(&s.pages),
            received: regex(&s.received),
        }
    }

    fn applies(&self, mail: &FaxMail<'_>) -> bool {
        let any = self.from.is_some() || self.subject.is_some() || self.body.is_some() || self.headers.is_some();
        any && self.from.as_ref().is_none_or(|r| r.is_match(mail.from))
            && self.subject.as_ref().is_none_or(|r| r.is_match(mail.subject))
            && self.body.as_ref().is_none_or(|r| r.is_match(mail.body))
            && self.headers.as_ref().is_none_or(|r| r.is_match(mail.headers))
    }
}

/// What profiles look at in a message.
pub struct FaxMail<'a> {
    /// The sender's address.
    pub from: &'a str,
    /// The sender's display name, empty when there is none.
    pub from_name: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub headers: &'a str,
    pub attachments: &'a [AttachmentUpload],
}

/// The first profile (configured ones first, then the built-in ones) that recognises the mail,
/// else the generic detector.
pub fn detect(profiles: &[FaxProfile], mail: &FaxMail<'_>) -> Option<FaxInfo> {
    detect_by_profile(profiles, mail).or_else(|| generic::detect(mail))
}

/// The first profile that recognises the mail; no generic detection.
pub fn detect_by_profile(profiles: &[FaxProfile], mail: &FaxMail<'_>) -> Option<FaxInfo> {
    let p = profiles.iter().find(|p| p.applies(mail))?;
    let (subject, body) = (mail.subject, mail.body);
    let capture = |r: &Regex, text: &str| {
        r.captures(text).and_then(|c| c.name("number").or_else(|| c.get(1))).map(|m| m.as_str().trim().to_owned())
    };
    let number =
        p.number.iter().find_map(|r| capture(r, subject).or_else(|| capture(r, body))).filter(|n| !n.is_empty());
    let pages = p
        .pages
        .as_ref()
        .and_then(|r| capture(r, body))
        .and_then(|n| n.parse().ok())
        .or_else(|| count_pages(mail.attachments));
    let received = p.received.as_ref().and_then(|r| capture(r, body));
    Some(FaxInfo { profile: p.name.clone(), number, pages, received, evidence: None })
}

/// What an attachment is, for fax purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Tiff,
    Pdf,
    /// PNG, JPEG or GIF: a one-page fax from some gateways, an inline logo in others' mail.
    Image,
    Other,
}

/// By content type, else (for `application/octet-stream` and the like) file name, else the
/// first bytes.
pub fn doc_kind(a: &AttachmentUpload) -> DocKind {
    match a.content_type.as_str() {
        "image/tiff" | "image/tif" | "image/x-tiff" => return DocKind::Tiff,
        "application/pdf" | "application/x-pdf" => return DocKind::Pdf,
        "image/png" | "image/jpeg" | "image/jpg" | "image/pjpeg" | "image/gif" => return DocKind::Image,
        t if t.starts_with("text/") || t.starts_with("message/") || t.starts_with("multipart/") => {
            return DocKind::Other;
        }
        _ => {}
    }
    let name = a.filename.to_ascii_lowercase();
    let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match extension {
        "tif" | "tiff" => return DocKind::Tiff,
        "pdf" => return DocKind::Pdf,
        "png" | "jpg" | "jpeg" | "gif" => return DocKind::Image,
        _ => {}
    }
    match a.bytes.get(..4) {
        Some([b'I', b'I', 42, 0] | [b'M', b'M', 0, 42]) => DocKind::Tiff,
        Some(b"%PDF") => DocKind::Pdf,
        Some([0x89, b'P', b'N', b'G'] | [0xff, 0xd8, 0xff, _] | [b'G', b'I', b'F', b'8']) => DocKind::Image,
        _ => DocKind::Other,
    }
}

/// Pages in the fax documents attached: PDF page objects, TIFF image directories.
pub fn count_pages(attachments: &[AttachmentUpload]) -> Option<u32> {
    let mut total = 0;
    let mut any = false;
    for a in attachments {
        let pages = match doc_kind(a) {
            DocKind::Pdf => pdf_pages(&a.bytes),
            DocKind::Tiff => tiff_pages(&a.bytes),
            _ => None,
        };
        if let Some(n) = pages {
            total += n;
            any = true;
        }
    }
    any.then_some(total)
}

fn pdf_pages(pdf: &[u8]) -> Option<u32> {
    let needle = b"/Type";
    let mut count = 0;
    let mut i = 0;
    while let Some(pos) = pdf[i..].windows(needle.len()).position(|w| w == needle) {
        let mut j = i + pos + needle.len();
        while j < pdf.len() && (pdf[j] == b' ' || pdf[j] == b'\r' || pdf[j] == b'\n') {
            j += 1;
        }
        // `/Page` but not `/Pages`.
        if pdf[j..].starts_with(b"/Page") && !pdf[j..].starts_with(b"/Pages") {
            count += 1;
        }
        i = j;
    }
    (count > 0).then_some(count)
}

fn tiff_pages(tiff: &[u8]) -> Option<u32> {
    let little = match tiff.get(..4)? {
        [b'I', b'I', 42, 0] => true,
        [b'M', b'M', 0, 42] => false,
        _ => return None,
    };
    let u16_at = |o: usize| {
        tiff.get(o..o + 2)
            .map(|b| if little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) })
    };
    let u32_at = |o: usize| {
        tiff.get(o..o + 4).map(|b| {
            let a = [b[0], b[1], b[2], b[3]];
            if little { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
        })
    };
    let mut offset = u32_at(4)? as usize;
    let mut pages = 0;
    while offset != 0 && pages < 10_000 {
        let entries = u16_at(offset)? as usize;
        pages += 1;
        offset = u32_at(offset + 2 + entries * 12)? as usize;
    }
    Some(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdf(pages: usize) -> AttachmentUpload {
        let mut body = String::from(
            "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Count 1 >> endobj\n",
        );
        for i in 0..pages {
            body.push_str(&format!("{} 0 obj << /Type /Page /Parent 2 0 R >> endobj\n", i + 3));
        }
        AttachmentUpload {
            filename: "fax.pdf".into(),
            content_type: "application/pdf".into(),
            bytes: body.into_bytes(),
        }
    }

    fn tiff(pages: u32) -> AttachmentUpload {
        // Little-endian TIFF: header, then `pages` empty IFDs chained together.
        let mut b = vec![b'I', b'I', 42, 0, 8, 0, 0, 0];
        for i in 0..pages {
            let next = if i + 1 == pages { 0 } else { 8 + (i + 1) * 6 };
            b.extend_from_slice(&0u16.to_le_bytes());
            b.extend_from_slice(&next.to_le_bytes());
        }
        AttachmentUpload { filename: "fax.tif".into(), content_type: "image/tiff".into(), bytes: b }
    }

    #[test]
    fn pages_are_counted_in_pdf_and_tiff() {
        assert_eq!(count_pages(&[pdf(3)]), Some(3));
        assert_eq!(count_pages(&[tiff(2)]), Some(2));
        assert_eq!(count_pages(&[pdf(1), tiff(4)]), Some(5));
        assert_eq!(count_pages(&[]), None);
    }

    #[test]
    fn builtin_profiles_read_each_gateway() {
        let profiles = builtin_profiles();
        let hylafax = "recvq/fax00012.tif:\n          Sender: +81 3 1234 5678\n           Pages: 2\n        Received: 2024:05:14 10:23:45\n         CallID1: 0312345678\n          CommID: 000000123\n";
        let mail =
            |from, subject, body, attachments| FaxMail { from, from_name: "", subject, body, headers: "", attachments };
        let info =
            detect(&profiles, &mail("fax@faxsrv", "Fax received from \"+81 3 1234 5678\"", hylafax, &[])).unwrap();
        assert_eq!(info.profile, "hylafax");
        assert_eq!(info.number.as_deref(), Some("0312345678"));
        assert_eq!(info.pages, Some(2));
        assert_eq!(info.received.as_deref(), Some("2024:05:14 10:23:45"));

        let freepbx = "Enclosed, please find a new fax from: \"ACME\" <0312345678>\nReceived & processed: Tue, 14 May 2024 10:24:37 +0900\nOn: pbx\n";
        let three = [pdf(3)];
        let info = detect(&profiles, &mail("fax@pbx", "New fax from: \"ACME\" <0312345678>", freepbx, &three)).unwrap();
        assert_eq!(
            (info.profile.as_str(), info.number.as_deref(), info.pages),
            ("freepbx", Some("0312345678"), Some(3))
        );
        assert_eq!(info.received.as_deref(), Some("Tue, 14 May 2024 10:24:37 +0900"));

        let two = [tiff(2)];
        let info =
            detect(&profiles, &mail("mfp@x", "From 03-1234-5678 (ACME) (Fax Message No. 0042)", "", &two)).unwrap();
        assert_eq!(
            (info.profile.as_str(), info.number.as_deref(), info.pages),
            ("mfp-forward", Some("03-1234-5678"), Some(2))
        );

        let one = [pdf(1)];
        assert!(detect(&profiles, &mail("a@x", "パスワードを忘れました", "本文", &one)).is_none());

        let custom = FaxProfile::from_settings(&crate::config::FaxProfileSettings {
            name: "office".into(),
            headers: crate::config::Pattern::new(r"(?m)^X-Fax-Gateway: office"),
            number: vec![crate::config::Pattern::new(r"送信元:\s*([0-9-]+)")],
            ..Default::default()
        });
        let found = FaxMail {
            from: "a@x",
            from_name: "",
            subject: "FAX",
            body: "送信元: 03-9999-0000",
            headers: "X-Fax-Gateway: office-1\r\n",
            attachments: &[],
        };
        let info = detect(std::slice::from_ref(&custom), &found).unwrap();
        assert_eq!((info.profile.as_str(), info.number.as_deref()), ("office", Some("03-9999-0000")));
    }

    fn file(name: &str, content_type: &str, bytes: &[u8]) -> AttachmentUpload {
        AttachmentUpload { filename: name.into(), content_type: content_type.into(), bytes: bytes.to_vec() }
    }

    /// (sender address, display name, subject, body, attachments) → `Some((number, pages))` for
    /// a generic fax, `None` for e-mail.
    type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Vec<AttachmentUpload>, Option<(Option<&'a str>, Option<u32>)>);

    #[test]
    fn the_generic_detector_tells_gateways_from_people() {
        let jpeg = || file("page1.jpg", "image/jpeg", b"\xff\xd8\xff\xe0fake");
        let octet_tiff = || AttachmentUpload { content_type: "application/octet-stream".into(), ..tiff(3) };
        let docx =
            || file("memo.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK");
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            // Gateways.
            ("asterisk@pbx.example.jp", "Asterisk PBX", "FAX from 0312345678", "", vec![tiff(2)],
             Some((Some("0312345678"), Some(2)))),
            ("root@pbx.example.jp", "", "New fax received from 0312345678",
             "You have received a 2 page fax from 0312345678.\nRemote station ID: ACME\n", vec![tiff(2)],
             Some((Some("0312345678"), Some(2)))),
            ("freeswitch@pbx.example.jp", "FreeSWITCH", "Fax received",
             "Fax received: fax-1715649877.tif\nRemote station ID: +81 3 1234 9999\nCaller ID: 0312345678\nPages: 3\nResult: OK\n",
             vec![tiff(3)], Some((Some("0312345678"), Some(3)))),
            ("canon@mfp.example.jp", "Canon iR-ADV C5535", "ファクス受信 発信元: 0312345678",
             "ファクスを受信しました。\n枚数: 2\n", vec![pdf(2)], Some((Some("0312345678"), Some(2)))),
            ("kyocera-mfp@example.jp", "", "受信ファクス 03-1234-5678", "", vec![pdf(1)],
             Some((Some("0312345678"), Some(1)))),
            ("brother@example.jp", "", "PC-FAX受信", "発信元: 06-1234-5678\n受信日時: 2024/05/14 10:23\n", vec![tiff(1)],
             Some((Some("0612345678"), Some(1)))),
            ("xerox@example.jp", "", "Fax Received from 045-123-4567", "", vec![pdf(3)],
             Some((Some("0451234567"), Some(3)))),
            ("message@inbound.efax.example", "eFax",
             "eFax message from \"03-1234-5678\" - 2 page(s), Caller-ID: +81-3-1234-5678",
             "You have received a 2 page fax at 2024-05-14 10:23:45 JST.\n* The reference number for this fax is tko1_did13-1715649825-0312345678-42.\nThank you for using the eFax service!\n",
             vec![pdf(2)], Some((Some("0312345678"), Some(2)))),
            ("noreply@fax.cloud.example", "", "You have received a 3 page fax from +81 3-1234-5678", "", vec![pdf(3)],
             Some((Some("0312345678"), Some(3)))),
            ("fax@mfp.example.jp", "", "ＦＡＸ受信　０３－１２３４－５６７８", "", vec![tiff(1)],
             Some((Some("0312345678"), Some(1)))),
            ("noreply@cloudpbx.example.jp", "FAXお知らせメール", "【FAXお知らせメール】FAXを受信しました",
             "FAXを受信しました。\n\n送信元FAX番号：０３－１２３４－５６７８\n受信日時：2024年5月14日 10:23\nページ数：3\n\n※本メールは送信専用です。\n今後ともよろしくお願いいたします。\n",
             vec![pdf(3)], Some((Some("0312345678"), Some(3)))),
            ("scanner@mfp.example.jp", "", "受信FAX (1枚)", "相手先: 03(1234)5678\n", vec![jpeg()],
             Some((Some("0312345678"), Some(1)))),
            ("fax@mfp.example.jp", "", "ファックス受信 03ー1234ー5678", "", vec![jpeg()],
             Some((Some("0312345678"), Some(1)))),
            ("pbx@example.jp", "", "FAX着信のお知らせ", "03–1234–5678 からFAXが届きました（2ページ）\n", vec![pdf(2)],
             Some((Some("0312345678"), Some(2)))),
            ("service@ringcentral.example", "RingCentral", "New Fax Message from (03) 1234-5678",
             "You have a new fax message.\nPages: 2\n", vec![pdf(2)], Some((Some("0312345678"), Some(2)))),
            ("fax@gw.example.jp", "", "Incoming fax", "Caller ID: +1 212 555 0100\n", vec![octet_tiff()],
             Some((Some("+12125550100"), Some(3)))),
            ("mfp@example.jp", "", "FAX受信", "", vec![tiff(2)], Some((None, Some(2)))),
            ("fax@gw.example.jp", "", "[FAX] 受信通知", "相手先番号: 非通知\n宛先: 03-5555-0000\n枚数: 1\n", vec![pdf(1)],
             Some((None, Some(1)))),
            // People.
            ("yamada@example.go.jp", "山田", "申請書を送ります", "よろしくお願いします。\n", vec![pdf(1)], None),
            ("yamada@example.co.jp", "山田 太郎", "見積書送付の件",
             "お世話になっております。\n見積書を添付いたします。\nよろしくお願いいたします。\n\n--\n株式会社サンプル 山田\nTEL: 03-1234-5678 FAX: 03-1234-5679\n",
             vec![pdf(1)], None),
            ("yamada@example.co.jp", "", "見積書", "見積書です。\n\n山田太郎\nTEL 03-1234-5678\nFAX 03-1234-5679\n",
             vec![pdf(1)], None),
            ("yamada@example.co.jp", "", "資料送付", "資料を送ります。\n山田\nFAX: 03-1234-5679\n", vec![pdf(1)], None),
            ("sato@example.go.jp", "佐藤", "FAX番号変更のお願い",
             "お世話になっております。総務課の佐藤です。\n課のFAX番号を変更したいので申請書PDFを送ります。\n新しいFAX番号: 03-1234-0000\nよろしくお願いいたします。\n",
             vec![pdf(1)], None),
            ("tanaka@example.go.jp", "", "FAX番号変更", "新FAX番号: 03-1234-0000\n旧FAX番号: 03-1234-9999\n",
             vec![tiff(1)], None),
            ("sato@example.go.jp", "", "先日の件", "確認しました。\n\n> FAX受信 発信元: 0312345678\n> 枚数: 2\n",
             vec![pdf(2)], None),
            ("sato@example.go.jp", "", "Fwd: FAX受信 発信元: 0312345678", "転送します。\n", vec![pdf(1)], None),
            ("sato@example.go.jp", "", "FAX受信ができません",
             "お疲れ様です。3FのFAXで受信ができません。エラー画面を添付します。\n", vec![jpeg()], None),
            ("yamada@example.go.jp", "", "FAX受信しました",
             "お疲れ様です。\n総務課宛のFAXが届いたので送ります。\nよろしくお願いします。\n", vec![pdf(1)], None),
            ("fax@gw.example.jp", "", "FAX受信 発信元: 0312345678", "", vec![], None),
            ("fax@gw.example.jp", "", "FAX受信 発信元: 0312345678", "", vec![docx()], None),
            ("smith@example.com", "", "Question about fax",
             "Hi,\nI can't receive faxes on the 3F machine. Could you help? Our fax number is 03-1234-5678.\nThanks\n",
             vec![pdf(1)], None),
            ("sato@example.go.jp", "", "FAXの写真", "FAX機の写真です\n", vec![jpeg(), jpeg()], None),
            ("info@fax-provider.example", "", "FAXサービス料金改定のお知らせ", "料金表を添付します。\n", vec![pdf(2)], None),
            ("sato@example.go.jp", "", "New fax machine for 3F", "Quote attached.\n", vec![pdf(1)], None),
            ("mfp@example.jp", "", "FAX受信メモリ容量超過のお知らせ", "", vec![pdf(1)], None),
            ("mfp@example.jp", "", "FAX送信結果レポート", "宛先: 03-1234-5678\n結果: OK\n", vec![pdf(1)], None),
        ];
        for (from, from_name, subject, body, attachments, want) in cases {
            let mail = FaxMail { from, from_name, subject, body, headers: "", attachments: &attachments };
            let got = detect(&builtin_profiles(), &mail);
            if let Some(info) = &got {
                assert_eq!(info.profile, "generic", "{subject}");
            }
            let got_pair = got.as_ref().map(|i| (i.number.as_deref(), i.pages));
            assert_eq!(got_pair, want, "{subject} / {body}: {:?}", got.as_ref().and_then(|i| i.evidence.as_ref()));
        }

        // A reply (by its headers) that quotes a fax ticket stays e-mail, even with a gateway subject.
        let quoted = FaxMail {
            from: "sato@example.go.jp",
            from_name: "",
            subject: "【受付番号 20240514-0001】FAX受信 発信元 0312345678",
            body: "対応ありがとうございます。\n[FAX] 送信元 / from: 0312345678  ページ数 / pages: 2\n",
            headers: "From: sato@example.go.jp\r\nIn-Reply-To: <ack.1@madoguchi>\r\n",
            attachments: &[pdf(2)],
        };
        assert_eq!(detect(&builtin_profiles(), &quoted), None);
        let quoted = FaxMail { headers: "", ..quoted };
        assert_eq!(detect(&builtin_profiles(), &quoted), None, "our ticket number in the subject");
        let quoted = FaxMail { subject: "FAXの件", ..quoted };
        assert_eq!(detect(&builtin_profiles(), &quoted), None, "our own summary line, quoted without >");

        // Details say what was weighed; the receive time is read.
        let body = "発信元: 06-1234-5678\n受信日時: 2024/05/14 10:23\n";
        let two = [tiff(2)];
        let mail =
            FaxMail { from: "brother@x", from_name: "", subject: "PC-FAX受信", body, headers: "", attachments: &two };
        let info = detect(&[], &mail).unwrap();
        assert_eq!(info.received.as_deref(), Some("2024/05/14 10:23"));
        assert!(info.evidence.as_deref().unwrap().starts_with("subject+3 machine+1 number+2"), "{:?}", info.evidence);
        assert_eq!(detect_by_profile(&[], &mail), None, "profiles only");
    }
}
