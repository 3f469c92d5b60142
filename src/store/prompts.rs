//! Announcement versions: the shipped version 1 of each slot, requests with their audio,
//! decisions, rollbacks, and what the announcer needs to choose what plays.

use super::{Store, StoreError};
use crate::domain::prompt::{self, Facts, Refusal, State};
use crate::domain::user::Role;
use serde::Serialize;
use std::collections::BTreeMap;

/// One version of a slot as the API and console list it (without its audio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromptVersion {
    pub slot: String,
    pub version: i64,
    pub state: &'static str,
    pub requested_by: String,
    pub reason: String,
    #[serde(serialize_with = "jst_opt")]
    pub valid_from: Option<i64>,
    #[serde(serialize_with = "jst_opt")]
    pub valid_until: Option<i64>,
    pub decided_by: Option<String>,
    #[serde(serialize_with = "jst_opt")]
    pub decided_at: Option<i64>,
    pub comment: Option<String>,
    #[serde(serialize_with = "jst_opt")]
    pub activated_at: Option<i64>,
    pub duration_ms: i64,
    /// Version 1: the announcement the service shipped with.
    pub shipped: bool,
    #[serde(serialize_with = "jst_opt")]
    pub created_at: Option<i64>,
}

/// What a decision or rollback came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptChange {
    Done(Box<PromptVersion>),
    Refused(Refusal),
    Missing,
}

/// A new request.
#[derive(Debug, Clone)]
pub struct PromptRequest {
    pub slot: String,
    /// 8 kHz mono 16-bit WAV.
    pub wav: Vec<u8>,
    pub duration_ms: i64,
    pub requested_by: String,
    pub reason: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
}

type Row = (
    String,
    i64,
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    i64,
    i64,
    i64,
);

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT slot, version, state, requested_by, reason, valid_from, valid_until, decided_by, decided_at, ",
            "comment, activated_at, duration_ms, CASE WHEN audio IS NULL THEN 1 ELSE 0 END, created_at ",
            "FROM prompt_versions ",
            $rest
        )
    };
}

fn version_of(r: Row) -> Result<PromptVersion, StoreError> {
    let state: State = r.2.parse().map_err(StoreError::Corrupt)?;
    Ok(PromptVersion {
        slot: r.0,
        version: r.1,
        state: state.as_str(),
        requested_by: r.3,
        reason: r.4,
        valid_from: r.5,
        valid_until: r.6,
        decided_by: r.7,
        decided_at: r.8,
        comment: r.9,
        activated_at: r.10,
        duration_ms: r.11,
        shipped: r.12 == 1,
        created_at: (r.13 > 0).then_some(r.13),
    })
}

fn facts_of(v: &PromptVersion) -> Facts {
    Facts {
        version: v.version,
        state: v.state.parse().unwrap_or(State::Rejected),
        requested_by: v.requested_by.clone(),
        valid_from: v.valid_from,
        valid_until: v.valid_until,
        activated_at: v.activated_at,
    }
}

