//! Fetching and storing answers: for an operator who asks (the API, at once), and for each ticket
//! a contact opens in one of a source's categories (a job queued by the intake, fetched by the
//! task `serve` runs, so the contact is answered without waiting for any source).
//!
//! Each answer is a `system_facts` row, written by the store in a transaction of its own, and a
//! `system_facts` history entry written through the intake's writer ([`Intake::event`]). The row
//! does not go through the writer because it can be a megabyte of text: the writer's batch
//! (and every contact queued behind it) would wait for it. The row is written first, so that
//! the history entry can name it.

use super::fetch::{self, FetchError, Fetched};
use super::sources::{Source, Sources};
use crate::domain::TicketNumber;
use crate::domain::time::now_millis;
use crate::intake::{Intake, IntakeError};
use crate::store::{FieldChange, NewFacts, StoreError, SystemFacts};
use futures_util::future::join_all;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Tickets waiting to be fetched for at most; one opened beyond them is not (its history says so).
const QUEUE_DEPTH: usize = 256;
/// Tickets fetched for at once.
const PARALLEL: usize = 4;
/// Who the history names for what was fetched for a new ticket.
const SYSTEM: &str = "system";

#[derive(Debug, thiserror::Error)]
pub(crate) enum FactsError {
    #[error("ticket {0} does not exist")]
    NoSuchTicket(TicketNumber),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Intake(#[from] IntakeError),
}

/// The sources and the HTTP client they are fetched with; cheap to clone.
#[derive(Clone)]
pub(crate) struct Collector {
    sources: Sources,
    client: reqwest::Client,
}

impl Collector {
    pub(crate) fn new(sources: Sources) -> Result<Collector, reqwest::Error> {
        Ok(Collector { sources, client: fetch::client()? })
    }

    pub(crate) fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Fetches `sources` (all at once) and stores their answers on the ticket, as asked by
    /// `requested_by`; the stored answers, in the order of `sources`.
    pub(crate) async fn collect(
        &self,
        intake: &Intake,
        number: &TicketNumber,
        sources: &[Source],
        requested_by: &str,
    ) -> Result<Vec<SystemFacts>, FactsError> {
        let fetched = join_all(sources.iter().map(|s| fetch::fetch(&self.client, s))).await;
        store_all(intake, number, sources.iter().zip(fetched), Some(requested_by)).await
    }

