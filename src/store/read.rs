//! Reading tickets: the list (filters, search, paging) and one ticket with everything about it.

use super::search::{SUMMARY_COLUMNS, Value, list_query};
use super::{
    AttachmentRecord, ContactRecord, HistoryEntry, Store, StoreError, TicketDetail, TicketFilter, TicketPage,
    TicketSummary,
};
use crate::domain::{TicketNumber, Tier};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
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
    pub async fn list_tickets(&self, filter: &TicketFilter) -> Result<TicketPage, StoreError> {
        let sql = list_query(self.backend, filter);
        let mut query = sqlx::query(AssertSqlSafe(sql.text));
        for v in sql.values {
            query = match v {
                Value::Int(i) => query.bind(i),
                Value::Text(s) => query.bind(s),
                Value::Bytes(b) => query.bind(b),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut tickets = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        let next = if tickets.len() > filter.limit as usize {
            tickets.truncate(filter.limit as usize);
            tickets.last().map(|t| t.id.to_string())
        } else {
            None
        };
        Ok(TicketPage { tickets, next })
    }

    pub async fn ticket_summary(&self, number: &TicketNumber) -> Result<Option<TicketSummary>, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM tickets t WHERE t.number = $1");
        let row = sqlx::query(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(&self.pool).await?;
        row.as_ref().map(summary).transpose()
    }

    pub async fn ticket(&self, number: &TicketNumber) -> Result<Option<TicketDetail>, StoreError> {
        let Some(ticket) = self.ticket_summary(number).await? else {
            return Ok(None);
        };
        let contacts = sqlx::query(
            "SELECT id, channel, received_at, recorded_at, subject, body, caller_number, display_name, email, \
             fax_number, dialed_number, organisation, menu_choices, source_ref, raw, actor \
             FROM contacts WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket.id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
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
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let attachments = self.attachments_where("ticket_id = $1", ticket.id).await?;
        let history = sqlx::query("SELECT id, at, actor, action, detail FROM history WHERE ticket_id = $1 ORDER BY id")
            .bind(ticket.id)
            .fetch_all(&self.pool)
            .await?
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
        Ok(Some(TicketDetail { ticket, contacts, attachments, history }))
    }

    /// Content kept in the database (small attachments); `None` means it is a file.
    pub async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row =
            sqlx::query("SELECT data FROM blobs WHERE sha256 = $1").bind(sha256).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
    }

    pub async fn attachment(&self, id: i64) -> Result<Option<AttachmentRecord>, StoreError> {
        Ok(self.attachments_where("id = $1", id).await?.pop())
    }

    async fn attachments_where(
        &self,
        condition: &'static str,
        value: i64,
    ) -> Result<Vec<AttachmentRecord>, StoreError> {
        let sql = format!(
            "SELECT id, contact_id, sha256, filename, content_type, size, created_at FROM attachments WHERE {condition} ORDER BY id"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(value)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(AttachmentRecord {
                    id: r.try_get("id")?,
                    contact_id: r.try_get("contact_id")?,
                    sha256: r.try_get("sha256")?,
                    filename: r.try_get("filename")?,
                    content_type: r.try_get("content_type")?,
                    size: r.try_get("size")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
