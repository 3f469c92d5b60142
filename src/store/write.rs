//! Writing: contacts recorded into new or existing tickets, and operators' changes, many per
//! transaction. Every change appends to the ticket's history in the same transaction.

use super::read::summary;
use super::search::SUMMARY_COLUMNS;
use super::{Backend, Recorded, Refusal, RoutedContact, Store, StoreError, TicketChange, WriteOp, WriteOutcome};
use crate::domain::time::{jst_day, now_millis};
use crate::domain::{Status, TicketNumber, phone, text};
use serde_json::json;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row, Transaction};

/// Search text kept per ticket; later contacts beyond this are still stored, just not indexed.
const SEARCH_TEXT_MAX: usize = 64 * 1024;
const BODY_INDEXED_CHARS: usize = 4000;

impl Store {
    /// Carries out `ops` in one transaction. A refused op (unknown ticket, forbidden status move)
    /// does not stop the others; a database error fails them all and nothing is written.
    pub async fn write_batch(&self, ops: &[WriteOp]) -> Result<Vec<WriteOutcome>, StoreError> {
        // SQLite: take the write lock up front, so a read-then-write in the batch cannot fail
        // with a stale snapshot when another process (a second node, import-mail) writes too.
        let mut tx: Transaction<'static, Any> = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        let now = now_millis();
        let mut outcomes = Vec::with_capacity(ops.len());
        for op in ops {
            let outcome = match op {
                WriteOp::Record(r) => self.record(&mut tx, r, now).await?,
                WriteOp::Update { number, change, actor } => self.update(&mut tx, number, change, actor, now).await?,
            };
            outcomes.push(outcome);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    fn lock_suffix(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    async fn record(&self, conn: &mut AnyConnection, r: &RoutedContact, now: i64) -> Result<WriteOutcome, StoreError> {
        let c = &r.contact;
        let d = &r.decision;
        let caller_key = c.caller.number.as_deref().and_then(phone::normalize);
        let fax_key = c.caller.fax.as_deref().and_then(phone::normalize);
        let email_key = c.caller.email.as_deref().map(|e| e.trim().to_ascii_lowercase());
        let indexed = search_text(&[
            c.subject.as_deref(),
            c.caller.name.as_deref(),
            c.caller.organisation.as_deref(),
            email_key.as_deref(),
            caller_key.as_deref(),
            fax_key.as_deref(),
            Some(&c.body.chars().take(BODY_INDEXED_CHARS).collect::<String>()),
        ]);

        let (ticket_id, number, created) = match &c.join {
            Some(number) => {
                let sql = format!("SELECT id, status FROM tickets WHERE number = $1{}", self.lock_suffix());
                let row = sqlx::query(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(&mut *conn).await?;
                let Some(row) = row else {
                    return Ok(WriteOutcome::Refused(Refusal::NoSuchTicket(number.clone())));
                };
                let id: i64 = row.try_get("id")?;
                let status: String = row.try_get("status")?;
                let status: Status = status.parse().map_err(|e| StoreError::Corrupt(format!("status: {e}")))?;
                if status == Status::Closed {
                    return Ok(WriteOutcome::Refused(Refusal::Closed(number.clone())));
                }
                if status == Status::Resolved {
                    sqlx::query("UPDATE tickets SET status = $1 WHERE id = $2")
                        .bind(Status::InProgress.as_str())
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                    let detail = json!({"from": status, "to": Status::InProgress, "reason": "new contact"});
                    history(conn, id, now, &c.actor, "status_changed", &detail).await?;
                }
                (id, number.clone(), false)
            }
            None => {
                let day = jst_day(now);
                let seq: i64 = sqlx::query(
                    "INSERT INTO ticket_sequences (day, last) VALUES ($1, 1) \
                     ON CONFLICT (day) DO UPDATE SET last = ticket_sequences.last + 1 RETURNING last",
                )
                .bind(&day)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
                let number = TicketNumber::new(&day, seq);
                let text = format!("{} {}", number.as_str(), indexed);
                let id: i64 = sqlx::query(
                    "INSERT INTO tickets (number, subject, channel, category, priority, tier, status, contact_count, \
                     created_at, updated_at, search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) RETURNING id",
                )
                .bind(number.as_str())
                .bind(c.ticket_subject())
                .bind(c.channel.as_str())
                .bind(&d.category)
                .bind(d.priority.as_str())
                .bind(i64::from(d.tier.get()))
                .bind(Status::New.as_str())
                .bind(now)
                .bind(&text)
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
                self.index(conn, id, &text, false).await?;
                history(conn, id, now, &c.actor, "created", &json!({"channel": c.channel})).await?;
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
            self.append_search_text(conn, ticket_id, &indexed).await?;
            sqlx::query("UPDATE tickets SET contact_count = contact_count + 1, updated_at = $1 WHERE id = $2")
                .bind(now)
                .bind(ticket_id)
                .execute(&mut *conn)
                .await?;
            let detail = json!({"contact_id": contact_id, "channel": c.channel});
            history(conn, ticket_id, now, &c.actor, "contact_added", &detail).await?;
        }

        for f in &r.files {
            sqlx::query(
                "INSERT INTO attachments (ticket_id, contact_id, sha256, filename, content_type, size, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(ticket_id)
            .bind(contact_id)
            .bind(&f.sha256)
            .bind(&f.filename)
            .bind(&f.content_type)
            .bind(f.size as i64)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let detail = json!({"contact_id": contact_id, "filename": f.filename, "size": f.size, "sha256": f.sha256});
            history(conn, ticket_id, now, &c.actor, "attachment_added", &detail).await?;
        }

        // Routing of a joining contact is recorded but does not override what operators set.
        let detail = json!({
            "rule": d.rule, "category": d.category, "priority": d.priority, "tier": d.tier,
            "applied": created, "contact_id": contact_id,
        });
        history(conn, ticket_id, now, "routing", "routed", &detail).await?;

        Ok(WriteOutcome::Recorded(Recorded { ticket: number, ticket_id, contact_id, created }))
    }

    async fn update(
        &self,
        conn: &mut AnyConnection,
        number: &TicketNumber,
        change: &TicketChange,
        actor: &str,
        now: i64,
    ) -> Result<WriteOutcome, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM tickets t WHERE t.number = $1{}", self.lock_suffix());
        let Some(row) = sqlx::query(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(&mut *conn).await? else {
            return Ok(WriteOutcome::Refused(Refusal::NoSuchTicket(number.clone())));
        };
        let mut t = summary(&row)?;
        let only_note = TicketChange { note: change.note.clone(), ..Default::default() } == *change;
        if t.status == Status::Closed && !only_note {
            return Ok(WriteOutcome::Refused(Refusal::Closed(number.clone())));
        }
        // Raising the tier is an escalation unless the operator says otherwise.
        let status = match (change.status, change.tier) {
            (Some(s), _) => s,
            (None, Some(tier)) if tier > t.tier && t.status.can_become(Status::Escalated) => Status::Escalated,
            (None, _) => t.status,
        };
        let status = match t.status.transition(status) {
            Ok(s) => s,
            Err(e) => return Ok(WriteOutcome::Refused(e.into())),
        };

        let mut changed = Vec::new();
        if status != t.status {
            changed.push(("status_changed", json!({"from": t.status, "to": status})));
            t.status = status;
        }
        if let Some(tier) = change.tier.filter(|x| *x != t.tier) {
            changed.push(("tier_changed", json!({"from": t.tier, "to": tier})));
            t.tier = tier;
        }
        if let Some(category) = change.category.as_ref().filter(|x| **x != t.category) {
            changed.push(("category_changed", json!({"from": t.category, "to": category})));
            t.category = category.clone();
        }
        if let Some(priority) = change.priority.filter(|x| *x != t.priority) {
            changed.push(("priority_changed", json!({"from": t.priority, "to": priority})));
            t.priority = priority;
        }
        if let Some(note) = change.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            changed.push(("note_added", json!({"text": note})));
            self.append_search_text(conn, t.id, &text::fold(note)).await?;
        }
        if changed.is_empty() {
            return Ok(WriteOutcome::Updated(t));
        }
        t.updated_at = now;
        sqlx::query(
            "UPDATE tickets SET status = $1, tier = $2, category = $3, priority = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(t.status.as_str())
        .bind(i64::from(t.tier.get()))
        .bind(&t.category)
        .bind(t.priority.as_str())
        .bind(now)
        .bind(t.id)
        .execute(&mut *conn)
        .await?;
        for (action, detail) in changed {
            history(conn, t.id, now, actor, action, &detail).await?;
        }
        Ok(WriteOutcome::Updated(t))
    }

    async fn append_search_text(&self, conn: &mut AnyConnection, id: i64, more: &str) -> Result<(), StoreError> {
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
        self.index(conn, id, &text, true).await
    }

    /// Indexes a ticket's search text: trigrams for words of three or more characters, and
    /// Japanese character pairs for two-character words.
    async fn index(&self, conn: &mut AnyConnection, id: i64, text: &str, replace: bool) -> Result<(), StoreError> {
        let grams = text::bigrams(text);
        match self.backend {
            Backend::Sqlite => {
                if replace {
                    sqlx::query("DELETE FROM ticket_fts WHERE rowid = $1").bind(id).execute(&mut *conn).await?;
                    sqlx::query("DELETE FROM ticket_grams WHERE rowid = $1").bind(id).execute(&mut *conn).await?;
                }
                sqlx::query("INSERT INTO ticket_fts (rowid, search_text) VALUES ($1, $2)")
                    .bind(id)
                    .bind(text)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("INSERT INTO ticket_grams (rowid, grams) VALUES ($1, $2)")
                    .bind(id)
                    .bind(&grams)
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Postgres => {
                sqlx::query("UPDATE tickets SET search_grams = to_tsvector('simple', $1) WHERE id = $2")
                    .bind(&grams)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }
}

async fn history(
    conn: &mut AnyConnection,
    ticket_id: i64,
    at: i64,
    actor: &str,
    action: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO history (ticket_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(ticket_id)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(detail.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn search_text(parts: &[Option<&str>]) -> String {
    let joined: Vec<&str> = parts.iter().flatten().copied().filter(|s| !s.is_empty()).collect();
    text::fold(&joined.join(" "))
}
