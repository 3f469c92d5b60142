//! The satisfaction survey (ユーザ満足度調査): whom a resolved ticket's survey goes to, what an
//! answer may be, where a survey stands, and the mail. Pure: the store finds the facts, the
//! public page shows the outcome.
//!
//! A survey is asked once per ticket, when it is first resolved, of the requester: the first
//! contact of the ticket that gave an e-mail address (a FAX gateway's address is a machine's),
//! unless that contact was automatic mail (auto-reply, bounce, bulk, list) or the address is one
//! nobody reads (`noreply@…`, `mailer-daemon@…`), or the ticket's category is excluded.

use super::time::to_jst;

/// The lowest and highest rating.
pub const RATING_MIN: i64 = 1;
pub const RATING_MAX: i64 = 5;
/// Ratings reported as low (1–2), with their ticket numbers.
pub const LOW_RATING_MAX: i64 = 2;
/// A survey link's token: 256 random bits as lower-case hex.
pub const TOKEN_HEX_LEN: usize = 64;
/// The history's actor for entries the service makes, and for the requester's answer.
pub const SYSTEM_ACTOR: &str = "system";
pub const REQUESTER_ACTOR: &str = "requester";

/// Why a resolved ticket's requester is not asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAsked {
    /// No contact of the ticket gave an e-mail address.
    NoAddress,
    /// The requester's contact was automatic mail (auto-reply, bounce, bulk, list).
    Automatic,
    /// The address is one nobody reads (no-reply, mailer-daemon, postmaster, bounces).
    NoReply,
    /// `[survey] exclude_categories` names the ticket's category.
    ExcludedCategory,
    /// `[http] public_url` is not set, so there is no link to send.
    NoPublicUrl,
}

impl NotAsked {
    /// For the ticket's history.
    pub fn reason(self) -> &'static str {
        match self {
            NotAsked::NoAddress => "no_address",
            NotAsked::Automatic => "automatic_mail",
            NotAsked::NoReply => "no_reply_address",
            NotAsked::ExcludedCategory => "excluded_category",
            NotAsked::NoPublicUrl => "no_public_url",
        }
    }
}

/// The requester as the ticket's contacts tell: the address its first addressed contact gave,
/// and whether that contact was automatic mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester<'a> {
    pub email: &'a str,
    pub automatic: bool,
}

/// What the survey's decision looks at besides the requester.
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    pub category: &'a str,
    pub excluded: &'a [String],
    pub public_url: &'a str,
}

/// The address to ask, or why nobody is asked.
pub fn recipient<'a>(requester: Option<Requester<'a>>, asking: Asking<'_>) -> Result<&'a str, NotAsked> {
    let Some(requester) = requester else { return Err(NotAsked::NoAddress) };
    let email = requester.email.trim();
    if !is_address(email) {
        return Err(NotAsked::NoAddress);
    }
    if asking.excluded.iter().any(|c| c.trim() == asking.category) {
        return Err(NotAsked::ExcludedCategory);
    }
    if requester.automatic {
        return Err(NotAsked::Automatic);
    }
    if is_no_reply(email) {
        return Err(NotAsked::NoReply);
    }
    if asking.public_url.trim().is_empty() {
        return Err(NotAsked::NoPublicUrl);
    }
    Ok(email)
}

/// `local@domain.tld`, on one line, nothing around it.
fn is_address(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

/// Whether nobody reads mail to `email`: its local part (without a `+tag`, ignoring case, `-`,
/// `_` and `.`) is, or starts as, a no-reply, daemon or bounce address.
pub fn is_no_reply(email: &str) -> bool {
    let local = email.trim().rsplit_once('@').map_or(email, |(local, _)| local);
    let local = local.split('+').next().unwrap_or_default();
    let squashed: String =
        local.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    const EXACT: [&str; 3] = ["postmaster", "nobody", "daemon"];
    const PREFIXES: [&str; 6] = ["noreply", "donotreply", "dontreply", "mailerdaemon", "bounce", "autoreply"];
    EXACT.contains(&squashed.as_str()) || PREFIXES.iter().any(|p| squashed.starts_with(p))
}

/// Whether `token` has the shape of a survey link's token (anything else is not looked up).
pub fn is_token(token: &str) -> bool {
    token.len() == TOKEN_HEX_LEN && token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where a survey stands at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Open,
    Answered,
    Expired,
}

/// An answered survey stays answered; an unanswered one is open until it expires.
pub fn standing(answered_at: Option<i64>, expires_at: i64, now: i64) -> Standing {
    match answered_at {
        Some(_) => Standing::Answered,
        None if now >= expires_at => Standing::Expired,
        None => Standing::Open,
    }
}

/// A checked answer: a rating 1–5 and an optional comment (trimmed; empty is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rating: i64,
    pub comment: Option<String>,
}

