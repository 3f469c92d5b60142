//! FAQ entries: drafts linked to the tickets they came from, their review step by step,
//! publication and withdrawal (each change checked by `domain::faq` inside its transaction and
//! audited in it), uses, and what the console, the public page and the weekly report read.

use super::search::{Sql, Value, escape_like};
use super::users::audit_in;
use super::{Store, StoreError};
use crate::domain::faq::{self, Audience, Facts, Refusal, State, Steps};
use crate::domain::faq_candidates::Resolved;
use crate::domain::text::fold;
use serde::Serialize;
use sqlx::{AnyConnection, AssertSqlSafe};

/// One entry as the API, the console and the reports show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaqEntry {
    pub id: i64,
    pub question: String,
    pub answer: String,
    pub category: String,
    pub audience: &'static str,
    pub state: &'static str,
    pub author: String,
    pub edited_by: String,
    #[serde(serialize_with = "super::prompts::jst")]
    pub created_at: i64,
    #[serde(serialize_with = "super::prompts::jst")]
    pub updated_at: i64,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub submitted_at: Option<i64>,
    pub submitted_by: Option<String>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub published_at: Option<i64>,
    pub published_by: Option<String>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub withdrawn_at: Option<i64>,
    pub withdrawn_by: Option<String>,
    /// The numbers of the tickets it was drafted from.
    pub tickets: Vec<String>,
    /// Every decision on it, oldest first (earlier rounds too).
    pub decisions: Vec<FaqDecision>,
    /// Tickets answered from it.
    pub uses: i64,
    /// Counts its submissions: the decisions of this round are the ones that count.
    #[serde(skip)]
    pub review_round: i64,
}

/// A step approved, or the entry rejected, by a supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct FaqDecision {
    #[serde(skip)]
    pub entry_id: i64,
    #[serde(rename = "round")]
    pub review_round: i64,
    /// The step approved, or the one that was awaited when it was rejected.
    pub step: String,
    /// `approved` or `rejected`.
    pub decision: String,
    pub decided_by: String,
    #[serde(serialize_with = "super::prompts::jst")]
    pub decided_at: i64,
    pub comment: Option<String>,
}

impl FaqEntry {
    pub fn state(&self) -> State {
        self.state.parse().unwrap_or(State::Withdrawn)
    }

    /// The steps approved in the current round, in order.
    pub fn approved_steps(&self) -> Vec<String> {
        self.decisions
            .iter()
            .filter(|d| d.review_round == self.review_round && d.decision == "approved")
            .map(|d| d.step.clone())
            .collect()
    }

    pub fn facts(&self) -> Facts {
        Facts {
            state: self.state(),
            author: self.author.clone(),
            edited_by: self.edited_by.clone(),
            approved: self.approved_steps(),
        }
    }
}

/// A new draft.
#[derive(Debug, Clone)]
pub struct FaqDraft {
    pub question: String,
    pub answer: String,
    pub category: String,
    pub audience: Audience,
    pub author: String,
    /// Ids of the tickets it is drafted from.
    pub tickets: Vec<i64>,
}

/// What one person does to an entry.
#[derive(Debug, Clone)]
pub enum FaqAction<'a> {
    /// New words (every field; the caller merges what was not changed) and more tickets.
    Edit {
        question: &'a str,
        answer: &'a str,
        category: &'a str,
        audience: Audience,
        tickets: &'a [i64],
    },
    Submit,
    /// Records that `step` was obtained.
    Approve {
        step: &'a str,
        comment: Option<&'a str>,
    },
    Reject {
        comment: Option<&'a str>,
    },
    Publish,
    Withdraw,
}

impl FaqAction<'_> {
    /// The audit action.
    pub fn name(&self) -> &'static str {
        match self {
            FaqAction::Edit { .. } => "faq_edited",
            FaqAction::Submit => "faq_submitted",
            FaqAction::Approve { .. } => "faq_step_approved",
            FaqAction::Reject { .. } => "faq_rejected",
            FaqAction::Publish => "faq_published",
            FaqAction::Withdraw => "faq_withdrawn",
        }
    }
}

/// What a change came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaqChange {
    Done(Box<FaqEntry>),
    Refused(Refusal),
    Missing,
}

/// Which entries a list shows.
#[derive(Debug, Clone, Default)]
pub struct FaqFilter {
    /// Folded words that must all appear in the question, answer or category.
    pub words: Vec<String>,
    pub state: Option<State>,
    pub category: Option<String>,
    pub audience: Option<Audience>,
    pub limit: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    question: String,
    answer: String,
    category: String,
    audience: String,
    state: String,
    review_round: i64,
    author: String,
    edited_by: String,
    created_at: i64,
    updated_at: i64,
    submitted_at: Option<i64>,
    submitted_by: Option<String>,
    published_at: Option<i64>,
    published_by: Option<String>,
    withdrawn_at: Option<i64>,
    withdrawn_by: Option<String>,
    uses: i64,
}

