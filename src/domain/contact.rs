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

/// An acknowledgement to send once the contact is stored (never for auto-replies, bounces or
/// bulk mail; rate-limited per address by the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRequest {
    pub to: String,
    /// The Message-ID being answered.
    pub in_reply_to: Option<String>,
    pub subject: String,
    /// Our Message-ID for the acknowledgement, so a reply to it threads onto the ticket.
    pub message_id: String,
    pub limits: AckLimits,
}

/// How many acknowledgements may be queued: to one address per hour, to everyone per minute and
/// per hour. Beyond them the acknowledgement is withheld and the history says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckLimits {
    pub per_address_hour: u32,
    pub global_minute: u32,
    pub global_hour: u32,
}

/// `text` without NUL characters.
pub fn without_nul(text: &mut String) {
    if text.contains('\0') {
        text.retain(|c| c != '\0');
    }
}

fn json_without_nul(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => without_nul(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(json_without_nul),
        serde_json::Value::Object(map) => {
            let keys: Vec<String> = map.keys().filter(|k| k.contains('\0')).cloned().collect();
            for key in keys {
                if let Some(v) = map.remove(&key) {
                    let mut clean = key;
                    without_nul(&mut clean);
                    map.insert(clean, v);
                }
            }
            map.values_mut().for_each(json_without_nul);
        }
        _ => {}
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// Message-IDs this contact answers (In-Reply-To, References): a contact or acknowledgement
    /// with one of them puts this contact on that ticket.
    pub thread_refs: Vec<String>,
    /// A ticket number found in the subject: joined if it exists and is not closed.
    pub subject_ticket: Option<TicketNumber>,
    /// The sender's domain is trusted to join any ticket it refers to (`[mail] trusted_domains`);
    /// otherwise only a participant's mail joins (see [`crate::domain::thread`]).
    pub thread_trusted: bool,
    /// A contact whose `source_ref` was seen before is not stored again (a repeated Message-ID).
    pub dedupe_source: bool,
    pub acknowledge: Option<AckRequest>,
    /// Why no acknowledgement is sent (auto-reply, bounce, bulk), recorded in the history.
    pub ack_skip_reason: Option<String>,
    /// What the intake read besides the caller (a fax's pages and receive time, a mail that
    /// could not be fully parsed), recorded in the history.
    pub details: Option<serde_json::Value>,
}

pub const SUBJECT_MAX_CHARS: usize = 200;

impl NewContact {
    /// Takes out what no store can hold: NUL (PostgreSQL text refuses it, and one such
    /// contact would fail the batch it is written in). Everything else is kept as received.
    pub fn remove_nul(&mut self) {
        let optional = [
            &mut self.subject,
            &mut self.caller.number,
            &mut self.caller.name,
            &mut self.caller.email,
            &mut self.caller.fax,
            &mut self.caller.organisation,
            &mut self.dialed_number,
            &mut self.menu_choices,
            &mut self.source_ref,
            &mut self.raw,
            &mut self.ack_skip_reason,
        ];
        for field in optional.into_iter().flatten() {
            without_nul(field);
        }
        without_nul(&mut self.body);
        without_nul(&mut self.actor);
        self.thread_refs.iter_mut().for_each(without_nul);
        self.attachments.iter_mut().for_each(|a| {
            without_nul(&mut a.filename);
            without_nul(&mut a.content_type);
        });
        if let Some(ack) = &mut self.acknowledge {
            without_nul(&mut ack.to);
            without_nul(&mut ack.subject);
            if let Some(id) = &mut ack.in_reply_to {
                without_nul(id);
            }
        }
        if let Some(details) = &mut self.details {
            json_without_nul(details);
        }
    }

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
            subject: subject.map(str::to_owned),
            body: body.to_owned(),
            actor: "system".into(),
            ..Default::default()
        }
    }

    #[test]
    fn subject_falls_back_to_body_then_channel() {
        assert_eq!(contact(Some("件名"), "本文", Channel::Email).ticket_subject(), "件名");
        assert_eq!(contact(Some("  "), "\n本文一行目\n二行目", Channel::Email).ticket_subject(), "本文一行目");
        assert!(contact(None, "", Channel::Phone).ticket_subject().starts_with("電話"));
    }
}
