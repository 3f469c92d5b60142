//! The satisfaction survey in the store: queued in the write batch that first resolves a ticket
//! ([`Store::survey_on_resolve`], with the outbox mail and the `survey_sent` history entry), answered
//! once through its link in a transaction of its own with the `survey_answered` entry, read by
//! operators and by the reports. The rules are [`crate::domain::survey`]; only a SHA-256 of a
//! link's token is stored, and neither the token nor an address nor a comment is logged.

use super::write::Pending;
use super::{Store, StoreError, TicketSummary};
use crate::domain::TicketNumber;
use crate::domain::survey::{self, Answer, Asking, NotAsked, Requester, Standing};
use crate::domain::time::jst_rfc3339;
use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::sync::{Arc, RwLock};

const DAY_MS: i64 = 86_400_000;

/// What the store needs to ask: `[survey]` and `[http] public_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyPolicy {
    pub enabled: bool,
    pub valid_days: u32,
    pub exclude_categories: Vec<String>,
    /// Without a trailing slash; empty: no link can be made, so nobody is asked.
    pub public_url: String,
}

impl Default for SurveyPolicy {
    fn default() -> Self {
        SurveyPolicy {
            enabled: true,
            valid_days: 14,
            exclude_categories: vec!["security_incident".into()],
            public_url: String::new(),
        }
    }
}

pub(super) type SharedSurvey = Arc<RwLock<SurveyPolicy>>;

/// A ticket's survey as operators see it (`GET /api/tickets/{number}/survey`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SurveyRecord {
    #[serde(serialize_with = "super::prompts::jst")]
    pub sent_at: i64,
    #[serde(serialize_with = "super::prompts::jst")]
    pub expires_at: i64,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub answered_at: Option<i64>,
    pub rating: Option<i64>,
    pub comment: Option<String>,
}

/// A survey as its link finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SurveyLink {
    pub ticket: TicketNumber,
    pub standing: Standing,
}

/// What answering through a link came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnswerOutcome {
    Stored(TicketNumber),
    Unknown,
    AlreadyAnswered,
    Expired,
}

/// One answer given in a report's period, with its ticket as it is now.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct SurveyAnswerRow {
    pub number: String,
    pub category: String,
    pub tier: i64,
    pub rating: i64,
}

/// The survey's raw figures of a report's period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SurveyFacts {
    /// Surveys queued in the period.
    pub sent: i64,
    /// Answers given in the period, in the order they came.
    pub answers: Vec<SurveyAnswerRow>,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    id: i64,
    ticket_id: i64,
    number: String,
    expires_at: i64,
    answered_at: Option<i64>,
}

impl LinkRow {
    fn ticket(&self) -> Result<TicketNumber, StoreError> {
        self.number.parse().map_err(|_| StoreError::Corrupt("tickets.number is not a ticket number".into()))
    }
}

const LINK_SELECT: &str = "SELECT s.id, s.ticket_id, t.number, s.expires_at, s.answered_at FROM surveys s \
                           JOIN tickets t ON t.id = s.ticket_id WHERE s.token_hash = $1";

/// A new link token and the hash kept of it.
fn new_token() -> (String, String) {
    let token = crate::auth::random_hex();
    let hash = super::sha256_hex(token.as_bytes());
    (token, hash)
}

/// The hash a link's token is looked up by.
pub(crate) fn token_hash(token: &str) -> String {
    super::sha256_hex(token.as_bytes())
}

impl Store {
    /// Replaces the survey settings (every clone of this store sees them).
    pub(crate) fn set_survey(&self, policy: SurveyPolicy) {
        if let Ok(mut p) = self.survey.write() {
            *p = policy;
        }
    }

    pub(crate) fn survey_policy(&self) -> SurveyPolicy {
        self.survey.read().map(|p| p.clone()).unwrap_or_default()
    }

