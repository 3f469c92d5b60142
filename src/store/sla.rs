//! SLA clocks and escalations in the store. Clocks follow each ticket change in the same
//! transaction ([`Store::sla_sync`]); the scheduler asks which are due ([`Store::sla_due`]) and
//! acts on each in a write batch ([`Store::sla_fire`]), claiming it there, so among several
//! services on one database exactly one warns and escalates, once, and a crash loses nothing.
//! An escalation moves the ticket to a group's tier and queues the group's mails in the outbox.

use super::write::Pending;
use super::{Store, StoreError};
use crate::domain::lifecycle::FieldChange;
use crate::domain::sla::{self, Clock, Kind, State, Targets};
use crate::domain::{Priority, Refusal, Status, TicketNumber, Tier};
use crate::escalation::mail::{Essentials, Why, render};
use crate::escalation::{ContactList, Policies};
use serde_json::json;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::sync::{Arc, RwLock};

/// What the store needs to run clocks and escalations: the policies, the contact list, and
/// where the console is (for links in mails).
#[derive(Debug, Clone)]
pub struct Escalation {
    pub policies: Arc<Policies>,
    pub contacts: Arc<ContactList>,
    /// The console-saved version of the contact list in force; `None`: the file's (or built-in).
    pub contacts_version: Option<i64>,
    /// `[escalation] contacts` as configured; `None`: the built-in list.
    pub contacts_file: Option<String>,
    /// The TOML source of the list in force.
    pub contacts_source: Arc<str>,
    pub console: String,
}

impl Default for Escalation {
    fn default() -> Self {
        Escalation {
            policies: Arc::new(Policies::builtin()),
            contacts: Arc::new(ContactList::builtin()),
            contacts_version: None,
            contacts_file: None,
            contacts_source: Arc::from(crate::escalation::BUILTIN_CONTACTS),
            console: String::new(),
        }
    }
}

pub(super) type Shared = Arc<RwLock<Escalation>>;

/// Actors that are the service itself: their changes are no one's response.
const SYSTEM_ACTORS: [&str; 7] = ["mail", "ivr", "sip", "routing", "system", "sla", "api"];

/// Whether `actor` is a person (a signed-in user), whose work counts as a response.
pub fn is_person(actor: &str) -> bool {
    !SYSTEM_ACTORS.contains(&actor)
}

#[derive(sqlx::FromRow)]
struct ClockRow {
    ticket_id: i64,
    kind: String,
    state: String,
    target_ms: i64,
    consumed_ms: i64,
    running_since: Option<i64>,
    due_at: Option<i64>,
    warn_at: Option<i64>,
    around_the_clock: i64,
    warned_at: Option<i64>,
    breached_at: Option<i64>,
    next_at: Option<i64>,
}

const CLOCK_COLUMNS: &str = "ticket_id, kind, state, target_ms, consumed_ms, running_since, due_at, warn_at, \
                             around_the_clock, warned_at, breached_at, next_at";

impl ClockRow {
    fn clock(&self) -> Result<Clock, StoreError> {
        Ok(Clock {
            kind: self.kind.parse().map_err(StoreError::Corrupt)?,
            state: self.state.parse().map_err(StoreError::Corrupt)?,
            target_ms: self.target_ms,
            consumed_ms: self.consumed_ms,
            running_since: self.running_since,
            due_at: self.due_at,
            warn_at: self.warn_at,
            around_the_clock: self.around_the_clock == 1,
        })
    }
}

/// One clock of a ticket as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SlaClock {
    pub kind: &'static str,
    pub state: &'static str,
    pub policy: String,
    pub target_ms: i64,
    pub used_ms: i64,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub due_at: Option<i64>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub warned_at: Option<i64>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub breached_at: Option<i64>,
    pub around_the_clock: bool,
}

/// What acting on a due clock came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// Another service got there first, or the clock moved on meanwhile.
    Nothing,
    Warned {
        ticket: TicketNumber,
        kind: Kind,
    },
    Breached {
        kind: Kind,
        update: crate::store::TicketUpdate,
    },
}

fn targets_of(p: &crate::escalation::Policy) -> Targets {
    Targets {
        first_response: p.first_response,
        next_update: p.next_update,
        resolution: p.resolution,
        around_the_clock: p.around_the_clock,
    }
}

