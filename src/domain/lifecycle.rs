//! A ticket's life as rules on facts: which ticket a contact joins (or why it may not), what
//! joining does to the ticket, and what an operator's change does. The store loads the facts,
//! asks here, and writes down the answer.

use super::thread::Standing;
use super::user::Role;
use super::{Priority, Status, TicketNumber, Tier, TransitionError};
use serde::Serialize;
use serde_json::{Value, json};

/// Message-IDs of In-Reply-To/References looked at when threading a reply (the newest ones).
pub const MAX_THREAD_REFS: usize = 20;

/// How many merges a lookup follows from a merged ticket to the one it went into.
pub const MAX_MERGE_HOPS: usize = 5;

/// An operator's change to a ticket. Unset fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketChange {
    pub status: Option<Status>,
    pub tier: Option<Tier>,
    pub category: Option<String>,
    pub priority: Option<Priority>,
    pub note: Option<String>,
    /// The login of the user who works the ticket; `Some(None)` unassigns it.
    pub owner: Option<Option<String>>,
    /// How the inquiry was resolved; a ticket is resolved or closed only with one.
    pub resolution: Option<String>,
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
    #[error(
        "「{}」のチケットを「{}」に戻せるのは{needed}以上です / only a {needed} may move a ticket from {from} to {to}",
        .from.label_ja(),
        .to.label_ja()
    )]
    NeedsRole { from: Status, to: Status, needed: Role },
    #[error("解決内容を入力してください / a resolution is required to resolve or close")]
    ResolutionRequired,
    #[error(
        "担当者に指定できるのは有効なユーザーだけです（存在しないか無効です） / the owner is not a user or is disabled"
    )]
    UnknownOwner,
    #[error("チケットをそれ自身に統合することはできません / a ticket cannot be merged into itself")]
    MergeIntoItself,
    #[error("統合先のチケット {0} は完了しています / ticket {0} is closed and cannot take a merge")]
    MergeTargetClosed(TicketNumber),
    #[error("チケット {0} は {1} に統合済みです / ticket {0} is already merged into {1}")]
    AlreadyMerged(TicketNumber, TicketNumber),
    #[error(transparent)]
    Reply(#[from] super::reply::ReplyRefusal),
    #[error("連絡先一覧に「{0}」というグループはありません / there is no group {0} in the contact list")]
    UnknownGroup(String),
    #[error("解決・完了したチケット {0} はエスカレーションできません / ticket {0} is resolved or closed")]
    NotOpen(TicketNumber),
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
    pub owner: Option<String>,
    pub resolution: Option<String>,
    /// Set once the ticket was merged into another; it is closed for good then.
    pub merged_into: Option<TicketNumber>,
}

/// One thing an update changed, as its history entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    Status(Status, Status),
    Tier(Tier, Tier),
    Category(String, String),
    Priority(Priority, Priority),
    Owner(Option<String>, Option<String>),
    Resolution(Option<String>, String),
    Note(String),
    /// The ticket's contacts went to another ticket.
    MergedInto {
        target: TicketNumber,
        contacts: u64,
    },
    /// Another ticket's contacts came here.
    MergedFrom {
        source: TicketNumber,
        contacts: u64,
    },
}

/// One field a write changed, its value before and after: what a live event says changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub from: Value,
    pub to: Value,
}

impl Changed {
    pub fn action(&self) -> &'static str {
        match self {
            Changed::Status(..) => "status_changed",
            Changed::Tier(..) => "tier_changed",
            Changed::Category(..) => "category_changed",
            Changed::Priority(..) => "priority_changed",
            Changed::Owner(..) => "owner_changed",
            Changed::Resolution(..) => "resolution_set",
            Changed::Note(_) => "note_added",
            Changed::MergedInto { .. } => "merged_into",
            Changed::MergedFrom { .. } => "merged_from",
        }
    }

    pub fn detail(&self) -> serde_json::Value {
        match self {
            Changed::Status(from, to) => json!({"from": from, "to": to}),
            Changed::Tier(from, to) => json!({"from": from, "to": to}),
            Changed::Category(from, to) => json!({"from": from, "to": to}),
            Changed::Priority(from, to) => json!({"from": from, "to": to}),
            Changed::Owner(from, to) => json!({"from": from, "to": to}),
            Changed::Resolution(from, to) => json!({"from": from, "to": to}),
            Changed::Note(text) => json!({"text": text}),
            Changed::MergedInto { target, contacts } => json!({"ticket": target, "contacts": contacts}),
            Changed::MergedFrom { source, contacts } => json!({"ticket": source, "contacts": contacts}),
        }
    }

    /// The field this changed, before and after (a note: none before, its text after).
    pub fn field_change(&self) -> FieldChange {
        let (field, from, to) = match self {
            Changed::Status(from, to) => ("status", json!(from), json!(to)),
            Changed::Tier(from, to) => ("tier", json!(from), json!(to)),
            Changed::Category(from, to) => ("category", json!(from), json!(to)),
            Changed::Priority(from, to) => ("priority", json!(from), json!(to)),
            Changed::Owner(from, to) => ("owner", json!(from), json!(to)),
            Changed::Resolution(from, to) => ("resolution", json!(from), json!(to)),
            Changed::Note(text) => ("note", Value::Null, json!(text)),
            Changed::MergedInto { target, .. } => ("merged_into", Value::Null, json!(target)),
            Changed::MergedFrom { source, .. } => ("merged_from", Value::Null, json!(source)),
        };
        FieldChange { field, from, to }
    }
}

