//! What the store reads and writes.

use crate::domain::user::Role;
use crate::domain::{Channel, NewContact, Priority, Status, TicketNumber, Tier, phone, text};
pub use crate::domain::{FieldChange, Refusal, TicketChange};
use crate::routing::Decision;
use serde::Serialize;

/// A contact that routing has seen, ready to be recorded, with its attachments already stored
/// as files.
#[derive(Debug, Clone)]
pub struct RoutedContact {
    pub contact: NewContact,
    pub decision: Decision,
    pub files: Vec<StoredFile>,
    pub search: SearchText,
}

impl RoutedContact {
    /// Folds the contact's text for the search indexes here, in the submitter's task, so that
    /// the single writer spends its time only on writing.
    pub fn new(contact: NewContact, decision: Decision, files: Vec<StoredFile>) -> RoutedContact {
        let search = SearchText::of(&contact);
        RoutedContact { contact, decision, files, search }
    }
}

/// Body characters a contact adds to its ticket's search text.
const BODY_INDEXED_CHARS: usize = 4000;

/// A contact's text as the search indexes hold it: folded (NFKC, lower case), and its Japanese
/// character pairs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchText {
    pub text: String,
    pub grams: String,
}

impl SearchText {
    pub fn of(c: &NewContact) -> SearchText {
        let body_end = c.body.char_indices().nth(BODY_INDEXED_CHARS).map_or(c.body.len(), |(at, _)| at);
        let keys = [
            c.caller.email.as_deref().map(|e| e.trim().to_ascii_lowercase()),
            c.caller.number.as_deref().and_then(phone::normalize),
            c.caller.fax.as_deref().and_then(phone::normalize),
        ];
        let parts = [c.subject.as_deref(), c.caller.name.as_deref(), c.caller.organisation.as_deref()]
            .into_iter()
            .chain(keys.iter().map(Option::as_deref))
            .chain([Some(&c.body[..body_end])]);
        let joined: Vec<&str> = parts.flatten().filter(|s| !s.is_empty()).collect();
        let text = text::fold(&joined.join(" "));
        let grams = text::bigrams(&text);
        SearchText { text, grams }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub sha256: String,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// Small content goes into the database with the contact instead of a file.
    pub inline: Option<Vec<u8>>,
}

/// One write, done by the store's single writer inside a batch transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Record(Box<RoutedContact>),
    Update {
        number: TicketNumber,
        change: TicketChange,
        actor: String,
        /// The acting user's role: some moves (reopening a closed ticket) need more than an operator.
        role: Role,
    },
    /// Every contact (and attachment) of `source` moves to `target`; `source` is closed.
    Merge {
        source: TicketNumber,
        target: TicketNumber,
        actor: String,
    },
    /// Something that happened to the ticket without changing it (a call answered, a menu choice,
    /// a transfer): one history entry.
    Event {
        number: TicketNumber,
        actor: String,
        action: &'static str,
        detail: serde_json::Value,
    },
    /// An operator's e-mail to the requester: queued in the outbox and recorded in the history.
    Reply(Box<ReplyDraft>),
    /// Relays the ticket to a group of the contact list (the next tier's first when `None`):
    /// it moves to the group's tier, escalated, and the group is mailed.
    Escalate {
        number: TicketNumber,
        group: Option<String>,
        reason: String,
        actor: String,
    },
    /// Acts on an SLA clock that fell due at `now` (claimed in this batch): a warning or a breach.
    SlaFire {
        clock: i64,
        now: i64,
    },
    /// Saves answers of the ticket's interview (already checked against their template).
    Interview {
        number: TicketNumber,
        save: crate::store::InterviewSave,
        actor: String,
    },
}

/// A reply as the operator wrote it, before the store picks its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyDraft {
    pub number: TicketNumber,
    /// The operator's login (the history's actor) and display name.
    pub actor: String,
    pub actor_name: String,
    /// An address that wrote to the ticket; `None`: the last e-mail or fax contact's.
    pub to: Option<String>,
    /// What is sent: the operator's text and the signature.
    pub text: String,
    pub message_id: String,
}

/// A reply in the outbox, waiting for the notify worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReplyQueued {
    pub outbox_id: i64,
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub ticket: TicketNumber,
    pub ticket_id: i64,
    pub contact_id: i64,
    /// True when the contact opened a new ticket, false when it joined one.
    pub created: bool,
    /// True when this contact had been stored before (same Message-ID); nothing was written.
    pub duplicate: bool,
    /// True when it joined a resolved ticket and so reopened it.
    #[serde(skip)]
    pub reopened: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    Recorded(Recorded),
    Updated(TicketUpdate),
    Merged(Box<Merged>),
    Noted,
    Refused(Refusal),
    Replied(ReplyQueued),
    SlaFired(crate::store::Fired),
    /// The interview's answers that changed (none: nothing was saved).
    InterviewSaved(Vec<String>),
}

