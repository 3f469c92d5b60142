//! The incident database behind one interface, on SQLite (the default, WAL) or PostgreSQL.
//!
//! Both backends run the same SQL through sqlx's `Any` driver (times are integers, so no
//! backend-specific types are needed); the few places they differ (full-text search, row locks)
//! are the methods of [`Backend`] in `dialect.rs`. Writes go through [`Store::write_batch`], which the intake's single
//! writer calls with many writes at once: one transaction, one fsync.

mod callbacks;
mod calls;
mod contact_lists;
mod dialect;
mod directory;
mod events;
mod facts;
mod faq;
mod files;
mod interrupt;
mod interviews;
mod merge;
mod model;
mod notices;
mod outbox;
mod prompts;
mod read;
mod reply;
mod reports;
mod search;
mod sessions;
mod sla;
mod suggest;
mod survey;
mod users;
mod write;

pub use crate::domain::DirectoryEntry;
pub(crate) use callbacks::{Attempt, Attempted, Callback, CallbackFilter, Created, NewCallback};
pub use calls::{CallFilter, CallPage, CallRecord};
pub use contact_lists::{ContactListSave, ContactListVersion, Document, DocumentVersion};
pub use dialect::Backend;
pub(crate) use events::{EVENTS_CHANNEL, EventRow, NewEvent};
pub(crate) use facts::{NewFacts, SystemFacts};
pub use faq::{FaqAction, FaqChange, FaqDecision, FaqDraft, FaqEntry, FaqFilter};
pub use files::{AttachmentFiles, FileError, INLINE_MAX_BYTES, sha256_hex};
pub use interviews::{Interview, InterviewSave, InterviewSet};
pub use model::*;
pub use notices::{Notice, NoticeChange, NoticeDraft};
pub use outbox::OutboxItem;
pub use prompts::{PromptChange, PromptRequest, PromptVersion};
pub(crate) use reports::{BacklogCandidate, FaqFacts, FaultAnswers, ReportFacts, ReportRun, WorkEntry};
pub use sessions::SessionRecord;
pub use sla::{Escalation, Fired, SlaClock, is_person};
pub use suggest::Suggestion;
#[cfg(test)]
pub(crate) use survey::SurveyAnswerRow;
pub(crate) use survey::{AnswerOutcome, SurveyFacts, SurveyLink, token_hash as survey_token_hash};
pub use survey::{SurveyPolicy, SurveyRecord};
pub use users::{AuditEntry, Flag, TokenRecord, UserRecord};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::time::Duration;

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
    /// The SLA policies and the contact list clocks and escalations follow.
    escalation: sla::Shared,
    /// Told when the intake's writer queued mail to send at once (an urgent escalation).
    outbox_ready: std::sync::Arc<tokio::sync::Notify>,
    /// Words that mean the same, for suggestions.
    synonyms: suggest::SharedSynonyms,
    /// The interview templates answers are checked against.
    interviews: interviews::SharedTemplates,
    /// `[survey]`: whether and whom a resolved ticket's survey asks.
    survey: survey::SharedSurvey,
    /// The service's counters (see [`crate::metrics`]): every part that counts holds the store.
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

impl Store {
    /// Opens the database (creating an SQLite file and its directory if needed). Does not migrate.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = Backend::of_url(url).ok_or(StoreError::UnsupportedUrl)?;
        backend.prepare(url)?;
        let pool = Self::pool(url, backend, max_connections.max(1), true).await?;
        let writer = Self::pool(url, backend, 1, false).await?;
        Ok(Store {
            pool,
            writer,
            backend,
            read_timeout: None,
            escalation: sla::Shared::default(),
            outbox_ready: Default::default(),
            synonyms: Default::default(),
            interviews: Default::default(),
            survey: Default::default(),
            metrics: crate::metrics::Metrics::new(),
        })
    }

    /// The counters `/metrics` shows; one set per opened store, shared by its clones.
    pub fn metrics(&self) -> &std::sync::Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    async fn pool(url: &str, backend: Backend, size: u32, reads: bool) -> Result<AnyPool, StoreError> {
        AnyPoolOptions::new()
            .max_connections(size)
            .after_release(move |conn, _meta| {
                Box::pin(async move {
                    if reads && let Some(reset) = backend.read_release() {
                        conn.execute(reset).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if let Some(setup) = backend.connection_setup() {
                        conn.execute(setup).await?;
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
        self.backend.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// The same store, its reads limited to `timeout` each.
    /// What wakes the outbox's sender: the intake's writer tells it of mail to send now, and so
    /// may anyone else who queues mail.
    pub fn outbox_ready(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox_ready.clone()
    }

    pub fn with_read_timeout(&self, timeout: Duration) -> Store {
        Store { read_timeout: Some(timeout), ..self.clone() }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether madoguchi's tables are there (a database `migrate` or `serve` has set up).
    pub async fn has_schema(&self) -> bool {
        sqlx::query("SELECT 1 FROM tickets LIMIT 1").fetch_optional(&self.pool).await.is_ok()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// SQLite's own consistency check (`PRAGMA integrity_check`); PostgreSQL answers `ok`.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        match self.backend.integrity_check() {
            Some(sql) => {
                let (answer,): (String,) = sqlx::query_as(sql).fetch_one(&self.pool).await?;
                Ok(answer)
            }
            None => Ok("ok".into()),
        }
    }

    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }
}
