//! The live event stream: what happens to calls and tickets, as it happens, for the console and
//! CTI clients (`GET /api/events`). The hub owns the recent events in memory (a bounded ring);
//! each event has an increasing id, so a client that reconnects with `Last-Event-ID` gets what it
//! missed, or, when that has left the ring (or the service restarted), a `resync` telling it to
//! reload what it shows.

pub(crate) mod bus;
pub mod filter;

use crate::domain::Tier;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How many recent events are kept for reconnecting clients.
pub const RETAINED: usize = 4096;
/// The most events one wake of a subscriber takes out of the ring.
const BATCH: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    CallRinging,
    CallAnswered,
    CallMenu,
    CallTransferred,
    CallVoicemail,
    CallEnded,
    TicketCreated,
    TicketUpdated,
    CallbackCreated,
    CallbackUpdated,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::CallRinging,
        Kind::CallAnswered,
        Kind::CallMenu,
        Kind::CallTransferred,
        Kind::CallVoicemail,
        Kind::CallEnded,
        Kind::TicketCreated,
        Kind::TicketUpdated,
        Kind::CallbackCreated,
        Kind::CallbackUpdated,
    ];

    /// The kind named `s` (as [`Kind::as_str`] writes it).
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CallRinging => "call.ringing",
            Kind::CallAnswered => "call.answered",
            Kind::CallMenu => "call.menu",
            Kind::CallTransferred => "call.transferred",
            Kind::CallVoicemail => "call.voicemail",
            Kind::CallEnded => "call.ended",
            Kind::TicketCreated => "ticket.created",
            Kind::TicketUpdated => "ticket.updated",
            Kind::CallbackCreated => "callback.created",
            Kind::CallbackUpdated => "callback.updated",
        }
    }
}

/// One event as sent: its id, what filters look at, and its JSON (with `id`, `kind`, `at`, `tier`).
#[derive(Debug)]
pub struct Published {
    pub id: u64,
    pub kind: Kind,
    pub tier: Option<Tier>,
    pub json: String,
}

/// What a subscriber gets next.
#[derive(Debug, Clone)]
pub enum Item {
    Event(Arc<Published>),
    /// Events were missed (the client was away too long, or the service restarted): reload.
    /// Carries the id to resume after.
    Resync(u64),
}

#[derive(Clone)]
pub struct Events(Arc<Hub>);

struct Hub {
    log: Mutex<Log>,
    /// The id of the newest event.
    latest: watch::Sender<u64>,
    /// Cancelled when the service stops: every stream ends, so no connection holds the stop up.
    closed: CancellationToken,
    /// Several nodes on one database: events go out to the shared table, which gives them their
    /// ids, and come back, from every node, through [`Events::append`].
    bus: Option<bus::Outgoing>,
}

struct Log {
    recent: VecDeque<Arc<Published>>,
    capacity: usize,
    /// Every id up to this one is not held: let go of, or from before this run.
    gone: u64,
    /// The id the next event published on one node gets.
    next_local: u64,
}

impl Log {
    fn push(&mut self, event: Published, latest: &watch::Sender<u64>) {
        if self.recent.len() == self.capacity
            && let Some(old) = self.recent.pop_front()
        {
            self.gone = old.id;
        }
        let id = event.id;
        self.recent.push_back(Arc::new(event));
        // Under the lock, so subscribers see ids in order and never one the ring lacks.
        latest.send_replace(id);
    }
}

impl Default for Events {
    fn default() -> Self {
        Events::new(RETAINED)
    }
}

/// An event's JSON object with `kind`, `at` and `tier` set (its id is set by whoever gives it).
fn object(kind: Kind, tier: Option<Tier>, data: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    let mut object = match data {
        serde_json::Value::Object(map) => map,
        other => [("data".to_owned(), other)].into_iter().collect(),
    };
    object.insert("kind".into(), kind.as_str().into());
    object.insert("at".into(), crate::domain::time::jst_rfc3339(crate::domain::time::now_millis()).into());
    object.insert("tier".into(), tier.map(|t| serde_json::Value::from(t.get())).unwrap_or_default());
    object
}

impl Events {
    /// One node's stream. Ids start from the clock (microseconds), so ids of one run never
    /// repeat those of an earlier run, and a client's `Last-Event-ID` from before a restart asks
    /// for a resync.
    pub fn new(capacity: usize) -> Events {
        let start = (crate::domain::time::now_millis().max(0) as u64) * 1000;
        Events::with(capacity, start, None)
    }