    /// After `ticket` moved to resolved in this batch: queues its survey unless the survey is off,
    /// the ticket had one, or nobody is to be asked (then `survey_skipped` says why, when the
    /// ticket had an address at all).
    pub(super) async fn survey_on_resolve(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        ticket: &TicketSummary,
        now: i64,
    ) -> Result<(), StoreError> {
        let policy = self.survey_policy();
        if !policy.enabled {
            return Ok(());
        }
        let had: Option<i64> = sqlx::query_scalar("SELECT id FROM surveys WHERE ticket_id = $1")
            .bind(ticket.id)
            .fetch_optional(&mut *conn)
            .await?;
        if had.is_some() {
            return Ok(());
        }
        let requester = self.requester(conn, pending, ticket.id).await?;
        let asking =
            Asking { category: &ticket.category, excluded: &policy.exclude_categories, public_url: &policy.public_url };
        let requester_ref = requester.as_ref().map(|(email, automatic)| Requester { email, automatic: *automatic });
        let to = match survey::recipient(requester_ref, asking) {
            Ok(to) => to.to_owned(),
            Err(why) => {
                self.note_not_asked(pending, ticket.id, why, now);
                return Ok(());
            }
        };
        let (token, hash) = new_token();
        let expires_at = now + i64::from(policy.valid_days) * DAY_MS;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO surveys (ticket_id, token_hash, sent_to, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (ticket_id) DO NOTHING RETURNING id",
        )
        .bind(ticket.id)
        .bind(&hash)
        .bind(&to)
        .bind(now)
        .bind(expires_at)
        .fetch_optional(&mut *conn)
        .await?;
        if inserted.is_none() {
            return Ok(());
        }
        let link = format!("{}/survey/{token}", policy.public_url.trim_end_matches('/'));
        let facts =
            survey::MailFacts { number: ticket.number.as_str(), subject: &ticket.subject, link: &link, expires_at };
        let (subject, body) = survey::mail(&facts);
        let message_id = format!("survey.{}.{}@madoguchi", ticket.number, crate::random::token());
        let outbox_id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (ticket_id, kind, to_addr, to_key, message_id, subject, body, status, \
             next_attempt_at, created_at) VALUES ($1, 'survey', $2, $3, $4, $5, $6, 'pending', $7, $8) RETURNING id",
        )
        .bind(ticket.id)
        .bind(&to)
        .bind(to.to_ascii_lowercase())
        .bind(&message_id)
        .bind(&subject)
        .bind(&body)
        // Sent now in real time, whatever time the batch was told.
        .bind(crate::domain::time::now_millis())
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        pending.mail_now = true;
        let detail = json!({"outbox_id": outbox_id, "expires_at": jst_rfc3339(expires_at)});
        pending.history(ticket.id, now, survey::SYSTEM_ACTOR, "survey_sent", &detail);
        Ok(())
    }

    /// Records why someone who wrote in is not asked; a ticket nobody gave an address for has
    /// nothing to say (most calls).
    fn note_not_asked(&self, pending: &mut Pending, ticket_id: i64, why: NotAsked, now: i64) {
        if why == NotAsked::NoAddress {
            return;
        }
        if why == NotAsked::NoPublicUrl {
            tracing::debug!("a satisfaction survey was not sent: [http] public_url is not set, so there is no link");
        }
        pending.history(ticket_id, now, survey::SYSTEM_ACTOR, "survey_skipped", &json!({"reason": why.reason()}));
    }

    /// The requester: the address of the ticket's first contact that gave one (not a FAX
    /// gateway's), and whether that contact was automatic mail (its intake details say so).
    async fn requester(
        &self,
        conn: &mut AnyConnection,
        pending: &Pending,
        ticket_id: i64,
    ) -> Result<Option<(String, bool)>, StoreError> {
        let first: Option<(i64, String)> = sqlx::query_as(
            "SELECT id, email FROM contacts WHERE ticket_id = $1 AND email IS NOT NULL AND email <> '' \
             AND channel <> 'fax' ORDER BY id LIMIT 1",
        )
        .bind(ticket_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((contact_id, email)) = first else { return Ok(None) };
        let stored: Vec<String> =
            sqlx::query_scalar("SELECT detail FROM history WHERE ticket_id = $1 AND action = 'intake_details'")
                .bind(ticket_id)
                .fetch_all(&mut *conn)
                .await?;
        // A contact recorded in this batch has its details still pending.
        let details = stored.iter().map(String::as_str).chain(pending.details(ticket_id, "intake_details"));
        let automatic = details.filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok()).any(|d| {
            d["contact_id"].as_i64() == Some(contact_id)
                && d["details"]["automatic"].as_str().is_some_and(|a| !a.is_empty())
        });
        Ok(Some((email, automatic)))
    }

    /// The survey a link's token names, if any, and where it stands at `now`.
    pub(crate) async fn survey_link(&self, token_hash: &str, now: i64) -> Result<Option<SurveyLink>, StoreError> {
        let row: Option<LinkRow> = sqlx::query_as(LINK_SELECT).bind(token_hash).fetch_optional(&self.pool).await?;
        row.map(|r| {
            Ok(SurveyLink { ticket: r.ticket()?, standing: survey::standing(r.answered_at, r.expires_at, now) })
        })
        .transpose()
    }

    /// Stores the answer to the survey a link's token names, once, with the ticket's
    /// `survey_answered` entry, in one transaction; an answered or expired survey is not changed.
    pub(crate) async fn answer_survey(
        &self,
        token_hash: &str,
        answer: &Answer,
        now: i64,
    ) -> Result<AnswerOutcome, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let sql = format!("{LINK_SELECT}{}", self.backend.lock_rows());
        let row: Option<LinkRow> = sqlx::query_as(AssertSqlSafe(sql)).bind(token_hash).fetch_optional(&mut *tx).await?;
        let Some(row) = row else { return Ok(AnswerOutcome::Unknown) };
        match survey::standing(row.answered_at, row.expires_at, now) {
            Standing::Answered => return Ok(AnswerOutcome::AlreadyAnswered),
            Standing::Expired => return Ok(AnswerOutcome::Expired),
            Standing::Open => {}
        }
        let done = sqlx::query(
            "UPDATE surveys SET answered_at = $1, rating = $2, comment = $3 WHERE id = $4 AND answered_at IS NULL",
        )
        .bind(now)
        .bind(answer.rating)
        .bind(answer.comment.as_deref())
        .bind(row.id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(AnswerOutcome::AlreadyAnswered);
        }
        let detail = json!({"rating": answer.rating, "comment": answer.comment.is_some()});
        sqlx::query(
            "INSERT INTO history (ticket_id, at, actor, action, detail) VALUES ($1, $2, $3, 'survey_answered', $4)",
        )
        .bind(row.ticket_id)
        .bind(now)
        .bind(survey::REQUESTER_ACTOR)
        .bind(detail.to_string())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AnswerOutcome::Stored(row.ticket()?))
    }

    /// A ticket's survey: `None` when there is no such ticket, `Some(None)` when it has none.
    pub async fn ticket_survey(&self, number: &TicketNumber) -> Result<Option<Option<SurveyRecord>>, StoreError> {
        self.timed(async {
            let ticket: Option<i64> = sqlx::query_scalar("SELECT id FROM tickets WHERE number = $1")
                .bind(number.as_str())
                .fetch_optional(&self.pool)
                .await?;
            let Some(ticket) = ticket else { return Ok(None) };
            let record: Option<SurveyRecord> = sqlx::query_as(
                "SELECT created_at AS sent_at, expires_at, answered_at, rating, comment FROM surveys WHERE ticket_id = $1",
            )
            .bind(ticket)
            .fetch_optional(&self.pool)
            .await?;
            Ok(Some(record))
        })
        .await
    }
}

/// The survey's figures of `[start, end)`, in the report's transaction: surveys queued in it,
/// and the answers given in it with their tickets' category and tier.
pub(super) async fn report_facts(conn: &mut AnyConnection, start: i64, end: i64) -> Result<SurveyFacts, StoreError> {
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM surveys WHERE created_at >= $1 AND created_at < $2")
        .bind(start)
        .bind(end)
        .fetch_one(&mut *conn)
        .await?;
    let answers: Vec<SurveyAnswerRow> = sqlx::query_as(
        "SELECT t.number, t.category, t.tier, s.rating FROM surveys s JOIN tickets t ON t.id = s.ticket_id \
         WHERE s.answered_at >= $1 AND s.answered_at < $2 AND s.rating IS NOT NULL ORDER BY s.answered_at, s.id",
    )
    .bind(start)
    .bind(end)
    .fetch_all(&mut *conn)
    .await?;
    Ok(SurveyFacts { sent, answers })
}
