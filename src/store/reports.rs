//! What the periodic reports are computed from: counts and times over one period `[start, end)`
//! (UTC ms), read in one transaction so every figure sees the same moment. The arithmetic
//! (medians, ages, percentages) is `crate::reports`; here are only the queries. A scheduled
//! report is claimed in `report_runs` in the transaction that queues its mail.

use super::{Store, StoreError};
use sqlx::{AnyConnection, AssertSqlSafe};

/// Contacts the line adds to a call's ticket for its voicemail recording: part of the call, not
/// a contact of their own.
const VOICEMAIL: &str = "c.actor = 'ivr' AND c.source_ref LIKE '%#voicemail'";

/// History actions that are work on a ticket (a change, a reply, an escalation): by a person,
/// the first of them is the ticket's first response (as for its SLA clock).
pub(crate) const RESPONSE_ACTIONS: [&str; 9] = [
    "status_changed",
    "tier_changed",
    "category_changed",
    "priority_changed",
    "owner_changed",
    "resolution_set",
    "note_added",
    "reply_sent",
    "relay",
];

/// One history entry of a ticket made in the period that may be its response or resolution.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct WorkEntry {
    pub ticket_id: i64,
    pub created_at: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    /// `status_changed`: the status moved to.
    pub to_status: Option<String>,
}

/// A ticket that may be open at the period's end: made before it, and open now or changed
/// after it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct BacklogCandidate {
    pub created_at: i64,
    pub status_now: String,
    /// The status its last move before the end went to; none: it had not moved (new).
    pub status_then: Option<String>,
}

/// The period's raw figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ReportFacts {
    pub by_channel: Vec<(String, i64)>,
    pub by_category: Vec<(String, i64)>,
    pub by_tier: Vec<(i64, i64)>,
    /// JST hour (0–23), contacts.
    pub by_hour: Vec<(i64, i64)>,
    /// Tickets made in the period, each once (ticket id, created at), and their work entries.
    pub created: Vec<(i64, i64)>,
    pub work: Vec<WorkEntry>,
    /// SLA clocks that ended in the period: (kind, met or breached, count).
    pub sla: Vec<(String, String, i64)>,
    pub backlog: Vec<BacklogCandidate>,
    /// Calls that ended in the period by their recorded ending.
    pub call_endings: Vec<(Option<String>, i64)>,
    pub voicemails: i64,
    pub callbacks_created: i64,
    pub callbacks_done: i64,
    /// Relays to a group in the period (SLA warnings left out): (group id, group name, count).
    pub relays: Vec<(Option<String>, Option<String>, i64)>,
    /// Satisfaction surveys sent, and answers given, in the period.
    pub survey: super::SurveyFacts,
    /// The fault interviews of the tickets made in the period (merged duplicates left out):
    /// their `system` and `screen_id` answers.
    pub faults: Vec<FaultAnswers>,
}

/// What one fault interview says about where the fault is.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct FaultAnswers {
    pub system: Option<String>,
    pub screen_id: Option<String>,
}

/// The interview template whose answers the reports count as faults.
const FAULT_TEMPLATE: &str = "fault_report";

/// FAQ entries used in the period, when the FAQ's tables exist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FaqFacts {
    pub total: i64,
    /// (entry id, question, uses), most used first, at most ten.
    pub top: Vec<(String, String, i64)>,
}

async fn counts<K>(conn: &mut AnyConnection, sql: &str, start: i64, end: i64) -> Result<Vec<(K, i64)>, StoreError>
where
    K: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any> + Send + Unpin,
{
    Ok(sqlx::query_as(AssertSqlSafe(sql.to_owned())).bind(start).bind(end).fetch_all(&mut *conn).await?)
}

async fn count(conn: &mut AnyConnection, sql: &str, start: i64, end: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(AssertSqlSafe(sql.to_owned())).bind(start).bind(end).fetch_one(&mut *conn).await?)
}

