//! Who may receive an acknowledgement, and what it may repeat. Anyone can write any `From:`,
//! so an acknowledgement goes to the envelope sender (RFC 3834 §4) — and only when that address
//! agrees with `From:` (the same address, or an address at the same domain or a subdomain of it,
//! as a mailer's bounce address is) or its domain is one the admin lists (`[mail] ack_domains`).
//! The sender's subject is repeated without anything that could carry a link, so an
//! acknowledgement cannot be used to deliver someone else's advertisement.

use super::AckLimits;
use super::text::fold;
use super::thread::in_domains;
use regex::Regex;
use std::sync::LazyLock;

/// Characters of the sender's subject an acknowledgement repeats at most.
pub const SUBJECT_MAX_CHARS: usize = 80;
/// What a removed link is replaced with.
pub const LINK_REMOVED: &str = "[リンク省略 / link removed]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withheld {
    /// The envelope is empty (`<>`): a bounce or a notification.
    NoEnvelopeSender,
    /// The envelope sender and `From:` belong to different domains, and the envelope's is not listed.
    SenderMismatch,
}

impl Withheld {
    pub fn reason(self) -> &'static str {
        match self {
            Withheld::NoEnvelopeSender => "no envelope sender to answer",
            Withheld::SenderMismatch => {
                "the envelope sender does not agree with From: and its domain is not in [mail] ack_domains"
            }
        }
    }
}

/// The address to acknowledge: the envelope sender, when it may be.
pub fn recipient(envelope: &str, from: Option<&str>, ack_domains: &[String]) -> Result<String, Withheld> {
    let envelope = envelope.trim().trim_start_matches('<').trim_end_matches('>').trim();
    let Some((_, envelope_domain)) = envelope.rsplit_once('@').filter(|(local, d)| !local.is_empty() && !d.is_empty())
    else {
        return Err(Withheld::NoEnvelopeSender);
    };
    let agrees = from.and_then(|f| f.trim().rsplit_once('@')).is_some_and(|(_, from_domain)| {
        let (e, f) = (envelope_domain.to_ascii_lowercase(), from_domain.to_ascii_lowercase());
        e == f || e.ends_with(&format!(".{f}"))
    });
    if agrees || in_domains(envelope, ack_domains) { Ok(envelope.to_owned()) } else { Err(Withheld::SenderMismatch) }
}

/// The domains `[mail] recipients` names (`helpdesk@example.go.jp` or `@example.go.jp`).
pub fn domains_of(recipients: &[String]) -> Vec<String> {
    let mut domains: Vec<String> = recipients
        .iter()
        .filter_map(|r| r.trim().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
        .filter(|d| !d.is_empty())
        .collect();
    domains.sort();
    domains.dedup();
    domains
}

static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?xi)
        [a-z][a-z0-9+.\-]*://[!-~]*                          # http://…, hxxps://…
      | (?:mailto|data|javascript|file|tel|sms):[!-~]+         # schemes without //
      | [a-z0-9._%+\-]+@[!-~]+                                # an address
      | (?:[a-z0-9\-]+\s*[.。]\s*)+(?:[a-z]{2,}|xn--[a-z0-9\-]+)(?:[/:?\#][!-~]*)?  # example.com/x
    ",
    )
    .expect("valid pattern")
});

/// The sender's subject as an acknowledgement may repeat it: on one line, without URLs, domain
/// names or addresses (also when written in full-width letters), at most [`SUBJECT_MAX_CHARS`].
pub fn safe_subject(subject: &str) -> String {
    // Only the beginning can be repeated; a megabyte subject is not worth reading further.
    let one_line: String =
        subject.chars().take(SUBJECT_MAX_CHARS * 8).map(|c| if c.is_control() { ' ' } else { c }).collect();
    // Links are looked for in the folded text (full-width ｈｔｔｐ：／／ is a link too); what
    // is kept is the original text around them.
    let mut folded = String::new();
    let mut origin = Vec::new();
    for (at, c) in one_line.char_indices() {
        let f = fold(c.encode_utf8(&mut [0; 4]));
        origin.extend(std::iter::repeat_n(at, f.len()));
        folded.push_str(&f);
    }
    origin.push(one_line.len());
    let mut cleaned = String::new();
    let mut last = 0;
    for m in LINK.find_iter(&folded) {
        let (start, end) = (origin[m.start()], origin[m.end()]);
        if start < last {
            continue;
        }
        cleaned.push_str(&one_line[last..start]);
        cleaned.push_str(LINK_REMOVED);
        last = end;
    }
    cleaned.push_str(&one_line[last..]);
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut chars = cleaned.chars();
    let mut short: String = chars.by_ref().take(SUBJECT_MAX_CHARS).collect();
    if chars.next().is_some() {
        short.push('…');
    }
    short
}

/// Acknowledgements already queued: to this address in the last hour, to everyone in the last
/// minute and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AckCounts {
    pub to_address_hour: i64,
    pub global_minute: i64,
    pub global_hour: i64,
}

/// Why an acknowledgement is not sent although it may be: a limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimited {
    Sender,
    GlobalMinute,
    GlobalHour,
}

impl RateLimited {
    pub fn reason(self) -> &'static str {
        match self {
            RateLimited::Sender => "rate limit for this sender",
            RateLimited::GlobalMinute => "rate limit for all acknowledgements (per minute)",
            RateLimited::GlobalHour => "rate limit for all acknowledgements (per hour)",
        }
    }
}

