//! A ticket's life as rules on facts: which ticket a contact joins (or why it may not), what
//! joining does to the ticket, and what an operator's change does. The store loads the facts,
//! asks here, and writes down the answer.

use super::thread::Standing;
use super::{Priority, Status, TicketNumber, Tier, TransitionError};
use serde_json::json;

/// Message-IDs of In-Reply-To/References looked at when threading a reply (the newest ones).
pub const MAX_THREAD_REFS: usize = 20;

/// An operator's change to a ticket. Unset fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketChange {
    pub status: Option<Status>,
    pub tier: Option<Tier>,
    pub category: Option<String>,
    pub priority: Option<Priority>,
    pub note: Option<String>,
}

impl TicketChange {
    pub fn is_empty(&self) -> bool {
        *self == TicketChange::default()
    }

    fn only_note(&self) -> bool {
        TicketChange { note: self.note.clone(), ..Default::default() } == *self
    }
}

/// Why one write of a batch was refused; the rest of the batch goes ahead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("ticket {0} does not exist")]
    NoSuchTicket(TicketNumber),
    #[error("ticket {0} is closed; log a new contact to open a new ticket")]
    Closed(TicketNumber),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Reply(#[from] super::reply::ReplyRefusal),
}

/// Where to look for the ticket a contact belongs to, in order; the first that finds a ticket
/// decides, even when that ticket then may not be joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The contact names its ticket (the API's `join`, a call's own ticket): nothing else counts.
    Named(TicketNumber),
    /// A contact or acknowledgement with one of these Message-IDs (newest first).
    MessageIds(Vec<String>),
    /// A ticket number written in the subject.
    SubjectNumber(TicketNumber),
}

pub fn lookups(join: Option<&TicketNumber>, thread_refs: &[String], subject: Option<&TicketNumber>) -> Vec<Lookup> {
    if let Some(number) = join {
        return vec![Lookup::Named(number.clone())];
    }
    let mut order = Vec::new();
    if !thread_refs.is_empty() {
        order.push(Lookup::MessageIds(thread_refs.iter().rev().take(MAX_THREAD_REFS).cloned().collect()));
    }
    if let Some(number) = subject {
        order.push(Lookup::SubjectNumber(number.clone()));
    }
    order
}

/// A ticket as found by a [`Lookup`]; `T` is the store's handle for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<T> {
    pub ticket: T,
    pub number: TicketNumber,
    pub status: Status,
}

/// What the lookups found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Referred<T> {
    /// Named by the contact, `None` when no such ticket exists.
    Named(TicketNumber, Option<Found<T>>),
    /// Threaded by Message-ID or subject number, with how the sender stands to it.
    Threaded(Found<T>, Standing),
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement<T> {
    Join {
        ticket: T,
        number: TicketNumber,
        /// The status the ticket moves to, when joining changes it.
        reopen: Option<StatusMove>,
    },
    /// A new ticket, naming one the contact referred to but may not join.
    Open {
        mentions: Option<TicketNumber>,
    },
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusMove {
    pub from: Status,
    pub to: Status,
}

/// Which ticket a contact goes to. A named ticket must exist and be open to more contacts; a
/// reply to a closed ticket opens a new one; a stranger's reply opens a new one that mentions it.
pub fn place<T>(referred: Referred<T>) -> Placement<T> {
    let join =
        |found: Found<T>| Placement::Join { reopen: on_join(found.status), ticket: found.ticket, number: found.number };
    match referred {
        Referred::Named(number, None) => Placement::Refused(Refusal::NoSuchTicket(number)),
        Referred::Named(number, Some(found)) if found.status == Status::Closed => {
            Placement::Refused(Refusal::Closed(number))
        }
        Referred::Named(_, Some(found)) => join(found),
        Referred::Threaded(found, _) if found.status == Status::Closed => Placement::Open { mentions: None },
        Referred::Threaded(found, standing) if standing.may_join() => join(found),
        Referred::Threaded(found, _) => Placement::Open { mentions: Some(found.number) },
        Referred::Nothing => Placement::Open { mentions: None },
    }
}

/// A new contact reopens a resolved ticket.
pub fn on_join(status: Status) -> Option<StatusMove> {
    (status == Status::Resolved).then_some(StatusMove { from: status, to: Status::InProgress })
}

/// The fields of a ticket an operator changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketState {
    pub status: Status,
    pub tier: Tier,
    pub category: String,
    pub priority: Priority,
}