/// Why an answer is refused (nothing is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AnswerRefusal {
    #[error("満足度を選んでください / choose a rating")]
    RatingMissing,
    #[error("満足度は 1 から 5 で選んでください / the rating must be a whole number from 1 to 5")]
    RatingOutOfRange,
    #[error("ご意見は {max} 文字までです（{given} 文字） / comments may be at most {max} characters ({given} given)")]
    CommentTooLong { max: usize, given: usize },
}

/// The answer from the form's fields, or why it is refused.
pub fn answer(rating: Option<&str>, comment: Option<&str>, max_comment_chars: usize) -> Result<Answer, AnswerRefusal> {
    let rating = rating.map(str::trim).filter(|r| !r.is_empty()).ok_or(AnswerRefusal::RatingMissing)?;
    let rating = rating
        .parse::<i64>()
        .ok()
        .filter(|r| (RATING_MIN..=RATING_MAX).contains(r))
        .ok_or(AnswerRefusal::RatingOutOfRange)?;
    let comment = comment.map(clean_comment).filter(|c| !c.is_empty());
    if let Some(c) = &comment {
        let given = c.chars().count();
        if given > max_comment_chars {
            return Err(AnswerRefusal::CommentTooLong { max: max_comment_chars, given });
        }
    }
    Ok(Answer { rating, comment })
}

/// The comment as stored: line ends as `\n`, no control characters but line ends and tabs
/// (PostgreSQL refuses NUL), trimmed.
fn clean_comment(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let kept: String = text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect();
    kept.trim().to_owned()
}

/// What the survey mail says of its ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailFacts<'a> {
    pub number: &'a str,
    /// The ticket's subject as received; repeated without links (see [`super::ack::safe_subject`]).
    pub subject: &'a str,
    /// `{public_url}/survey/{token}`.
    pub link: &'a str,
    pub expires_at: i64,
}