    /// A new ticket's job; when the service stops meanwhile, what was not fetched is not stored.
    async fn for_new_ticket(&self, intake: &Intake, job: Job, stop: &CancellationToken) {
        let fetched = tokio::select! {
            _ = stop.cancelled() => {
                tracing::debug!(ticket = %job.number, "stopping: system facts not fetched");
                return;
            }
            fetched = join_all(job.sources.iter().map(|s| fetch::fetch(&self.client, s))) => fetched,
        };
        if let Err(e) = store_all(intake, &job.number, job.sources.iter().zip(fetched), None).await {
            tracing::warn!(ticket = %job.number, error = %e, "system facts not stored");
        }
    }
}

/// Stores each answer (row, then history entry), then tells the ticket's watchers once.
async fn store_all<'a>(
    intake: &Intake,
    number: &TicketNumber,
    answers: impl Iterator<Item = (&'a Source, Fetched)>,
    requested_by: Option<&str>,
) -> Result<Vec<SystemFacts>, FactsError> {
    let mut stored = Vec::new();
    for (source, fetched) in answers {
        log(number, source, &fetched);
        stored.push(store(intake, number, source, &fetched, requested_by).await?);
    }
    if !stored.is_empty() {
        let names: Vec<&str> = stored.iter().map(|f| f.source.as_str()).collect();
        let change = FieldChange { field: "system_facts", from: json!(null), to: json!(names) };
        intake.publish_change(number, change, requested_by.unwrap_or(SYSTEM)).await;
    }
    Ok(stored)
}

/// One answer: its row, and the history entry `system_facts` (source, ok, error). A history
/// entry that cannot be written (the writer is busy) is logged; the row stays.
async fn store(
    intake: &Intake,
    number: &TicketNumber,
    source: &Source,
    f: &Fetched,
    requested_by: Option<&str>,
) -> Result<SystemFacts, FactsError> {
    let error = f.error.as_ref().map(ToString::to_string);
    let row = NewFacts {
        source: &source.name,
        url: source.url.as_str(),
        fetched_at: now_millis(),
        duration_ms: f.duration.as_millis() as i64,
        ok: f.ok,
        http_status: f.http_status,
        content_type: f.content_type.as_deref(),
        body: f.body.as_deref(),
        truncated: f.truncated,
        error: error.as_deref(),
        requested_by,
    };
    let Some(stored) = intake.store().add_system_facts(number, &row).await? else {
        return Err(FactsError::NoSuchTicket(number.clone()));
    };
    let detail = json!({
        "facts_id": stored.id, "source": stored.source, "ok": stored.ok, "status": stored.status,
        "truncated": stored.truncated, "error": stored.error, "duration_ms": stored.duration_ms,
    });
    if let Err(e) = intake.event(number.clone(), requested_by.unwrap_or(SYSTEM), "system_facts", detail).await {
        tracing::warn!(ticket = %number, source = %source.name, error = %e, "system facts stored without their history entry");
    }
    Ok(stored)
}

/// One line per fetch: the ticket, the source, the outcome and how long it took. The answer
/// itself only at debug; the URL without its secrets.
fn log(number: &TicketNumber, source: &Source, f: &Fetched) {
    let duration_ms = f.duration.as_millis() as u64;
    let url = source.shown_url();
    match &f.error {
        None => tracing::info!(
            ticket = %number, source = %source.name, outcome = "ok", status = f.http_status, duration_ms,
            bytes = f.body.as_deref().map_or(0, str::len), url, "system facts fetched"
        ),
        Some(FetchError::Skipped) => tracing::warn!(
            ticket = %number, source = %source.name, outcome = "skipped", duration_ms, "system facts not fetched: too many waiting"
        ),
        Some(error) => tracing::warn!(
            ticket = %number, source = %source.name, outcome = "failed", status = f.http_status, duration_ms,
            %error, url, "system facts fetch failed"
        ),
    }
    if let Some(body) = &f.body {
        tracing::debug!(ticket = %number, source = %source.name, body, "system facts answer");
    }
}

/// The sources to fetch for one new ticket.
struct Job {
    number: TicketNumber,
    sources: Vec<Source>,
}

/// What the intake tells of each ticket a contact opens; set on it by `serve`.
#[derive(Clone)]
pub(crate) struct Trigger {
    queue: mpsc::Sender<Job>,
    sources: Sources,
    tracker: TaskTracker,
}

impl Trigger {
    /// Queues a fetch of the sources of `category` for a ticket just opened; never waits. When
    /// too many are waiting, the fetch is skipped and that is stored instead (by a task of its
    /// own, so the contact is not held up by that either).
    pub(crate) fn ticket_opened(&self, intake: &Intake, number: &TicketNumber, category: &str) {
        let sources = self.sources.for_category(category);
        if sources.is_empty() {
            return;
        }
        match self.queue.try_send(Job { number: number.clone(), sources }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(job)) => {
                let intake = intake.clone();
                self.tracker.spawn(async move {
                    let skipped = job.sources.iter().map(|s| (s, Fetched::failed(FetchError::Skipped, Duration::ZERO)));
                    if let Err(e) = store_all(&intake, &job.number, skipped, None).await {
                        tracing::warn!(ticket = %job.number, error = %e, "a skipped system facts fetch was not recorded");
                    }
                });
            }
            Err(mpsc::error::TrySendError::Closed(job)) => {
                tracing::debug!(ticket = %job.number, "stopping: system facts not fetched");
            }
        }
    }
}

/// Starts the task that fetches for new tickets (until `stop`), and gives what the intake tells.
pub(crate) fn start(collector: Collector, intake: Intake, stop: CancellationToken, tracker: &TaskTracker) -> Trigger {
    let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
    let trigger = Trigger { queue, sources: collector.sources.clone(), tracker: tracker.clone() };
    tracker.spawn(run(collector, intake, jobs, stop));
    trigger
}

async fn run(collector: Collector, intake: Intake, mut jobs: mpsc::Receiver<Job>, stop: CancellationToken) {
    let mut running = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            job = jobs.recv(), if running.len() < PARALLEL => {
                let Some(job) = job else { break };
                let (collector, intake, stop) = (collector.clone(), intake.clone(), stop.clone());
                running.spawn(async move { collector.for_new_ticket(&intake, job, &stop).await });
            }
        }
    }
    if !jobs.is_empty() {
        tracing::info!(tickets = jobs.len(), "stopping: system facts not fetched for tickets still waiting");
    }
    // Each job stops fetching at `stop` and stores nothing more.
    while running.join_next().await.is_some() {}
}