/// Send, or skip because this address, or everyone together, had the limit's worth already.
pub fn rate_limit(counts: AckCounts, limits: AckLimits) -> Result<(), RateLimited> {
    if counts.to_address_hour >= i64::from(limits.per_address_hour) {
        Err(RateLimited::Sender)
    } else if counts.global_minute >= i64::from(limits.global_minute) {
        Err(RateLimited::GlobalMinute)
    } else if counts.global_hour >= i64::from(limits.global_hour) {
        Err(RateLimited::GlobalHour)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_within_the_limits_are_sent() {
        let limits = AckLimits { per_address_hour: 5, global_minute: 30, global_hour: 300 };
        let c = |to_address_hour, global_minute, global_hour| AckCounts { to_address_hour, global_minute, global_hour };
        let table = [
            (c(0, 0, 0), Ok(())),
            (c(4, 29, 299), Ok(())),
            (c(5, 0, 0), Err(RateLimited::Sender)),
            (c(5, 30, 300), Err(RateLimited::Sender)),
            (c(0, 30, 30), Err(RateLimited::GlobalMinute)),
            (c(0, 30, 300), Err(RateLimited::GlobalMinute)),
            (c(0, 29, 300), Err(RateLimited::GlobalHour)),
        ];
        for (counts, want) in table {
            assert_eq!(rate_limit(counts, limits), want, "{counts:?}");
        }
        let none = AckLimits { per_address_hour: 0, global_minute: 30, global_hour: 300 };
        assert_eq!(rate_limit(c(0, 0, 0), none), Err(RateLimited::Sender), "a limit of 0 sends nothing");
    }

    #[test]
    fn acknowledgements_go_to_an_envelope_sender_that_agrees_with_from() {
        let listed = vec!["mhlw.go.jp".to_owned()];
        let table: [(&str, Option<&str>, Result<&str, Withheld>); 9] = [
            ("sato@example.go.jp", Some("sato@example.go.jp"), Ok("sato@example.go.jp")),
            ("<Sato@Example.go.jp>", Some("sato@example.go.jp"), Ok("Sato@Example.go.jp")),
            ("bounce-77@mail.example.go.jp", Some("sato@example.go.jp"), Ok("bounce-77@mail.example.go.jp")),
            ("busy@example.go.jp", Some("sato@example.go.jp"), Ok("busy@example.go.jp")),
            ("victim@other.example", Some("sato@example.go.jp"), Err(Withheld::SenderMismatch)),
            ("victim@example.go.jp.evil", Some("sato@example.go.jp"), Err(Withheld::SenderMismatch)),
            ("staff@mhlw.go.jp", Some("someone@gmail.example"), Ok("staff@mhlw.go.jp")),
            ("", Some("sato@example.go.jp"), Err(Withheld::NoEnvelopeSender)),
            ("victim@other.example", None, Err(Withheld::SenderMismatch)),
        ];
        for (envelope, from, want) in table {
            assert_eq!(recipient(envelope, from, &listed).as_deref().map_err(|e| *e), want, "{envelope} / {from:?}");
        }
        assert_eq!(
            domains_of(&["helpdesk@Example.go.jp".into(), "@mhlw.go.jp".into(), "x".into()]),
            ["example.go.jp", "mhlw.go.jp"]
        );
    }

    #[test]
    fn a_subject_is_repeated_without_links() {
        let table = [
            ("VPNにつながらない", "VPNにつながらない".to_owned()),
            ("激安 http://spam.example/buy?x=1 今すぐ", format!("激安 {LINK_REMOVED} 今すぐ")),
            ("見て www.spam.example.com", format!("見て {LINK_REMOVED}")),
            ("spam.example.co.jp/offer をクリック", format!("{LINK_REMOVED} をクリック")),
            ("ｈｔｔｐｓ：／／ｓｐａｍ．ｅｘａｍｐｌｅ／", LINK_REMOVED.to_owned()),
            ("連絡は win@prize.example まで", format!("連絡は {LINK_REMOVED} まで")),
            ("spam . example . com", LINK_REMOVED.to_owned()),
            ("hxxps://defanged", LINK_REMOVED.to_owned()),
            ("Ver.2.1 の不具合", "Ver.2.1 の不具合".to_owned()),
            ("改行\r\nBcc: x", "改行 Bcc: x".to_owned()),
            ("Re:パスワード", "Re:パスワード".to_owned()),
            ("詳細はspam.exampleで確認", format!("詳細は{LINK_REMOVED}で確認")),
            ("ＶＰＮ障害 ｗｗｗ．ｓｐａｍ．ｅｘａｍｐｌｅ", format!("ＶＰＮ障害 {LINK_REMOVED}")),
        ];
        for (subject, want) in table {
            assert_eq!(safe_subject(subject), want, "{subject}");
        }
        let long = "あ".repeat(200);
        assert_eq!(safe_subject(&long).chars().count(), SUBJECT_MAX_CHARS + 1);
        let huge = format!("{} http://spam.example/", "い".repeat(1_000_000));
        assert_eq!(safe_subject(&huge).chars().count(), SUBJECT_MAX_CHARS + 1);
    }
}