/// What `change`, made by someone with `role`, does to a ticket in state `now`: the new state
/// and what changed, in the order the history records it. A closed ticket takes notes only,
/// unless a supervisor reopens it; a merged one takes notes only. Raising the tier escalates
/// unless the operator sets a status too. Resolving or closing needs a resolution, on the
/// ticket already or in the same change.
pub fn apply(
    number: &TicketNumber,
    now: &TicketState,
    change: &TicketChange,
    role: Role,
) -> Result<(TicketState, Vec<Changed>), Refusal> {
    if let Some(into) = &now.merged_into
        && !change.only_note()
    {
        return Err(Refusal::AlreadyMerged(number.clone(), into.clone()));
    }
    let reopening = now.status == Status::Closed && change.status.is_some_and(|s| s != Status::Closed);
    if now.status == Status::Closed && !reopening && !change.only_note() {
        return Err(Refusal::Closed(number.clone()));
    }
    let wanted = match (change.status, change.tier) {
        (Some(s), _) => s,
        (None, Some(tier)) if tier > now.tier && now.status.can_become(Status::Escalated) => Status::Escalated,
        (None, _) => now.status,
    };
    let status = now.status.transition(wanted)?;
    let needed = now.status.move_needs(status);
    if !role.allows(needed) {
        return Err(Refusal::NeedsRole { from: now.status, to: status, needed });
    }
    let resolution = change.resolution.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let has_resolution = now.resolution.as_deref().is_some_and(|r| !r.trim().is_empty());
    if status != now.status && status.needs_resolution() && resolution.is_none() && !has_resolution {
        return Err(Refusal::ResolutionRequired);
    }
    let mut next = now.clone();
    let mut changed = Vec::new();
    if let Some(text) = resolution.filter(|r| now.resolution.as_deref() != Some(*r)) {
        changed.push(Changed::Resolution(now.resolution.clone(), text.to_owned()));
        next.resolution = Some(text.to_owned());
    }
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
    if let Some(owner) = change.owner.as_ref().filter(|o| **o != now.owner) {
        changed.push(Changed::Owner(now.owner.clone(), owner.clone()));
        next.owner = owner.clone();
    }
    if let Some(note) = change.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        changed.push(Changed::Note(note.to_owned()));
    }
    Ok((next, changed))
}

/// What merging one ticket into another does: the source's state and changes, and the target's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergePlan {
    pub source: TicketState,
    pub source_changes: Vec<Changed>,
    pub target_changes: Vec<Changed>,
}

