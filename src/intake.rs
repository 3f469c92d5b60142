//! The one way contacts and ticket changes get into the store. Calls, mails and hand-logged
//! contacts are routed here, their attachments written as files, and then handed to a single
//! writer task that owns all writes: it takes whatever is waiting (up to `batch_max`) and
//! commits it in one transaction, so one fsync covers many contacts. A caller is answered only
//! after its write is committed.

use crate::domain::user::Role;
use crate::domain::{AttachmentUpload, NewContact, TicketNumber};
use crate::events::{Events, Kind};
use crate::routing::{Decision, Rules};
use crate::store::{
    AttachmentFiles, FieldChange, FileError, Merged, Recorded, Refusal, ReplyDraft, ReplyQueued, RoutedContact, Store,
    StoredFile, TicketChange, TicketUpdate, WriteOp, WriteOutcome, sha256_hex,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::{mpsc, oneshot};
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("too many contacts are waiting to be stored; try again shortly")]
    Busy,
    #[error("the service is shutting down")]
    Stopped,
    #[error(transparent)]
    File(#[from] FileError),
    #[error("could not store: {0}")]
    Store(String),
}

/// Attachments up to this size are stored in the database with their contact (one commit, no
/// file to create and sync); larger ones become files (on SQLite).
pub use crate::store::INLINE_MAX_BYTES;

type Reply = oneshot::Sender<Result<WriteOutcome, IntakeError>>;

#[derive(Clone)]
pub struct Intake {
    queue: mpsc::Sender<(WriteOp, Reply)>,
    /// Swapped whole on reload: a contact routes on the rules it started with.
    rules: Arc<RwLock<Arc<Rules>>>,
    files: AttachmentFiles,
    store: Store,
    in_flight: InFlight,
    events: Events,
    /// Told of each ticket a contact opens (system facts are fetched for faults); `serve` sets it.
    opened: Arc<OnceLock<crate::facts::Trigger>>,
}

impl Intake {
    /// Starts the writer on `tracker`; it stops when every `Intake` handle is dropped, after
    /// writing what was queued.
    pub fn start(
        store: Store,
        rules: Arc<Rules>,
        files: AttachmentFiles,
        batch_max: usize,
        queue_depth: usize,
        tracker: &TaskTracker,
    ) -> Intake {
        let (queue, rx) = mpsc::channel(queue_depth.max(1));
        tracker.spawn(writer(store.clone(), rx, batch_max.max(1)));
        Intake {
            queue,
            rules: Arc::new(RwLock::new(rules)),
            files,
            store,
            in_flight: InFlight::default(),
            events: Events::default(),
            opened: Arc::default(),
        }
    }

    /// From now on, `trigger` is told of every ticket a contact opens (at most one is kept).
    pub(crate) fn when_opened(&self, trigger: crate::facts::Trigger) {
        if self.opened.set(trigger).is_err() {
            tracing::warn!("a second system facts trigger was not set");
        }
    }

    /// The live events of calls and tickets (what `GET /api/events` follows).
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Publishes through `events` from now on (several nodes share one stream); before any
    /// handle is cloned.
    pub(crate) fn use_events(&mut self, events: Events) {
        self.events = events;
    }

