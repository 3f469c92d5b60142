//! System facts (システム情報): what a monitoring system answered when asked about a ticket, one
//! row per answer (see `crate::facts`). The ticket's history entry for each goes through the
//! intake's writer; the row itself is written here, in a transaction of its own.

use super::{Store, StoreError};
use crate::domain::TicketNumber;
use serde::Serialize;

/// One answer to store.
#[derive(Debug, Clone)]
pub(crate) struct NewFacts<'a> {
    pub source: &'a str,
    /// As configured (it may carry a token: it is stored, never shown or logged).
    pub url: &'a str,
    pub fetched_at: i64,
    pub duration_ms: i64,
    pub ok: bool,
    pub http_status: Option<u16>,
    pub content_type: Option<&'a str>,
    pub body: Option<&'a str>,
    pub truncated: bool,
    pub error: Option<&'a str>,
    /// The operator who asked; none when it was fetched for a new ticket.
    pub requested_by: Option<&'a str>,
}

/// One stored answer as the API shows it (without the URL).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct SystemFacts {
    pub id: i64,
    pub source: String,
    #[serde(serialize_with = "super::prompts::jst")]
    pub fetched_at: i64,
    pub duration_ms: i64,
    pub ok: bool,
    /// The HTTP status answered, if any.
    pub status: Option<i64>,
    pub content_type: Option<String>,
    pub truncated: bool,
    pub error: Option<String>,
    pub body: Option<String>,
    pub requested_by: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    source: String,
    fetched_at: i64,
    duration_ms: i64,
    ok: i64,
    http_status: Option<i64>,
    content_type: Option<String>,
    truncated: i64,
    error: Option<String>,
    body: Option<String>,
    requested_by: Option<String>,
}

impl From<Row> for SystemFacts {
    fn from(r: Row) -> SystemFacts {
        SystemFacts {
            id: r.id,
            source: r.source,
            fetched_at: r.fetched_at,
            duration_ms: r.duration_ms,
            ok: r.ok != 0,
            status: r.http_status,
            content_type: r.content_type,
            truncated: r.truncated != 0,
            error: r.error,
            body: r.body,
            requested_by: r.requested_by,
        }
    }
}

const COLUMNS: &str =
    "id, source, fetched_at, duration_ms, ok, http_status, content_type, truncated, error, body, requested_by";

impl Store {
    /// Stores an answer on the ticket (the one it was merged into, if it was); none when there
    /// is no such ticket.
    pub(crate) async fn add_system_facts(
        &self,
        number: &TicketNumber,
        f: &NewFacts<'_>,
    ) -> Result<Option<SystemFacts>, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let Some(found) = self.find_ticket(&mut tx, number).await? else { return Ok(None) };
        let sql = format!(
            "INSERT INTO system_facts (ticket_id, source, url, fetched_at, duration_ms, ok, http_status, content_type, \
             body, truncated, error, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             RETURNING {COLUMNS}"
        );
        let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(found.ticket)
            .bind(f.source)
            .bind(f.url)
            .bind(f.fetched_at)
            .bind(f.duration_ms)
            .bind(i64::from(f.ok))
            .bind(f.http_status.map(i64::from))
            .bind(f.content_type)
            .bind(f.body)
            .bind(i64::from(f.truncated))
            .bind(f.error)
            .bind(f.requested_by)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(row.into()))
    }

    /// The ticket's stored answers, newest first, at most `limit`.
    pub(crate) async fn system_facts(&self, number: &TicketNumber, limit: u32) -> Result<Vec<SystemFacts>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let sql = format!(
                "SELECT {} FROM system_facts f JOIN tickets t ON t.id = f.ticket_id WHERE t.number = $1 \
                 ORDER BY f.id DESC LIMIT $2",
                COLUMNS.split(", ").map(|c| format!("f.{c}")).collect::<Vec<_>>().join(", ")
            );
            let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(number.as_str())
                .bind(i64::from(limit))
                .fetch_all(r.conn())
                .await?;
            r.finish().await?;
            Ok(rows.into_iter().map(SystemFacts::from).collect())
        })
        .await
    }
}