/// A ticket after a write, and what the write changed (empty when nothing did), for the answer
/// and for a live event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketUpdate {
    pub ticket: TicketSummary,
    pub changes: Vec<FieldChange>,
}

/// Both tickets of a merge after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Merged {
    pub source: TicketUpdate,
    pub target: TicketUpdate,
    /// How many contacts moved.
    pub contacts_moved: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TicketSummary {
    #[serde(skip)]
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub number: TicketNumber,
    pub subject: String,
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    pub category: String,
    #[sqlx(try_from = "String")]
    pub priority: Priority,
    #[sqlx(try_from = "i64")]
    pub tier: Tier,
    #[sqlx(try_from = "String")]
    pub status: Status,
    pub contact_count: i64,
    /// The login of the user who works the ticket; none when unassigned.
    pub owner: Option<String>,
    /// That user's display name.
    pub owner_name: Option<String>,
    /// The ticket this one was merged into.
    pub merged_into: Option<String>,
    #[serde(serialize_with = "jst")]
    pub created_at: i64,
    #[serde(serialize_with = "jst")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ContactRecord {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub channel: Channel,
    #[serde(serialize_with = "jst")]
    pub received_at: i64,
    #[serde(serialize_with = "jst")]
    pub recorded_at: i64,
    pub subject: Option<String>,
    pub body: String,
    pub caller_number: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub fax_number: Option<String>,
    pub dialed_number: Option<String>,
    pub organisation: Option<String>,
    pub menu_choices: Option<String>,
    pub source_ref: Option<String>,
    pub raw: Option<String>,
    #[sqlx(rename = "actor")]
    pub recorded_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AttachmentRecord {
    pub id: i64,
    pub contact_id: Option<i64>,
    pub sha256: String,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    #[serde(serialize_with = "jst")]
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    pub id: i64,
    #[serde(serialize_with = "jst")]
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
}

/// A contact with the first of its attachments and how many it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactView {
    #[serde(flatten)]
    pub contact: ContactRecord,
    /// At most [`DetailLimits::attachments_per_contact`]; the rest a page at a time.
    pub attachments: Vec<AttachmentRecord>,
    pub attachment_count: i64,
}

/// One page of a list, oldest first, and the cursor (`after`) for the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The last id of this page when there are more; absent on the last page.
    pub next: Option<i64>,
}

/// How much of each list a ticket's detail shows; the rest is read a page at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetailLimits {
    pub contacts: u32,
    pub attachments_per_contact: u32,
    pub attachments: u32,
    pub history: u32,
}

impl Default for DetailLimits {
    /// What `GET /api/tickets/{number}` shows.
    fn default() -> Self {
        DetailLimits { contacts: 20, attachments_per_contact: 20, attachments: 100, history: 200 }
    }
}

/// A ticket with the first page of each of its lists: bounded, however many contacts,
/// attachments and history entries it has. `*_next` is the `after` cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: TicketSummary,
    /// How the inquiry was resolved (required to resolve or close).
    pub resolution: Option<String>,
    pub contacts: Vec<ContactView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts_next: Option<String>,
    /// The ticket's first attachments (all its contacts'), oldest first.
    pub attachments: Vec<AttachmentRecord>,
    pub attachment_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments_next: Option<String>,
    pub history: Vec<HistoryEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_next: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    pub status: Vec<Status>,
    pub channel: Option<Channel>,
    pub tier: Option<Tier>,
    pub category: Option<String>,
    /// Words that must all appear (subject, bodies, names, numbers, notes).
    pub text: Option<String>,
    /// A phone/fax number or e-mail address that one of the ticket's contacts came from.
    pub caller: Option<String>,
    pub owner: Option<OwnerFilter>,
    /// Only tickets older than this cursor (a previous page's `next`).
    pub before: Option<i64>,
    pub limit: u32,
}

/// Whose tickets a list shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerFilter {
    /// The user with this login.
    User(String),
    /// Nobody's: the unassigned tickets.
    Nobody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketPage {
    pub tickets: Vec<TicketSummary>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next: Option<String>,
}

fn jst<S: serde::Serializer>(millis: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::domain::time::jst_rfc3339(*millis))
}
