//! The outbox: acknowledgements (and later notices) queued in the contact's own transaction,
//! then sent and retried by the notify worker.

use super::{Store, StoreError};
use crate::domain::TicketNumber;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    pub ticket: TicketNumber,
    pub to_addr: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub subject: String,
    pub attempts: i64,
    pub created_at: i64,
}

impl Store {
    /// Pending items whose time has come, oldest first.
    pub async fn outbox_due(&self, now: i64, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        sqlx::query(
            "SELECT o.id, o.kind, t.number, o.to_addr, o.message_id, o.in_reply_to, o.subject, o.attempts, o.created_at \
             FROM outbox o JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.status = 'pending' AND o.next_attempt_at <= $1 ORDER BY o.next_attempt_at, o.id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            let number: String = r.try_get("number")?;
            Ok(OutboxItem {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                ticket: number.parse().map_err(|e| StoreError::Corrupt(format!("number: {e}")))?,
                to_addr: r.try_get("to_addr")?,
                message_id: r.try_get("message_id")?,
                in_reply_to: r.try_get("in_reply_to")?,
                subject: r.try_get("subject")?,
                attempts: r.try_get("attempts")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
    }

    /// When the next pending item is due, if any.
    pub async fn outbox_next_due(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?)
    }

    pub async fn outbox_sent(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a failed attempt: tried again at `retry_at`, or given up when that is `None`.
    pub async fn outbox_failed(&self, id: i64, error: &str, retry_at: Option<i64>) -> Result<(), StoreError> {
        let (status, next) = match retry_at {
            Some(at) => ("pending", at),
            None => ("failed", 0),
        };
        sqlx::query(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, last_error = $2, \
             next_attempt_at = CASE WHEN $3 > 0 THEN $3 ELSE next_attempt_at END WHERE id = $4",
        )
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `(status, attempts)` of every outbox item of a ticket, oldest first (for the console and tests).
    pub async fn outbox_of(&self, ticket: &TicketNumber) -> Result<Vec<(String, i64)>, StoreError> {
        sqlx::query(
            "SELECT o.status, o.attempts FROM outbox o JOIN tickets t ON t.id = o.ticket_id WHERE t.number = $1 ORDER BY o.id",
        )
        .bind(ticket.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("status")?, r.try_get("attempts")?)))
        .collect()
    }
}
