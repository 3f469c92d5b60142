//! System operation notices: drafts with their audio, decisions, withdrawals, and what the
//! public pages and the announcer read.

use super::{Store, StoreError};
use crate::domain::notice::{self, Facts, Kind, Refusal, State};
use crate::domain::user::Role;
use serde::Serialize;

/// One notice as the API, the public pages and the CLI show it (without its audio).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub id: i64,
    pub kind: &'static str,
    pub state: &'static str,
    pub title: String,
    pub title_en: String,
    pub body: String,
    pub body_en: String,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub valid_from: Option<i64>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub valid_until: Option<i64>,
    pub drafted_by: String,
    pub decided_by: Option<String>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub decided_at: Option<i64>,
    pub comment: Option<String>,
    pub withdrawn_by: Option<String>,
    #[serde(serialize_with = "super::prompts::jst_opt")]
    pub withdrawn_at: Option<i64>,
    /// Callers hear it while it is public.
    pub has_audio: bool,
    /// The text the audio was spoken from, if it was.
    pub audio_text: String,
    pub duration_ms: i64,
    #[serde(serialize_with = "super::prompts::jst")]
    pub created_at: i64,
    #[serde(serialize_with = "super::prompts::jst")]
    pub updated_at: i64,
}

impl Notice {
    pub fn facts(&self) -> Facts {
        Facts {
            state: self.state.parse().unwrap_or(State::Rejected),
            drafted_by: self.drafted_by.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind.parse().unwrap_or(Kind::Failure)
    }

    /// When it became public: the start of its window, or its approval if later.
    pub fn published_at(&self) -> i64 {
        self.valid_from.unwrap_or(0).max(self.decided_at.unwrap_or(self.updated_at))
    }
}

/// A new draft.
#[derive(Debug, Clone)]
pub struct NoticeDraft {
    pub kind: Kind,
    pub title: String,
    pub title_en: String,
    pub body: String,
    pub body_en: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    pub drafted_by: String,
    /// 8 kHz mono 16-bit WAV, to be played to callers while the notice is public.
    pub wav: Option<Vec<u8>>,
    pub audio_text: String,
    pub duration_ms: i64,
}

/// What a decision or withdrawal came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeChange {
    Done(Box<Notice>),
    Refused(Refusal),
    Missing,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    kind: String,
    state: String,
    title: String,
    title_en: String,
    body: String,
    body_en: String,
    valid_from: Option<i64>,
    valid_until: Option<i64>,
    drafted_by: String,
    decided_by: Option<String>,
    decided_at: Option<i64>,
    comment: Option<String>,
    withdrawn_by: Option<String>,
    withdrawn_at: Option<i64>,
    has_audio: i64,
    audio_text: String,
    duration_ms: i64,
    created_at: i64,
    updated_at: i64,
}

macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, kind, state, title, title_en, body, body_en, valid_from, valid_until, drafted_by, ",
            "decided_by, decided_at, comment, withdrawn_by, withdrawn_at, ",
            "CASE WHEN audio IS NULL THEN 0 ELSE 1 END AS has_audio, audio_text, duration_ms, created_at, updated_at ",
            "FROM notices ",
            $rest
        )
    };
}