    /// The store, for the reads that go with a write (a call's screen-pop).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Writes waiting for the writer now.
    pub fn queue_depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }

    /// The routing rules in use now.
    pub fn rules(&self) -> Arc<Rules> {
        self.rules.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Routes every contact from now on by `rules` (SIGHUP, or the rules file changed).
    pub fn replace_rules(&self, rules: Rules) {
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
    }

    /// Routes and records a contact: a new ticket, or the one it joins. Attachment files
    /// written for a contact that is not stored (refused, queue full, store failed) are removed.
    pub async fn submit(&self, mut contact: NewContact) -> Result<(Recorded, Decision), IntakeError> {
        contact.remove_nul();
        let channel = contact.channel;
        let (subject, actor) = (contact.subject.clone(), contact.actor.clone());
        let (files, rules) = (self.files.clone(), self.rules());
        let mut held = Held { in_flight: self.in_flight.clone(), files: Vec::new() };
        // Routing, hashing attachments and folding the text for search are done here, in
        // parallel with other submitters, not by the single writer.
        let (held, routed) = tokio::task::spawn_blocking(move || {
            let decision = rules.route(&contact);
            let stored = store_files(&files, &mut held, std::mem::take(&mut contact.attachments));
            (held, stored.map(|stored| RoutedContact::new(contact, decision, stored)))
        })
        .await
        .map_err(|e| IntakeError::Store(e.to_string()))?;
        let routed = match routed {
            Ok(routed) => routed,
            Err(e) => {
                self.discard(held).await;
                return Err(e.into());
            }
        };
        let decision = routed.decision.clone();
        let outcome = self.send(WriteOp::Record(Box::new(routed))).await;
        if !matches!(&outcome, Ok(WriteOutcome::Recorded(r)) if !r.duplicate) {
            self.discard(held).await;
        }
        match outcome? {
            WriteOutcome::Recorded(r) => {
                tracing::info!(
                    ticket = %r.ticket, created = r.created, channel = %channel,
                    category = %decision.category, tier = %decision.tier, rule = decision.rule.as_deref().unwrap_or("(default)"),
                    "contact recorded"
                );
                if !r.duplicate {
                    self.publish_recorded(&r, &decision, channel, subject, &actor).await;
                    // Only a job is queued: the contact is answered without waiting for it.
                    if let (true, Some(trigger)) = (r.created, self.opened.get()) {
                        trigger.ticket_opened(self, &r.ticket, &decision.category);
                    }
                }
                Ok((r, decision))
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    /// Removes the files `held` created, unless another contact has held the same content
    /// meanwhile or a stored attachment names it (or the store cannot say).
    async fn discard(&self, mut held: Held) {
        for (sha, created) in std::mem::take(&mut held.files) {
            let alone = created.then(|| self.in_flight.alone(&sha)).flatten();
            match alone {
                Some(generation) if matches!(self.store.attachment_exists(&sha).await, Ok(false)) => {
                    self.in_flight.release_last(&sha, generation, || self.files.remove(&sha));
                }
                _ => self.in_flight.release(&sha),
            }
        }
    }

    /// Changes a ticket as `actor` (whose role some moves need); answers the ticket as it is now
    /// and what changed.
    pub async fn update(
        &self,
        number: TicketNumber,
        change: TicketChange,
        actor: String,
        role: Role,
    ) -> Result<TicketUpdate, IntakeError> {
        let mut change = change;
        let owner = change.owner.as_mut().and_then(Option::as_mut);
        for text in [&mut change.category, &mut change.note, &mut change.resolution].into_iter().flatten().chain(owner)
        {
            crate::domain::contact::without_nul(text);
        }
        match self.send(WriteOp::Update { number, change, actor: actor.clone(), role }).await? {
            WriteOutcome::Updated(u) => {
                let t = &u.ticket;
                let fields: Vec<&str> = u.changes.iter().map(|c| c.field).collect();
                tracing::info!(ticket = %t.number, status = %t.status, tier = %t.tier, category = %t.category, changed = ?fields, "ticket updated");
                self.publish_update(&u, &actor);
                Ok(u)
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    /// Moves every contact of `source` to `target` and closes `source` (merged into `target`).
    pub async fn merge(
        &self,
        source: TicketNumber,
        target: TicketNumber,
        actor: String,
    ) -> Result<Merged, IntakeError> {
        match self.send(WriteOp::Merge { source, target, actor: actor.clone() }).await? {
            WriteOutcome::Merged(m) => {
                tracing::info!(source = %m.source.ticket.number, target = %m.target.ticket.number, contacts = m.contacts_moved, "tickets merged");
                self.publish_update(&m.source, &actor);
                self.publish_update(&m.target, &actor);
                Ok(*m)
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    /// Relays a ticket to a group of the contact list (the next tier's first when `group` is
    /// `None`), with the reason; the group's contacts are mailed.
    pub async fn escalate(
        &self,
        number: TicketNumber,
        group: Option<String>,
        reason: String,
        actor: String,
    ) -> Result<TicketUpdate, IntakeError> {
        let op = WriteOp::Escalate { number, group: group.clone(), reason, actor: actor.clone() };
        match self.send(op).await? {
            WriteOutcome::Updated(u) => {
                tracing::info!(ticket = %u.ticket.number, tier = %u.ticket.tier, group = ?group, "ticket escalated");
                self.publish_update(&u, &actor);
                Ok(u)
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    /// Acts on an SLA clock that fell due at `now`: a warning, or a breach that escalates its ticket.
    pub async fn fire_sla(&self, clock: i64, now: i64) -> Result<crate::store::Fired, IntakeError> {
        match self.send(WriteOp::SlaFire { clock, now }).await? {
            WriteOutcome::SlaFired(fired) => {
                match &fired {
                    crate::store::Fired::Warned { ticket, kind } => {
                        self.store.metrics().sla_warnings.inc();
                        tracing::info!(ticket = %ticket, clock = kind.as_str(), "SLA warning sent");
                    }
                    crate::store::Fired::Breached { kind, update } => {
                        self.store.metrics().sla_breaches.inc();
                        tracing::warn!(ticket = %update.ticket.number, clock = kind.as_str(), tier = %update.ticket.tier, "SLA breached; ticket escalated");
                        self.publish_update(update, "sla");
                    }
                    crate::store::Fired::Nothing => {}
                }
                Ok(fired)
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    /// Records something that happened to a ticket (one history entry).
    pub async fn event(
        &self,
        number: TicketNumber,
        actor: &str,
        action: &'static str,
        detail: serde_json::Value,
    ) -> Result<(), IntakeError> {
        match self.send(WriteOp::Event { number: number.clone(), actor: actor.into(), action, detail }).await? {
            WriteOutcome::Noted => {
                tracing::info!(ticket = %number, action, "ticket event");
                Ok(())
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    /// `ticket.updated`: the ticket now, each field's value before and after, and who.
    fn publish_update(&self, u: &TicketUpdate, actor: &str) {
        let t = &u.ticket;
        let data = json!({"ticket": t.number, "summary": t, "changes": u.changes, "by": actor});
        self.events.publish(Kind::TicketUpdated, Some(t.tier), data);
    }

    /// `ticket.updated` for `change`, made by `actor` (a reply queued, a callback task's work):
    /// the ticket as it is now.
    pub(crate) async fn publish_change(&self, number: &TicketNumber, change: FieldChange, actor: &str) {
        match self.store.ticket_summary(number).await {
            Ok(Some(ticket)) => self.publish_update(&TicketUpdate { ticket, changes: vec![change] }, actor),
            Ok(None) => {}
            Err(e) => tracing::warn!(ticket = %number, error = %e, "ticket.updated not published"),
        }
    }

    /// `ticket.created` for a new ticket; `ticket.updated` for one a contact joined.
    async fn publish_recorded(
        &self,
        r: &Recorded,
        decision: &Decision,
        channel: crate::domain::Channel,
        subject: Option<String>,
        actor: &str,
    ) {
        if r.created {
            let data = json!({
                "ticket": r.ticket, "channel": channel, "subject": subject, "category": decision.category,
                "priority": decision.priority, "status": crate::domain::Status::New, "by": actor,
            });
            self.events.publish(Kind::TicketCreated, Some(decision.tier), data);
            return;
        }
        match self.store.ticket_summary(&r.ticket).await {
            Ok(Some(t)) => {
                let data =
                    json!({"ticket": t.number, "summary": t, "changes": ["contact"], "channel": channel, "by": actor});
                self.events.publish(Kind::TicketUpdated, Some(t.tier), data);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(ticket = %r.ticket, error = %e, "ticket.updated not published"),
        }
    }

    /// Queues an operator's reply to the requester (see [`crate::domain::reply`]).
    pub async fn reply(&self, mut draft: ReplyDraft) -> Result<ReplyQueued, IntakeError> {
        crate::domain::contact::without_nul(&mut draft.text);
        let (number, actor) = (draft.number.clone(), draft.actor.clone());
        match self.send(WriteOp::Reply(Box::new(draft))).await? {
            WriteOutcome::Replied(queued) => {
                tracing::info!(ticket = %number, outbox_id = queued.outbox_id, "reply queued");
                let change = FieldChange { field: "reply", from: json!(null), to: json!(queued.subject) };
                self.publish_change(&number, change, &actor).await;
                Ok(queued)
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    /// Saves a ticket's interview answers (checked against their template by the caller); the
    /// answers that changed.
    pub async fn save_interview(
        &self,
        number: TicketNumber,
        save: crate::store::InterviewSave,
        actor: &str,
    ) -> Result<Vec<String>, IntakeError> {
        match self.send(WriteOp::Interview { number: number.clone(), save, actor: actor.into() }).await? {
            WriteOutcome::InterviewSaved(changed) => {
                if !changed.is_empty() {
                    tracing::info!(ticket = %number, answers = changed.len(), "interview saved");
                }
                Ok(changed)
            }
            WriteOutcome::Refused(why) => Err(why.into()),
            _ => Err(IntakeError::Store("unexpected outcome".into())),
        }
    }

    async fn send(&self, op: WriteOp) -> Result<WriteOutcome, IntakeError> {
        let (tx, rx) = oneshot::channel();
        self.queue.try_send((op, tx)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => IntakeError::Busy,
            mpsc::error::TrySendError::Closed(_) => IntakeError::Stopped,
        })?;
        rx.await.map_err(|_| IntakeError::Stopped)?
    }
}

fn store_files(
    files: &AttachmentFiles,
    held: &mut Held,
    uploads: Vec<AttachmentUpload>,
) -> Result<Vec<StoredFile>, FileError> {
    uploads
        .into_iter()
        .map(|a| {
            let size = a.bytes.len() as u64;
            let sha256 = sha256_hex(&a.bytes);
            let inline = if files.inline(a.bytes.len()) {
                Some(a.bytes)
            } else {
                held.in_flight.hold(&sha256);
                held.files.push((sha256.clone(), false));
                let created = files.write(&sha256, &a.bytes)?;
                held.files.last_mut().expect("just pushed").1 = created;
                None
            };
            Ok(StoredFile { sha256, size, filename: a.filename, content_type: a.content_type, inline })
        })
        .collect()
}

/// Attachment files of contacts not yet stored, by content: how many contacts hold each, and
/// how many ever did while it was held. A contact that is not stored removes only a file that
/// no other contact held since it looked.
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashMap<String, (usize, u64)>>>);

impl InFlight {
    fn hold(&self, sha: &str) {
        let mut holds = self.0.lock().expect("in-flight files");
        let (count, generation) = holds.entry(sha.to_owned()).or_default();
        *count += 1;
        *generation += 1;
    }

    fn release(&self, sha: &str) {
        let mut holds = self.0.lock().expect("in-flight files");
        if let Some((count, _)) = holds.get_mut(sha) {
            *count -= 1;
            if *count == 0 {
                holds.remove(sha);
            }
        }
    }

    /// The file's generation when its one holder is the caller.
    fn alone(&self, sha: &str) -> Option<u64> {
        match self.0.lock().expect("in-flight files").get(sha) {
            Some((1, generation)) => Some(*generation),
            _ => None,
        }
    }

    /// Lets go of the caller's hold and runs `remove` when nobody else held the file since
    /// [`Self::alone`] gave `generation`; under the lock, so no contact can take it up meanwhile.
    fn release_last(&self, sha: &str, generation: u64, remove: impl FnOnce() -> Result<(), FileError>) {
        let mut holds = self.0.lock().expect("in-flight files");
        if holds.get(sha) != Some(&(1, generation)) {
            drop(holds);
            return self.release(sha);
        }
        holds.remove(sha);
        if let Err(e) = remove() {
            tracing::warn!(error = %e, sha256 = sha, "could not remove the attachment file of a contact not stored");
        }
    }
}

/// The files one contact holds, and whether it created each.
struct Held {
    in_flight: InFlight,
    files: Vec<(String, bool)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        for (sha, _) in &self.files {
            self.in_flight.release(sha);
        }
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<(WriteOp, Reply)>, batch_max: usize) {
    let mut batch = Vec::with_capacity(batch_max);
    while rx.recv_many(&mut batch, batch_max).await > 0 {
        let (ops, replies): (Vec<WriteOp>, Vec<Reply>) = batch.drain(..).unzip();
        store.metrics().intake_batch.observe(ops.len() as u64);
        match store.write_batch(&ops).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Ok(outcome));
                }
            }
            // One bad write must not fail the others: each is tried again on its own.
            Err(e) if ops.len() > 1 => {
                tracing::warn!(error = %e, writes = ops.len(), "a batch failed; writing its items one by one");
                for (op, reply) in ops.iter().zip(replies) {
                    let outcome = store.write_batch(std::slice::from_ref(op)).await.map_err(|e| {
                        tracing::error!(error = %e, "store write failed; it was not acknowledged");
                        IntakeError::Store(e.to_string())
                    });
                    let outcome = outcome.and_then(|mut o| {
                        o.pop().ok_or_else(|| IntakeError::Store("the store gave no outcome".into()))
                    });
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "store write failed; it was not acknowledged");
                for reply in replies {
                    let _ = reply.send(Err(IntakeError::Store(e.to_string())));
                }
            }
        }
    }
}
