//! The staff directory: name and department of a sender or caller, found by e-mail address or
//! phone number (imported from CSV by `madoguchi import-directory`).

use super::{Store, StoreError};
use crate::domain::{DirectoryEntry, phone};

impl Store {
    /// Replaces the whole directory in one transaction; returns how many entries it now has.
    pub async fn replace_directory(&self, entries: &[DirectoryEntry]) -> Result<usize, StoreError> {
        let mut tx = self.backend.begin_write(&self.pool).await?;
        sqlx::query("DELETE FROM directory").execute(&mut *tx).await?;
        for e in entries {
            sqlx::query(
                "INSERT INTO directory (name, department, phone, phone_key, email, email_key) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&e.name)
            .bind(&e.department)
            .bind(e.phone.as_deref())
            .bind(e.phone.as_deref().and_then(phone::normalize))
            .bind(e.email.as_deref())
            .bind(e.email.as_deref().map(|m| m.trim().to_ascii_lowercase()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(entries.len())
    }

    /// The entry for an e-mail address, else for a phone or fax number.
    pub async fn directory_lookup(
        &self,
        email: Option<&str>,
        number: Option<&str>,
    ) -> Result<Option<DirectoryEntry>, StoreError> {
        let by_email = email.map(|e| ("email_key", e.trim().to_ascii_lowercase()));
        let by_phone = number.and_then(phone::normalize).map(|n| ("phone_key", n));
        for (column, key) in [by_email, by_phone].into_iter().flatten() {
            let sql = match column {
                "email_key" => "SELECT name, department, phone, email FROM directory WHERE email_key = $1 LIMIT 1",
                _ => "SELECT name, department, phone, email FROM directory WHERE phone_key = $1 LIMIT 1",
            };
            if let Some(r) = sqlx::query_as::<_, DirectoryRow>(sql).bind(&key).fetch_optional(&self.pool).await? {
                return Ok(Some(DirectoryEntry {
                    name: r.name,
                    department: r.department,
                    phone: r.phone,
                    email: r.email,
                }));
            }
        }
        Ok(None)
    }
}

/// The domain's [`DirectoryEntry`] stays free of database derives.
#[derive(sqlx::FromRow)]
struct DirectoryRow {
    name: String,
    department: String,
    phone: Option<String>,
    email: Option<String>,
}
