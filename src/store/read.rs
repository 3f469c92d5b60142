//! Reading tickets: the list (filters, search, paging), one ticket with the first page of each of
//! its lists, and those lists a page at a time. Every read is one transaction with a time limit
//! (`[http] query_timeout_ms`): PostgreSQL stops the statement itself (`statement_timeout`);
//! on SQLite the statement is interrupted (see [`super::interrupt`]); either way the caller
//! gets [`StoreError::TimedOut`] at the limit.

use super::search::{SUMMARY_COLUMNS, list_query};
use super::{
    AttachmentRecord, ContactRecord, ContactView, DetailLimits, HistoryEntry, Page, Store, StoreError, TicketDetail,
    TicketFilter, TicketPage, TicketSummary,
};
use crate::domain::TicketNumber;
use sqlx::{AnyConnection, AssertSqlSafe, Executor, Row};
use std::future::Future;

/// A history row before its detail is read as JSON (sqlx's `Any` has no JSON type).
#[derive(sqlx::FromRow)]
struct HistoryRow {
    id: i64,
    at: i64,
    actor: String,
    action: String,
    detail: String,
}

impl TryFrom<HistoryRow> for HistoryEntry {
    type Error = StoreError;
    fn try_from(r: HistoryRow) -> Result<HistoryEntry, StoreError> {
        let detail =
            serde_json::from_str(&r.detail).map_err(|e| StoreError::Corrupt(format!("history detail: {e}")))?;
        Ok(HistoryEntry { id: r.id, at: r.at, actor: r.actor, action: r.action, detail })
    }
}

impl Store {
    /// `work` with the read time limit: [`StoreError::TimedOut`] when it runs out, or when the
    /// database stopped a statement for it.
    pub(super) async fn timed<T>(&self, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        crate::metrics::timed(&self.metrics().db_read, self.limited(work)).await
    }

    async fn limited<T>(&self, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        let Some(limit) = self.read_timeout else { return work.await };
        let started = std::time::Instant::now();
        match tokio::time::timeout(limit, work).await {
            Ok(Err(StoreError::Database(e))) if stopped_for_time(&e) => Err(StoreError::TimedOut(limit)),
            // The timer has a resolution; an answer that came after the limit is late all the same.
            Ok(_) if started.elapsed() > limit => Err(StoreError::TimedOut(limit)),
            Ok(result) => result,
            Err(_) => Err(StoreError::TimedOut(limit)),
        }
    }

