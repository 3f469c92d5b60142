//! The events table several nodes share (see `crate::events::bus`): written in id order by one
//! node at a time, read by id by all of them.

use super::{Backend, Store, StoreError};

/// An event as a node publishes it, before the table gives it its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewEvent {
    pub at: i64,
    pub kind: String,
    pub tier: Option<i64>,
    /// The event's JSON object, without its id.
    pub body: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct EventRow {
    pub id: i64,
    pub kind: String,
    pub tier: Option<i64>,
    pub body: String,
}

/// Events older than this are pruned once there are more than [`KEEP_EVENTS`] newer ones.
const KEEP_MS: i64 = 3_600_000;
/// Rows kept, at least, for clients resuming with an older Last-Event-ID than a node holds.
const KEEP_EVENTS: i64 = 100_000;

/// Rows one INSERT statement carries at most (4 parameters each, well under the drivers' limits).
const INSERT_ROWS: usize = 128;

/// The channel every node listens on for new rows.
pub(crate) const EVENTS_CHANNEL: &str = "madoguchi_events";

impl Store {
    /// Writes `events` in one transaction, their ids in the order given, and tells every node
    /// listening. Several nodes writing at once take turns, so a reader that has seen id n has
    /// seen every committed id below it.
    pub(crate) async fn insert_events(&self, node: &str, events: &[NewEvent]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Events are a live view, not a record: the commit need not wait for the disk (one
            // lost in a crash is a resync for the consoles), and the screen-pop does not wait
            // for a flush.
            sqlx::query("SET LOCAL synchronous_commit TO OFF").execute(&mut *tx).await?;
            // Held to the commit: ids are drawn and committed one writer after the other.
            sqlx::query("SELECT pg_advisory_xact_lock(7242, 1)").execute(&mut *tx).await?;
        }
        // One statement for the batch: its rows take their ids in the order given.
        for chunk in events.chunks(INSERT_ROWS) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let p = 4 * i + 2;
                    format!("(${}, $1, ${}, ${}, ${})", p, p + 1, p + 2, p + 3)
                })
                .collect();
            let sql = format!("INSERT INTO events (at, node, kind, tier, body) VALUES {}", rows.join(", "));
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(node);
            for e in chunk {
                insert = insert.bind(e.at).bind(&e.kind).bind(e.tier).bind(&e.body);
            }
            insert.execute(&mut *tx).await?;
        }
        if self.backend == Backend::Postgres {
            // Delivered at the commit.
            sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {EVENTS_CHANNEL}"))).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Events after id `after`, oldest first, at most `limit`.
    pub(crate) async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<EventRow>, StoreError> {
        Ok(sqlx::query_as("SELECT id, kind, tier, body FROM events WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// The newest `n` events, oldest first.
    pub(crate) async fn latest_events(&self, n: i64) -> Result<Vec<EventRow>, StoreError> {
        let mut rows: Vec<EventRow> =
            sqlx::query_as("SELECT id, kind, tier, body FROM events ORDER BY id DESC LIMIT $1")
                .bind(n)
                .fetch_all(&self.pool)
                .await?;
        rows.reverse();
        Ok(rows)
    }

    /// Removes events older than an hour that [`KEEP_EVENTS`] newer ones follow; how many.
    pub(crate) async fn prune_events(&self, now: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM events WHERE at < $1 AND id < (SELECT COALESCE(MAX(id), 0) FROM events) - $2")
                .bind(now - KEEP_MS)
                .bind(KEEP_EVENTS)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }
}
