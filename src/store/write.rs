//! Writing: contacts recorded into new or existing tickets, and operators' changes, many per
//! transaction. Every change appends to the ticket's history in the same transaction. What a
//! write does is decided in [`crate::domain::lifecycle`]; here the facts are loaded and the
//! decision written down.

use super::search::{SUMMARY_COLUMNS, Value};
use super::sla::is_person as sla_is_person;
use super::{
    Recorded, Refusal, RoutedContact, Store, StoreError, TicketChange, TicketSummary, TicketUpdate, WriteOp,
    WriteOutcome,
};
use crate::domain::ack::{self, AckCounts};
use crate::domain::lifecycle::{self, Changed, Found, Lookup, Placement, Referred, TicketState};
use crate::domain::thread::Standing;
use crate::domain::time::{jst_day, now_millis};
use crate::domain::user::Role;
use crate::domain::{NewContact, Priority, Status, TicketNumber, Tier, phone, text};
use crate::escalation::mail::Why;
use serde_json::json;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

/// Search text kept per ticket; later contacts beyond this are still stored, just not indexed.
const SEARCH_TEXT_MAX: usize = 64 * 1024;

/// A ticket as threading finds it.
#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    #[sqlx(try_from = "String")]
    number: TicketNumber,
    #[sqlx(try_from = "String")]
    status: Status,
    merged_into: Option<String>,
}

const TICKET_ROW: &str = "t.id, t.number, t.status, t.merged_into";

/// What an operator's change or a merge needs to know of a ticket.
#[derive(sqlx::FromRow)]
struct StateRow {
    id: i64,
    #[sqlx(try_from = "String")]
    status: Status,
    #[sqlx(try_from = "i64")]
    tier: Tier,
    category: String,
    #[sqlx(try_from = "String")]
    priority: Priority,
    owner: Option<String>,
    resolution: Option<String>,
    merged_into: Option<String>,
}

impl From<TicketRow> for Found<i64> {
    fn from(r: TicketRow) -> Found<i64> {
        Found { ticket: r.id, number: r.number, status: r.status }
    }
}

/// A contact stored before, by its Message-ID.
#[derive(sqlx::FromRow)]
struct SeenRow {
    id: i64,
    ticket_id: i64,
    #[sqlx(try_from = "String")]
    number: TicketNumber,
}