    /// A read-only transaction whose statements stop at the read time limit.
    pub(super) async fn begin_read(&self) -> Result<Reading, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut armed = None;
        if let Some(limit) = self.read_timeout {
            match self.backend.read_time_limit(limit) {
                Some(sql) => {
                    tx.execute(AssertSqlSafe(sql)).await?;
                }
                None => armed = Some(super::interrupt::arm(&mut tx, limit).await?),
            }
        }
        Ok(Reading { tx, armed })
    }

    pub async fn list_tickets(&self, filter: &TicketFilter) -> Result<TicketPage, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let sql = list_query(self.backend, filter);
            let mut tickets = sql.query_as::<TicketSummary>().fetch_all(r.conn()).await?;
            r.finish().await?;
            let next = if tickets.len() > filter.limit as usize {
                tickets.truncate(filter.limit as usize);
                tickets.last().map(|t| t.id.to_string())
            } else {
                None
            };
            Ok(TicketPage { tickets, next })
        })
        .await
    }

    pub async fn ticket_summary(&self, number: &TicketNumber) -> Result<Option<TicketSummary>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let t = summary_of(r.conn(), number).await?;
            r.finish().await?;
            Ok(t)
        })
        .await
    }

    /// The ticket with the first page of its contacts (each with its first attachments), of its
    /// attachments and of its history: bounded by `limits`, whatever the ticket holds.
    pub async fn ticket(
        &self,
        number: &TicketNumber,
        limits: DetailLimits,
    ) -> Result<Option<TicketDetail>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let Some(ticket) = summary_of(r.conn(), number).await? else {
                r.finish().await?;
                return Ok(None);
            };
            let contacts =
                contacts_page(r.conn(), ticket.id, None, limits.contacts, limits.attachments_per_contact).await?;
            let attachments = attachments_page(r.conn(), ticket.id, None, None, limits.attachments).await?;
            let attachment_count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM attachments WHERE ticket_id = $1")
                .bind(ticket.id)
                .fetch_one(r.conn())
                .await?;
            let history = history_page(r.conn(), ticket.id, None, limits.history).await?;
            let resolution: Option<String> = sqlx::query_scalar("SELECT resolution FROM tickets WHERE id = $1")
                .bind(ticket.id)
                .fetch_one(r.conn())
                .await?;
            r.finish().await?;
            let cursor = |n: Option<i64>| n.map(|n| n.to_string());
            Ok(Some(TicketDetail {
                ticket,
                resolution,
                contacts: contacts.items,
                contacts_next: cursor(contacts.next),
                attachments: attachments.items,
                attachment_count,
                attachments_next: cursor(attachments.next),
                history: history.items,
                history_next: cursor(history.next),
            }))
        })
        .await
    }

    /// A page of a ticket's contacts, oldest first, after the contact `after`; `None` when the
    /// ticket does not exist.
    pub async fn contacts(
        &self,
        number: &TicketNumber,
        after: Option<i64>,
        limit: u32,
        attachments_each: u32,
    ) -> Result<Option<Page<ContactView>>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let page = match summary_of(r.conn(), number).await? {
                Some(t) => Some(contacts_page(r.conn(), t.id, after, limit, attachments_each).await?),
                None => None,
            };
            r.finish().await?;
            Ok(page)
        })
        .await
    }

    /// A page of a ticket's attachments (or of one of its contacts'), oldest first; `None` when
    /// the ticket (or that contact of it) does not exist.
    pub async fn attachments(
        &self,
        number: &TicketNumber,
        contact: Option<i64>,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Page<AttachmentRecord>>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let Some(t) = summary_of(r.conn(), number).await? else {
                r.finish().await?;
                return Ok(None);
            };
            if let Some(contact) = contact {
                let found = sqlx::query("SELECT id FROM contacts WHERE id = $1 AND ticket_id = $2")
                    .bind(contact)
                    .bind(t.id)
                    .fetch_optional(r.conn())
                    .await?;
                if found.is_none() {
                    r.finish().await?;
                    return Ok(None);
                }
            }
            let page = attachments_page(r.conn(), t.id, contact, after, limit).await?;
            r.finish().await?;
            Ok(Some(page))
        })
        .await
    }

    /// A page of a ticket's history, oldest first; `None` when the ticket does not exist.
    pub async fn history(
        &self,
        number: &TicketNumber,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Option<Page<HistoryEntry>>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let page = match summary_of(r.conn(), number).await? {
                Some(t) => Some(history_page(r.conn(), t.id, after, limit).await?),
                None => None,
            };
            r.finish().await?;
            Ok(page)
        })
        .await
    }

    /// Content kept in the database (small attachments); `None` means it is a file.
    pub async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let row =
                sqlx::query("SELECT data FROM blobs WHERE sha256 = $1").bind(sha256).fetch_optional(r.conn()).await?;
            r.finish().await?;
            Ok(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
        })
        .await
    }

    /// Whether any stored attachment has this content (the intake's own check, not a client's
    /// read: no time limit).
    pub async fn attachment_exists(&self, sha256: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub async fn attachment(&self, id: i64) -> Result<Option<AttachmentRecord>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1");
            let found = sqlx::query_as(AssertSqlSafe(sql)).bind(id).fetch_optional(r.conn()).await?;
            r.finish().await?;
            Ok(found)
        })
        .await
    }
}

/// A read transaction (see [`Store::begin_read`]). Dropped unfinished (the time ran out, the
/// client went away), it is rolled back and, on SQLite, its running statement interrupted.
pub(super) struct Reading {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    armed: Option<super::interrupt::Armed>,
}

impl Reading {
    pub(super) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub(super) async fn finish(mut self) -> Result<(), StoreError> {
        if let Some(armed) = self.armed.take() {
            armed.disarm(&mut self.tx).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// PostgreSQL's `statement_timeout` (57014, query_canceled) or SQLite's interrupt.
fn stopped_for_time(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c == "57014" || c == "9") || db.message().contains("interrupted")
        }
        _ => false,
    }
}

async fn summary_of(conn: &mut AnyConnection, number: &TicketNumber) -> Result<Option<TicketSummary>, StoreError> {
    let sql = format!("SELECT {SUMMARY_COLUMNS} FROM tickets t WHERE t.number = $1");
    Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(conn).await?)
}

