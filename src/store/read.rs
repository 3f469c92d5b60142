//! Reading tickets: the list (filters, search, paging) and one ticket with everything about it.

use super::search::{SUMMARY_COLUMNS, Value, list_query};
use super::{
    AttachmentRecord, ContactRecord, HistoryEntry, Store, StoreError, TicketDetail, TicketFilter, TicketPage,
    TicketSummary,
};
use crate::domain::TicketNumber;
use sqlx::{AssertSqlSafe, Row};

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
    pub async fn list_tickets(&self, filter: &TicketFilter) -> Result<TicketPage, StoreError> {
        let sql = list_query(self.backend, filter);
        let mut query = sqlx::query_as::<_, TicketSummary>(AssertSqlSafe(sql.text));
        for v in sql.values {
            query = match v {
                Value::Int(i) => query.bind(i),
                Value::Text(s) => query.bind(s),
                Value::Bytes(b) => query.bind(b),
            };
        }
        let mut tickets = query.fetch_all(&self.pool).await?;
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
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(number.as_str()).fetch_optional(&self.pool).await?)
    }

    pub async fn ticket(&self, number: &TicketNumber) -> Result<Option<TicketDetail>, StoreError> {
        let Some(ticket) = self.ticket_summary(number).await? else {
            return Ok(None);
        };
        let contacts: Vec<ContactRecord> = sqlx::query_as(
            "SELECT id, channel, received_at, recorded_at, subject, body, caller_number, display_name, email, \
             fax_number, dialed_number, organisation, menu_choices, source_ref, raw, actor \
             FROM contacts WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket.id)
        .fetch_all(&self.pool)
        .await?;
        let attachments = self.attachments_where("ticket_id = $1", ticket.id).await?;
        let history = sqlx::query_as::<_, HistoryRow>(
            "SELECT id, at, actor, action, detail FROM history WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket.id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(HistoryEntry::try_from)
        .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(TicketDetail { ticket, contacts, attachments, history }))
    }

    /// Content kept in the database (small attachments); `None` means it is a file.
    pub async fn blob(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row =
            sqlx::query("SELECT data FROM blobs WHERE sha256 = $1").bind(sha256).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
    }

    /// Whether any stored attachment has this content.
    pub async fn attachment_exists(&self, sha256: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
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
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(value).fetch_all(&self.pool).await?)
    }
}