impl Store {
    /// Carries out `ops` in one transaction. A refused op (unknown ticket, forbidden status move)
    /// does not stop the others; a database error fails them all and nothing is written.
    pub async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        crate::metrics::timed(&self.metrics().db_write, self.carry_out(ops)).await
    }

    async fn carry_out(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        let mut tx = self.backend.begin_write(&self.writer).await?;
        let now = now_millis();
        // At most this many contacts open a ticket; numbers not used are given back before commit.
        let new_tickets = ops.iter().filter(|op| matches!(op, WriteOp::Record(r) if r.contact.join.is_none())).count();
        let mut pending = Pending::new(self.allocate_numbers(&mut tx, now, new_tickets).await?);
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let outcome = match op {
                WriteOp::Record(r) => self.record(&mut tx, &mut pending, r, now).await?,
                WriteOp::Update { number, change, actor, role } => {
                    self.update(&mut tx, &mut pending, number, change, (actor, *role), now).await?
                }
                WriteOp::Merge { source, target, actor } => {
                    self.merge(&mut tx, &mut pending, source, target, actor, now).await?
                }
                WriteOp::Event { number, actor, action, detail } => match self.find_ticket(&mut tx, number).await? {
                    Some(found) => {
                        pending.history(found.ticket, now, actor, action, detail);
                        WriteOutcome::Noted
                    }
                    None => WriteOutcome::Refused(Refusal::NoSuchTicket(number.clone())),
                },
                WriteOp::Reply(draft) => self.reply(&mut tx, &mut pending, draft, now).await?,
                WriteOp::Escalate { number, group, reason, actor } => match self.find_ticket(&mut tx, number).await? {
                    Some(found) => {
                        let why = Why::Operator { by: actor, reason };
                        match self
                            .escalate_in(&mut tx, &mut pending, found.ticket, group.as_deref(), why, actor, now)
                            .await?
                        {
                            Ok(update) => WriteOutcome::Updated(update),
                            Err(why) => WriteOutcome::Refused(why),
                        }
                    }
                    None => WriteOutcome::Refused(Refusal::NoSuchTicket(number.clone())),
                },
                WriteOp::SlaFire { clock, now: at } => {
                    WriteOutcome::SlaFired(self.sla_fire(&mut tx, &mut pending, *clock, *at).await?)
                }
                WriteOp::Interview { number, save, actor } => match self.find_ticket(&mut tx, number).await? {
                    Some(found) => WriteOutcome::InterviewSaved(
                        self.save_interview(&mut tx, &mut pending, found.ticket, save, actor, now).await?,
                    ),
                    None => WriteOutcome::Refused(Refusal::NoSuchTicket(number.clone())),
                },
            };
            // The ticket's SLA clocks follow what happened to it, in the same transaction.
            match (&outcome, op) {
                // A contact joining an open ticket changes none of its clocks.
                (WriteOutcome::Recorded(r), _) if r.created || r.reopened => {
                    self.sla_sync(&mut tx, &mut pending, r.ticket_id, false, now).await?;
                    if r.reopened {
                        self.suggest_sync_ticket(&mut tx, r.ticket_id).await?;
                    }
                }
                (WriteOutcome::Updated(u), WriteOp::Update { actor, .. }) if !u.changes.is_empty() => {
                    self.sla_sync(&mut tx, &mut pending, u.ticket.id, sla_is_person(actor), now).await?;
                    if u.changes.iter().any(|c| matches!(c.field, "status" | "resolution" | "subject")) {
                        self.suggest_sync_ticket(&mut tx, u.ticket.id).await?;
                    }
                    // Resolved: the requester's satisfaction survey, once per ticket.
                    if u.ticket.status == Status::Resolved && u.changes.iter().any(|c| c.field == "status") {
                        self.survey_on_resolve(&mut tx, &mut pending, &u.ticket, now).await?;
                    }
                }
                (WriteOutcome::Updated(u), WriteOp::Escalate { actor, .. }) => {
                    self.sla_sync(&mut tx, &mut pending, u.ticket.id, sla_is_person(actor), now).await?;
                }
                (WriteOutcome::Replied(_), WriteOp::Reply(draft)) => {
                    if let Some(found) = self.find_ticket(&mut tx, &draft.number).await? {
                        self.sla_sync(&mut tx, &mut pending, found.ticket, true, now).await?;
                    }
                }
                (WriteOutcome::Merged(m), _) => {
                    for id in [m.source.ticket.id, m.target.ticket.id] {
                        self.sla_sync(&mut tx, &mut pending, id, false, now).await?;
                        self.suggest_sync_ticket(&mut tx, id).await?;
                    }
                }
                _ => {}
            }
            outcomes.push(outcome);
        }
        self.release_numbers(&mut tx, now, pending.numbers.len()).await?;
        let mail_now = pending.mail_now;
        pending.flush(&mut tx).await?;
        tx.commit().await?;
        if mail_now {
            self.outbox_ready.notify_one();
        }
        Ok(outcomes)
    }

    /// The day's next `count` ticket numbers, in one statement for the whole batch. The day's
    /// sequence row stays locked (the write lock on SQLite) until the batch commits.
    async fn allocate_numbers(
        &self,
        conn: &mut AnyConnection,
        now: i64,
        count: usize,
    ) -> Result<Vec<TicketNumber>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let day = jst_day(now);
        let count = count as i64;
        let last: i64 = sqlx::query(
            "INSERT INTO ticket_sequences (day, last) VALUES ($1, $2) \
             ON CONFLICT (day) DO UPDATE SET last = ticket_sequences.last + $2 RETURNING last",
        )
        .bind(&day)
        .bind(count)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        Ok((last - count + 1..=last).map(|seq| TicketNumber::new(&day, seq)).collect())
    }

    /// Gives back the last `unused` numbers [`Self::allocate_numbers`] took in this transaction
    /// (contacts that joined a ticket, duplicates, refusals), so the day's numbers have no gaps.
    async fn release_numbers(&self, conn: &mut AnyConnection, now: i64, unused: usize) -> Result<(), StoreError> {
        if unused == 0 {
            return Ok(());
        }
        sqlx::query("UPDATE ticket_sequences SET last = last - $1 WHERE day = $2")
            .bind(unused as i64)
            .bind(jst_day(now))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn record(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        r: &RoutedContact,
        now: i64,
    ) -> Result<WriteOutcome, StoreError> {
        let c = &r.contact;
        let d = &r.decision;
        let caller_key = c.caller.number.as_deref().and_then(phone::normalize);
        let fax_key = c.caller.fax.as_deref().and_then(phone::normalize);
        let email_key = c.caller.email.as_deref().map(|e| e.trim().to_ascii_lowercase());
        let indexed = &r.search.text;

        if c.dedupe_source
            && let Some(source) = &c.source_ref
        {
            if self.backend == super::Backend::Postgres {
                // Two nodes given the same message at once (an MTA that timed one out and tried
                // the other) take turns here: the second sees the first's contact.
                sqlx::query("SELECT pg_advisory_xact_lock(7243, hashtext($1))")
                    .bind(source)
                    .execute(&mut *conn)
                    .await?;
            }
            let seen: Option<SeenRow> = sqlx::query_as(
                "SELECT c.id, c.ticket_id, t.number FROM contacts c JOIN tickets t ON t.id = c.ticket_id \
                 WHERE c.source_ref = $1 ORDER BY c.id LIMIT 1",
            )
            .bind(source)
            .fetch_optional(&mut *conn)
            .await?;
            if let Some(seen) = seen {
                return Ok(WriteOutcome::Recorded(Recorded {
                    ticket: seen.number,
                    ticket_id: seen.ticket_id,
                    contact_id: seen.id,
                    created: false,
                    duplicate: true,
                    reopened: false,
                }));
            }
        }

        let mut reopened = false;
        let (ticket_id, number, created) = match self.placement(conn, c).await? {
            Placement::Refused(why) => return Ok(WriteOutcome::Refused(why)),
            Placement::Join { ticket, number, reopen } => {
                reopened = reopen.is_some();
                if let Some(change) = reopen {
                    sqlx::query("UPDATE tickets SET status = $1 WHERE id = $2")
                        .bind(change.to.as_str())
                        .bind(ticket)
                        .execute(&mut *conn)
                        .await?;
                    let detail = json!({"from": change.from, "to": change.to, "reason": "new contact"});
                    pending.history(ticket, now, &c.actor, "status_changed", &detail);
                }
                (ticket, number, false)
            }
            Placement::Open { mentions } => {
                let number =
                    pending.numbers.next().ok_or_else(|| StoreError::Corrupt("ticket numbers ran out".into()))?;
                let text = format!("{} {}", number.as_str(), indexed);
                let id: i64 = sqlx::query(self.backend.insert_ticket())
                    .bind(number.as_str())
                    .bind(c.ticket_subject())
                    .bind(c.channel.as_str())
                    .bind(&d.category)
                    .bind(d.priority.as_str())
                    .bind(i64::from(d.tier.get()))
                    .bind(Status::New.as_str())
                    .bind(now)
                    .bind(&text)
                    .bind(&r.search.grams)
                    .fetch_one(&mut *conn)
                    .await?
                    .try_get(0)?;
                if self.backend.indexes_apart() {
                    pending.fts.push((id, text, r.search.grams.clone()));
                }
                pending.history(id, now, &c.actor, "created", &json!({"channel": c.channel}));
                if let Some(other) = &mentions {
                    let detail = json!({"ticket": other, "reason": "the sender takes no part in that ticket"});
                    pending.history(id, now, &c.actor, "mentions_ticket", &detail);
                }
                (id, number, true)
            }
        };

        let contact_id: i64 = sqlx::query(
            "INSERT INTO contacts (ticket_id, channel, received_at, recorded_at, subject, body, caller_number, caller_key, \
             display_name, email, email_key, fax_number, fax_key, dialed_number, organisation, menu_choices, source_ref, raw, actor) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id",
        )
        .bind(ticket_id)
        .bind(c.channel.as_str())
        .bind(c.received_at_ms)
        .bind(now)
        .bind(c.subject.as_deref())
        .bind(&c.body)
        .bind(c.caller.number.as_deref())
        .bind(caller_key.as_deref())
        .bind(c.caller.name.as_deref())
        .bind(c.caller.email.as_deref())
        .bind(email_key.as_deref())
        .bind(c.caller.fax.as_deref())
        .bind(fax_key.as_deref())
        .bind(c.dialed_number.as_deref())
        .bind(c.caller.organisation.as_deref())
        .bind(c.menu_choices.as_deref())
        .bind(c.source_ref.as_deref())
        .bind(c.raw.as_deref())
        .bind(&c.actor)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;

        if !created {
            self.append_search_text(conn, pending, ticket_id, indexed).await?;
            sqlx::query("UPDATE tickets SET contact_count = contact_count + 1, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(ticket_id)
                .execute(&mut *conn)
                .await?;
            let detail = json!({"contact_id": contact_id, "channel": c.channel});
            pending.history(ticket_id, now, &c.actor, "contact_added", &detail);
        }

        for f in &r.files {
            if let Some(bytes) = &f.inline
                && !pending.blobs.iter().any(|(sha, _)| *sha == f.sha256)
            {
                pending.blobs.push((f.sha256.clone(), bytes.clone()));
            }
            pending.attachments.push(vec![
                Value::Int(ticket_id),
                Value::Int(contact_id),
                Value::Text(f.sha256.clone()),
                Value::Text(f.filename.clone()),
                Value::Text(f.content_type.clone()),
                Value::Int(f.size as i64),
                Value::Int(now),
            ]);
            let detail = json!({"contact_id": contact_id, "filename": f.filename, "size": f.size, "sha256": f.sha256});
            pending.history(ticket_id, now, &c.actor, "attachment_added", &detail);
        }

        if let Some(details) = &c.details {
            pending.history(
                ticket_id,
                now,
                &c.actor,
                "intake_details",
                &json!({"contact_id": contact_id, "details": details}),
            );
        }

        // Routing of a joining contact is recorded but does not override what operators set.
        let detail = json!({
            "rule": d.rule, "category": d.category, "priority": d.priority, "tier": d.tier,
            "applied": created, "contact_id": contact_id,
        });
        pending.history(ticket_id, now, "routing", "routed", &detail);

        self.queue_ack(conn, pending, c, ticket_id, now).await?;
        Ok(WriteOutcome::Recorded(Recorded {
            ticket: number,
            ticket_id,
            contact_id,
            created,
            duplicate: false,
            reopened,
        }))
    }

    /// The ticket with this number or, when it was merged, the one it was merged into.
    pub(super) async fn find_ticket(
        &self,
        conn: &mut AnyConnection,
        number: &TicketNumber,
    ) -> Result<Option<Found<i64>>, StoreError> {
        match self.ticket_row(conn, number).await? {
            Some(row) => Ok(Some(self.follow_merges(conn, row).await?)),
            None => Ok(None),
        }
    }

    async fn ticket_row(
        &self,
        conn: &mut AnyConnection,
        number: &TicketNumber,
    ) -> Result<Option<TicketRow>, StoreError> {
        let sql = format!("SELECT {TICKET_ROW} FROM tickets t WHERE t.number = $1{}", self.backend.lock_rows());
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(&mut *conn).await?)
    }

    /// From a merged ticket to the one it went into, and on (a few merges at most): whatever
    /// would have joined the first joins the last.
    async fn follow_merges(&self, conn: &mut AnyConnection, mut row: TicketRow) -> Result<Found<i64>, StoreError> {
        for _ in 0..lifecycle::MAX_MERGE_HOPS {
            let Some(into) = row.merged_into.as_deref().and_then(|n| n.parse::<TicketNumber>().ok()) else { break };
            match self.ticket_row(conn, &into).await? {
                Some(next) => row = next,
                None => break,
            }
        }
        Ok(row.into())
    }

    /// Where the contact goes: the facts each lookup finds, in the order of precedence, then
    /// the rules decide.
    async fn placement(&self, conn: &mut AnyConnection, c: &NewContact) -> Result<Placement<i64>, StoreError> {
        let mut referred = Referred::Nothing;
        for lookup in lifecycle::lookups(c.join.as_ref(), &c.thread_refs, c.subject_ticket.as_ref()) {
            let found = match &lookup {
                Lookup::Named(number) => {
                    referred = Referred::Named(number.clone(), self.find_ticket(conn, number).await?);
                    break;
                }
                Lookup::MessageIds(ids) => self.find_by_message_id(conn, ids).await?,
                Lookup::SubjectNumber(number) => self.find_ticket(conn, number).await?,
            };
            if let Some(found) = found {
                let standing = self.standing(conn, c, found.ticket).await?;
                referred = Referred::Threaded(found, standing);
                break;
            }
        }
        Ok(lifecycle::place(referred))
    }

    /// The ticket one of whose contacts or acknowledgements has one of these Message-IDs.
    async fn find_by_message_id(
        &self,
        conn: &mut AnyConnection,
        ids: &[String],
    ) -> Result<Option<Found<i64>>, StoreError> {
        let list = (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        for sql in [
            format!(
                "SELECT {TICKET_ROW} FROM contacts c JOIN tickets t ON t.id = c.ticket_id \
                 WHERE c.source_ref IN ({list}) ORDER BY c.id DESC LIMIT 1"
            ),
            format!(
                "SELECT {TICKET_ROW} FROM outbox o JOIN tickets t ON t.id = o.ticket_id \
                 WHERE o.message_id IN ({list}) ORDER BY o.id DESC LIMIT 1"
            ),
        ] {
            let mut query = sqlx::query_as::<_, TicketRow>(AssertSqlSafe(sql));
            for id in ids {
                query = query.bind(id.as_str());
            }
            if let Some(row) = query.fetch_optional(&mut *conn).await? {
                return Ok(Some(self.follow_merges(conn, row).await?));
            }
        }
        Ok(None)
    }

    /// How the contact's sender stands to a ticket it refers to: trusted by domain, a
    /// participant (its address wrote to the ticket or was acknowledged or answered from it), or
    /// a stranger.
    async fn standing(&self, conn: &mut AnyConnection, c: &NewContact, ticket_id: i64) -> Result<Standing, StoreError> {
        if c.thread_trusted {
            return Ok(Standing::TrustedDomain);
        }
        let Some(key) = c.caller.email.as_deref().map(|e| e.trim().to_ascii_lowercase()) else {
            return Ok(Standing::Stranger);
        };
        for sql in [
            "SELECT 1 FROM contacts WHERE ticket_id = $1 AND email_key = $2 LIMIT 1",
            "SELECT 1 FROM outbox WHERE ticket_id = $1 AND to_key = $2 LIMIT 1",
        ] {
            if sqlx::query(sql).bind(ticket_id).bind(&key).fetch_optional(&mut *conn).await?.is_some() {
                return Ok(Standing::Participant);
            }
        }
        Ok(Standing::Stranger)
    }

    /// Queues the acknowledgement, unless the rate limits say otherwise.
    async fn queue_ack(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        c: &NewContact,
        ticket_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let Some(ack) = &c.acknowledge else {
            if let Some(reason) = &c.ack_skip_reason {
                pending.history(ticket_id, now, "mail", "ack_skipped", &json!({"reason": reason}));
            }
            return Ok(());
        };
        let to_key = ack.to.trim().to_ascii_lowercase();
        let hour_ago = now - 3_600_000;
        let to_address_hour: i64 =
            sqlx::query("SELECT COUNT(*) FROM outbox WHERE to_key = $1 AND kind = 'ack' AND created_at > $2")
                .bind(&to_key)
                .bind(hour_ago)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
        // Only queued acknowledgements count, so this scan stays within the hourly limit.
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN created_at > $2 THEN 1 ELSE 0 END), 0) FROM outbox \
             WHERE kind = 'ack' AND created_at > $1",
        )
        .bind(hour_ago)
        .bind(now - 60_000)
        .fetch_one(&mut *conn)
        .await?;
        let counts = AckCounts { to_address_hour, global_hour: row.try_get(0)?, global_minute: row.try_get(1)? };
        if let Err(limited) = ack::rate_limit(counts, ack.limits) {
            pending.history(ticket_id, now, "mail", "ack_skipped", &json!({"reason": limited.reason()}));
            return Ok(());
        }
        let id: i64 = sqlx::query(
            "INSERT INTO outbox (ticket_id, kind, to_addr, to_key, message_id, in_reply_to, subject, status, \
             next_attempt_at, created_at) VALUES ($1, 'ack', $2, $3, $4, $5, $6, 'pending', $7, $7) RETURNING id",
        )
        .bind(ticket_id)
        .bind(&ack.to)
        .bind(&to_key)
        .bind(&ack.message_id)
        .bind(ack.in_reply_to.as_deref())
        .bind(&ack.subject)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
        pending.history(ticket_id, now, "mail", "ack_queued", &json!({"outbox_id": id}));
        Ok(())
    }

    async fn update(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        number: &TicketNumber,
        change: &TicketChange,
        (actor, role): (&str, Role),
        now: i64,
    ) -> Result<WriteOutcome, StoreError> {
        let Some((id, state)) = self.ticket_state(conn, number).await? else {
            return Ok(WriteOutcome::Refused(Refusal::NoSuchTicket(number.clone())));
        };
        if let Some(Some(login)) = &change.owner
            && !self.is_enabled_user(conn, login).await?
        {
            return Ok(WriteOutcome::Refused(Refusal::UnknownOwner));
        }
        let (next, changed) = match lifecycle::apply(number, &state, change, role) {
            Ok(decided) => decided,
            Err(why) => return Ok(WriteOutcome::Refused(why)),
        };
        if !changed.is_empty() {
            for c in &changed {
                if let Changed::Note(text) | Changed::Resolution(_, text) = c {
                    self.append_search_text(conn, pending, id, &text::fold(text)).await?;
                }
            }
            sqlx::query(
                "UPDATE tickets SET status = $1, tier = $2, category = $3, priority = $4, owner = $5, resolution = $6, \
                 updated_at = $7 WHERE id = $8",
            )
            .bind(next.status.as_str())
            .bind(i64::from(next.tier.get()))
            .bind(&next.category)
            .bind(next.priority.as_str())
            .bind(next.owner.as_deref())
            .bind(next.resolution.as_deref())
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            for c in &changed {
                if let Changed::Status(from @ Status::Closed, to) = c {
                    let detail = json!({"from": from, "to": to, "role": role});
                    super::users::audit_in(conn, now, actor, "ticket_reopened", number.as_str(), &detail).await?;
                }
                pending.history(id, now, actor, c.action(), &c.detail());
            }
        }
        let ticket = self.summary_by_id(conn, id).await?;
        let changes = changed.iter().map(Changed::field_change).collect();
        Ok(WriteOutcome::Updated(TicketUpdate { ticket, changes }))
    }

    /// The ticket's id and the state its rules look at, its row locked until the batch commits.
    pub(super) async fn ticket_state(
        &self,
        conn: &mut AnyConnection,
        number: &TicketNumber,
    ) -> Result<Option<(i64, TicketState)>, StoreError> {
        let sql = format!(
            "SELECT id, status, tier, category, priority, owner, resolution, merged_into FROM tickets \
             WHERE number = $1{}",
            self.backend.lock_rows()
        );
        let row: Option<StateRow> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(&mut *conn).await?;
        let Some(r) = row else { return Ok(None) };
        let merged_into = r
            .merged_into
            .map(|n| n.parse::<TicketNumber>())
            .transpose()
            .map_err(|_| StoreError::Corrupt("tickets.merged_into is not a ticket number".into()))?;
        let state = TicketState {
            status: r.status,
            tier: r.tier,
            category: r.category,
            priority: r.priority,
            owner: r.owner,
            resolution: r.resolution,
            merged_into,
        };
        Ok(Some((r.id, state)))
    }

    pub(super) async fn summary_by_id(&self, conn: &mut AnyConnection, id: i64) -> Result<TicketSummary, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM tickets t WHERE t.id = $1");
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_one(&mut *conn).await?)
    }

    /// Whether `login` names a user who may own tickets (exists, not disabled).
    async fn is_enabled_user(&self, conn: &mut AnyConnection, login: &str) -> Result<bool, StoreError> {
        let found = sqlx::query("SELECT 1 FROM users WHERE login = $1 AND disabled = 0")
            .bind(login)
            .fetch_optional(&mut *conn)
            .await?;
        Ok(found.is_some())
    }

    pub(super) async fn append_search_text(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        id: i64,
        more: &str,
    ) -> Result<(), StoreError> {
        let current: String = sqlx::query("SELECT search_text FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        if current.len() + more.len() > SEARCH_TEXT_MAX {
            return Ok(());
        }
        let text = format!("{current} {more}");
        sqlx::query("UPDATE tickets SET search_text = $1 WHERE id = $2")
            .bind(&text)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        // A ticket created in this batch is not indexed yet: its pending row is updated.
        if self.backend.indexes_apart()
            && let Some(row) = pending.fts.iter_mut().find(|(fts_id, _, _)| *fts_id == id)
        {
            row.1 = text;
            row.2 = text::bigrams(&row.1);
            return Ok(());
        }
        self.backend.reindex(conn, id, &text).await
    }
}

