//! A contact is one inbound call, mail or fax, or one an operator logs by hand. It carries the
//! caller's metadata and the raw source as received.

use super::{Channel, TicketNumber, text};

/// Who got in touch. Every field is personal data: never logged above debug.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerInfo {
    pub number: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub fax: Option<String>,
    pub organisation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentUpload {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    pub channel: Channel,
    /// Join this ticket instead of opening a new one.
    pub join: Option<TicketNumber>,
    pub subject: Option<String>,
    pub body: String,
    pub caller: CallerInfo,
    pub dialed_number: Option<String>,
    pub menu_choices: Option<String>,
    pub received_at_ms: i64,
    /// The source's own identifier: a Message-ID, a SIP Call-ID.
    pub source_ref: Option<String>,
    /// The source exactly as received (the API request body, a SIP INVITE, a mail's headers).
    pub raw: Option<String>,
    pub attachments: Vec<AttachmentUpload>,
    /// Who recorded it: `system` for automatic intake, the operator's name for a hand-logged one.
    pub actor: String,
}

pub const SUBJECT_MAX_CHARS: usize = 200;

impl NewContact {
    /// The ticket's subject: the one given, else the body's first line, else a label for the channel.
    pub fn ticket_subject(&self) -> String {
        if let Some(s) = self.subject.as_deref().and_then(|s| text::first_line(s, SUBJECT_MAX_CHARS)) {
            return s;
        }
        if let Some(s) = text::first_line(&self.body, SUBJECT_MAX_CHARS) {
            return s;
        }
        match self.channel {
            Channel::Phone => "電話でのお問い合わせ / Phone inquiry",
            Channel::Email => "メールでのお問い合わせ / E-mail inquiry",
            Channel::Fax => "FAXでのお問い合わせ / FAX inquiry",
            Channel::Manual => "窓口でのお問い合わせ / Walk-in inquiry",
        }
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(subject: Option<&str>, body: &str, channel: Channel) -> NewContact {
        NewContact {
            channel,
            join: None,
            subject: subject.map(str::to_owned),
            body: body.to_owned(),
            caller: CallerInfo::default(),
            dialed_number: None,
            menu_choices: None,
            received_at_ms: 0,
            source_ref: None,
            raw: None,
            attachments: vec![],
            actor: "system".into(),
        }
    }

    #[test]
    fn subject_falls_back_to_body_then_channel() {
        assert_eq!(contact(Some("件名"), "本文", Channel::Email).ticket_subject(), "件名");
        assert_eq!(contact(Some("  "), "\n本文一行目\n二行目", Channel::Email).ticket_subject(), "本文一行目");
        assert!(contact(None, "", Channel::Phone).ticket_subject().starts_with("電話"));
    }
}
