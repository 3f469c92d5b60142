//! The mails a group gets when a ticket is relayed to it (an escalation) or is about to breach
//! its SLA (a warning): Japanese first, then English; the ticket's essentials, the caller only as
//! far as the group needs (a vendor gets no one's name), and a link to the ticket in the console.

use super::Group;
use crate::domain::time::jst_rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why<'a> {
    /// An operator relayed it, with this reason.
    Operator { by: &'a str, reason: &'a str },
    /// Its SLA clock of this kind breached.
    Breach(crate::domain::sla::Kind),
    /// Its SLA clock of this kind breaches at `due_at`.
    Warning { kind: crate::domain::sla::Kind, due_at: i64 },
}

/// What the mail says about the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Essentials {
    pub number: String,
    pub subject: String,
    pub category: String,
    pub priority: String,
    pub tier: u8,
    pub status: String,
    pub created_at: i64,
    /// The caller's name and organisation, as first recorded.
    pub caller_name: Option<String>,
    pub organisation: Option<String>,
    /// The interview's answers (問診) as (question, answer), in the template's order; those marked
    /// personal are in only for groups below tier 3.
    pub interview: Vec<(String, String)>,
    pub interview_personal: Vec<(String, String)>,
}

/// Subject and body of the mail to `group`.
pub fn render(t: &Essentials, group: &Group, why: Why, console: &str) -> (String, String) {
    let (tag_ja, tag_en) = match why {
        Why::Warning { .. } => ("SLA期限間近", "SLA warning"),
        _ => ("エスカレーション", "Escalation"),
    };
    let subject = format!("[{tag_ja} / {tag_en}] {} [{}]", one_line(&t.subject), t.number);
    let (reason_ja, reason_en) = match why {
        Why::Operator { by, reason } => (format!("{by} による連絡: {reason}"), format!("relayed by {by}: {reason}")),
        Why::Breach(kind) => (
            format!("{}の対応目標を超過しました", kind.label_ja()),
            format!("its {} target was breached", kind.as_str().replace('_', " ")),
        ),
        Why::Warning { kind, due_at } => (
            format!("{}の対応目標 {} まで残りわずかです", kind.label_ja(), jst_rfc3339(due_at)),
            format!("its {} target falls due at {}", kind.as_str().replace('_', " "), jst_rfc3339(due_at)),
        ),
    };
    // A vendor works on the system, not with the caller: it gets no one's name.
    let caller = if group.tier.get() >= 3 {
        None
    } else {
        let parts: Vec<&str> = [t.caller_name.as_deref(), t.organisation.as_deref()].into_iter().flatten().collect();
        (!parts.is_empty()).then(|| parts.join(" / "))
    };
    let link = if console.is_empty() { String::new() } else { format!("{console}/tickets/{}", t.number) };
    let name_en = if group.name_en.is_empty() { &group.name } else { &group.name_en };
    let mut ja =
        format!("{} 各位\n\nヘルプデスクより、次のチケットについてご連絡します。\n理由: {reason_ja}\n\n", group.name);
    let mut en = format!("To {name_en},\n\nThe helpdesk relays this ticket to you: {reason_en}.\n\n");
    let tier = format!("{}", t.tier);
    let received = jst_rfc3339(t.created_at);
    let subject_line = one_line(&t.subject);
    let fields = [
        ("チケット番号", "Ticket", Some(t.number.as_str())),
        ("件名", "Subject", Some(subject_line.as_str())),
        ("分類", "Category", Some(t.category.as_str())),
        ("優先度", "Priority", Some(t.priority.as_str())),
        ("段階", "Tier", Some(tier.as_str())),
        ("状態", "Status", Some(t.status.as_str())),
        ("受付", "Received", Some(received.as_str())),
        ("連絡者", "Reported by", caller.as_deref()),
        ("詳細", "Details", (!link.is_empty()).then_some(link.as_str())),
    ];
    for (label_ja, label_en, value) in fields {
        if let Some(value) = value {
            ja.push_str(&format!("{label_ja}: {value}\n"));
            en.push_str(&format!("{label_en}: {value}\n"));
        }
    }
    let answers = if group.tier.get() >= 3 { &t.interview } else { &t.interview_personal };
    if !answers.is_empty() {
        ja.push_str("\n問診:\n");
        en.push_str("\nInterview (in Japanese):\n");
        for (question, answer) in answers {
            let line = format!("  {}: {}\n", one_line(question), one_line(answer));
            ja.push_str(&line);
            en.push_str(&line);
        }
    }
    (subject, format!("{ja}\n----\n{en}\n-- \nmadoguchi ヘルプデスク\n"))
}

fn one_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::ContactList;

    fn essentials() -> Essentials {
        Essentials {
            number: "20261120-0007".into(),
            subject: "メールが送れない\r\nBcc: x@evil".into(),
            category: "fault_report".into(),
            priority: "high".into(),
            interview: vec![("画面ID".into(), "A-12".into())],
            interview_personal: vec![("画面ID".into(), "A-12".into()), ("氏名".into(), "山田 太郎".into())],
            tier: 2,
            status: "escalated".into(),
            created_at: 1_795_132_800_000,
            caller_name: Some("山田 太郎".into()),
            organisation: Some("労災保険業務課".into()),
        }
    }

    #[test]
    fn japanese_first_with_the_essentials_and_a_link() {
        let contacts = ContactList::builtin();
        let ops = contacts.group("operations").unwrap();
        let why = Why::Breach(crate::domain::sla::Kind::FirstResponse);
        let (subject, body) = render(&essentials(), ops, why, "https://helpdesk.example.go.jp");
        assert_eq!(subject, "[エスカレーション / Escalation] メールが送れない  Bcc: x@evil [20261120-0007]");
        assert!(body.starts_with("運用担当 各位"), "{body}");
        assert!(body.find("初回応答の対応目標を超過しました").unwrap() < body.find("first response target").unwrap());
        assert!(body.contains("連絡者: 山田 太郎 / 労災保険業務課"), "{body}");
        assert!(body.contains("https://helpdesk.example.go.jp/tickets/20261120-0007"), "{body}");
        assert!(body.contains("問診:\n  画面ID: A-12\n  氏名: 山田 太郎\n"), "the interview: {body}");
    }

    #[test]
    fn a_vendor_gets_no_callers_name() {
        let contacts = ContactList::builtin();
        let vendor = contacts.group("application-vendor").unwrap();
        let why = Why::Operator { by: "sato", reason: "画面 A-12 でエラー" };
        let (_, body) = render(&essentials(), vendor, why, "");
        assert!(!body.contains("山田") && !body.contains("労災"), "{body}");
        assert!(body.contains("sato による連絡: 画面 A-12 でエラー"), "{body}");
        assert!(!body.contains("詳細:"), "no link without a console address: {body}");
        assert!(body.contains("  画面ID: A-12\n"), "the fault's answers: {body}");
    }
}