/// Values bound per multi-row INSERT, well under both databases' limits.
const VALUES_PER_INSERT: usize = 1000;

/// What a batch hands out and collects: the ticket numbers allocated up front, and the rows
/// written together at the end of the batch (history in the order it happened, and on SQLite
/// the full-text rows of new tickets), a few statements instead of several per contact.
pub(super) struct Pending {
    numbers: std::vec::IntoIter<TicketNumber>,
    history: Vec<(i64, i64, String, &'static str, String)>,
    /// Rows of the two SQLite indexes: ticket, text, Japanese pairs.
    fts: Vec<(i64, String, String)>,
    /// Small attachments' content by sha256, each once.
    blobs: Vec<(String, Vec<u8>)>,
    /// Attachment rows: ticket id first.
    pub(super) attachments: Vec<Vec<Value>>,
    /// Mail was queued in the outbox to send now: the sender is woken once the batch commits.
    pub(super) mail_now: bool,
}

impl Pending {
    pub(super) fn new(numbers: Vec<TicketNumber>) -> Pending {
        Pending {
            numbers: numbers.into_iter(),
            history: Vec::new(),
            fts: Vec::new(),
            blobs: Vec::new(),
            attachments: Vec::new(),
            mail_now: false,
        }
    }

    pub(super) fn history(
        &mut self,
        ticket_id: i64,
        at: i64,
        actor: &str,
        action: &'static str,
        detail: &serde_json::Value,
    ) {
        self.history.push((ticket_id, at, actor.to_owned(), action, detail.to_string()));
    }