/// Fetches one more than `limit` rows to know whether a next page exists.
fn paged<T>(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Page<T> {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(id)
    } else {
        None
    };
    Page { items, next }
}

async fn contacts_page(
    conn: &mut AnyConnection,
    ticket_id: i64,
    after: Option<i64>,
    limit: u32,
    attachments_each: u32,
) -> Result<Page<ContactView>, StoreError> {
    let records: Vec<ContactRecord> = sqlx::query_as(
        "SELECT id, channel, received_at, recorded_at, subject, body, caller_number, display_name, email, \
         fax_number, dialed_number, organisation, menu_choices, source_ref, raw, actor \
         FROM contacts WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(ticket_id)
    .bind(after.unwrap_or(0))
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *conn)
    .await?;
    let page = paged(records, limit, |c| c.id);
    let mut items = Vec::with_capacity(page.items.len());
    for c in page.items {
        let attachments = attachments_page(conn, ticket_id, Some(c.id), None, attachments_each).await?;
        let attachment_count = if attachments.next.is_none() {
            attachments.items.len() as i64
        } else {
            sqlx::query_scalar("SELECT COUNT(*) FROM attachments WHERE contact_id = $1")
                .bind(c.id)
                .fetch_one(&mut *conn)
                .await?
        };
        items.push(ContactView { contact: c, attachments: attachments.items, attachment_count });
    }
    Ok(Page { items, next: page.next })
}

const ATTACHMENT_COLUMNS: &str = "id, contact_id, sha256, filename, content_type, size, created_at";

/// A ticket's attachments, or one contact's (by the `attachments_contact` index).
async fn attachments_page(
    conn: &mut AnyConnection,
    ticket_id: i64,
    contact: Option<i64>,
    after: Option<i64>,
    limit: u32,
) -> Result<Page<AttachmentRecord>, StoreError> {
    let (condition, key) = match contact {
        Some(c) => ("contact_id = $1", c),
        None => ("ticket_id = $1", ticket_id),
    };
    let sql =
        format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE {condition} AND id > $2 ORDER BY id LIMIT $3");
    let items: Vec<AttachmentRecord> = sqlx::query_as(AssertSqlSafe(sql))
        .bind(key)
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit) + 1)
        .fetch_all(conn)
        .await?;
    Ok(paged(items, limit, |a| a.id))
}

async fn history_page(
    conn: &mut AnyConnection,
    ticket_id: i64,
    after: Option<i64>,
    limit: u32,
) -> Result<Page<HistoryEntry>, StoreError> {
    let items = sqlx::query_as::<_, HistoryRow>(
        "SELECT id, at, actor, action, detail FROM history WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(ticket_id)
    .bind(after.unwrap_or(0))
    .bind(i64::from(limit) + 1)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(HistoryEntry::try_from)
    .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(paged(items, limit, |h| h.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const ENDLESS: &str = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

    /// Fails the test instead of hanging if a read is not stopped.
    async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(30), f).await.unwrap_or_else(|_| panic!("{what} was not stopped"))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_endless_sqlite_read_is_interrupted_at_its_limit_and_when_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();

        // At the time limit, inside SQLite (no tokio timeout involved here).
        let limited = store.with_read_timeout(Duration::from_millis(50));
        let mut r = limited.begin_read().await.unwrap();
        let e = within("the endless read", sqlx::query(ENDLESS).fetch_one(r.conn())).await.err().expect("stopped");
        assert!(stopped_for_time(&e), "{e}");
        drop(r);

        // Abandoned (the client went away) long before its limit: both connections are freed.
        let patient = store.with_read_timeout(Duration::from_secs(3600));
        let mut running = Vec::new();
        for _ in 0..2 {
            let (started, on_start) = tokio::sync::oneshot::channel();
            let store = patient.clone();
            let task = tokio::spawn(async move {
                let mut r = store.begin_read().await.unwrap();
                started.send(()).unwrap();
                let _ = sqlx::query(ENDLESS).fetch_one(r.conn()).await;
            });
            on_start.await.unwrap();
            running.push(task);
        }
        for task in &running {
            task.abort();
        }
        for _ in 0..4 {
            within("an abandoned read", store.ping()).await.unwrap();
            let filter = TicketFilter { limit: 5, ..Default::default() };
            let page = within("a read after them", patient.list_tickets(&filter)).await;
            assert!(page.unwrap_or_else(|e| panic!("{e}")).tickets.is_empty());
        }
        store.close().await;
    }
}
