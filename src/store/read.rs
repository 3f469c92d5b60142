//! Reading tickets: the list (filters, search, paging), one ticket with the first page of each of
//! its lists, and those lists a page at a time. Every read is one transaction with a time limit
//! (`[http] query_timeout_ms`): PostgreSQL stops the statement itself (`statement_timeout`);
//! on SQLite the statement is interrupted (see [`super::interrupt`]); either way the caller
//! gets [`StoreError::TimedOut`] at the limit.

use super::search::{SUMMARY_COLUMNS, Value, list_query};
use super::{
    AttachmentRecord, Backend, ContactRecord, ContactView, DetailLimits, HistoryEntry, Page, Store, StoreError,
    TicketDetail, TicketFilter, TicketPage, TicketSummary,
};
use crate::domain::{TicketNumber, Tier};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Executor, Row};
use std::future::Future;
use std::str::FromStr;

fn parse<T: FromStr>(row: &AnyRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e: T::Err| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(super) fn summary(row: &AnyRow) -> Result<TicketSummary, StoreError> {
    Ok(TicketSummary {
        id: row.try_get("id")?,
        number: parse(row, "number")?,
        subject: row.try_get("subject")?,
        channel: parse(row, "channel")?,
        category: row.try_get("category")?,
        priority: parse(row, "priority")?,
        tier: Tier::new(row.try_get("tier")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        status: parse(row, "status")?,
        contact_count: row.try_get("contact_count")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Store {
    /// `work` with the read time limit: [`StoreError::TimedOut`] when it runs out, or when the
    /// database stopped a statement for it.
    async fn timed<T>(&self, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
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
    async fn begin_read(&self) -> Result<Reading, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut armed = None;
        if let Some(limit) = self.read_timeout {
            match self.backend {
                Backend::Postgres => {
                    let ms = limit.as_millis().max(1);
                    tx.execute(AssertSqlSafe(format!("SET LOCAL statement_timeout = {ms}"))).await?;
                }
                Backend::Sqlite => armed = Some(super::interrupt::arm(&mut tx, limit).await?),
            }
        }
        Ok(Reading { tx, armed })
    }

    pub async fn list_tickets(&self, filter: &TicketFilter) -> Result<TicketPage, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let sql = list_query(self.backend, filter);
            let mut query = sqlx::query(AssertSqlSafe(sql.text));
            for v in sql.values {
                query = match v {
                    Value::Int(i) => query.bind(i),
                    Value::Text(s) => query.bind(s),
                    Value::Bytes(b) => query.bind(b),
                };
            }
            let rows = query.fetch_all(r.conn()).await?;
            r.finish().await?;
            let mut tickets = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
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
            r.finish().await?;
            let cursor = |n: Option<i64>| n.map(|n| n.to_string());
            Ok(Some(TicketDetail {
                ticket,
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

    pub async fn attachment(&self, id: i64) -> Result<Option<AttachmentRecord>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1");
            let row = sqlx::query(AssertSqlSafe(sql)).bind(id).fetch_optional(r.conn()).await?;
            r.finish().await?;
            row.as_ref().map(attachment).transpose()
        })
        .await
    }
}

/// A read transaction (see [`Store::begin_read`]). Dropped unfinished (the time ran out, the
/// client went away), it is rolled back and, on SQLite, its running statement interrupted.
struct Reading {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    armed: Option<super::interrupt::Armed>,
}

impl Reading {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    async fn finish(mut self) -> Result<(), StoreError> {
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
    let row = sqlx::query(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(conn).await?;
    row.as_ref().map(summary).transpose()
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
    let rows = sqlx::query(
        "SELECT id, channel, received_at, recorded_at, subject, body, caller_number, display_name, email, \
         fax_number, dialed_number, organisation, menu_choices, source_ref, raw, actor \
         FROM contacts WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(ticket_id)
    .bind(after.unwrap_or(0))
    .bind(i64::from(limit) + 1)
    .fetch_all(&mut *conn)
    .await?;
    let records = rows.iter().map(contact).collect::<Result<Vec<_>, StoreError>>()?;
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

fn contact(r: &AnyRow) -> Result<ContactRecord, StoreError> {
    Ok(ContactRecord {
        id: r.try_get("id")?,
        channel: parse(r, "channel")?,
        received_at: r.try_get("received_at")?,
        recorded_at: r.try_get("recorded_at")?,
        subject: r.try_get("subject")?,
        body: r.try_get("body")?,
        caller_number: r.try_get("caller_number")?,
        display_name: r.try_get("display_name")?,
        email: r.try_get("email")?,
        fax_number: r.try_get("fax_number")?,
        dialed_number: r.try_get("dialed_number")?,
        organisation: r.try_get("organisation")?,
        menu_choices: r.try_get("menu_choices")?,
        source_ref: r.try_get("source_ref")?,
        raw: r.try_get("raw")?,
        recorded_by: r.try_get("actor")?,
    })
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
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(key)
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit) + 1)
        .fetch_all(conn)
        .await?;
    let items = rows.iter().map(attachment).collect::<Result<Vec<_>, StoreError>>()?;
    Ok(paged(items, limit, |a| a.id))
}

fn attachment(r: &AnyRow) -> Result<AttachmentRecord, StoreError> {
    Ok(AttachmentRecord {
        id: r.try_get("id")?,
        contact_id: r.try_get("contact_id")?,
        sha256: r.try_get("sha256")?,
        filename: r.try_get("filename")?,
        content_type: r.try_get("content_type")?,
        size: r.try_get("size")?,
        created_at: r.try_get("created_at")?,
    })
}

async fn history_page(
    conn: &mut AnyConnection,
    ticket_id: i64,
    after: Option<i64>,
    limit: u32,
) -> Result<Page<HistoryEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, at, actor, action, detail FROM history WHERE ticket_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(ticket_id)
    .bind(after.unwrap_or(0))
    .bind(i64::from(limit) + 1)
    .fetch_all(conn)
    .await?;
    let items = rows
        .iter()
        .map(|r| {
            let detail: String = r.try_get("detail")?;
            Ok(HistoryEntry {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                detail: serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("history detail: {e}")))?,
            })
        })
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