/// Merging `source` (with `contacts` contacts) into `target`: the contacts move, the source is
/// closed with a resolution that says where they went. Not into itself, not into a closed ticket,
/// not a ticket merged already. Any operator may merge, whatever the source's status.
pub fn merge(
    (source_number, source): (&TicketNumber, &TicketState),
    (target_number, target): (&TicketNumber, &TicketState),
    contacts: u64,
) -> Result<MergePlan, Refusal> {
    if source_number == target_number {
        return Err(Refusal::MergeIntoItself);
    }
    if let Some(into) = &source.merged_into {
        return Err(Refusal::AlreadyMerged(source_number.clone(), into.clone()));
    }
    if target.status == Status::Closed {
        return Err(Refusal::MergeTargetClosed(target_number.clone()));
    }
    let resolution = format!("チケット {target_number} に統合 / merged into {target_number}");
    let mut next = source.clone();
    let mut source_changes = vec![Changed::Resolution(source.resolution.clone(), resolution.clone())];
    if source.status != Status::Closed {
        source_changes.push(Changed::Status(source.status, Status::Closed));
    }
    source_changes.push(Changed::MergedInto { target: target_number.clone(), contacts });
    (next.status, next.resolution, next.merged_into) = (Status::Closed, Some(resolution), Some(target_number.clone()));
    let target_changes = vec![Changed::MergedFrom { source: source_number.clone(), contacts }];
    Ok(MergePlan { source: next, source_changes, target_changes })
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

    fn state(status: Status) -> TicketState {
        TicketState {
            status,
            tier: Tier::HELPDESK,
            category: "general".into(),
            priority: Priority::Normal,
            owner: None,
            resolution: None,
            merged_into: None,
        }
    }

    #[test]
    fn operators_changes() {
        let number = n("20260101-0007");
        let tier2 = Tier::new(2).unwrap();
        let note = |t: &str| TicketChange { note: Some(t.into()), ..Default::default() };
        let table: Vec<(Status, TicketChange, Result<Vec<Changed>, Refusal>)> = vec![
            (New, TicketChange::default(), Ok(vec![])),
            (Closed, note("  見ました "), Ok(vec![Changed::Note("見ました".into())])),
            (Closed, note("   "), Ok(vec![])),
            (
                Closed,
                TicketChange { priority: Some(Priority::High), ..Default::default() },
                Err(Refusal::Closed(number.clone())),
            ),
            (
                Closed,
                TicketChange { owner: Some(Some("sato".into())), ..Default::default() },
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
            (
                New,
                TicketChange { owner: Some(Some("sato".into())), ..Default::default() },
                Ok(vec![Changed::Owner(None, Some("sato".into()))]),
            ),
            (New, TicketChange { owner: Some(None), ..Default::default() }, Ok(vec![])),
        ];
        for (status, change, want) in table {
            let got = apply(&number, &state(status), &change, Role::Operator);
            assert_eq!(got.as_ref().map(|(_, c)| c.clone()).map_err(Clone::clone), want, "{status} {change:?}");
            if let Ok((next, changed)) = got {
                for c in changed {
                    match c {
                        Changed::Status(_, to) => assert_eq!(next.status, to),
                        Changed::Tier(_, to) => assert_eq!(next.tier, to),
                        Changed::Category(_, to) => assert_eq!(next.category, to),
                        Changed::Priority(_, to) => assert_eq!(next.priority, to),
                        Changed::Owner(_, to) => assert_eq!(next.owner, to),
                        Changed::Resolution(_, to) => assert_eq!(next.resolution, Some(to)),
                        Changed::Note(_) | Changed::MergedInto { .. } | Changed::MergedFrom { .. } => {}
                    }
                }
            }
        }
    }

    #[test]
    fn resolving_needs_a_resolution_and_reopening_a_supervisor() {
        let number = n("20260101-0007");
        let to = |status: Status| TicketChange { status: Some(status), ..Default::default() };
        let with = |status: Status, text: &str| TicketChange {
            status: Some(status),
            resolution: Some(text.into()),
            ..Default::default()
        };
        let resolved = |status: Status| TicketState { resolution: Some("再起動で解決".into()), ..state(status) };
        let merged = TicketState { merged_into: Some(n("20260101-0009")), ..resolved(Closed) };
        let unworked = |to| Err(Refusal::Transition(TransitionError { from: New, to }));
        let reopen = |role| Err(Refusal::NeedsRole { from: Closed, to: InProgress, needed: role });
        let fixed = |from: Option<&str>, to: &str| Changed::Resolution(from.map(Into::into), to.into());
        type Case = (TicketState, TicketChange, Role, Result<Vec<Changed>, Refusal>);
        let table: Vec<Case> = vec![
            (state(InProgress), to(Resolved), Role::Operator, Err(Refusal::ResolutionRequired)),
            (state(Escalated), to(Closed), Role::Admin, Err(Refusal::ResolutionRequired)),
            (state(InProgress), with(Resolved, "   "), Role::Operator, Err(Refusal::ResolutionRequired)),
            (
                state(InProgress),
                with(Resolved, " 再起動で解決 "),
                Role::Operator,
                Ok(vec![fixed(None, "再起動で解決"), Changed::Status(InProgress, Resolved)]),
            ),
            (resolved(Resolved), to(Closed), Role::Operator, Ok(vec![Changed::Status(Resolved, Closed)])),
            (resolved(Resolved), to(Resolved), Role::Operator, Ok(vec![])),
            (state(Resolved), to(Resolved), Role::Operator, Ok(vec![])),
            (
                resolved(Resolved),
                TicketChange { resolution: Some("設定変更で解決".into()), ..Default::default() },
                Role::Operator,
                Ok(vec![fixed(Some("再起動で解決"), "設定変更で解決")]),
            ),
            (state(New), with(Resolved, "済"), Role::Admin, unworked(Resolved)),
            (state(New), with(Closed, "済"), Role::Admin, unworked(Closed)),
            (resolved(Closed), to(InProgress), Role::Operator, reopen(Role::Supervisor)),
            (resolved(Closed), to(InProgress), Role::Supervisor, Ok(vec![Changed::Status(Closed, InProgress)])),
            (resolved(Closed), to(InProgress), Role::Admin, Ok(vec![Changed::Status(Closed, InProgress)])),
            (
                resolved(Closed),
                TicketChange { owner: Some(Some("suzuki".into())), ..to(InProgress) },
                Role::Supervisor,
                Ok(vec![Changed::Status(Closed, InProgress), Changed::Owner(None, Some("suzuki".into()))]),
            ),
            (
                resolved(Closed),
                to(Escalated),
                Role::Supervisor,
                Err(Refusal::Transition(TransitionError { from: Closed, to: Escalated })),
            ),
            (
                merged.clone(),
                to(InProgress),
                Role::Admin,
                Err(Refusal::AlreadyMerged(number.clone(), n("20260101-0009"))),
            ),
            (
                merged,
                TicketChange { note: Some("確認".into()), ..Default::default() },
                Role::Operator,
                Ok(vec![Changed::Note("確認".into())]),
            ),
        ];
        for (now, change, role, want) in table {
            let got = apply(&number, &now, &change, role).map(|(_, c)| c);
            assert_eq!(got, want, "{} {change:?} as {role}", now.status);
        }
    }

    #[test]
    fn merging_closes_the_source_and_tells_both() {
        let (a, b) = (n("20260101-0001"), n("20260101-0002"));
        let merged = TicketState { merged_into: Some(b.clone()), ..state(Closed) };
        type Case<'a> = (&'a TicketNumber, TicketState, TicketState, Result<Vec<Changed>, Refusal>);
        let resolution = "チケット 20260101-0002 に統合 / merged into 20260101-0002".to_owned();
        let table: Vec<Case> = vec![
            (
                &a,
                state(New),
                state(InProgress),
                Ok(vec![
                    Changed::Resolution(None, resolution.clone()),
                    Changed::Status(New, Closed),
                    Changed::MergedInto { target: b.clone(), contacts: 3 },
                ]),
            ),
            (
                &a,
                TicketState { resolution: Some("重複".into()), ..state(Closed) },
                state(Resolved),
                Ok(vec![
                    Changed::Resolution(Some("重複".into()), resolution.clone()),
                    Changed::MergedInto { target: b.clone(), contacts: 3 },
                ]),
            ),
            (&b, state(New), state(New), Err(Refusal::MergeIntoItself)),
            (&a, state(New), state(Closed), Err(Refusal::MergeTargetClosed(b.clone()))),
            (&a, merged, state(New), Err(Refusal::AlreadyMerged(a.clone(), b.clone()))),
        ];
        for (source, s, t, want) in table {
            let got = merge((source, &s), (&b, &t), 3);
            assert_eq!(got.as_ref().map(|p| p.source_changes.clone()).map_err(Clone::clone), want, "{source} {s:?}");
            if let Ok(plan) = got {
                assert_eq!(plan.source.status, Closed);
                assert_eq!(plan.source.merged_into.as_ref(), Some(&b));
                assert_eq!(plan.source.resolution.as_deref(), Some(resolution.as_str()));
                assert_eq!(plan.target_changes, [Changed::MergedFrom { source: a.clone(), contacts: 3 }]);
            }
        }
    }

    #[test]
    fn a_reopen_refused_says_who_may_in_japanese_first() {
        let why = Refusal::NeedsRole { from: Closed, to: InProgress, needed: Role::Supervisor };
        assert_eq!(
            why.to_string(),
            "「完了」のチケットを「対応中」に戻せるのはsupervisor以上です / only a supervisor may move a ticket from closed to in_progress"
        );
    }

    #[test]
    fn every_change_names_its_field_with_before_and_after() {
        let table = [
            (Changed::Status(New, InProgress), ("status", json!("new"), json!("in_progress"))),
            (Changed::Owner(None, Some("sato".into())), ("owner", Value::Null, json!("sato"))),
            (Changed::Owner(Some("sato".into()), None), ("owner", json!("sato"), Value::Null)),
            (Changed::Resolution(None, "済".into()), ("resolution", Value::Null, json!("済"))),
            (Changed::Tier(Tier::HELPDESK, Tier::VENDOR), ("tier", json!(1), json!(3))),
            (Changed::Note("見ました".into()), ("note", Value::Null, json!("見ました"))),
            (
                Changed::MergedInto { target: n("20260101-0002"), contacts: 2 },
                ("merged_into", Value::Null, json!("20260101-0002")),
            ),
        ];
        for (changed, (field, from, to)) in table {
            assert_eq!(changed.field_change(), FieldChange { field, from, to }, "{changed:?}");
        }
        let owner = Changed::Owner(None, Some("sato".into()));
        assert_eq!((owner.action(), owner.detail()), ("owner_changed", json!({"from": null, "to": "sato"})));
    }
}
