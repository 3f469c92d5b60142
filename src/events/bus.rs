//! The stream across nodes. With several nodes on one PostgreSQL database, the events each node
//! publishes go into the shared `events` table, which numbers them; every node, itself included,
//! follows the table by id (woken by NOTIFY, and looking once a second whatever happens), so a
//! console on any node sees every node's calls and ticket changes, and may resume on any node
//! with its `Last-Event-ID`. On one node (SQLite) none of this runs: see [`Events::new`].

use super::{Events, Hub, Kind};
use crate::domain::Tier;
use crate::store::{EVENTS_CHANNEL, EventRow, NewEvent, Store, StoreError};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long a client resuming from an id this node has not read yet may be kept waiting.
pub(crate) const CATCH_UP: Duration = Duration::from_secs(2);
/// Events waiting to be written; beyond this they are dropped (and said so), never held.
const QUEUE: usize = 8192;
/// Events written in one transaction at most.
const BATCH: usize = 256;
/// Rows read at once.
const READ: i64 = 512;
/// The table is looked at this often even without a notification (one lost, a listener down).
const POLL: Duration = Duration::from_secs(1);
/// A failed write is tried again after this long.
const RETRY: Duration = Duration::from_millis(500);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

struct Pending {
    at: i64,
    kind: Kind,
    tier: Option<Tier>,
    body: String,
}

/// A node's side of the shared table: where its events go.
pub(crate) struct Outgoing {
    tx: mpsc::Sender<Pending>,
    node: Arc<str>,
    wake: Arc<Notify>,
    /// Cancelled when the hub is gone: the follower stops.
    gone: CancellationToken,
}

impl Outgoing {
    pub(super) fn send(&self, kind: Kind, tier: Option<Tier>, mut object: serde_json::Map<String, serde_json::Value>) {
        object.insert("node".into(), self.node.as_ref().into());
        let body = serde_json::Value::Object(object).to_string();
        let pending = Pending { at: crate::domain::time::now_millis(), kind, tier, body };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.tx.try_send(pending) {
            tracing::warn!(kind = kind.as_str(), "event dropped: the shared event table is behind");
        }
    }

    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(bus) = &self.bus {
            bus.gone.cancel();
        }
    }
}

/// The tasks that carry a shared stream's events, to start with [`Bus::run`].
pub(crate) struct Bus {
    events: Weak<Hub>,
    rx: mpsc::Receiver<Pending>,
    node: Arc<str>,
    wake: Arc<Notify>,
    gone: CancellationToken,
}

/// A stream shared through `store`'s events table, holding its newest `capacity` events
/// already, so a client resumes from an id published before this node started.
pub(crate) async fn shared(store: &Store, node: &str, capacity: usize) -> Result<(Events, Bus), StoreError> {
    let rows = store.latest_events(capacity as i64).await?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let (node, wake, gone): (Arc<str>, _, _) = (node.into(), Arc::new(Notify::new()), CancellationToken::new());
    let start = rows.first().map_or(0, |r| r.id.max(1) as u64 - 1);
    let outgoing = Outgoing { tx, node: node.clone(), wake: wake.clone(), gone: gone.clone() };
    let events = Events::with(capacity, start, Some(outgoing));
    for row in rows {
        append(&events, row);
    }
    let bus = Bus { events: Arc::downgrade(&events.0), rx, node, wake, gone };
    Ok((events, bus))
}

/// Adds a row to the hub; a row of a kind this version does not know is skipped.
fn append(events: &Events, row: EventRow) {
    let (Some(kind), Ok(id)) = (Kind::parse(&row.kind), u64::try_from(row.id)) else { return };
    let tier = row.tier.and_then(|t| Tier::new(t).ok());
    // The stored object has no id: it goes first.
    let json = match row.body.strip_prefix('{') {
        Some("}") | None => format!("{{\"id\":{id}}}"),
        Some(rest) => format!("{{\"id\":{id},{rest}"),
    };
    events.append(id, kind, tier, json);
}

impl Bus {
    /// Writes this node's events and follows every node's, on `tracker`, until the hub is gone
    /// (every handle dropped, after the service stopped); what is queued then is still written.
    pub(crate) fn run(self, store: Store, url: String, tracker: &TaskTracker) {
        let Bus { events, rx, node, wake, gone } = self;
        tracker.spawn(write(store.clone(), node, rx, wake.clone()));
        tracker.spawn(follow(store, url, events, wake, gone));
    }
}

async fn write(store: Store, node: Arc<str>, mut rx: mpsc::Receiver<Pending>, written: Arc<Notify>) {
    let mut pruned = tokio::time::Instant::now();
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let rows: Vec<NewEvent> = batch
            .into_iter()
            .map(|p| NewEvent {
                at: p.at,
                kind: p.kind.as_str().to_owned(),
                tier: p.tier.map(|t| i64::from(t.get())),
                body: p.body,
            })
            .collect();
        let mut failed = false;
        while let Err(e) = store.insert_events(&node, &rows).await {
            if !failed {
                tracing::error!(error = %e, events = rows.len(), "cannot write events to the shared table; retrying");
                failed = true;
            }
            if rx.is_closed() {
                // The service is stopping: these are lost to other nodes' consoles (they resync).
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
        // This node's own events are read back at once, without waiting for the notification.
        written.notify_one();
        if failed {
            tracing::info!(events = rows.len(), "events written to the shared table again");
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = tokio::time::Instant::now();
            match store.prune_events(crate::domain::time::now_millis()).await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "old shared events pruned"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot prune old shared events"),
            }
        }
    }
}

async fn listen(url: &str) -> Option<sqlx::postgres::PgListener> {
    let mut listener = match sqlx::postgres::PgListener::connect(url).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for other nodes' events; looking every second");
            return None;
        }
    };
    match listener.listen(EVENTS_CHANNEL).await {
        Ok(()) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for other nodes' events; looking every second");
            None
        }
    }
}

async fn follow(store: Store, url: String, hub: Weak<Hub>, wake: Arc<Notify>, gone: CancellationToken) {
    let mut listener = listen(&url).await;
    loop {
        // Read everything new, then wait for the next word of more.
        loop {
            let Some(events) = hub.upgrade().map(Events) else { return };
            let after = i64::try_from(*events.0.latest.borrow()).unwrap_or(i64::MAX);
            let rows = match store.events_after(after, READ).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the shared events");
                    break;
                }
            };
            let full = rows.len() as i64 == READ;
            for row in rows {
                append(&events, row);
            }
            if !full {
                break;
            }
        }
        let notified = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = gone.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {
                if listener.is_none() {
                    listener = listen(&url).await;
                }
            }
            ok = notified => {
                if !ok {
                    listener = None;
                }
            }
        }
    }
}