const COLUMNS: &str = "e.id, e.question, e.answer, e.category, e.audience, e.state, e.review_round, e.author, \
     e.edited_by, e.created_at, e.updated_at, e.submitted_at, e.submitted_by, e.published_at, e.published_by, \
     e.withdrawn_at, e.withdrawn_by, (SELECT COUNT(*) FROM faq_uses u WHERE u.entry_id = e.id) AS uses";

fn entry_of(r: Row) -> Result<FaqEntry, StoreError> {
    Ok(FaqEntry {
        audience: r.audience.parse::<Audience>().map_err(StoreError::Corrupt)?.as_str(),
        state: r.state.parse::<State>().map_err(StoreError::Corrupt)?.as_str(),
        id: r.id,
        question: r.question,
        answer: r.answer,
        category: r.category,
        author: r.author,
        edited_by: r.edited_by,
        created_at: r.created_at,
        updated_at: r.updated_at,
        submitted_at: r.submitted_at,
        submitted_by: r.submitted_by,
        published_at: r.published_at,
        published_by: r.published_by,
        withdrawn_at: r.withdrawn_at,
        withdrawn_by: r.withdrawn_by,
        tickets: Vec::new(),
        decisions: Vec::new(),
        uses: r.uses,
        review_round: r.review_round,
    })
}

/// What the console's search looks in.
fn search_text(question: &str, answer: &str, category: &str) -> String {
    fold(&format!("{question}\n{answer}\n{category}"))
}

/// `$first, $first+1, …` for `n` values.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The rows `sql` selects, with their tickets and decisions.
async fn entries(conn: &mut AnyConnection, sql: Sql) -> Result<Vec<FaqEntry>, StoreError> {
    let rows: Vec<Row> = sql.query_as().fetch_all(&mut *conn).await?;
    let mut entries = rows.into_iter().map(entry_of).collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Ok(entries);
    }
    let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    let list = placeholders(1, ids.len());
    let mut tickets = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(format!(
        "SELECT ft.entry_id, t.number FROM faq_entry_tickets ft JOIN tickets t ON t.id = ft.ticket_id \
         WHERE ft.entry_id IN ({list}) ORDER BY t.id"
    )));
    let mut decisions = sqlx::query_as::<_, FaqDecision>(AssertSqlSafe(format!(
        "SELECT entry_id, review_round, step, decision, decided_by, decided_at, comment FROM faq_approvals \
         WHERE entry_id IN ({list}) ORDER BY id"
    )));
    for id in &ids {
        tickets = tickets.bind(*id);
        decisions = decisions.bind(*id);
    }
    for (entry_id, number) in tickets.fetch_all(&mut *conn).await? {
        if let Some(e) = entries.iter_mut().find(|e| e.id == entry_id) {
            e.tickets.push(number);
        }
    }
    for d in decisions.fetch_all(&mut *conn).await? {
        if let Some(e) = entries.iter_mut().find(|e| e.id == d.entry_id) {
            e.decisions.push(d);
        }
    }
    Ok(entries)
}

async fn entry_by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<FaqEntry>, StoreError> {
    let mut sql = Sql::default();
    let p = sql.bind(Value::Int(id));
    sql.text = format!("SELECT {COLUMNS} FROM faq_entries e WHERE e.id = {p}");
    Ok(entries(conn, sql).await?.pop())
}

