//! The contact list as admins edit it in the console: every save a new version, the newest in
//! force, each audited in the transaction that stores it.

use super::{Store, StoreError};
use serde::Serialize;

/// One saved version of the contact list's TOML source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ContactListVersion {
    pub version: i64,
    pub source: String,
    pub edited_by: String,
    pub edited_at: i64,
    pub reason: String,
}

impl ContactListVersion {
    /// How problems in it are named (it has no file).
    pub fn label(&self) -> String {
        format!("contact list v{} (saved in the console)", self.version)
    }
}

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactListSave {
    Saved(i64),
    /// Someone saved another version since the editor loaded `expected`; the newest is `current`.
    Stale {
        current: Option<i64>,
    },
}

macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT version, source, edited_by, edited_at, reason FROM contact_lists ", $rest)
    };
}

impl Store {
    /// The version in force, if an admin has saved one.
    pub async fn current_contact_list(&self) -> Result<Option<ContactListVersion>, StoreError> {
        Ok(sqlx::query_as(select!("ORDER BY version DESC LIMIT 1")).fetch_optional(&self.pool).await?)
    }

    /// The newest saved version's number (a cheap look for other nodes' saves).
    pub async fn contact_list_version(&self) -> Result<Option<i64>, StoreError> {
        let (v,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM contact_lists").fetch_one(&self.pool).await?;
        Ok(v)
    }

    /// Saved versions, newest first.
    pub async fn contact_list_versions(&self, limit: i64) -> Result<Vec<ContactListVersion>, StoreError> {
        Ok(sqlx::query_as(select!("ORDER BY version DESC LIMIT $1")).bind(limit).fetch_all(&self.pool).await?)
    }

    /// Stores `source` (already validated) as the next version if the newest is still `expected`
    /// (`None`: none saved yet), with an audit line carrying `detail`.
    pub async fn save_contact_list(
        &self,
        source: &str,
        by: &str,
        reason: &str,
        expected: Option<i64>,
        detail: &serde_json::Value,
        now: i64,
    ) -> Result<ContactListSave, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let (current,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM contact_lists").fetch_one(&mut *tx).await?;
        if current != expected {
            return Ok(ContactListSave::Stale { current });
        }
        let version = current.unwrap_or(0) + 1;
        // Two nodes saving at once: the second insert of the same version fails on the key.
        let inserted = sqlx::query(
            "INSERT INTO contact_lists (version, source, edited_by, edited_at, reason) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(version)
        .bind(source)
        .bind(by)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            if e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
                return Ok(ContactListSave::Stale { current: Some(version) });
            }
            return Err(e.into());
        }
        let mut detail = detail.clone();
        detail["reason"] = reason.into();
        super::users::audit_in(&mut tx, now, by, "contact_list_saved", &format!("contacts v{version}"), &detail)
            .await?;
        tx.commit().await?;
        Ok(ContactListSave::Saved(version))
    }
}
