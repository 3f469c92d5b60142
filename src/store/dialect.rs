//! Everything the two backends do differently, one method per difference. Both take the same
//! `$n` placeholders, `ON CONFLICT … DO …` upserts and `RETURNING` through sqlx's `Any`
//! driver; what remains is connection setup, write locks, the search indexes and migrations.

use super::StoreError;
use super::search::{Sql, Value};
use crate::domain::text;
use sqlx::migrate::Migrator;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Before connecting: SQLite's file is created, and so must its directory be; its reads are
    /// stopped by an interrupt hook registered on every connection.
    pub(super) fn prepare(self, url: &str) -> Result<(), StoreError> {
        match self {
            Backend::Sqlite => {
                super::interrupt::install();
                create_sqlite_dir(url)
            }
            Backend::Postgres => Ok(()),
        }
    }

    /// Run when a read connection goes back to the pool: on SQLite, a read dropped between two
    /// statements leaves its watch armed, and the next user must not be interrupted for it.
    pub(super) fn read_release(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => Some("SELECT madoguchi_arm(0)"),
            Backend::Postgres => None,
        }
    }

    /// The statement that limits each statement of a read transaction to `limit`; `None` where
    /// the database has none (SQLite: interrupted instead, see `interrupt`).
    pub(super) fn read_time_limit(self, limit: std::time::Duration) -> Option<String> {
        match self {
            Backend::Postgres => Some(format!("SET LOCAL statement_timeout = {}", limit.as_millis().max(1))),
            Backend::Sqlite => None,
        }
    }

    pub(super) fn migrator(self) -> &'static Migrator {
        match self {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Run on every new connection.
    pub(super) fn connection_setup(self) -> Option<&'static str> {
        match self {
            // synchronous=FULL: a commit is on disk before we answer, even on power loss.
            Backend::Sqlite => Some(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                 PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                 PRAGMA cache_size = -32768;",
            ),
            Backend::Postgres => None,
        }
    }

    /// A transaction that will write. SQLite takes the write lock up front, so a
    /// read-then-write cannot fail with a stale snapshot when another process writes too.
    pub(super) async fn begin_write(self, pool: &AnyPool) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => pool.begin().await?,
        })
    }

    /// Appended to a SELECT whose rows the transaction will change (SQLite's write lock covers it).
    pub(super) fn lock_rows(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// Appended to a SELECT that claims rows: other transactions pass over the locked ones.
    pub(super) fn skip_locked(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// The text of `key` in a column of JSON text (history details).
    pub(super) fn json_text(self, column: &'static str, key: &'static str) -> String {
        match self {
            Backend::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Backend::Postgres => format!("({column}::jsonb ->> '{key}')"),
        }
    }

    /// How many tables named `$1` this database has (0 or 1).
    pub(super) fn table_exists(self) -> &'static str {
        match self {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
            Backend::Postgres => {
                "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1"
            }
        }
    }

    /// `PRAGMA integrity_check` on SQLite; PostgreSQL has nothing to ask.
    pub(super) fn integrity_check(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => Some("PRAGMA integrity_check"),
            Backend::Postgres => None,
        }
    }

    /// A new ticket row: `$1`… number, subject, channel, category, priority, tier, status,
    /// time, search text, Japanese pairs. Returns its id.
    pub(super) fn insert_ticket(self) -> &'static str {
        match self {
            Backend::Sqlite => {
                "INSERT INTO tickets (number, subject, channel, category, priority, tier, status, \
                 contact_count, created_at, updated_at, search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9) \
                 RETURNING id"
            }
            Backend::Postgres => {
                "INSERT INTO tickets (number, subject, channel, category, priority, tier, status, \
                 contact_count, created_at, updated_at, search_text, search_grams) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9, to_tsvector('simple', $10)) RETURNING id"
            }
        }
    }

    /// Whether the search indexes are tables of their own (SQLite's FTS5), written after the
    /// ticket row, rather than a column of it (PostgreSQL's tsvector).
    pub(super) fn indexes_apart(self) -> bool {
        self == Backend::Sqlite
    }

    /// Indexes a ticket's grown search text: trigrams for words of three or more characters,
    /// Japanese character pairs for two-character words.
    pub(super) async fn reindex(self, conn: &mut AnyConnection, id: i64, text: &str) -> Result<(), StoreError> {
        match self {
            Backend::Sqlite => {
                sqlx::query("DELETE FROM ticket_fts WHERE rowid = $1").bind(id).execute(&mut *conn).await?;
                sqlx::query("DELETE FROM ticket_grams WHERE rowid = $1").bind(id).execute(&mut *conn).await?;
                sqlx::query("INSERT INTO ticket_fts (rowid, search_text) VALUES ($1, $2)")
                    .bind(id)
                    .bind(text)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("INSERT INTO ticket_grams (rowid, grams) VALUES ($1, $2)")
                    .bind(id)
                    .bind(text::bigrams(text))
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Postgres => {
                sqlx::query("UPDATE tickets SET search_grams = to_tsvector('simple', $1) WHERE id = $2")
                    .bind(text::bigrams(text))
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// The text search of the ticket list: adds its conditions to `sql`, moves the words it
    /// leaves to LIKE into `like`, and returns the FROM clause and the id column to page by.
    pub(super) fn text_search<'w>(
        self,
        sql: &mut Sql,
        conditions: &mut Vec<String>,
        long: Vec<&'w String>,
        pairs: Vec<&'w String>,
        like: &mut Vec<&'w String>,
    ) -> (&'static str, &'static str) {
        match self {
            // On SQLite a full-text index drives the scan, newest first, so a page of a common word
            // stops as soon as it is full and a rare word is found without reading every ticket.
            Backend::Sqlite if !long.is_empty() => {
                let p = sql.bind(Value::Text(match_expression(&long)));
                conditions.push(format!("ticket_fts MATCH {p}"));
                like.extend(pairs);
                ("ticket_fts f JOIN tickets t ON t.id = f.rowid", "f.rowid")
            }
            Backend::Sqlite if !pairs.is_empty() => {
                let p = sql.bind(Value::Text(match_expression(&pairs)));
                conditions.push(format!("ticket_grams MATCH {p}"));
                ("ticket_grams g JOIN tickets t ON t.id = g.rowid", "g.rowid")
            }
            Backend::Sqlite => ("tickets t", "t.id"),
            // On PostgreSQL, pg_trgm's index answers LIKE for three characters or more.
            Backend::Postgres => {
                like.extend(long);
                for w in pairs {
                    let p = sql.bind(Value::Text(w.clone()));
                    conditions.push(format!("t.search_grams @@ plainto_tsquery('simple', {p})"));
                }
                ("tickets t", "t.id")
            }
        }
    }
}

/// FTS5 phrases, quoted so nothing in a word is read as query syntax.
fn match_expression(words: &[&String]) -> String {
    words.iter().map(|w| format!("\"{}\"", w.replace('"', "\"\""))).collect::<Vec<_>>().join(" AND ")
}

fn create_sqlite_dir(url: &str) -> Result<(), StoreError> {
    // Only a URL that may create the database (mode=rwc) creates its directory.
    if url.contains("mode=") && !url.contains("mode=rwc") {
        return Ok(());
    }
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::Directory { path: dir.display().to_string(), source })?;
    }
    Ok(())
}