fn notice_of(r: Row) -> Result<Notice, StoreError> {
    Ok(Notice {
        kind: r.kind.parse::<Kind>().map_err(StoreError::Corrupt)?.as_str(),
        state: r.state.parse::<State>().map_err(StoreError::Corrupt)?.as_str(),
        has_audio: r.has_audio == 1,
        id: r.id,
        title: r.title,
        title_en: r.title_en,
        body: r.body,
        body_en: r.body_en,
        valid_from: r.valid_from,
        valid_until: r.valid_until,
        drafted_by: r.drafted_by,
        decided_by: r.decided_by,
        decided_at: r.decided_at,
        comment: r.comment,
        withdrawn_by: r.withdrawn_by,
        withdrawn_at: r.withdrawn_at,
        audio_text: r.audio_text,
        duration_ms: r.duration_ms,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

impl Store {
    /// Stores a draft; its id.
    pub async fn draft_notice(&self, d: &NoticeDraft, now: i64) -> Result<i64, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO notices (kind, state, title, title_en, body, body_en, valid_from, valid_until, drafted_by, \
             audio, audio_text, duration_ms, created_at, updated_at) \
             VALUES ($1, 'draft', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
        )
        .bind(d.kind.as_str())
        .bind(&d.title)
        .bind(&d.title_en)
        .bind(&d.body)
        .bind(&d.body_en)
        .bind(d.valid_from)
        .bind(d.valid_until)
        .bind(&d.drafted_by)
        .bind(&d.wav)
        .bind(&d.audio_text)
        .bind(d.duration_ms)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every notice, newest first (at most `limit`).
    pub async fn notices(&self, limit: i64) -> Result<Vec<Notice>, StoreError> {
        let rows: Vec<Row> =
            sqlx::query_as(select!("ORDER BY id DESC LIMIT $1")).bind(limit).fetch_all(&self.pool).await?;
        rows.into_iter().map(notice_of).collect()
    }

    pub async fn notice(&self, id: i64) -> Result<Option<Notice>, StoreError> {
        let row: Option<Row> = sqlx::query_as(select!("WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.map(notice_of).transpose()
    }

    /// The published notices whose window has not ended at `now` (those public now, and those
    /// still to open), newest first.
    pub async fn published_notices(&self, now: i64) -> Result<Vec<Notice>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(select!(
            "WHERE state = 'published' AND (valid_until IS NULL OR valid_until > $1) ORDER BY id DESC"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(notice_of).collect()
    }

    /// A notice's audio, if it has any.
    pub async fn notice_audio(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Option<Vec<u8>>,)> =
            sqlx::query_as("SELECT audio FROM notices WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        Ok(row.and_then(|r| r.0))
    }

    /// Approves (publishes) or rejects a draft.
    #[allow(clippy::too_many_arguments)]
    pub async fn decide_notice(
        &self,
        id: i64,
        by: &str,
        role: Role,
        approve: bool,
        comment: Option<&str>,
        now: i64,
    ) -> Result<NoticeChange, StoreError> {
        let state = if approve { State::Published } else { State::Rejected };
        let update = sqlx::query(
            "UPDATE notices SET state = $2, decided_by = $3, decided_at = $4, comment = $5, updated_at = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(by)
        .bind(now)
        .bind(comment);
        self.change_notice(id, |facts| notice::may_decide(facts, by, role), update).await
    }

    /// Takes a published notice down before its window ends.
    pub async fn withdraw_notice(&self, id: i64, by: &str, role: Role, now: i64) -> Result<NoticeChange, StoreError> {
        let update = sqlx::query(
            "UPDATE notices SET state = 'withdrawn', withdrawn_by = $2, withdrawn_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(by)
        .bind(now);
        self.change_notice(id, |facts| notice::may_withdraw(facts, role), update).await
    }

    /// Checks `allowed` on the notice's facts and runs `update` in one transaction.
    async fn change_notice<'q>(
        &self,
        id: i64,
        allowed: impl FnOnce(&Facts) -> Result<(), Refusal>,
        update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<NoticeChange, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let row: Option<Row> = sqlx::query_as(select!("WHERE id = $1")).bind(id).fetch_optional(&mut *tx).await?;
        let Some(row) = row else { return Ok(NoticeChange::Missing) };
        if let Err(refusal) = allowed(&notice_of(row)?.facts()) {
            return Ok(NoticeChange::Refused(refusal));
        }
        update.execute(&mut *tx).await?;
        let row: Row = sqlx::query_as(select!("WHERE id = $1")).bind(id).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(NoticeChange::Done(Box::new(notice_of(row)?)))
    }
}
