//! Merging one ticket into another, in the writer's transaction: every contact and attachment of
//! the source moves to the target, whose search text takes in the source's; the source is
//! closed, its resolution and `merged_into` naming the target, and both histories say so. What
//! may be merged is decided in [`crate::domain::lifecycle::merge`].

use super::search::Value;
use super::write::Pending;
use super::{FieldChange, Merged, Refusal, Store, StoreError, TicketSummary, TicketUpdate, WriteOutcome};
use crate::domain::TicketNumber;
use crate::domain::lifecycle::{self, Changed};
use serde_json::json;
use sqlx::AnyConnection;

impl Store {
    pub(super) async fn merge(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        source: &TicketNumber,
        target: &TicketNumber,
        actor: &str,
        now: i64,
    ) -> Result<WriteOutcome, StoreError> {
        let Some((source_id, source_state)) = self.ticket_state(conn, source).await? else {
            return Ok(WriteOutcome::Refused(Refusal::NoSuchTicket(source.clone())));
        };
        let Some((target_id, target_state)) = self.ticket_state(conn, target).await? else {
            return Ok(WriteOutcome::Refused(Refusal::NoSuchTicket(target.clone())));
        };
        let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts WHERE ticket_id = $1")
            .bind(source_id)
            .fetch_one(&mut *conn)
            .await?;
        let plan = match lifecycle::merge((source, &source_state), (target, &target_state), contacts as u64) {
            Ok(plan) => plan,
            Err(why) => return Ok(WriteOutcome::Refused(why)),
        };
        let before = (self.summary_by_id(conn, source_id).await?, self.summary_by_id(conn, target_id).await?);

        for sql in [
            "UPDATE contacts SET ticket_id = $1 WHERE ticket_id = $2",
            "UPDATE attachments SET ticket_id = $1 WHERE ticket_id = $2",
        ] {
            sqlx::query(sql).bind(target_id).bind(source_id).execute(&mut *conn).await?;
        }
        // Attachments of contacts recorded earlier in this batch are written at its end.
        for row in pending.attachments.iter_mut().filter(|row| row.first() == Some(&Value::Int(source_id))) {
            row[0] = Value::Int(target_id);
        }
        let moved_text: String = sqlx::query_scalar("SELECT search_text FROM tickets WHERE id = $1")
            .bind(source_id)
            .fetch_one(&mut *conn)
            .await?;
        self.append_search_text(conn, pending, target_id, &moved_text).await?;
        sqlx::query("UPDATE tickets SET contact_count = contact_count + $1, updated_at = $2 WHERE id = $3")
            .bind(contacts)
            .bind(now)
            .bind(target_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE tickets SET status = $1, resolution = $2, merged_into = $3, contact_count = 0, updated_at = $4 \
             WHERE id = $5",
        )
        .bind(plan.source.status.as_str())
        .bind(plan.source.resolution.as_deref())
        .bind(target.as_str())
        .bind(now)
        .bind(source_id)
        .execute(&mut *conn)
        .await?;

        for (id, changes) in [(source_id, &plan.source_changes), (target_id, &plan.target_changes)] {
            for c in changes {
                pending.history(id, now, actor, c.action(), &c.detail());
            }
        }
        let source = updated(&before.0, self.summary_by_id(conn, source_id).await?, &plan.source_changes);
        let target = updated(&before.1, self.summary_by_id(conn, target_id).await?, &plan.target_changes);
        Ok(WriteOutcome::Merged(Box::new(Merged { source, target, contacts_moved: contacts as u64 })))
    }
}

/// A ticket after the merge and what changed on it, its contact count included.
fn updated(before: &TicketSummary, after: TicketSummary, changes: &[Changed]) -> TicketUpdate {
    let mut changes: Vec<FieldChange> = changes.iter().map(Changed::field_change).collect();
    if before.contact_count != after.contact_count {
        changes.push(FieldChange {
            field: "contact_count",
            from: json!(before.contact_count),
            to: json!(after.contact_count),
        });
    }
    TicketUpdate { ticket: after, changes }
}