async fn link_tickets(conn: &mut AnyConnection, entry: i64, tickets: &[i64]) -> Result<(), StoreError> {
    for ticket in tickets {
        sqlx::query(
            "INSERT INTO faq_entry_tickets (entry_id, ticket_id) VALUES ($1, $2) \
             ON CONFLICT (entry_id, ticket_id) DO NOTHING",
        )
        .bind(entry)
        .bind(ticket)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Stores a draft linked to its tickets, and its audit line; its id.
    pub async fn draft_faq(&self, d: &FaqDraft, now: i64) -> Result<i64, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO faq_entries (question, answer, category, audience, state, review_round, author, edited_by, \
             search_text, created_at, updated_at) VALUES ($1, $2, $3, $4, 'draft', 0, $5, $5, $6, $7, $7) RETURNING id",
        )
        .bind(&d.question)
        .bind(&d.answer)
        .bind(&d.category)
        .bind(d.audience.as_str())
        .bind(&d.author)
        .bind(search_text(&d.question, &d.answer, &d.category))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        link_tickets(&mut tx, id, &d.tickets).await?;
        let detail = serde_json::json!({ "faq": id, "tickets": d.tickets.len() });
        audit_in(&mut tx, now, &d.author, "faq_drafted", &format!("faq#{id}"), &detail).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The ids of tickets by number, in order (`None` for a number no ticket has).
    pub async fn ticket_ids(&self, numbers: &[String]) -> Result<Vec<Option<i64>>, StoreError> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT id, number FROM tickets WHERE number IN ({})", placeholders(1, numbers.len()));
        let mut query = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql));
        for n in numbers {
            query = query.bind(n);
        }
        let found = query.fetch_all(&self.pool).await?;
        Ok(numbers.iter().map(|n| found.iter().find(|(_, number)| number == n).map(|(id, _)| *id)).collect())
    }

    /// One person's action on an entry, checked against the rules on the entry as it is inside
    /// the transaction, written with its audit line.
    pub async fn change_faq(
        &self,
        id: i64,
        action: &FaqAction<'_>,
        by: &str,
        role: crate::domain::user::Role,
        steps: &Steps,
        now: i64,
    ) -> Result<FaqChange, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let lock = format!("SELECT id FROM faq_entries WHERE id = $1{}", self.backend.lock_rows());
        if sqlx::query(AssertSqlSafe(lock)).bind(id).fetch_optional(&mut *tx).await?.is_none() {
            return Ok(FaqChange::Missing);
        }
        let entry = entry_by_id(&mut tx, id).await?.ok_or(StoreError::Corrupt(format!("FAQ entry {id} vanished")))?;
        let facts = entry.facts();
        let next = match action {
            FaqAction::Edit { .. } => faq::edit(&facts),
            FaqAction::Submit => faq::submit(&facts, steps),
            FaqAction::Approve { step, .. } => faq::approve(&facts, steps, step, by, role),
            FaqAction::Reject { .. } => faq::reject(&facts, by, role),
            FaqAction::Publish => faq::publish(&facts, role),
            FaqAction::Withdraw => faq::withdraw(&facts, role),
        };
        let next = match next {
            Ok(next) => next,
            Err(refusal) => return Ok(FaqChange::Refused(refusal)),
        };
        let mut detail = serde_json::json!({ "faq": id, "from": entry.state, "to": next.as_str() });
        match action {
            FaqAction::Edit { question, answer, category, audience, tickets } => {
                sqlx::query(
                    "UPDATE faq_entries SET question = $2, answer = $3, category = $4, audience = $5, search_text = $6, \
                     edited_by = $7, state = $8, updated_at = $9 WHERE id = $1",
                )
                .bind(id)
                .bind(*question)
                .bind(*answer)
                .bind(*category)
                .bind(audience.as_str())
                .bind(search_text(question, answer, category))
                .bind(by)
                .bind(next.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                link_tickets(&mut tx, id, tickets).await?;
            }
            FaqAction::Submit => {
                sqlx::query(
                    "UPDATE faq_entries SET state = $2, review_round = review_round + 1, submitted_at = $3, \
                     submitted_by = $4, updated_at = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(next.as_str())
                .bind(now)
                .bind(by)
                .execute(&mut *tx)
                .await?;
            }
            FaqAction::Approve { comment, .. } | FaqAction::Reject { comment } => {
                let (step, decision) = match action {
                    FaqAction::Approve { step, .. } => (*step, "approved"),
                    _ => (steps.next(facts.approved.len()).unwrap_or_default(), "rejected"),
                };
                detail["step"] = serde_json::json!(step);
                sqlx::query(
                    "INSERT INTO faq_approvals (entry_id, review_round, step, decision, decided_by, decided_at, comment) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(id)
                .bind(entry.review_round)
                .bind(step)
                .bind(decision)
                .bind(by)
                .bind(now)
                .bind(*comment)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE faq_entries SET state = $2, updated_at = $3 WHERE id = $1")
                    .bind(id)
                    .bind(next.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            FaqAction::Publish | FaqAction::Withdraw => {
                let sql = if matches!(action, FaqAction::Publish) {
                    "UPDATE faq_entries SET state = $2, published_at = $3, published_by = $4, updated_at = $3 WHERE id = $1"
                } else {
                    "UPDATE faq_entries SET state = $2, withdrawn_at = $3, withdrawn_by = $4, updated_at = $3 WHERE id = $1"
                };
                sqlx::query(sql).bind(id).bind(next.as_str()).bind(now).bind(by).execute(&mut *tx).await?;
            }
        }
        // A published entry is an answer suggestions may offer; any other is not.
        self.suggest_sync_faq(&mut tx, id).await?;
        audit_in(&mut tx, now, by, action.name(), &format!("faq#{id}"), &detail).await?;
        let entry = entry_by_id(&mut tx, id).await?.ok_or(StoreError::Corrupt(format!("FAQ entry {id} vanished")))?;
        tx.commit().await?;
        Ok(FaqChange::Done(Box::new(entry)))
    }

    pub async fn faq_entry(&self, id: i64) -> Result<Option<FaqEntry>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let entry = entry_by_id(r.conn(), id).await?;
            r.finish().await?;
            Ok(entry)
        })
        .await
    }

    /// Entries by the filter, newest first (published ones by their publication).
    pub async fn faq_entries(&self, f: &FaqFilter) -> Result<Vec<FaqEntry>, StoreError> {
        let mut sql = Sql::default();
        let mut conditions = vec!["1 = 1".to_owned()];
        for w in &f.words {
            let p = sql.bind(Value::Text(format!("%{}%", escape_like(w))));
            conditions.push(format!("e.search_text LIKE {p} ESCAPE '\\'"));
        }
        if let Some(state) = f.state {
            let p = sql.bind(Value::Text(state.as_str().into()));
            conditions.push(format!("e.state = {p}"));
        }
        if let Some(category) = &f.category {
            let p = sql.bind(Value::Text(category.clone()));
            conditions.push(format!("e.category = {p}"));
        }
        if let Some(audience) = f.audience {
            let p = sql.bind(Value::Text(audience.as_str().into()));
            conditions.push(format!("e.audience = {p}"));
        }
        let limit = sql.bind(Value::Int(f.limit));
        sql.text = format!(
            "SELECT {COLUMNS} FROM faq_entries e WHERE {} ORDER BY COALESCE(e.published_at, 0) DESC, e.id DESC LIMIT {limit}",
            conditions.join(" AND ")
        );
        self.timed(async {
            let mut r = self.begin_read().await?;
            let found = entries(r.conn(), sql).await?;
            r.finish().await?;
            Ok(found)
        })
        .await
    }

    /// What the public page shows: published entries for the public, by category, oldest first.
    pub async fn public_faq(&self) -> Result<Vec<FaqEntry>, StoreError> {
        let sql = Sql {
            text: format!(
                "SELECT {COLUMNS} FROM faq_entries e WHERE e.state = 'published' AND e.audience = 'public' \
                 ORDER BY e.category, e.published_at, e.id"
            ),
            ..Default::default()
        };
        self.timed(async {
            let mut r = self.begin_read().await?;
            let found = entries(r.conn(), sql).await?;
            r.finish().await?;
            Ok(found)
        })
        .await
    }

    /// The entries published in `[from, to)` (whatever became of them since), in the order they
    /// were published.
    pub async fn faq_additions(&self, from: i64, to: i64) -> Result<Vec<FaqEntry>, StoreError> {
        let mut sql = Sql::default();
        let (f, t) = (sql.bind(Value::Int(from)), sql.bind(Value::Int(to)));
        sql.text = format!(
            "SELECT {COLUMNS} FROM faq_entries e WHERE e.published_at >= {f} AND e.published_at < {t} \
             ORDER BY e.published_at, e.id"
        );
        self.timed(async {
            let mut r = self.begin_read().await?;
            let found = entries(r.conn(), sql).await?;
            r.finish().await?;
            Ok(found)
        })
        .await
    }

    /// Records that `ticket_id` was answered from the entry (once per ticket); both must exist.
    /// Whether this use is new.
    pub async fn record_faq_use(&self, entry_id: i64, ticket_id: i64, by: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO faq_uses (entry_id, ticket_id, used_by, used_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (entry_id, ticket_id) DO NOTHING",
        )
        .bind(entry_id)
        .bind(ticket_id)
        .bind(by)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Resolved and closed tickets opened in `[from, to)`, newest first, at most `limit` (merged
    /// ones left out: their contacts are on another ticket).
    pub async fn faq_candidate_tickets(&self, from: i64, to: i64, limit: i64) -> Result<Vec<Resolved>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let rows: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
                "SELECT t.number, t.category, t.subject, t.resolution, CAST(CASE WHEN EXISTS \
                 (SELECT 1 FROM faq_entry_tickets ft WHERE ft.ticket_id = t.id) THEN 1 ELSE 0 END AS BIGINT) \
                 FROM tickets t WHERE t.status IN ('resolved', 'closed') AND t.merged_into IS NULL \
                 AND t.created_at >= $1 AND t.created_at < $2 ORDER BY t.id DESC LIMIT $3",
            )
            .bind(from)
            .bind(to)
            .bind(limit)
            .fetch_all(r.conn())
            .await?;
            r.finish().await?;
            Ok(rows
                .into_iter()
                .map(|(number, category, subject, resolution, linked)| Resolved {
                    number,
                    category,
                    subject,
                    resolution: resolution.unwrap_or_default(),
                    linked: linked == 1,
                })
                .collect())
        })
        .await
    }
}