    fn with(capacity: usize, start: u64, bus: Option<bus::Outgoing>) -> Events {
        Events(Arc::new(Hub {
            log: Mutex::new(Log {
                recent: VecDeque::new(),
                capacity: capacity.max(1),
                gone: start,
                next_local: start + 1,
            }),
            latest: watch::channel(start).0,
            closed: CancellationToken::new(),
            bus,
        }))
    }

    /// Publishes `data` (a JSON object) as an event of `kind`: its id, or none when the shared
    /// table gives it (several nodes).
    pub fn publish(&self, kind: Kind, tier: Option<Tier>, data: serde_json::Value) -> Option<u64> {
        let mut object = object(kind, tier, data);
        if let Some(bus) = &self.0.bus {
            bus.send(kind, tier, object);
            return None;
        }
        let mut log = self.0.log.lock().unwrap_or_else(|e| e.into_inner());
        let id = log.next_local;
        log.next_local += 1;
        object.insert("id".into(), id.into());
        let json = serde_json::Value::Object(object).to_string();
        log.push(Published { id, kind, tier, json }, &self.0.latest);
        drop(log);
        tracing::debug!(id, kind = kind.as_str(), "event published");
        Some(id)
    }

    /// Adds an event the shared table gave `id` (ids only grow; one already held is ignored).
    fn append(&self, id: u64, kind: Kind, tier: Option<Tier>, json: String) {
        let mut log = self.0.log.lock().unwrap_or_else(|e| e.into_inner());
        if id <= *self.0.latest.borrow() {
            return;
        }
        log.push(Published { id, kind, tier, json }, &self.0.latest);
    }

    /// Events after `after` (the client's `Last-Event-ID`), or from now on.
    pub fn subscribe(&self, after: Option<u64>) -> Subscription {
        let log = self.0.log.lock().unwrap_or_else(|e| e.into_inner());
        let latest = self.0.latest.subscribe();
        let last = *latest.borrow();
        let (next, resync) = match after {
            None => (last + 1, false),
            Some(id) if id >= log.gone && id <= last => (id + 1, false),
            Some(_) => (last + 1, true),
        };
        drop(log);
        Subscription { hub: self.0.clone(), next, latest, pending: VecDeque::new(), resync }
    }

    /// Waits, a little, until this node has every event up to `id`: a client moving from
    /// another node resumes from an id this one may not have read yet. At once on one node.
    pub async fn caught_up(&self, id: u64) {
        let Some(bus) = &self.0.bus else { return };
        let mut latest = self.0.latest.subscribe();
        if *latest.borrow_and_update() >= id {
            return;
        }
        bus.wake();
        let _ = tokio::time::timeout(bus::CATCH_UP, latest.wait_for(|last| *last >= id)).await;
    }

    /// Ends every subscription (the service is stopping).
    pub fn close(&self) {
        self.0.closed.cancel();
    }

    /// How many clients follow the stream now.
    pub fn subscribers(&self) -> usize {
        self.0.latest.receiver_count()
    }
}

pub struct Subscription {
    hub: Arc<Hub>,
    /// The id this subscriber expects next.
    next: u64,
    latest: watch::Receiver<u64>,
    pending: VecDeque<Arc<Published>>,
    resync: bool,
}

