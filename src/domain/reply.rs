//! An operator's reply to the requester, by e-mail from the ticket: what it may say, how its
//! subject and signature read, and why one is refused. The address it goes to must have written
//! to the ticket already (an operator cannot mail an arbitrary address from the helpdesk); the
//! subject carries the ticket number the way the acknowledgement does, so an answer threads back
//! by subject as well as by Message-ID.

use super::TicketNumber;

/// The longest reply body an operator may send, in characters.
pub const BODY_MAX_CHARS: usize = 20_000;
/// Characters of the original subject repeated after `Re:`.
pub const SUBJECT_MAX_CHARS: usize = 200;
/// `[notify] reply_signature` when none is configured.
pub const DEFAULT_SIGNATURE: &str = "--\n{name}\n{helpdesk}\n受付番号 / Ticket: {ticket}\n";
/// What a signature template may fill in: the operator's display name, `[notify] from_name`,
/// the ticket number.
pub const PLACEHOLDERS: [&str; 3] = ["{name}", "{helpdesk}", "{ticket}"];

/// Why a reply is not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefusal {
    #[error("本文が空です / the reply's body is empty")]
    EmptyBody,
    #[error("本文は {BODY_MAX_CHARS} 文字までです / body may have at most {BODY_MAX_CHARS} characters")]
    BodyTooLong,
    #[error("宛先 (to) がメールアドレスではありません / to is not an e-mail address")]
    BadAddress,
    #[error(
        "宛先 (to) はこのお問い合わせにメールを送ったアドレスではありません / to has not written to this ticket; \
         a reply goes only to an address that did"
    )]
    NotAParticipant,
    #[error(
        "このお問い合わせには返信先のメールアドレスがありません (メール・FAX での受付がありません) / this ticket has \
         no e-mail or fax contact with an address to reply to"
    )]
    NoAddress,
    #[error(
        "お問い合わせ {0} は完了 (closed) しているため返信できません / ticket {0} is closed and cannot be replied to"
    )]
    Closed(TicketNumber),
}

/// The body as it is sent: line ends as `\n`, no NUL, trailing blank space dropped; refused
/// when empty or longer than [`BODY_MAX_CHARS`].
pub fn body(text: &str) -> Result<String, ReplyRefusal> {
    let text = text.replace("\r\n", "\n").replace(['\r', '\0'], "");
    let text = text.trim_end();
    if text.trim().is_empty() {
        return Err(ReplyRefusal::EmptyBody);
    }
    if text.chars().count() > BODY_MAX_CHARS {
        return Err(ReplyRefusal::BodyTooLong);
    }
    Ok(text.to_owned())
}

/// An address an operator named: one `local@domain`, nothing that could add a header or a
/// second recipient.
pub fn address(to: &str) -> Result<String, ReplyRefusal> {
    let to = to.trim();
    let plain = to.len() <= 254
        && !to.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;:\"()[]\\".contains(c))
        && to.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !domain.starts_with('.')
        });
    if plain { Ok(to.to_owned()) } else { Err(ReplyRefusal::BadAddress) }
}

/// `Re: <original subject> [<ticket>]`: the number as the acknowledgement's subject ends, left
/// out when the subject has it already; `Re:`/`RE:`/`Ｒｅ：` prefixes are not repeated.
pub fn subject(original: &str, ticket: &TicketNumber) -> String {
    let one_line: String =
        original.chars().take(SUBJECT_MAX_CHARS * 4).map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut rest = one_line.trim();
    while let Some(after) = strip_re(rest) {
        rest = after.trim_start();
    }
    let mut kept: String = rest.chars().take(SUBJECT_MAX_CHARS).collect();
    if kept.chars().count() < rest.chars().count() {
        kept.push('…');
    }
    let kept = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    let kept = if kept.is_empty() { "お問い合わせ / Your inquiry".to_owned() } else { kept };
    if kept.contains(ticket.as_str()) { format!("Re: {kept}") } else { format!("Re: {kept} [{ticket}]") }
}

fn strip_re(s: &str) -> Option<&str> {
    ["re:", "re：", "ｒｅ:", "ｒｅ："].iter().find_map(|prefix| {
        let head = s.get(..prefix.len())?;
        head.to_lowercase().eq(prefix).then(|| &s[prefix.len()..])
    })
}

