//! FAX-to-mail: recognising a fax gateway's mail and reading the sending fax number (TSI/CSID
//! or caller ID), the page count and the receive time. Profiles for HylaFAX's `faxrcvd`,
//! FreePBX's `fax2mail` and a multifunction printer's fax forward (Ricoh's
//! "From <CSI> (Fax Message No. N)") are built in; admins add their own in `[fax]`.
//! Where a gateway does not say how many pages came (FreePBX, printers), the PDF or TIFF
//! attachment is counted.

use crate::config::FaxProfileSettings;
use crate::domain::AttachmentUpload;
use regex::Regex;

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

#[derive(Debug, thiserror::Error)]
#[error("fax profile '{profile}': {field} is not a valid regular expression: {error}")]
pub struct ProfileError {
    pub profile: String,
    pub field: &'static str,
    pub error: String,
}

impl FaxProfile {
    pub fn from_settings(s: &FaxProfileSettings) -> Result<FaxProfile, ProfileError> {
        let compile = |field: &'static str, p: &str| {
            Regex::new(p).map_err(|e| ProfileError { profile: s.name.clone(), field, error: e.to_string() })
        };
        let optional = |field: &'static str, p: &str| (!p.is_empty()).then(|| compile(field, p)).transpose();
        Ok(FaxProfile {
            name: s.name.clone(),
            from: optional("from", &s.from)?,
            subject: optional("subject", &s.subject)?,
            body: optional("body", &s.body)?,
            headers: optional("headers", &s.headers)?,
            number: s.number.iter().map(|p| compile("number", p)).collect::<Result<_, _>>()?,
            pages: optional("pages", &s.pages)?,
            received: optional("received", &s.received)?,
        })
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
    pub from: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub headers: &'a str,
    pub attachments: &'a [AttachmentUpload],
}

/// The first profile (configured ones first, then the built-in ones) that recognises the mail.
pub fn detect(profiles: &[FaxProfile], mail: &FaxMail<'_>) -> Option<FaxInfo> {
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
    Some(FaxInfo { profile: p.name.clone(), number, pages, received })
}

/// Pages in the fax documents attached: PDF page objects, TIFF image directories.
pub fn count_pages(attachments: &[AttachmentUpload]) -> Option<u32> {
    let mut total = 0;
    let mut any = false;
    for a in attachments {
        let pages = match a.content_type.as_str() {
            "application/pdf" => pdf_pages(&a.bytes),
            "image/tiff" => tiff_pages(&a.bytes),
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
        let mail = |from, subject, body, attachments| FaxMail { from, subject, body, headers: "", attachments };
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
            headers: r"(?m)^X-Fax-Gateway: office".into(),
            number: vec![r"送信元:\s*([0-9-]+)".into()],
            ..Default::default()
        })
        .unwrap();
        let found = FaxMail {
            from: "a@x",
            subject: "FAX",
            body: "送信元: 03-9999-0000",
            headers: "X-Fax-Gateway: office-1\r\n",
            attachments: &[],
        };
        let info = detect(std::slice::from_ref(&custom), &found).unwrap();
        assert_eq!((info.profile.as_str(), info.number.as_deref()), ("office", Some("03-9999-0000")));
    }
}