/// One thing an update changed, as its history entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Status(Status, Status),
    Tier(Tier, Tier),
    Category(String, String),
    Priority(Priority, Priority),
    Note(String),
}

impl Changed {
    pub fn action(&self) -> &'static str {
        match self {
            Changed::Status(..) => "status_changed",
            Changed::Tier(..) => "tier_changed",
            Changed::Category(..) => "category_changed",
            Changed::Priority(..) => "priority_changed",
            Changed::Note(_) => "note_added",
        }
    }

    pub fn detail(&self) -> serde_json::Value {
        match self {
            Changed::Status(from, to) => json!({"from": from, "to": to}),
            Changed::Tier(from, to) => json!({"from": from, "to": to}),
            Changed::Category(from, to) => json!({"from": from, "to": to}),
            Changed::Priority(from, to) => json!({"from": from, "to": to}),
            Changed::Note(text) => json!({"text": text}),
        }
    }
}

/// What `change` does to a ticket in state `now`: the new state and what changed, in the order
/// the history records it. A closed ticket takes notes only; raising the tier escalates unless
/// the operator sets a status too.
pub fn apply(
    number: &TicketNumber,
    now: &TicketState,
    change: &TicketChange,
) -> Result<(TicketState, Vec<Changed>), Refusal> {
    if now.status == Status::Closed && !change.only_note() {
        return Err(Refusal::Closed(number.clone()));
    }
    let wanted = match (change.status, change.tier) {
        (Some(s), _) => s,
        (None, Some(tier)) if tier > now.tier && now.status.can_become(Status::Escalated) => Status::Escalated,
        (None, _) => now.status,
    };
    let status = now.status.transition(wanted)?;
    let mut next = now.clone();
    let mut changed = Vec::new();
    if status != now.status {
        changed.push(Changed::Status(now.status, status));
        next.status = status;
    }
    if let Some(tier) = change.tier.filter(|t| *t != now.tier) {
        changed.push(Changed::Tier(now.tier, tier));
        next.tier = tier;
    }
    if let Some(category) = change.category.as_ref().filter(|c| **c != now.category) {
        changed.push(Changed::Category(now.category.clone(), category.clone()));
        next.category = category.clone();
    }
    if let Some(priority) = change.priority.filter(|p| *p != now.priority) {
        changed.push(Changed::Priority(now.priority, priority));
        next.priority = priority;
    }
    if let Some(note) = change.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        changed.push(Changed::Note(note.to_owned()));
    }
    Ok((next, changed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    fn n(s: &str) -> TicketNumber {
        s.parse().unwrap()
    }

    fn found(status: Status) -> Found<i64> {
        Found { ticket: 7, number: n("20260101-0007"), status }
    }

    #[test]
    fn lookups_follow_precedence() {
        let refs: Vec<String> = (0..25).map(|i| format!("<{i}@x>")).collect();
        let newest: Vec<String> = (5..25).rev().map(|i| format!("<{i}@x>")).collect();
        let (a, b) = (n("20260101-0001"), n("20260101-0002"));
        type Case<'a> = (Option<&'a TicketNumber>, &'a [String], Option<&'a TicketNumber>, Vec<Lookup>);
        let table: [Case; 6] = [
            (Some(&a), &refs, Some(&b), vec![Lookup::Named(a.clone())]),
            (None, &refs, Some(&b), vec![Lookup::MessageIds(newest.clone()), Lookup::SubjectNumber(b.clone())]),
            (None, &refs[..1], None, vec![Lookup::MessageIds(vec!["<0@x>".into()])]),
            (None, &[], Some(&b), vec![Lookup::SubjectNumber(b.clone())]),
            (None, &[], None, vec![]),
            (Some(&a), &[], None, vec![Lookup::Named(a.clone())]),
        ];
        for (join, refs, subject, want) in table {
            assert_eq!(lookups(join, refs, subject), want, "{join:?} {refs:?} {subject:?}");
        }
    }

    #[test]
    fn placement_of_a_contact() {
        let number = n("20260101-0007");
        let joins = |reopen| Placement::Join { ticket: 7, number: number.clone(), reopen };
        let reopened = Some(StatusMove { from: Resolved, to: InProgress });
        let table: Vec<(Referred<i64>, Placement<i64>)> = vec![
            (Referred::Nothing, Placement::Open { mentions: None }),
            (Referred::Named(number.clone(), None), Placement::Refused(Refusal::NoSuchTicket(number.clone()))),
            (Referred::Named(number.clone(), Some(found(Closed))), Placement::Refused(Refusal::Closed(number.clone()))),
            (Referred::Named(number.clone(), Some(found(New))), joins(None)),
            (Referred::Named(number.clone(), Some(found(Resolved))), joins(reopened)),
            (Referred::Threaded(found(InProgress), Standing::Participant), joins(None)),
            (Referred::Threaded(found(Resolved), Standing::TrustedDomain), joins(reopened)),
            (
                Referred::Threaded(found(Escalated), Standing::Stranger),
                Placement::Open { mentions: Some(number.clone()) },
            ),
            (Referred::Threaded(found(Closed), Standing::Participant), Placement::Open { mentions: None }),
            (Referred::Threaded(found(Closed), Standing::Stranger), Placement::Open { mentions: None }),
        ];
        for (referred, want) in table {
            assert_eq!(place(referred.clone()), want, "{referred:?}");
        }
    }

    #[test]
    fn only_a_resolved_ticket_is_reopened_by_a_contact() {
        for status in Status::ALL.iter().copied() {
            let want = (status == Resolved).then_some(StatusMove { from: Resolved, to: InProgress });
            assert_eq!(on_join(status), want, "{status}");
        }
    }

    #[test]
    fn operators_changes() {
        let number = n("20260101-0007");
        let state = |status| TicketState {
            status,
            tier: Tier::HELPDESK,
            category: "general".into(),
            priority: Priority::Normal,
        };
        let tier2 = Tier::new(2).unwrap();
        let note = |t: &str| TicketChange { note: Some(t.into()), ..Default::default() };
        let table: Vec<(Status, TicketChange, Result<Vec<Changed>, Refusal>)> = vec![
            (New, TicketChange::default(), Ok(vec![])),
            (Closed, note("  見ました "), Ok(vec![Changed::Note("見ました".into())])),
            (Closed, note("   "), Ok(vec![])),
            (
                Closed,
                TicketChange { status: Some(InProgress), ..Default::default() },
                Err(Refusal::Closed(number.clone())),
            ),
            (
                Closed,
                TicketChange { priority: Some(Priority::High), ..Default::default() },
                Err(Refusal::Closed(number.clone())),
            ),
            (
                InProgress,
                TicketChange { tier: Some(tier2), ..Default::default() },
                Ok(vec![Changed::Status(InProgress, Escalated), Changed::Tier(Tier::HELPDESK, tier2)]),
            ),
            (
                InProgress,
                TicketChange { tier: Some(tier2), status: Some(InProgress), ..Default::default() },
                Ok(vec![Changed::Tier(Tier::HELPDESK, tier2)]),
            ),
            (
                Resolved,
                TicketChange { tier: Some(tier2), ..Default::default() },
                Ok(vec![Changed::Tier(Tier::HELPDESK, tier2)]),
            ),
            (
                InProgress,
                TicketChange { status: Some(New), ..Default::default() },
                Err(Refusal::Transition(TransitionError { from: InProgress, to: New })),
            ),
            (
                New,
                TicketChange {
                    category: Some("vpn".into()),
                    priority: Some(Priority::Urgent),
                    note: Some("至急".into()),
                    ..Default::default()
                },
                Ok(vec![
                    Changed::Category("general".into(), "vpn".into()),
                    Changed::Priority(Priority::Normal, Priority::Urgent),
                    Changed::Note("至急".into()),
                ]),
            ),
            (New, TicketChange { category: Some("general".into()), ..Default::default() }, Ok(vec![])),
        ];
        for (status, change, want) in table {
            let got = apply(&number, &state(status), &change);
            assert_eq!(got.as_ref().map(|(_, c)| c.clone()).map_err(Clone::clone), want, "{status} {change:?}");
            if let Ok((next, changed)) = got {
                for c in changed {
                    match c {
                        Changed::Status(_, to) => assert_eq!(next.status, to),
                        Changed::Tier(_, to) => assert_eq!(next.tier, to),
                        Changed::Category(_, to) => assert_eq!(next.category, to),
                        Changed::Priority(_, to) => assert_eq!(next.priority, to),
                        Changed::Note(_) => {}
                    }
                }
            }
        }
    }
}