#[derive(sqlx::FromRow)]
struct TicketFacts {
    #[sqlx(try_from = "String")]
    number: TicketNumber,
    subject: String,
    category: String,
    #[sqlx(try_from = "String")]
    priority: Priority,
    #[sqlx(try_from = "i64")]
    tier: Tier,
    #[sqlx(try_from = "String")]
    status: Status,
    created_at: i64,
}

impl Store {
    /// Replaces the policies, the contact list and the console's address the clocks and
    /// escalations use (every clone of this store sees it).
    pub fn set_escalation(&self, escalation: Escalation) {
        if let Ok(mut e) = self.escalation.write() {
            *e = escalation;
        }
    }

    pub fn escalation(&self) -> Escalation {
        self.escalation.read().map(|e| e.clone()).unwrap_or_default()
    }

    async fn ticket_facts(&self, conn: &mut AnyConnection, ticket_id: i64) -> Result<TicketFacts, StoreError> {
        let sql = format!(
            "SELECT number, subject, category, priority, tier, status, created_at FROM tickets WHERE id = $1{}",
            self.backend.lock_rows()
        );
        Ok(sqlx::query_as(AssertSqlSafe(sql)).bind(ticket_id).fetch_one(&mut *conn).await?)
    }

    /// Brings the ticket's clocks in line with it after a change in this batch; `responded`: a
    /// person just worked on it. Starts, pauses, resumes and meets are in its history.
    pub(super) async fn sla_sync(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        ticket_id: i64,
        responded: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let e = self.escalation();
        let facts = self.ticket_facts(conn, ticket_id).await?;
        let sql = format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE ticket_id = $1 AND kind <> 'callback'");
        let rows: Vec<ClockRow> = sqlx::query_as(AssertSqlSafe(sql)).bind(ticket_id).fetch_all(&mut *conn).await?;
        let clocks = rows.iter().map(ClockRow::clock).collect::<Result<Vec<_>, _>>()?;
        let policy = e.policies.for_ticket(facts.priority, &facts.category);
        let targets = policy.map(targets_of);
        let cal = &e.policies.calendars;
        let synced = sla::sync(&clocks, targets.as_ref(), facts.status, responded, e.policies.warn_before_ms, cal, now);
        let policy_name = policy.map_or("", |p| p.name.as_str());
        for s in synced {
            let before = rows.iter().find(|r| r.kind == s.clock.kind.as_str());
            self.save_clock(conn, pending, ticket_id, policy_name, &s.clock, s.fresh, before, now).await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn save_clock(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        ticket_id: i64,
        policy: &str,
        clock: &Clock,
        fresh: bool,
        before: Option<&ClockRow>,
        now: i64,
    ) -> Result<(), StoreError> {
        let (warned_at, breached_at) = match before {
            Some(b) if !fresh => (b.warned_at, b.breached_at),
            _ => (None, None),
        };
        let next_at = match clock.state {
            State::Running if warned_at.is_none() => clock.warn_at,
            State::Running => clock.due_at,
            _ => None,
        };
        let old_state = before.map(|b| b.state.as_str());
        if before.is_some_and(|b| {
            b.state == clock.state.as_str() && b.due_at == clock.due_at && b.target_ms == clock.target_ms && !fresh
        }) {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO sla_clocks (ticket_id, kind, policy, state, target_ms, consumed_ms, running_since, due_at, \
             warn_at, around_the_clock, warned_at, breached_at, ended_at, next_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (ticket_id, kind) DO UPDATE SET policy = $3, state = $4, target_ms = $5, consumed_ms = $6, \
             running_since = $7, due_at = $8, warn_at = $9, around_the_clock = $10, warned_at = $11, \
             breached_at = $12, ended_at = $13, next_at = $14",
        )
        .bind(ticket_id)
        .bind(clock.kind.as_str())
        .bind(policy)
        .bind(clock.state.as_str())
        .bind(clock.target_ms)
        .bind(clock.consumed_ms)
        .bind(clock.running_since)
        .bind(clock.due_at)
        .bind(clock.warn_at)
        .bind(i64::from(clock.around_the_clock))
        .bind(warned_at)
        .bind(breached_at)
        .bind(matches!(clock.state, State::Met | State::Stopped | State::Breached).then_some(now))
        .bind(next_at)
        .execute(&mut *conn)
        .await?;
        let kind = clock.kind.as_str();
        let action = match (old_state, clock.state) {
            (_, State::Running) if fresh => Some("sla_started"),
            (Some("running"), State::Paused) => Some("sla_paused"),
            (Some("paused"), State::Running) => Some("sla_resumed"),
            (Some("running" | "paused"), State::Met) => Some("sla_met"),
            _ => None,
        };
        if let Some(action) = action {
            let detail = json!({"kind": kind, "policy": policy, "due_at": clock.due_at.map(crate::domain::time::jst_rfc3339),
                "used_ms": clock.consumed_ms, "target_ms": clock.target_ms});
            pending.history(ticket_id, now, "sla", action, &detail);
        }
        Ok(())
    }

    /// The ticket's callback clock after its callback tasks changed (in their transaction): it
    /// runs while any task is open (`[sla] callback_within` of business time, or around the
    /// clock under such a policy) and is met when the last one closes.
    pub(super) async fn sla_callback_sync(
        &self,
        conn: &mut AnyConnection,
        ticket_id: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let e = self.escalation();
        let (open,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM callbacks WHERE ticket_id = $1 AND state = 'open'")
            .bind(ticket_id)
            .fetch_one(&mut *conn)
            .await?;
        let sql = format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE ticket_id = $1 AND kind = 'callback'");
        let row: Option<ClockRow> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(ticket_id).fetch_optional(&mut *conn).await?;
        let before = row.as_ref().map(ClockRow::clock).transpose()?;
        let facts = self.ticket_facts(conn, ticket_id).await?;
        let around = e.policies.for_ticket(facts.priority, &facts.category).is_some_and(|p| p.around_the_clock);
        let (cal, warn, target) = (&e.policies.calendars, e.policies.warn_before_ms, e.policies.callback_within_ms);
        let live = |c: &Clock| matches!(c.state, State::Running | State::Paused);
        let (clock, fresh) = match before {
            Some(c) if open > 0 && live(&c) => return Ok(()),
            Some(mut c) if open == 0 && live(&c) => {
                c.end(State::Met, cal, now);
                (c, false)
            }
            _ if open > 0 => (Clock::start(Kind::Callback, target, around, warn, cal, now), true),
            _ => return Ok(()),
        };
        let mut pending = Pending::new(Vec::new());
        self.save_clock(conn, &mut pending, ticket_id, "callback", &clock, fresh, row.as_ref(), now).await?;
        pending.flush(conn).await
    }

    /// Clocks whose warning or breach is due at `now`, soonest first.
    pub async fn sla_due(&self, now: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM sla_clocks WHERE next_at <= $1 ORDER BY next_at LIMIT $2")
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// When the next clock falls due, if any runs.
    pub async fn sla_next(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MIN(next_at) FROM sla_clocks").fetch_one(&self.pool).await?)
    }

    /// A ticket's clocks.
    pub async fn sla_clocks(&self, ticket: &TicketNumber, now: i64) -> Result<Vec<SlaClock>, StoreError> {
        let sql = format!(
            "SELECT {}, c.policy FROM sla_clocks c JOIN tickets t ON t.id = c.ticket_id WHERE t.number = $1 ORDER BY c.id",
            CLOCK_COLUMNS.split(", ").map(|c| format!("c.{c}")).collect::<Vec<_>>().join(", ")
        );
        let rows: Vec<ClockRowWithPolicy> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(ticket.as_str()).fetch_all(&self.pool).await?;
        let cal = self.escalation().policies.calendars.clone();
        rows.into_iter()
            .map(|r| {
                let clock = r.row.clock()?;
                Ok(SlaClock {
                    kind: clock.kind.as_str(),
                    state: clock.state.as_str(),
                    policy: r.policy,
                    target_ms: clock.target_ms,
                    used_ms: clock.used(&cal, now),
                    due_at: clock.due_at,
                    warned_at: r.row.warned_at,
                    breached_at: r.row.breached_at,
                    around_the_clock: clock.around_the_clock,
                })
            })
            .collect()
    }

    /// Acts on a due clock in this batch: its warning (a mail to the ticket's group) or its
    /// breach (the ticket escalates). Claimed here: a clock another service acted on, or that
    /// moved on, comes to [`Fired::Nothing`].
    pub(super) async fn sla_fire(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        clock_id: i64,
        now: i64,
    ) -> Result<Fired, StoreError> {
        let sql = format!("SELECT {CLOCK_COLUMNS} FROM sla_clocks WHERE id = $1{}", self.backend.lock_rows());
        let row: Option<ClockRow> =
            sqlx::query_as(AssertSqlSafe(sql)).bind(clock_id).fetch_optional(&mut *conn).await?;
        let Some(row) = row else { return Ok(Fired::Nothing) };
        let mut clock = row.clock()?;
        let (Some(due_at), Some(warn_at)) = (clock.due_at, clock.warn_at) else { return Ok(Fired::Nothing) };
        if clock.state != State::Running || row.next_at.is_none_or(|at| at > now) {
            return Ok(Fired::Nothing);
        }
        let e = self.escalation();
        if due_at > now {
            if row.warned_at.is_some() || warn_at > now {
                return Ok(Fired::Nothing);
            }
            sqlx::query("UPDATE sla_clocks SET warned_at = $1, next_at = $2 WHERE id = $3 AND warned_at IS NULL")
                .bind(now)
                .bind(due_at)
                .bind(clock_id)
                .execute(&mut *conn)
                .await?;
            let facts = self.ticket_facts(conn, row.ticket_id).await?;
            let detail = json!({"kind": clock.kind.as_str(), "due_at": crate::domain::time::jst_rfc3339(due_at)});
            pending.history(row.ticket_id, now, "sla", "sla_warning", &detail);
            if let Some(group) = e.contacts.first_of(facts.tier) {
                let why = Why::Warning { kind: clock.kind, due_at };
                self.relay(conn, pending, row.ticket_id, &facts, group, why, "sla", &e, now).await?;
            }
            return Ok(Fired::Warned { ticket: facts.number, kind: clock.kind });
        }
        clock.end(State::Breached, &e.policies.calendars, now);
        sqlx::query(
            "UPDATE sla_clocks SET state = 'breached', breached_at = $1, warned_at = COALESCE(warned_at, $1), \
             consumed_ms = $2, running_since = NULL, ended_at = $1, next_at = NULL WHERE id = $3 AND breached_at IS NULL",
        )
        .bind(now)
        .bind(clock.consumed_ms)
        .bind(clock_id)
        .execute(&mut *conn)
        .await?;
        let detail = json!({"kind": clock.kind.as_str(), "due_at": crate::domain::time::jst_rfc3339(due_at)});
        pending.history(row.ticket_id, now, "sla", "sla_breached", &detail);
        match self.escalate_in(conn, pending, row.ticket_id, None, Why::Breach(clock.kind), "sla", now).await? {
            Ok(update) => Ok(Fired::Breached { kind: clock.kind, update }),
            Err(_) => Ok(Fired::Nothing),
        }
    }

    /// Relays the ticket to `group` (or the next tier's first group): the ticket moves to the
    /// group's tier as escalated, and the group's contacts are mailed.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn escalate_in(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        ticket_id: i64,
        group: Option<&str>,
        why: Why<'_>,
        actor: &str,
        now: i64,
    ) -> Result<Result<crate::store::TicketUpdate, Refusal>, StoreError> {
        let e = self.escalation();
        let facts = self.ticket_facts(conn, ticket_id).await?;
        let group = match group {
            Some(id) => match e.contacts.group(id) {
                Some(g) => g,
                None => return Ok(Err(Refusal::UnknownGroup(id.to_owned()))),
            },
            None => {
                let next = Tier::new(i64::from(facts.tier.get()) + 1).unwrap_or(facts.tier);
                match e.contacts.first_of(next).or_else(|| e.contacts.first_of(facts.tier)) {
                    Some(g) => g,
                    None => return Ok(Err(Refusal::UnknownGroup(format!("tier {next}")))),
                }
            }
        };
        if !facts.status.is_open() {
            return Ok(Err(Refusal::NotOpen(facts.number.clone())));
        }
        let status = Status::Escalated;
        sqlx::query("UPDATE tickets SET tier = $1, status = $2, updated_at = $3 WHERE id = $4")
            .bind(i64::from(group.tier.get()))
            .bind(status.as_str())
            .bind(now)
            .bind(ticket_id)
            .execute(&mut *conn)
            .await?;
        let mut changes = Vec::new();
        if facts.tier != group.tier {
            changes.push(FieldChange { field: "tier", from: json!(facts.tier), to: json!(group.tier) });
            pending.history(ticket_id, now, actor, "tier_changed", &json!({"from": facts.tier, "to": group.tier}));
        }
        if facts.status != status {
            changes.push(FieldChange { field: "status", from: json!(facts.status), to: json!(status) });
            pending.history(ticket_id, now, actor, "status_changed", &json!({"from": facts.status, "to": status}));
        }
        self.relay(conn, pending, ticket_id, &facts, group, why, actor, &e, now).await?;
        let ticket = self.summary_by_id(conn, ticket_id).await?;
        Ok(Ok(crate::store::TicketUpdate { ticket, changes }))
    }

    /// Queues the mails to `group` (at its next opening unless the ticket is urgent) and records
    /// the relay: who, to whom, when, how, and which outbox items carry it.
    #[allow(clippy::too_many_arguments)]
    async fn relay(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        ticket_id: i64,
        facts: &TicketFacts,
        group: &crate::escalation::Group,
        why: Why<'_>,
        actor: &str,
        e: &Escalation,
        now: i64,
    ) -> Result<(), StoreError> {
        let caller: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT display_name, organisation FROM contacts WHERE ticket_id = $1 ORDER BY id LIMIT 1")
                .bind(ticket_id)
                .fetch_optional(&mut *conn)
                .await?;
        let (caller_name, organisation) = caller.unwrap_or_default();
        let interview = self.interview_in(conn, ticket_id).await?;
        let templates = self.interviews();
        let answered = |personal: bool| {
            interview
                .as_ref()
                .and_then(|i| templates.get(&i.template).map(|t| t.lines(&i.answers, personal)))
                .unwrap_or_default()
        };
        let essentials = Essentials {
            interview: answered(false),
            interview_personal: answered(true),
            number: facts.number.to_string(),
            subject: facts.subject.clone(),
            category: facts.category.clone(),
            priority: facts.priority.as_str().into(),
            tier: group.tier.get(),
            status: Status::Escalated.label_ja().into(),
            created_at: facts.created_at,
            caller_name,
            organisation,
        };
        let (subject, body) = render(&essentials, group, why, &e.console);
        let send_at = if facts.priority == Priority::Urgent {
            now
        } else {
            group.calendar(&e.policies.calendars.business).next_open(now).max(now)
        };
        let kind = if matches!(why, Why::Warning { .. }) { "sla_warning" } else { "escalation" };
        let mut items = Vec::new();
        for to in group.emails() {
            let message_id = format!("{}.{}@madoguchi", facts.number, crate::random::token());
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (ticket_id, kind, to_addr, to_key, message_id, subject, body, status, \
                 next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) RETURNING id",
            )
            .bind(ticket_id)
            .bind(kind)
            .bind(&to)
            .bind(to.to_ascii_lowercase())
            .bind(&message_id)
            .bind(&subject)
            .bind(&body)
            // As long after the real time as the group's opening is after `now` (which a test,
            // or a scheduler catching up, may set apart from it).
            .bind(crate::domain::time::now_millis() + (send_at - now))
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            items.push(id);
        }
        let (reason, by) = match why {
            Why::Operator { by, reason } => (reason.to_owned(), by.to_owned()),
            Why::Breach(kind) => (format!("sla_breach:{}", kind.as_str()), actor.to_owned()),
            Why::Warning { kind, .. } => (format!("sla_warning:{}", kind.as_str()), actor.to_owned()),
        };
        pending.mail_now |= !items.is_empty() && send_at <= now;
        if items.is_empty() {
            tracing::warn!(ticket = %facts.number, group = %group.id, "the group has no e-mail address; relay by phone");
        }
        let how = if items.is_empty() { "unsent" } else { "mail" };
        let detail = json!({
            "group": group.id, "group_name": group.name, "tier": group.tier, "to": group.emails(), "how": how,
            "by": by, "reason": reason, "outbox": items,
            "send_at": crate::domain::time::jst_rfc3339(send_at), "waits_for_hours": send_at > now,
        });
        pending.history(ticket_id, now, actor, "relay", &detail);
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct ClockRowWithPolicy {
    #[sqlx(flatten)]
    row: ClockRow,
    policy: String,
}