/// The signature template filled in.
pub fn signature(template: &str, name: &str, helpdesk: &str, ticket: &TicketNumber) -> String {
    template.replace("{name}", name).replace("{helpdesk}", helpdesk).replace("{ticket}", ticket.as_str())
}

/// The first `{…}` in a signature template that is not one of [`PLACEHOLDERS`].
pub fn unknown_placeholder(template: &str) -> Option<&str> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').map(|e| start + e + 1)?;
        let found = &rest[start..end];
        if !PLACEHOLDERS.contains(&found) {
            return Some(found);
        }
        rest = &rest[end..];
    }
    None
}

/// What the requester reads: the operator's text, an empty line, the signature.
pub fn compose(body: &str, signature: &str) -> String {
    let signature = signature.replace("\r\n", "\n");
    if signature.trim().is_empty() { format!("{body}\n") } else { format!("{body}\n\n{signature}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n() -> TicketNumber {
        "20261121-0042".parse().unwrap()
    }

    #[test]
    fn the_subject_carries_the_ticket_number_once() {
        let table = [
            ("VPNにつながらない", "Re: VPNにつながらない [20261121-0042]"),
            ("Re: VPNにつながらない", "Re: VPNにつながらない [20261121-0042]"),
            ("RE: re:Ｒｅ：VPN", "Re: VPN [20261121-0042]"),
            (
                "【受付番号 20261121-0042】お問い合わせを受け付けました",
                "Re: 【受付番号 20261121-0042】お問い合わせを受け付けました",
            ),
            ("", "Re: お問い合わせ / Your inquiry [20261121-0042]"),
            ("改行\r\nBcc: x@y", "Re: 改行 Bcc: x@y [20261121-0042]"),
            ("Regarding VPN", "Re: Regarding VPN [20261121-0042]"),
        ];
        for (original, want) in table {
            assert_eq!(subject(original, &n()), want, "{original:?}");
        }
        let long = subject(&"あ".repeat(500), &n());
        assert_eq!(long.chars().filter(|c| *c == 'あ').count(), SUBJECT_MAX_CHARS);
        assert!(long.contains("…") && long.ends_with("[20261121-0042]"), "{long}");
    }

    #[test]
    fn a_body_must_say_something_and_not_too_much() {
        let table: [(&str, Result<&str, ReplyRefusal>); 5] = [
            (
                "お世話になっております。\r\nロックを解除しました。\r\n\r\n",
                Ok("お世話になっております。\nロックを解除しました。"),
            ),
            ("  ", Err(ReplyRefusal::EmptyBody)),
            ("\r\n\n", Err(ReplyRefusal::EmptyBody)),
            ("a\0b", Ok("ab")),
            ("  字下げ", Ok("  字下げ")),
        ];
        for (text, want) in table {
            assert_eq!(body(text).as_deref().map_err(Clone::clone), want, "{text:?}");
        }
        assert!(body(&"x".repeat(BODY_MAX_CHARS)).is_ok());
        assert_eq!(body(&"字".repeat(BODY_MAX_CHARS + 1)), Err(ReplyRefusal::BodyTooLong));
    }

    #[test]
    fn an_address_is_one_plain_mailbox() {
        let table = [
            ("sato@example.go.jp", true),
            (" Sato@Example.go.jp ", true),
            ("sato@example.go.jp, boss@example.go.jp", false),
            ("sato@example.go.jp\r\nBcc: x@y", false),
            ("Sato <sato@example.go.jp>", false),
            ("sato", false),
            ("@example.go.jp", false),
            ("sato@", false),
            ("a@b@c", false),
        ];
        for (to, ok) in table {
            assert_eq!(address(to).is_ok(), ok, "{to:?}");
        }
    }

    #[test]
    fn the_signature_names_the_operator() {
        let s = signature(DEFAULT_SIGNATURE, "佐藤 花子", "ヘルプデスク / Helpdesk", &n());
        assert_eq!(s, "--\n佐藤 花子\nヘルプデスク / Helpdesk\n受付番号 / Ticket: 20261121-0042\n");
        assert_eq!(compose("解除しました。", &s), format!("解除しました。\n\n{s}"));
        assert_eq!(compose("解除しました。", ""), "解除しました。\n");
        assert_eq!(unknown_placeholder(DEFAULT_SIGNATURE), None);
        assert_eq!(unknown_placeholder("{name} {phone}"), Some("{phone}"));
        assert_eq!(unknown_placeholder("{name"), None);
    }
}
