//! Stopping in two stages, as a node behind a proxy must (SIGTERM):
//!
//! ```text
//! serving ─SIGTERM─► draining ─no work left, or [node] drain_seconds─► stopped
//!                     new INVITE, OPTIONS → 503 + Retry-After      (HTTP served until here;
//!                     new SMTP session   → 421, closed              queued writes committed)
//!                     calls, mail transactions, our requests go on
//!                                         └─ at the limit: calls still up are ended (BYE)
//! ```
//!
//! A [`Drain`] is shared by the SIP endpoint, the line and the mail listener: they ask whether
//! the drain has begun before taking new work, and each piece of work in progress (a call, a
//! mail transaction, our BYE or REFER waiting for its answer) holds a [`Hold`] for as long as it
//! lasts, so that the drain ends as soon as nothing is held. `over` tells the line that the
//! limit has come and the calls left must be ended. The final stop is a separate token.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct Drain {
    begun: CancellationToken,
    over: CancellationToken,
    work: Arc<watch::Sender<usize>>,
}

impl Default for Drain {
    fn default() -> Self {
        Drain::new()
    }
}

/// One piece of work in progress; the drain waits until every one is dropped.
#[derive(Debug)]
pub struct Hold(Arc<watch::Sender<usize>>);

impl Drop for Hold {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Everything in progress finished by itself.
    Idle,
    /// The limit came first; what was left was ended.
    Limit { left: usize },
}

impl Drain {
    pub fn new() -> Drain {
        Drain { begun: CancellationToken::new(), over: CancellationToken::new(), work: Arc::new(watch::Sender::new(0)) }
    }

    /// No new work from now on.
    pub fn begin(&self) {
        self.begun.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.begun.is_cancelled()
    }

    /// Resolves when the drain begins.
    pub async fn begun(&self) {
        self.begun.cancelled().await
    }

    /// Resolves when the drain's limit has come: what is still in progress is to be ended.
    pub async fn over(&self) {
        self.over.cancelled().await
    }

    pub fn is_over(&self) -> bool {
        self.over.is_cancelled()
    }

    pub fn hold(&self) -> Hold {
        self.work.send_modify(|n| *n += 1);
        Hold(self.work.clone())
    }

    /// The pieces of work in progress.
    pub fn in_progress(&self) -> usize {
        *self.work.borrow()
    }

    /// Resolves when no work is in progress.
    pub async fn idle(&self) {
        let mut rx = self.work.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Begins the drain and waits until nothing is in progress, or `limit`; then tells what is
    /// left to end (`over`) and waits up to `grace` more for it to finish (a BYE's answer, the
    /// ticket's last write).
    pub async fn run(&self, limit: Duration, grace: Duration) -> Drained {
        self.begin();
        if tokio::time::timeout(limit, self.idle()).await.is_ok() {
            return Drained::Idle;
        }
        let left = self.in_progress();
        self.over.cancel();
        let _ = tokio::time::timeout(grace, self.idle()).await;
        Drained::Limit { left }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_drain_ends_when_the_last_hold_goes_or_at_its_limit() {
        let drain = Drain::new();
        assert!(!drain.is_draining());
        let (a, b) = (drain.hold(), drain.hold());
        assert_eq!(drain.in_progress(), 2);
        let d = drain.clone();
        let running = tokio::spawn(async move { d.run(Duration::from_secs(30), Duration::from_secs(5)).await });
        tokio::task::yield_now().await;
        assert!(drain.is_draining() && !drain.is_over());
        drop(a);
        drop(b);
        assert_eq!(running.await.unwrap(), Drained::Idle);
        assert!(!drain.is_over());

        let drain = Drain::new();
        let held = drain.hold();
        let d = drain.clone();
        let running = tokio::spawn(async move { d.run(Duration::from_secs(30), Duration::from_secs(5)).await });
        drain.over().await;
        drop(held);
        assert_eq!(running.await.unwrap(), Drained::Limit { left: 1 });
        assert_eq!(drain.in_progress(), 0);
    }
}
