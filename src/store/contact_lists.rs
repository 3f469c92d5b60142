//! The files admins edit in the console (the contact list, the interview templates): every save
//! a new version, the newest in force, each audited in the transaction that stores it.

use super::{Store, StoreError};
use serde::Serialize;
use sqlx::AssertSqlSafe;

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

/// A saved version of any document (the same shape for each).
pub type DocumentVersion = ContactListVersion;

/// What a save did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactListSave {
    Saved(i64),
    /// Someone saved another version since the editor loaded `expected`; the newest is `current`.
    Stale {
        current: Option<i64>,
    },
}

/// A file admins may edit in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    ContactList,
    Interviews,
}

impl Document {
    fn table(self) -> &'static str {
        match self {
            Document::ContactList => "contact_lists",
            Document::Interviews => "interview_sets",
        }
    }

    /// The audit line's action and subject prefix.
    fn audit(self) -> (&'static str, &'static str) {
        match self {
            Document::ContactList => ("contact_list_saved", "contacts"),
            Document::Interviews => ("interviews_saved", "interviews"),
        }
    }
}

fn select(doc: Document, rest: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!("SELECT version, source, edited_by, edited_at, reason FROM {} {rest}", doc.table()))
}

impl Store {
    /// The version in force, if an admin has saved one.
    pub async fn current_document(&self, doc: Document) -> Result<Option<ContactListVersion>, StoreError> {
        Ok(sqlx::query_as(select(doc, "ORDER BY version DESC LIMIT 1")).fetch_optional(&self.pool).await?)
    }

    /// The newest saved version's number (a cheap look for other nodes' saves).
    pub async fn document_version(&self, doc: Document) -> Result<Option<i64>, StoreError> {
        let sql = AssertSqlSafe(format!("SELECT MAX(version) FROM {}", doc.table()));
        let (v,): (Option<i64>,) = sqlx::query_as(sql).fetch_one(&self.pool).await?;
        Ok(v)
    }

    /// Saved versions, newest first.
    pub async fn document_versions(&self, doc: Document, limit: i64) -> Result<Vec<ContactListVersion>, StoreError> {
        Ok(sqlx::query_as(select(doc, "ORDER BY version DESC LIMIT $1")).bind(limit).fetch_all(&self.pool).await?)
    }

    /// Stores `source` (already validated) as the next version if the newest is still `expected`
    /// (`None`: none saved yet), with an audit line carrying `detail`.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_document(
        &self,
        doc: Document,
        source: &str,
        by: &str,
        reason: &str,
        expected: Option<i64>,
        detail: &serde_json::Value,
        now: i64,
    ) -> Result<ContactListSave, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let sql = AssertSqlSafe(format!("SELECT MAX(version) FROM {}", doc.table()));
        let (current,): (Option<i64>,) = sqlx::query_as(sql).fetch_one(&mut *tx).await?;
        if current != expected {
            return Ok(ContactListSave::Stale { current });
        }
        let version = current.unwrap_or(0) + 1;
        // Two nodes saving at once: the second insert of the same version fails on the key.
        let inserted = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {} (version, source, edited_by, edited_at, reason) VALUES ($1, $2, $3, $4, $5)",
            doc.table()
        )))
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
        let (action, subject) = doc.audit();
        super::users::audit_in(&mut tx, now, by, action, &format!("{subject} v{version}"), &detail).await?;
        tx.commit().await?;
        Ok(ContactListSave::Saved(version))
    }
}