impl Store {
    /// Everything a report of `[start, end)` needs but the FAQ's use.
    pub(crate) async fn report_facts(&self, start: i64, end: i64) -> Result<ReportFacts, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let facts = self.facts_in(r.conn(), start, end).await?;
            r.finish().await?;
            Ok(facts)
        })
        .await
    }

    async fn facts_in(&self, conn: &mut AnyConnection, start: i64, end: i64) -> Result<ReportFacts, StoreError> {
        let b = self.backend;
        let contacts = format!(
            "FROM contacts c JOIN tickets t ON t.id = c.ticket_id \
             WHERE c.received_at >= $1 AND c.received_at < $2 AND NOT ({VOICEMAIL})"
        );
        let by_channel = counts(conn, &format!("SELECT c.channel, COUNT(*) {contacts} GROUP BY 1"), start, end).await?;
        let by_category =
            counts(conn, &format!("SELECT t.category, COUNT(*) {contacts} GROUP BY 1"), start, end).await?;
        let by_tier = counts(conn, &format!("SELECT t.tier, COUNT(*) {contacts} GROUP BY 1"), start, end).await?;
        // JST is UTC+9 all year: the hour is plain arithmetic on the instant.
        let hour = "((c.received_at + 32400000) / 3600000) % 24";
        let by_hour = counts(conn, &format!("SELECT {hour}, COUNT(*) {contacts} GROUP BY 1"), start, end).await?;

        let created: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, created_at FROM tickets WHERE created_at >= $1 AND created_at < $2")
                .bind(start)
                .bind(end)
                .fetch_all(&mut *conn)
                .await?;
        let actions = RESPONSE_ACTIONS.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT h.ticket_id, t.created_at, h.at, h.actor, h.action, {} AS to_status FROM history h \
             JOIN tickets t ON t.id = h.ticket_id WHERE t.created_at >= $1 AND t.created_at < $2 \
             AND h.action IN ({actions}) ORDER BY h.ticket_id, h.at, h.id",
            b.json_text("h.detail", "to")
        );
        let work: Vec<WorkEntry> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(start).bind(end).fetch_all(&mut *conn).await?;

        let sla: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, state, COUNT(*) FROM sla_clocks WHERE state IN ('met', 'breached') \
             AND ended_at >= $1 AND ended_at < $2 GROUP BY kind, state",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&mut *conn)
        .await?;

        let sql = format!(
            "SELECT t.created_at, t.status AS status_now, (SELECT {} FROM history h WHERE h.ticket_id = t.id \
             AND h.action = 'status_changed' AND h.at < $1 ORDER BY h.at DESC, h.id DESC LIMIT 1) AS status_then \
             FROM tickets t WHERE t.created_at < $1 AND (t.status NOT IN ('resolved', 'closed') OR EXISTS \
             (SELECT 1 FROM history h2 WHERE h2.ticket_id = t.id AND h2.action IN ('status_changed', 'merged_into') \
             AND h2.at >= $1))",
            b.json_text("h.detail", "to")
        );
        let backlog: Vec<BacklogCandidate> = sqlx::query_as(AssertSqlSafe(sql)).bind(end).fetch_all(&mut *conn).await?;

        let sql = format!(
            "SELECT {}, COUNT(*) FROM history h WHERE h.action = 'call_ended' AND h.at >= $1 AND h.at < $2 GROUP BY 1",
            b.json_text("h.detail", "ending")
        );
        let call_endings = counts(conn, &sql, start, end).await?;
        let voicemails = count(
            conn,
            &format!(
                "SELECT COUNT(*) FROM contacts c WHERE {VOICEMAIL} AND c.received_at >= $1 AND c.received_at < $2"
            ),
            start,
            end,
        )
        .await?;
        let callbacks_created =
            count(conn, "SELECT COUNT(*) FROM callbacks WHERE created_at >= $1 AND created_at < $2", start, end)
                .await?;
        let callbacks_done = count(
            conn,
            "SELECT COUNT(*) FROM callbacks WHERE state = 'done' AND closed_at >= $1 AND closed_at < $2",
            start,
            end,
        )
        .await?;
        let sql = format!(
            "SELECT {group}, MAX({name}), COUNT(*) FROM history h WHERE h.action = 'relay' AND h.at >= $1 \
             AND h.at < $2 AND COALESCE({reason}, '') NOT LIKE 'sla_warning:%' GROUP BY 1",
            group = b.json_text("h.detail", "group"),
            name = b.json_text("h.detail", "group_name"),
            reason = b.json_text("h.detail", "reason"),
        );
        let relays: Vec<(Option<String>, Option<String>, i64)> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(start).bind(end).fetch_all(&mut *conn).await?;
        let survey = super::survey::report_facts(conn, start, end).await?;
        let sql = format!(
            "SELECT {} AS system, {} AS screen_id FROM interviews i JOIN tickets t ON t.id = i.ticket_id \
             WHERE i.template = $3 AND t.created_at >= $1 AND t.created_at < $2 AND t.merged_into IS NULL",
            b.json_text("i.answers", "system"),
            b.json_text("i.answers", "screen_id"),
        );
        let faults: Vec<FaultAnswers> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(start).bind(end).bind(FAULT_TEMPLATE).fetch_all(&mut *conn).await?;
        let mut by_hour = by_hour;
        by_hour.sort();
        Ok(ReportFacts {
            by_channel,
            by_category,
            by_tier,
            by_hour,
            created,
            work,
            sla,
            backlog,
            call_endings,
            voicemails,
            callbacks_created,
            callbacks_done,
            relays,
            survey,
            faults,
        })
    }

    /// The FAQ's use in `[start, end)`: `None` while the FAQ's tables (`faq_uses`, `faq_entries`)
    /// are not in this database. Their shape is the FAQ feature's; only this function knows it.
    pub(crate) async fn report_faq(&self, start: i64, end: i64) -> Result<Option<FaqFacts>, StoreError> {
        let exists: i64 =
            sqlx::query_scalar(self.backend.table_exists()).bind("faq_uses").fetch_one(&self.pool).await?;
        if exists == 0 {
            return Ok(None);
        }
        // Its own reads, outside the report's transaction: a shape this query does not expect
        // leaves the rest of the report standing.
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM faq_uses WHERE used_at >= $1 AND used_at < $2")
            .bind(start)
            .bind(end)
            .fetch_one(&self.pool)
            .await?;
        let top: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT CAST(u.entry_id AS TEXT), COALESCE(MAX(e.question), ''), COUNT(*) FROM faq_uses u \
             LEFT JOIN faq_entries e ON e.id = u.entry_id WHERE u.used_at >= $1 AND u.used_at < $2 \
             GROUP BY u.entry_id ORDER BY 3 DESC, 1 LIMIT 10",
        )
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(FaqFacts { total, top }))
    }

    /// Whether the scheduled report `kind` of the period starting at `period_start` was queued.
    pub(crate) async fn report_sent(&self, kind: &str, period_start: i64) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_runs WHERE kind = $1 AND period_start = $2")
            .bind(kind)
            .bind(period_start)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Claims the scheduled report `kind` of `[period_start, period_end)` and queues one mail to
    /// each of `to` in the same transaction. False, and nothing queued, when it was claimed before
    /// (by this service earlier, or by another on the same database).
    pub(crate) async fn queue_report(&self, run: &ReportRun<'_>, to: &[String], now: i64) -> Result<bool, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let claimed = sqlx::query(
            "INSERT INTO report_runs (kind, period_start, period_end, recipients, queued_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, period_start) DO NOTHING",
        )
        .bind(run.kind)
        .bind(run.period_start)
        .bind(run.period_end)
        .bind(to.len() as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for addr in to {
            let message_id = format!("report.{}.{}.{}@madoguchi", run.kind, run.period_start, crate::random::token());
            sqlx::query(
                "INSERT INTO outbox (ticket_id, kind, to_addr, to_key, message_id, subject, body, status, \
                 next_attempt_at, created_at) VALUES (NULL, 'report', $1, $2, $3, $4, $5, 'pending', $6, $7)",
            )
            .bind(addr)
            .bind(addr.to_ascii_lowercase())
            .bind(&message_id)
            .bind(run.subject)
            .bind(run.body)
            // Sent now in real time, whatever time the scheduler was told (a test, a catch-up).
            .bind(crate::domain::time::now_millis())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.outbox_ready.notify_one();
        Ok(true)
    }
}

/// A scheduled report's claim and its mail.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportRun<'a> {
    pub kind: &'a str,
    pub period_start: i64,
    pub period_end: i64,
    pub subject: &'a str,
    pub body: &'a str,
}