impl Store {
    /// Version 1 (shipped, approved, active since ever) of each slot that has no versions yet.
    pub async fn seed_prompt_slots(&self, slots: &[String]) -> Result<(), StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        for slot in slots {
            sqlx::query(
                "INSERT INTO prompt_versions (slot, version, state, requested_by, reason, activated_at, created_at) \
                 SELECT $1, 1, 'approved', 'system', '', 0, 0 \
                 WHERE NOT EXISTS (SELECT 1 FROM prompt_versions WHERE slot = $1)",
            )
            .bind(slot)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every version of `slot` (or of every slot), by slot and version.
    pub async fn prompt_versions(&self, slot: Option<&str>) -> Result<Vec<PromptVersion>, StoreError> {
        let rows: Vec<Row> = match slot {
            Some(slot) => {
                sqlx::query_as(select!("WHERE slot = $1 ORDER BY slot, version"))
                    .bind(slot)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query_as(select!("ORDER BY slot, version")).fetch_all(&self.pool).await?,
        };
        rows.into_iter().map(version_of).collect()
    }

    /// The slots there are versions of (the shipped ones, and those an admin added).
    pub async fn prompt_slots(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT slot FROM prompt_versions ORDER BY slot").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Each slot's versions as the rules see them.
    pub async fn prompt_facts(&self) -> Result<BTreeMap<String, Vec<Facts>>, StoreError> {
        let mut slots: BTreeMap<String, Vec<Facts>> = BTreeMap::new();
        for v in self.prompt_versions(None).await? {
            slots.entry(v.slot.clone()).or_default().push(facts_of(&v));
        }
        Ok(slots)
    }

    /// A version's audio: `Some(None)` for a shipped version (the prompts directory's).
    pub async fn prompt_audio(&self, slot: &str, version: i64) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT audio FROM prompt_versions WHERE slot = $1 AND version = $2")
                .bind(slot)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Stores a pending request as the slot's next version; its number.
    pub async fn request_prompt(&self, r: &PromptRequest, now: i64) -> Result<i64, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let (next,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(version), 1) + 1 FROM prompt_versions WHERE slot = $1")
                .bind(&r.slot)
                .fetch_one(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO prompt_versions (slot, version, state, requested_by, reason, valid_from, valid_until, \
             audio, duration_ms, created_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&r.slot)
        .bind(next)
        .bind(&r.requested_by)
        .bind(&r.reason)
        .bind(r.valid_from)
        .bind(r.valid_until)
        .bind(&r.wav)
        .bind(r.duration_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Approves (it plays from now, in its window) or rejects a pending version.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_prompt(
        &self,
        slot: &str,
        version: i64,
        by: &str,
        role: Role,
        approve: bool,
        comment: Option<&str>,
        now: i64,
    ) -> Result<PromptChange, StoreError> {
        let state = if approve { State::Approved } else { State::Rejected };
        let update = sqlx::query(
            "UPDATE prompt_versions SET state = $3, decided_by = $4, decided_at = $5, comment = $6, \
             activated_at = $7 WHERE slot = $1 AND version = $2",
        )
        .bind(slot)
        .bind(version)
        .bind(state.as_str())
        .bind(by)
        .bind(now)
        .bind(comment)
        .bind(approve.then_some(now));
        self.change_prompt(slot, version, |facts| prompt::may_decide(facts, by, role), update).await
    }

    /// Makes an approved version the one that plays again.
    pub async fn roll_back_prompt(
        &self,
        slot: &str,
        version: i64,
        role: Role,
        now: i64,
    ) -> Result<PromptChange, StoreError> {
        let update = sqlx::query("UPDATE prompt_versions SET activated_at = $3 WHERE slot = $1 AND version = $2")
            .bind(slot)
            .bind(version)
            .bind(now);
        self.change_prompt(slot, version, |facts| prompt::may_roll_back(facts, role), update).await
    }

    /// Checks `allowed` on the version's facts and runs `update` in one transaction.
    async fn change_prompt<'q>(
        &self,
        slot: &str,
        version: i64,
        allowed: impl FnOnce(&Facts) -> Result<(), Refusal>,
        update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<PromptChange, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let row: Option<Row> = sqlx::query_as(select!("WHERE slot = $1 AND version = $2"))
            .bind(slot)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(PromptChange::Missing) };
        if let Err(refusal) = allowed(&facts_of(&version_of(row)?)) {
            return Ok(PromptChange::Refused(refusal));
        }
        update.execute(&mut *tx).await?;
        let row: Row = sqlx::query_as(select!("WHERE slot = $1 AND version = $2"))
            .bind(slot)
            .bind(version)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(PromptChange::Done(Box::new(version_of(row)?)))
    }
}

pub(super) fn jst<S: serde::Serializer>(millis: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::domain::time::jst_rfc3339(*millis))
}

pub(super) fn jst_opt<S: serde::Serializer>(millis: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match millis {
        Some(m) => s.serialize_str(&crate::domain::time::jst_rfc3339(*m)),
        None => s.serialize_none(),
    }
}
