//! One timer queue for the endpoint: each timer has an id that is never reused, so a timer
//! cancelled (its transaction over) can never fire into a newer transaction with the same key.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

pub struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, TimerId)>>,
    live: HashMap<TimerId, (Instant, T)>,
    next: u64,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers { heap: BinaryHeap::new(), live: HashMap::new(), next: 0 }
    }
}

impl<T> Timers<T> {
    pub fn start(&mut self, after: Duration, what: T) -> TimerId {
        self.next += 1;
        let id = TimerId(self.next);
        let at = Instant::now() + after;
        self.live.insert(id, (at, what));
        self.heap.push(Reverse((at, id)));
        // Cancelled timers leave their heap entries behind; keep the heap near the live set.
        if self.heap.len() > 2 * self.live.len() + 1024 {
            self.heap = self.live.iter().map(|(id, (at, _))| Reverse((*at, *id))).collect();
        }
        id
    }

    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        self.live.remove(&id).map(|(_, what)| what)
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The next timer that fires; pending while none is armed. Cancel-safe: nothing is taken
    /// from the queue until its time has come.
    pub async fn expired(&mut self) -> T {
        loop {
            let Some(&Reverse((at, id))) = self.heap.peek() else {
                return std::future::pending().await;
            };
            if !self.live.contains_key(&id) {
                self.heap.pop();
                continue;
            }
            tokio::time::sleep_until(at).await;
            self.heap.pop();
            if let Some((_, what)) = self.live.remove(&id) {
                return what;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timers_fire_in_order_and_cancelled_ones_never() {
        let mut t = Timers::default();
        let a = t.start(Duration::from_millis(500), "a");
        t.start(Duration::from_millis(100), "b");
        t.start(Duration::from_secs(32), "c");
        assert_eq!(t.cancel(a), Some("a"));
        assert_eq!(t.cancel(a), None);
        let start = Instant::now();
        assert_eq!(t.expired().await, "b");
        assert_eq!(start.elapsed(), Duration::from_millis(100));
        assert_eq!(t.expired().await, "c");
        assert_eq!(start.elapsed(), Duration::from_secs(32));
        assert!(t.is_empty());
        let idle = tokio::time::timeout(Duration::from_secs(3600), t.expired()).await;
        assert!(idle.is_err(), "an empty queue waits");
    }

    #[tokio::test(start_paused = true)]
    async fn many_cancellations_keep_the_heap_small() {
        let mut t = Timers::default();
        for i in 0..10_000u32 {
            let id = t.start(Duration::from_secs(30), i);
            t.cancel(id);
        }
        assert!(t.heap.len() <= 1024 + 1, "{}", t.heap.len());
    }
}