impl Subscription {
    /// The next event; waits for one. `None` once the service stops.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            if self.hub.closed.is_cancelled() {
                return None;
            }
            if std::mem::take(&mut self.resync) {
                return Some(Item::Resync(self.next - 1));
            }
            if let Some(e) = self.pending.pop_front() {
                return Some(Item::Event(e));
            }
            if *self.latest.borrow_and_update() < self.next {
                tokio::select! {
                    _ = self.hub.closed.cancelled() => return None,
                    changed = self.latest.changed() => changed.ok()?,
                }
                continue;
            }
            self.take_from_ring();
        }
    }

    fn take_from_ring(&mut self) {
        let log = self.hub.log.lock().unwrap_or_else(|e| e.into_inner());
        if self.next <= log.gone {
            // Fell behind by more than the ring holds.
            self.next = log.recent.back().map_or(log.gone, |e| e.id) + 1;
            self.resync = true;
            return;
        }
        // Ids only grow, with gaps where the shared table skipped some.
        let from = log.recent.partition_point(|e| e.id < self.next);
        self.pending.extend(log.recent.iter().skip(from).take(BATCH).cloned());
        if let Some(last) = self.pending.back() {
            self.next = last.id + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ids(items: &[Item]) -> Vec<Option<u64>> {
        items
            .iter()
            .map(|i| match i {
                Item::Event(e) => Some(e.id),
                Item::Resync(_) => None,
            })
            .collect()
    }

    async fn take(sub: &mut Subscription, n: usize) -> Vec<Item> {
        let mut items = Vec::new();
        for _ in 0..n {
            items.push(sub.next().await.unwrap());
        }
        items
    }

    #[tokio::test]
    async fn a_client_gets_events_in_order_and_resumes_after_its_last_id_without_gaps_or_repeats() {
        let events = Events::new(8);
        let mut live = events.subscribe(None);
        let a = events.publish(Kind::TicketCreated, Some(Tier::HELPDESK), json!({"ticket": "20261121-0001"})).unwrap();
        let b =
            events.publish(Kind::TicketUpdated, Some(Tier::OPERATIONS), json!({"ticket": "20261121-0001"})).unwrap();
        assert_eq!(b, a + 1);
        let got = take(&mut live, 2).await;
        assert_eq!(ids(&got), [Some(a), Some(b)]);
        let Item::Event(first) = &got[0] else { unreachable!() };
        let v: serde_json::Value = serde_json::from_str(&first.json).unwrap();
        assert_eq!(
            (v["id"].as_u64(), v["kind"].as_str(), v["tier"].as_i64()),
            (Some(a), Some("ticket.created"), Some(1))
        );
        assert!(v["at"].as_str().unwrap().ends_with("+09:00"));

        let c = events.publish(Kind::CallRinging, None, json!({})).unwrap();
        let mut resumed = events.subscribe(Some(a));
        assert_eq!(ids(&take(&mut resumed, 2).await), [Some(b), Some(c)]);
        let mut current = events.subscribe(Some(c));
        let d = events.publish(Kind::CallEnded, None, json!({})).unwrap();
        assert_eq!(ids(&take(&mut current, 1).await), [Some(d)]);
    }

    #[tokio::test]
    async fn an_id_the_ring_no_longer_holds_or_never_held_asks_for_a_resync() {
        let events = Events::new(4);
        let first = events.publish(Kind::TicketCreated, None, json!({})).unwrap();
        for _ in 0..5 {
            events.publish(Kind::TicketUpdated, None, json!({}));
        }
        let mut newest = first + 5;
        for after in [first - 1, first, 7, newest + 100] {
            let mut sub = events.subscribe(Some(after));
            assert!(matches!(sub.next().await, Some(Item::Resync(id)) if id == newest), "after {after}");
            newest = events.publish(Kind::CallEnded, None, json!({})).unwrap();
            assert_eq!(ids(&take(&mut sub, 1).await), [Some(newest)]);
        }
        // The oldest retained one can still be resumed after.
        let mut sub = events.subscribe(Some(newest - 4));
        assert!(matches!(sub.next().await, Some(Item::Event(_))));
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_the_ring_is_told_to_resync_then_follows_on() {
        let events = Events::new(4);
        let mut slow = events.subscribe(None);
        for _ in 0..10 {
            events.publish(Kind::TicketUpdated, None, json!({}));
        }
        assert!(matches!(slow.next().await, Some(Item::Resync(_))));
        let next = events.publish(Kind::TicketCreated, None, json!({})).unwrap();
        assert_eq!(ids(&take(&mut slow, 1).await), [Some(next)]);
        // Stopping the service ends every stream, waiting or not.
        let waiting = tokio::spawn(async move { slow.next().await.is_none() });
        events.close();
        assert!(waiting.await.unwrap());
        assert!(events.subscribe(None).next().await.is_none());
    }

    #[tokio::test]
    async fn ids_from_the_shared_table_may_skip_and_clients_resume_across_the_gaps() {
        let events = Events::with(4, 0, None);
        for id in [3, 4, 9, 12] {
            events.append(id, Kind::TicketUpdated, None, format!("{{\"id\":{id}}}"));
        }
        // 5 to 8 were never given (a rolled-back write): resuming after any of them gives 9.
        for after in [4, 6] {
            let mut sub = events.subscribe(Some(after));
            assert_eq!(ids(&take(&mut sub, 2).await), [Some(9), Some(12)], "after {after}");
        }
        // One already held (read twice) is not added again; a newer one lets the oldest go.
        events.append(12, Kind::TicketUpdated, None, "{}".into());
        events.append(20, Kind::CallEnded, None, "{\"id\":20}".into());
        let mut sub = events.subscribe(Some(3));
        assert_eq!(ids(&take(&mut sub, 4).await), [Some(4), Some(9), Some(12), Some(20)]);
        let mut sub = events.subscribe(Some(2));
        assert!(matches!(sub.next().await, Some(Item::Resync(20))));
    }
}
