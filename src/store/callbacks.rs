//! Callback tasks (折り返し): made by the line when a call reached nobody or left a voicemail,
//! listed per tier for the console, worked by recording attempts. Each change is one transaction
//! that also writes the ticket's history entry (`callback_created`, `callback_attempt`). The rules
//! are [`crate::domain::callback`].

use super::search::{Sql, Value};
use super::{Store, StoreError};
use crate::domain::callback::{self, Outcome, Reason, Refusal, State};
use crate::domain::{TicketNumber, Tier, phone};
use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, AssertSqlSafe};

/// One task as the API and the console show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Callback {
    pub id: i64,
    pub ticket: TicketNumber,
    pub subject: String,
    /// The ticket's tier when the task was made.
    pub tier: Tier,
    /// As the PBX sent it.
    pub number: Option<String>,
    pub normalised: Option<String>,
    pub name: Option<String>,
    pub reason: Reason,
    pub state: State,
    #[serde(serialize_with = "super::prompts::jst")]
    pub created_at: i64,
    pub attempts: i64,
    pub last_result: Option<Outcome>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub last_attempt_at: Option<i64>,
    pub last_note: Option<String>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

/// A task the line asks for: one per call and reason.
#[derive(Debug, Clone)]
pub(crate) struct NewCallback<'a> {
    pub ticket: &'a TicketNumber,
    pub call_id: &'a str,
    pub caller_number: Option<&'a str>,
    pub caller_name: Option<&'a str>,
    pub reason: Reason,
    /// Who made it, for the history (`ivr`).
    pub actor: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Created {
    New(Box<Callback>),
    /// The call had its task already (a retried write).
    Existing(Box<Callback>),
    NoSuchTicket,
}

/// One attempt to call back, checked (see [`callback::attempt_of`]).
#[derive(Debug, Clone)]
pub(crate) struct Attempt<'a> {
    pub id: i64,
    pub outcome: Outcome,
    pub note: Option<&'a str>,
    /// The operator's login.
    pub by: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Attempted {
    Recorded(Box<Callback>),
    Refused(Refusal),
    Missing,
}

/// Which tasks a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallbackFilter {
    pub tier: Option<Tier>,
    pub state: State,
    /// Only tasks made before this instant (UTC ms).
    pub created_before: Option<i64>,
    pub limit: u32,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    #[sqlx(try_from = "String")]
    number: TicketNumber,
    subject: String,
    #[sqlx(try_from = "i64")]
    tier: Tier,
    caller_number: Option<String>,
    caller_key: Option<String>,
    caller_name: Option<String>,
    reason: String,
    state: String,
    created_at: i64,
    attempts: i64,
    last_attempt_at: Option<i64>,
    last_result: Option<String>,
    last_note: Option<String>,
    closed_at: Option<i64>,
    closed_by: Option<String>,
}

const SELECT: &str = "SELECT c.id, t.number, t.subject, c.tier, c.caller_number, c.caller_key, c.caller_name, \
     c.reason, c.state, c.created_at, c.attempts, c.last_attempt_at, c.last_result, c.last_note, c.closed_at, \
     c.closed_by FROM callbacks c JOIN tickets t ON t.id = c.ticket_id";

fn callback_of(r: Row) -> Result<Callback, StoreError> {
    Ok(Callback {
        reason: r.reason.parse().map_err(StoreError::Corrupt)?,
        state: r.state.parse().map_err(StoreError::Corrupt)?,
        last_result: r.last_result.map(|o| o.parse()).transpose().map_err(StoreError::Corrupt)?,
        id: r.id,
        ticket: r.number,
        subject: r.subject,
        tier: r.tier,
        number: r.caller_number,
        normalised: r.caller_key,
        name: r.caller_name,
        created_at: r.created_at,
        attempts: r.attempts,
        last_attempt_at: r.last_attempt_at,
        last_note: r.last_note,
        closed_at: r.closed_at,
        closed_by: r.closed_by,
    })
}

