//! Console sessions, kept by the SHA-256 of their id (the cookie) so a copy of the database
//! signs nobody in. Instants are passed in, so expiry can be tested without waiting.

use super::{Store, StoreError};
use crate::domain::session::SessionPolicy;
use crate::domain::user::Identity;

/// A live session and who it signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub identity: Identity,
    pub csrf: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

type SessionRow = (i64, i64, String, String, String, String, i64, i64);

impl Store {
    /// A new session for `user_id`. The browser's previous session (`replacing`, by hash), if it
    /// had one, ends, and so do sessions that have expired, in the same transaction.
    pub async fn start_session(
        &self,
        user_id: i64,
        id_hash: &str,
        csrf: &str,
        replacing: Option<&str>,
        policy: SessionPolicy,
        now: i64,
    ) -> Result<i64, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        if let Some(old) = replacing {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(old).execute(&mut *tx).await?;
        }
        let (created_after, seen_after) = policy.cutoffs(now);
        sqlx::query("DELETE FROM sessions WHERE created_at <= $1 OR last_seen_at <= $2")
            .bind(created_after)
            .bind(seen_after)
            .execute(&mut *tx)
            .await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO sessions (id_hash, user_id, csrf, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The session with this hash if it is live at `now` and its user enabled; its last use is
    /// recorded (at most about once a minute). An expired one is deleted.
    pub async fn session(
        &self,
        id_hash: &str,
        policy: SessionPolicy,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as(
            "SELECT s.id, u.id, u.login, u.name, u.role, s.csrf, s.created_at, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND u.disabled = 0",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, user_id, login, name, role, csrf, created_at, last_seen_at)) = row else { return Ok(None) };
        if !policy.is_live(created_at, last_seen_at, now) {
            sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
            return Ok(None);
        }
        let mut last_seen_at = last_seen_at;
        if policy.should_touch(last_seen_at, now) {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
            last_seen_at = now;
        }
        let role = role.parse().map_err(StoreError::Corrupt)?;
        let identity = Identity { user_id, login, name, role };
        Ok(Some(SessionRecord { id, identity, csrf, created_at, last_seen_at }))
    }

    /// Signs a session out; `false` when there was none.
    pub async fn end_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&self.pool).await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many sessions `login` has open (expired ones not yet deleted included).
    pub async fn session_count(&self, login: &str) -> Result<i64, StoreError> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.login = $1")
                .bind(login)
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }
}