    /// The details of this batch's `action` entries of a ticket, not yet written.
    pub(super) fn details(&self, ticket_id: i64, action: &str) -> impl Iterator<Item = &str> {
        self.history.iter().filter(move |h| h.0 == ticket_id && h.3 == action).map(|h| h.4.as_str())
    }

    pub(super) async fn flush(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let history = self
            .history
            .into_iter()
            .map(|(t, at, actor, action, detail)| {
                vec![Value::Int(t), Value::Int(at), Value::Text(actor), Value::Text(action.into()), Value::Text(detail)]
            })
            .collect();
        insert_rows(conn, "INSERT INTO history (ticket_id, at, actor, action, detail) VALUES", history).await?;
        let (fts, grams) = self
            .fts
            .into_iter()
            .map(|(id, text, grams)| {
                (vec![Value::Int(id), Value::Text(text)], vec![Value::Int(id), Value::Text(grams)])
            })
            .unzip();
        insert_rows(conn, "INSERT INTO ticket_fts (rowid, search_text) VALUES", fts).await?;
        insert_rows(conn, "INSERT INTO ticket_grams (rowid, grams) VALUES", grams).await?;
        let blobs = self.blobs.into_iter().map(|(sha, data)| vec![Value::Text(sha), Value::Bytes(data)]).collect();
        insert_rows_then(conn, "INSERT INTO blobs (sha256, data) VALUES", blobs, " ON CONFLICT (sha256) DO NOTHING")
            .await?;
        let head =
            "INSERT INTO attachments (ticket_id, contact_id, sha256, filename, content_type, size, created_at) VALUES";
        insert_rows(conn, head, self.attachments).await
    }
}

/// `head` followed by as many `($1, $2, …)` groups as rows, in statements of at most
/// [`VALUES_PER_INSERT`] values.
async fn insert_rows(conn: &mut AnyConnection, head: &str, rows: Vec<Vec<Value>>) -> Result<(), StoreError> {
    insert_rows_then(conn, head, rows, "").await
}

async fn insert_rows_then(
    conn: &mut AnyConnection,
    head: &str,
    rows: Vec<Vec<Value>>,
    tail: &str,
) -> Result<(), StoreError> {
    let Some(width) = rows.first().map(Vec::len) else { return Ok(()) };
    let per = (VALUES_PER_INSERT / width).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per).collect();
        let groups: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", (1..=width).map(|c| format!("${}", r * width + c)).collect::<Vec<_>>().join(", ")))
            .collect();
        let mut query = sqlx::query(AssertSqlSafe(format!("{head} {}{tail}", groups.join(", "))));
        for value in chunk.into_iter().flatten() {
            query = match value {
                Value::Int(i) => query.bind(i),
                Value::Text(t) => query.bind(t),
                Value::Bytes(b) => query.bind(b),
            };
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
