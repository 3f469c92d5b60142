//! The incident database behind one interface, on SQLite (the default, WAL) or PostgreSQL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver (times are integers, so no
//! backend-specific types are needed); the few places they differ (full-text search, row locks)
//! are chosen by [`Backend`]. Writes go through [`Store::write_batch`], which the intake's single
//! writer calls with many writes at once: one transaction, one fsync.

mod directory;
mod files;
mod interrupt;
mod model;
mod outbox;
mod read;
mod search;
mod write;

pub use directory::DirectoryEntry;
pub use files::{AttachmentFiles, FileError, sha256_hex};
pub use model::*;
pub use outbox::OutboxItem;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database url must start with sqlite:// or postgres://")]
    UnsupportedUrl,
    #[error("cannot create the database's directory {path}: {source}")]
    Directory { path: String, source: std::io::Error },
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// A read took longer than its time limit and was stopped (in the database too).
    #[error("the query took longer than {0:?} and was stopped")]
    TimedOut(Duration),
}

#[derive(Clone)]
pub struct Store {
    /// Reads and the occasional write outside the intake (outbox status, directory import).
    pool: AnyPool,
    /// The intake's writer alone: no number of slow reads can keep it waiting for a connection.
    writer: AnyPool,
    backend: Backend,
    /// Every read through [`Store::read`] is stopped after this long (`[http] query_timeout_ms`).
    read_timeout: Option<Duration>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

impl Store {
    /// Opens the database (creating an SQLite file and its directory if needed). Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = Backend::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
        if backend == Backend::Sqlite {
            create_sqlite_dir(url)?;
            interrupt::install();
        }
        let pool = Self::pool(url, backend, max_connections.max(1), true).await?;
        let writer = Self::pool(url, backend, 1, false).await?;
        Ok(Store { pool, writer, backend, read_timeout: None })
    }

    async fn pool(url: &str, backend: Backend, size: u32, reads: bool) -> Result<AnyPool, StoreError> {
        AnyPoolOptions::new()
            .max_connections(size)
            .after_release(move |conn, _meta| {
                Box::pin(async move {
                    // A read dropped between two statements leaves its watch on the connection's
                    // thread; the next user of the connection must not be interrupted for it.
                    if reads && backend == Backend::Sqlite {
                        conn.execute("SELECT madoguchi_arm(0)").await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // synchronous=FULL: a commit is on disk before we answer, even on power loss.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; \
                             PRAGMA cache_size = -32768;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(StoreError::Connect)
    }

    /// Applies the migrations in `migrations/<backend>/` that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The same store, its reads limited to `timeout` each.
    pub fn with_read_timeout(&self, timeout: Duration) -> Store {
        Store { read_timeout: Some(timeout), ..self.clone() }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// SQLite's own consistency check (`PRAGMA integrity_check`); PostgreSQL answers `ok`.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        match self.backend {
            Backend::Sqlite => {
                let row: (String,) = sqlx::query_as("PRAGMA integrity_check").fetch_one(&self.pool).await?;
                Ok(row.0)
            }
            Backend::Postgres => Ok("ok".into()),
        }
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}

fn create_sqlite_dir(url: &str) -> Result<(), StoreError> {
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