async fn by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Callback>, StoreError> {
    let sql = format!("{SELECT} WHERE c.id = $1");
    sqlx::query_as::<_, Row>(AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?.map(callback_of).transpose()
}

async fn add_history(
    conn: &mut AnyConnection,
    ticket_id: i64,
    at: i64,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO history (ticket_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(ticket_id)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(detail.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

impl Store {
    /// The call's task on its ticket (the one it was merged into, if it was), with the history
    /// entry `callback_created`; the task the call has already, if it has one.
    pub(crate) async fn create_callback(&self, new: &NewCallback<'_>, now: i64) -> Result<Created, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let Some(found) = self.find_ticket(&mut tx, new.ticket).await? else { return Ok(Created::NoSuchTicket) };
        let (tier,): (i64,) =
            sqlx::query_as("SELECT tier FROM tickets WHERE id = $1").bind(found.ticket).fetch_one(&mut *tx).await?;
        // Two nodes may end the same call's task at once: the unique (call, reason) decides.
        let inserted: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO callbacks (ticket_id, tier, call_id, caller_number, caller_key, caller_name, reason, state, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (call_id, reason) DO NOTHING RETURNING id",
        )
        .bind(found.ticket)
        .bind(tier)
        .bind(new.call_id)
        .bind(new.caller_number)
        .bind(new.caller_number.and_then(phone::normalize))
        .bind(new.caller_name)
        .bind(new.reason.as_str())
        .bind(State::Open.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((id,)) = inserted else {
            let sql = format!("{SELECT} WHERE c.call_id = $1 AND c.reason = $2");
            let row: Row = sqlx::query_as(AssertSqlSafe(sql))
                .bind(new.call_id)
                .bind(new.reason.as_str())
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Created::Existing(Box::new(callback_of(row)?)));
        };
        let detail = json!({"callback": id, "reason": new.reason, "tier": tier});
        add_history(&mut tx, found.ticket, now, new.actor, "callback_created", detail).await?;
        self.sla_callback_sync(&mut tx, found.ticket, now).await?;
        let task = by_id(&mut tx, id).await?.ok_or_else(|| StoreError::Corrupt("a new callback vanished".into()))?;
        tx.commit().await?;
        Ok(Created::New(Box::new(task)))
    }

    /// Records an attempt: the task's count, last result and note (closed by a result that
    /// closes it) and the ticket's history entry `callback_attempt`, in one transaction.
    pub(crate) async fn record_callback_attempt(&self, a: &Attempt<'_>, now: i64) -> Result<Attempted, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let sql = format!("SELECT ticket_id, state, attempts FROM callbacks WHERE id = $1{}", self.backend.lock_rows());
        let row: Option<(i64, String, i64)> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(a.id).fetch_optional(&mut *tx).await?;
        let Some((ticket_id, state, attempts)) = row else { return Ok(Attempted::Missing) };
        let state: State = state.parse().map_err(StoreError::Corrupt)?;
        let next = match callback::after_attempt(state, a.outcome) {
            Ok(next) => next,
            Err(refusal) => return Ok(Attempted::Refused(refusal)),
        };
        let done = next == State::Done;
        sqlx::query(
            "UPDATE callbacks SET attempts = attempts + 1, last_attempt_at = $2, last_result = $3, last_note = $4, \
             state = $5, closed_at = $6, closed_by = $7 WHERE id = $1",
        )
        .bind(a.id)
        .bind(now)
        .bind(a.outcome.as_str())
        .bind(a.note)
        .bind(next.as_str())
        .bind(done.then_some(now))
        .bind(done.then_some(a.by))
        .execute(&mut *tx)
        .await?;
        let detail = json!({
            "callback": a.id, "result": a.outcome, "note": a.note, "attempt": attempts + 1, "state": next,
        });
        add_history(&mut tx, ticket_id, now, a.by, "callback_attempt", detail).await?;
        self.sla_callback_sync(&mut tx, ticket_id, now).await?;
        let task = by_id(&mut tx, a.id).await?.ok_or_else(|| StoreError::Corrupt("a callback vanished".into()))?;
        tx.commit().await?;
        Ok(Attempted::Recorded(Box::new(task)))
    }

    pub(crate) async fn callback(&self, id: i64) -> Result<Option<Callback>, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let task = by_id(r.conn(), id).await?;
            r.finish().await?;
            Ok(task)
        })
        .await
    }

    /// The work list: open tasks oldest first (what an SLA clock looks at too, with
    /// `created_before`: it counts business hours from each task's `created_at`); done ones most
    /// recently closed first.
    pub(crate) async fn callbacks(&self, f: &CallbackFilter) -> Result<Vec<Callback>, StoreError> {
        let mut sql = Sql::default();
        let mut conditions = vec![format!("c.state = {}", sql.bind(Value::Text(f.state.as_str().into())))];
        if let Some(tier) = f.tier {
            conditions.push(format!("c.tier = {}", sql.bind(Value::Int(i64::from(tier.get())))));
        }
        if let Some(before) = f.created_before {
            conditions.push(format!("c.created_at < {}", sql.bind(Value::Int(before))));
        }
        let order = match f.state {
            State::Open => "c.created_at, c.id",
            State::Done => "c.closed_at DESC, c.id DESC",
        };
        let limit = sql.bind(Value::Int(i64::from(f.limit)));
        sql.text = format!("{SELECT} WHERE {} ORDER BY {order} LIMIT {limit}", conditions.join(" AND "));
        self.timed(async {
            let mut r = self.begin_read().await?;
            let rows = sql.query_as::<Row>().fetch_all(r.conn()).await?;
            r.finish().await?;
            rows.into_iter().map(callback_of).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, NewContact, Priority};
    use crate::routing::Decision;
    use crate::store::{RoutedContact, WriteOp, WriteOutcome};

    async fn store_with_ticket(dir: &std::path::Path, tier: Tier) -> (Store, TicketNumber) {
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        let contact = NewContact {
            channel: Channel::Phone,
            subject: Some("着信".into()),
            source_ref: Some("call-1".into()),
            actor: "sip".into(),
            ..Default::default()
        };
        let decision = Decision { category: "general".into(), priority: Priority::Normal, tier, rule: None };
        let op = WriteOp::Record(Box::new(RoutedContact::new(contact, decision, vec![])));
        let Ok(outcomes) = store.write_batch(&[op]).await else { panic!("the ticket is stored") };
        let Some(WriteOutcome::Recorded(r)) = outcomes.into_iter().next() else { panic!("recorded") };
        (store, r.ticket)
    }

    fn new<'a>(ticket: &'a TicketNumber, call_id: &'a str, reason: Reason) -> NewCallback<'a> {
        let (caller_number, caller_name) = (Some("+81 3-1234-5678"), Some("山田"));
        NewCallback { ticket, call_id, caller_number, caller_name, reason, actor: "ivr" }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_makes_its_task_once_and_the_open_ones_are_listed_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let (store, ticket) = store_with_ticket(dir.path(), Tier::OPERATIONS).await;
        let Created::New(first) =
            store.create_callback(&new(&ticket, "call-1", Reason::Abandoned), 1_000).await.unwrap()
        else {
            panic!("a new task")
        };
        assert_eq!((first.tier, first.state, first.attempts), (Tier::OPERATIONS, State::Open, 0));
        assert_eq!(
            (first.number.as_deref(), first.normalised.as_deref()),
            (Some("+81 3-1234-5678"), Some("0312345678"))
        );
        let again = store.create_callback(&new(&ticket, "call-1", Reason::Abandoned), 2_000).await.unwrap();
        assert_eq!(again, Created::Existing(first.clone()), "a retried write finds the task it made");
        let Created::New(later) =
            store.create_callback(&new(&ticket, "call-2", Reason::Voicemail), 3_000).await.unwrap()
        else {
            panic!("another call's task")
        };
        let nowhere: TicketNumber = "20000101-0001".parse().unwrap();
        assert_eq!(
            store.create_callback(&new(&nowhere, "call-3", Reason::Abandoned), 4_000).await.unwrap(),
            Created::NoSuchTicket
        );
        let history = store.history(&ticket, None, 50).await.unwrap().unwrap().items;
        assert_eq!(history.iter().filter(|h| h.action == "callback_created").count(), 2);

        let open = |tier, created_before| CallbackFilter { tier, state: State::Open, created_before, limit: 10 };
        let ids = |list: Vec<Callback>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(store.callbacks(&open(None, None)).await.unwrap()), [first.id, later.id], "oldest first");
        assert_eq!(ids(store.callbacks(&open(None, Some(3_000))).await.unwrap()), [first.id]);
        assert_eq!(ids(store.callbacks(&open(Some(Tier::HELPDESK), None)).await.unwrap()), Vec::<i64>::new());

        let attempt = Attempt { id: first.id, outcome: Outcome::WrongNumber, note: None, by: "sato" };
        let Attempted::Recorded(done) = store.record_callback_attempt(&attempt, 5_000).await.unwrap() else {
            panic!("recorded")
        };
        assert_eq!((done.state, done.closed_at, done.closed_by.as_deref()), (State::Done, Some(5_000), Some("sato")));
        assert_eq!(store.record_callback_attempt(&attempt, 6_000).await.unwrap(), Attempted::Refused(Refusal::Done));
        let missing = Attempt { id: 999, ..attempt };
        assert_eq!(store.record_callback_attempt(&missing, 6_000).await.unwrap(), Attempted::Missing);
        assert_eq!(ids(store.callbacks(&open(None, None)).await.unwrap()), [later.id]);
        let done_list = CallbackFilter { state: State::Done, ..open(None, None) };
        assert_eq!(ids(store.callbacks(&done_list).await.unwrap()), [first.id]);
        store.close().await;
    }
}
