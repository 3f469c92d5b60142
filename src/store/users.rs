//! Users, their API tokens (only a SHA-256 of each is kept), and the audit of sign-ins and reads.

use super::{Store, StoreError};
use crate::domain::time::now_millis;
use crate::domain::user::{Identity, Role};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct UserRecord {
    pub id: i64,
    pub login: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    #[sqlx(try_from = "i64")]
    pub disabled: Flag,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct TokenRecord {
    pub id: i64,
    pub login: String,
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// JSON: what else was noted (the source address of a sign-in).
    pub detail: String,
}

const AUDIT_INSERT: &str = "INSERT INTO audit (at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)";

/// One audit line written in the caller's transaction, so it commits with the change it records.
pub(super) async fn audit_in(
    conn: &mut sqlx::AnyConnection,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query(AUDIT_INSERT)
        .bind(at)
        .bind(actor)
        .bind(action)
        .bind(subject)
        .bind(detail.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// A 0/1 column as a bool (both backends store integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Flag(pub bool);

impl From<i64> for Flag {
    fn from(v: i64) -> Flag {
        Flag(v != 0)
    }
}

impl Store {
    /// A new user; `Ok(None)` when the login is taken.
    pub async fn add_user(
        &self,
        login: &str,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let taken = sqlx::query("SELECT id FROM users WHERE login = $1").bind(login).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Ok(None);
        }
        let now = now_millis();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO users (login, name, role, password_hash, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $5) RETURNING id",
        )
        .bind(login)
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Sets a new password (and enables the user again) and ends every console session of
    /// theirs; `false` when there is no such user.
    pub async fn set_password(&self, login: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let done = sqlx::query("UPDATE users SET password_hash = $1, disabled = 0, updated_at = $2 WHERE login = $3")
            .bind(password_hash)
            .bind(now_millis())
            .bind(login)
            .execute(&mut *tx)
            .await?;
        end_sessions_of(&mut tx, login).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// A disabled user can neither sign in nor use any of their tokens; their console sessions
    /// end at once.
    pub async fn disable_user(&self, login: &str) -> Result<bool, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let done = sqlx::query("UPDATE users SET disabled = 1, updated_at = $1 WHERE login = $2")
            .bind(now_millis())
            .bind(login)
            .execute(&mut *tx)
            .await?;
        end_sessions_of(&mut tx, login).await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        Ok(sqlx::query_as("SELECT id, login, name, role, disabled, created_at FROM users ORDER BY login")
            .fetch_all(&self.pool)
            .await?)
    }

    /// The stored password hash of an enabled user, and who they are.
    pub async fn user_credentials(&self, login: &str) -> Result<Option<(Identity, String)>, StoreError> {
        let row: Option<(i64, String, String, String, String)> =
            sqlx::query_as("SELECT id, login, name, role, password_hash FROM users WHERE login = $1 AND disabled = 0")
                .bind(login)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(user_id, login, name, role, hash)| {
            let role = role.parse().map_err(StoreError::Corrupt)?;
            Ok((Identity { user_id, login, name, role }, hash))
        })
        .transpose()
    }

    /// Stores a token's hash for `login`; `Ok(None)` when there is no enabled user of that name.
    pub async fn add_token(&self, login: &str, label: &str, token_hash: &str) -> Result<Option<i64>, StoreError> {
        let user: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE login = $1 AND disabled = 0")
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        let Some((user_id,)) = user else { return Ok(None) };
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_tokens (user_id, label, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(user_id)
        .bind(label)
        .bind(token_hash)
        .bind(now_millis())
        .fetch_one(&self.pool)
        .await?;
        Ok(Some(id))
    }

    /// Tokens, newest first; only `login`'s when given.
    pub async fn tokens(&self, login: Option<&str>) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.id, u.login, t.label, t.created_at, t.revoked_at FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE ($1 = '' OR u.login = $1) ORDER BY t.id DESC",
        )
        .bind(login.unwrap_or_default())
        .fetch_all(&self.pool)
        .await?)
    }

    /// Revokes a token at once; `false` when there is no such token or it was revoked already.
    pub async fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_millis())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Who a token (by its hash) acts for: an unrevoked token of an enabled user.
    pub async fn identity_for_token(&self, token_hash: &str) -> Result<Option<Identity>, StoreError> {
        Ok(self.token_identity(token_hash).await?.map(|(_, identity)| identity))
    }

    /// The token's id (to tell one credential from another) and who it acts for.
    pub async fn token_identity(&self, token_hash: &str) -> Result<Option<(i64, Identity)>, StoreError> {
        let row: Option<(i64, i64, String, String, String)> = sqlx::query_as(
            "SELECT t.id, u.id, u.login, u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = 0",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(id, user_id, login, name, role)| {
            let role = role.parse().map_err(StoreError::Corrupt)?;
            Ok((id, Identity { user_id, login, name, role }))
        })
        .transpose()
    }

    /// The newest `limit` audit lines, newest first.
    pub async fn audit_entries(&self, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query_as("SELECT id, at, actor, action, subject, detail FROM audit ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// One audit line: a sign-in, a failed one, a read of personal data.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query(AUDIT_INSERT)
            .bind(now_millis())
            .bind(actor)
            .bind(action)
            .bind(subject)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

async fn end_sessions_of(tx: &mut sqlx::Transaction<'static, sqlx::Any>, login: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE login = $1)")
        .bind(login)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