/// The survey mail's subject and body: Japanese first, then English; the ticket's number and
/// subject and the link, nothing else about the requester.
pub fn mail(f: &MailFacts<'_>) -> (String, String) {
    let subject = super::ack::safe_subject(f.subject);
    let subject = if subject.is_empty() { "(件名なし / no subject)".to_owned() } else { subject };
    let until = to_jst(f.expires_at);
    let until_ja = until.format("%Y年%-m月%-d日 %H:%M").to_string();
    let until_en = until.format("%-d %B %Y, %H:%M").to_string();
    let number = f.number;
    let link = f.link;
    let mail_subject = format!("【満足度調査】受付番号 {number} / Satisfaction survey: ticket {number}");
    let body = format!(
        "ヘルプデスクをご利用いただき、ありがとうございました。\n\
         お問い合わせ（受付番号 {number}「{subject}」）は解決済みとなりました。\n\
         \n\
         今後の対応の改善のため、今回の対応への満足度を 5 段階でお聞かせください（1 分ほどで終わります）。\n\
         次のページから {until_ja}（日本時間）まで、一度だけご回答いただけます。\n\
         \n\
         {link}\n\
         \n\
         このメールはシステムから自動で送信しています。\n\
         \n\
         ----\n\
         Thank you for contacting the helpdesk. Your inquiry (ticket {number}, \"{subject}\") has been resolved.\n\
         \n\
         To help us improve, please rate how it was handled on a scale of 1 to 5 (it takes about a minute).\n\
         The page below takes one answer, until {until_en} (JST).\n\
         \n\
         {link}\n\
         \n\
         This message was sent automatically.\n"
    );
    (mail_subject, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking<'a>(category: &'a str, excluded: &'a [String]) -> Asking<'a> {
        Asking { category, excluded, public_url: "https://helpdesk.example.go.jp" }
    }

    #[test]
    fn the_requester_is_asked_unless_a_machine_or_an_excluded_category() {
        let excluded = vec!["security_incident".to_owned()];
        let person = |email| Some(Requester { email, automatic: false });
        let table: [(Option<Requester>, &str, Result<&str, NotAsked>); 12] = [
            (person("sato@example.go.jp"), "account_unlock", Ok("sato@example.go.jp")),
            (person(" sato@example.go.jp "), "account_unlock", Ok("sato@example.go.jp")),
            (person("sato@example.go.jp"), "security_incident", Err(NotAsked::ExcludedCategory)),
            (None, "account_unlock", Err(NotAsked::NoAddress)),
            (None, "security_incident", Err(NotAsked::NoAddress)),
            (person("not an address"), "account_unlock", Err(NotAsked::NoAddress)),
            (person("sato@localhost"), "account_unlock", Err(NotAsked::NoAddress)),
            (Some(Requester { email: "sato@example.go.jp", automatic: true }), "how_to", Err(NotAsked::Automatic)),
            (person("noreply@example.go.jp"), "how_to", Err(NotAsked::NoReply)),
            (person("No-Reply+jobs@example.go.jp"), "how_to", Err(NotAsked::NoReply)),
            (person("MAILER-DAEMON@example.go.jp"), "how_to", Err(NotAsked::NoReply)),
            (person("do_not_reply@example.go.jp"), "how_to", Err(NotAsked::NoReply)),
        ];
        for (requester, category, want) in table {
            assert_eq!(recipient(requester, asking(category, &excluded)), want, "{requester:?} {category}");
        }
        let no_url = Asking { public_url: "", ..asking("how_to", &excluded) };
        assert_eq!(recipient(person("sato@example.go.jp"), no_url), Err(NotAsked::NoPublicUrl));
        assert_eq!(recipient(person("sato@example.go.jp"), asking("security_incident", &[])), Ok("sato@example.go.jp"));
    }

    #[test]
    fn no_reply_addresses_are_recognised_and_people_are_not() {
        for machine in [
            "noreply@x.jp",
            "no.reply@x.jp",
            "noreply-billing@x.jp",
            "donotreply@x.jp",
            "do-not-reply@x.jp",
            "postmaster@x.jp",
            "bounce-77@mail.x.jp",
            "bounces+abc@x.jp",
            "nobody@x.jp",
        ] {
            assert!(is_no_reply(machine), "{machine}");
        }
        for person in ["sato@x.jp", "norio@x.jp", "replyteam@x.jp", "postmaster.sato@x.jp", "daemonette@x.jp"] {
            assert!(!is_no_reply(person), "{person}");
        }
    }

    #[test]
    fn an_answer_is_a_rating_from_one_to_five_and_a_comment_within_the_limit() {
        assert_eq!(
            answer(Some("4"), Some("  早い対応でした\r\n"), 10),
            Ok(Answer { rating: 4, comment: Some("早い対応でした".into()) })
        );
        assert_eq!(answer(Some(" 1 "), Some("   "), 10), Ok(Answer { rating: 1, comment: None }));
        assert_eq!(answer(Some("5"), None, 10), Ok(Answer { rating: 5, comment: None }));
        for bad in ["0", "6", "x", "4.5", "-1", "99999999999999999999"] {
            assert_eq!(answer(Some(bad), None, 10), Err(AnswerRefusal::RatingOutOfRange), "{bad}");
        }
        assert_eq!(answer(None, Some("a"), 10), Err(AnswerRefusal::RatingMissing));
        assert_eq!(answer(Some(""), None, 10), Err(AnswerRefusal::RatingMissing));
        // Ten characters (not bytes) are allowed; eleven are not.
        assert!(answer(Some("3"), Some("あいうえおかきくけこ"), 10).is_ok());
        assert_eq!(
            answer(Some("3"), Some("あいうえおかきくけこさ"), 10),
            Err(AnswerRefusal::CommentTooLong { max: 10, given: 11 })
        );
        assert_eq!(answer(Some("2"), Some("a\0b\r\nc"), 10).unwrap().comment.as_deref(), Some("ab\nc"));
    }

    #[test]
    fn a_survey_is_open_until_it_expires_or_is_answered() {
        assert_eq!(standing(None, 100, 99), Standing::Open);
        assert_eq!(standing(None, 100, 100), Standing::Expired);
        assert_eq!(standing(Some(50), 100, 200), Standing::Answered);
        assert!(is_token(&"0123456789abcdef".repeat(4)));
        assert!(!is_token(&"0123456789ABCDEF".repeat(4)) && !is_token("abc") && !is_token(&"g".repeat(64)));
    }

    #[test]
    fn the_mail_speaks_japanese_first_and_carries_only_the_ticket_and_the_link() {
        let link = format!("https://helpdesk.example.go.jp/survey/{}", "a".repeat(64));
        let facts = MailFacts {
            number: "20261121-0007",
            subject: "VPNにつながらない http://evil.example/x",
            link: &link,
            expires_at: 1_795_000_000_000,
        };
        let (subject, body) = mail(&facts);
        assert_eq!(subject, "【満足度調査】受付番号 20261121-0007 / Satisfaction survey: ticket 20261121-0007");
        let ja = body.find("受付番号 20261121-0007").unwrap();
        let en = body.find("ticket 20261121-0007").unwrap();
        assert!(ja < en, "{body}");
        assert_eq!(body.matches(link.as_str()).count(), 2, "{body}");
        assert!(body.contains("VPNにつながらない [リンク省略 / link removed]") && !body.contains("evil"), "{body}");
        assert!(body.contains("2026年11月18日") && body.contains("18 November 2026"), "{body}");
    }
}
