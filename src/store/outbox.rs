//! The outbox: acknowledgements, operators' replies (and later notices) queued in the contact's own transaction,
//! then claimed, sent and retried by the notify worker. An item is `pending`, then `sending`
//! while one worker holds its claim, then `sent` or `failed` (or `pending` again to retry).
//! A claim older than the lease is taken over, so an item whose node died mid-send is sent.

use super::{Store, StoreError};
use crate::domain::TicketNumber;
use sqlx::{AssertSqlSafe, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: i64,
    pub kind: String,
    /// None for mail about no ticket (a periodic report).
    pub ticket: Option<TicketNumber>,
    pub to_addr: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub subject: String,
    /// The text of an operator's reply; acknowledgements are rendered from their template.
    pub body: Option<String>,
    pub attempts: i64,
    pub created_at: i64,
    /// When this worker claimed it; the claim must still hold when the result is recorded.
    pub claimed_at: i64,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: i64,
    kind: String,
    ticket: Option<String>,
    to_addr: String,
    message_id: String,
    in_reply_to: Option<String>,
    subject: String,
    body: Option<String>,
    attempts: i64,
    created_at: i64,
    claimed_at: i64,
}

impl ItemRow {
    fn item(self) -> Result<OutboxItem, StoreError> {
        let ticket = self
            .ticket
            .map(|t| t.parse().map_err(|e| StoreError::Corrupt(format!("outbox ticket: {e}"))))
            .transpose()?;
        Ok(OutboxItem {
            id: self.id,
            kind: self.kind,
            ticket,
            to_addr: self.to_addr,
            message_id: self.message_id,
            in_reply_to: self.in_reply_to,
            subject: self.subject,
            body: self.body,
            attempts: self.attempts,
            created_at: self.created_at,
            claimed_at: self.claimed_at,
        })
    }
}

impl Store {
    /// Claims up to `limit` items whose time has come (oldest first), and those whose claim is
    /// older than `lease_ms`; no other worker, on this node or another, gets them meanwhile.
    pub async fn outbox_claim(&self, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<OutboxItem>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET status = 'sending', claimed_at = $1 WHERE id IN (\
             SELECT id FROM outbox WHERE (status = 'pending' AND next_attempt_at <= $1) \
             OR (status = 'sending' AND claimed_at <= $2) ORDER BY next_attempt_at, id LIMIT $3{}) RETURNING id",
            self.backend.skip_locked()
        );
        let ids: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(now)
            .bind(now - lease_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = (2..ids.len() + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT o.id, o.kind, t.number AS ticket, o.to_addr, o.message_id, o.in_reply_to, o.subject, o.body, \
             o.attempts, o.created_at, o.claimed_at FROM outbox o LEFT JOIN tickets t ON t.id = o.ticket_id \
             WHERE o.claimed_at = $1 AND o.id IN ({list}) ORDER BY o.next_attempt_at, o.id"
        );
        let mut query = sqlx::query_as::<_, ItemRow>(AssertSqlSafe(sql)).bind(now);
        for id in ids {
            query = query.bind(id);
        }
        query.fetch_all(&self.pool).await?.into_iter().map(ItemRow::item).collect()
    }

    /// When the next item is due, or the oldest claim's lease runs out, if any.
    pub async fn outbox_next_due(&self, lease_ms: i64) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(CASE WHEN status = 'pending' THEN next_attempt_at ELSE claimed_at + $1 END) FROM outbox \
             WHERE status IN ('pending', 'sending')",
        )
        .bind(lease_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?)
    }

    /// Records that a claimed item was sent. False when the claim was lost (its lease ran out
    /// and another worker took it over), in which case nothing is changed.
    pub async fn outbox_sent(&self, item: &OutboxItem, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, attempts = attempts + 1, last_error = NULL, \
             claimed_at = NULL WHERE id = $2 AND status = 'sending' AND claimed_at = $3",
        )
        .bind(now)
        .bind(item.id)
        .bind(item.claimed_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed attempt of a claimed item: tried again at `retry_at`, or given up when
    /// that is `None`. False when the claim was lost.
    pub async fn outbox_failed(
        &self,
        item: &OutboxItem,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let (status, next) = match retry_at {
            Some(at) => ("pending", at),
            None => ("failed", 0),
        };
        let done = sqlx::query(
            "UPDATE outbox SET status = $1, attempts = attempts + 1, last_error = $2, claimed_at = NULL, \
             next_attempt_at = CASE WHEN $3 > 0 THEN $3 ELSE next_attempt_at END \
             WHERE id = $4 AND status = 'sending' AND claimed_at = $5",
        )
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(item.id)
        .bind(item.claimed_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Writes the outcome of an item's last attempt into its ticket's history: `relay_delivered`,
    /// or `relay_failed` with the error and whether it will be tried again.
    pub async fn note_delivery(&self, item: &OutboxItem, now: i64) -> Result<(), StoreError> {
        let row: Option<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE id = $1")
                .bind(item.id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((status, attempts, error)) = row else { return Ok(()) };
        let (action, detail) = match status.as_str() {
            "sent" => {
                ("relay_delivered", serde_json::json!({"to": item.to_addr, "kind": item.kind, "attempts": attempts}))
            }
            other => (
                "relay_failed",
                serde_json::json!({"to": item.to_addr, "kind": item.kind, "attempts": attempts, "error": error,
                    "retrying": other == "pending"}),
            ),
        };
        sqlx::query(
            "INSERT INTO history (ticket_id, at, actor, action, detail) SELECT ticket_id, $1, 'mail', $2, $3              FROM outbox WHERE id = $4",
        )
        .bind(now)
        .bind(action)
        .bind(detail.to_string())
        .bind(item.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `(status, attempts)` of every outbox item of a ticket, oldest first (for the console and tests).
    pub async fn outbox_of(&self, ticket: &TicketNumber) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT o.status, o.attempts FROM outbox o JOIN tickets t ON t.id = o.ticket_id WHERE t.number = $1 ORDER BY o.id",
        )
        .bind(ticket.as_str())
        .fetch_all(&self.pool)
        .await?)
    }
}
