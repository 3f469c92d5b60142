//! A token bucket kept as one instant (GCRA): `per_minute` requests a minute, a burst of as many.
//! Time comes in as an argument, so the arithmetic is tested with made-up instants.

use std::time::{Duration, Instant};

/// Requests a minute, and as many at once after a quiet minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    per_minute: u32,
}

impl Rate {
    /// `None` for 0, which means no limit.
    pub fn per_minute(n: u32) -> Option<Rate> {
        (n > 0).then_some(Rate { per_minute: n })
    }

    /// The time one request's token takes to come back.
    fn interval(self) -> Duration {
        Duration::from_secs(60) / self.per_minute
    }

    fn burst(self) -> Duration {
        self.interval() * self.per_minute
    }
}

/// One client's bucket: the instant at which it would be full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucket {
    full_at: Instant,
}

impl Bucket {
    /// A bucket with every token in it.
    pub fn full(now: Instant) -> Bucket {
        Bucket { full_at: now }
    }

    /// Takes a token for one request at `now`, or says how long until one is there (nothing is
    /// taken then).
    pub fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let full_at = self.full_at.max(now) + rate.interval();
        let debt = full_at - now;
        if debt > rate.burst() {
            return Err(debt - rate.burst());
        }
        self.full_at = full_at;
        Ok(())
    }

    /// Whether the bucket has refilled by `now`: it is then the same as a new one, and can be
    /// forgotten.
    pub fn is_full(&self, now: Instant) -> bool {
        self.full_at <= now
    }
}

/// A wait as the whole seconds of a Retry-After header (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_nanos().div_ceil(1_000_000_000).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_request_per_interval() {
        let t0 = Instant::now();
        let at = |secs: f64| t0 + Duration::from_secs_f64(secs);
        let five = Rate::per_minute(5).unwrap();
        let mut bucket = Bucket::full(t0);
        // (when, allowed, or the wait it is told)
        let table: [(f64, Result<(), Duration>); 12] = [
            (0.0, Ok(())),
            (0.0, Ok(())),
            (0.0, Ok(())),
            (0.0, Ok(())),
            (0.0, Ok(())),
            (0.0, Err(Duration::from_secs(12))),
            (5.0, Err(Duration::from_secs(7))),
            (12.0, Ok(())),
            (12.0, Err(Duration::from_secs(12))),
            (30.0, Ok(())),
            (30.0, Err(Duration::from_secs(6))),
            (36.0, Ok(())),
        ];
        for (i, (when, want)) in table.into_iter().enumerate() {
            assert_eq!(bucket.take(five, at(when)), want, "request {i} at {when} s");
        }
        assert!(!bucket.is_full(at(36.0)));
        assert!(bucket.is_full(at(36.0 + 60.0)), "a minute after its last request it is full again");
        for i in 0..5 {
            assert_eq!(bucket.take(five, at(96.0)), Ok(()), "a whole burst again ({i})");
        }
    }

    #[test]
    fn no_limit_and_retry_after_seconds() {
        assert_eq!(Rate::per_minute(0), None);
        let t0 = Instant::now();
        let mut bucket = Bucket::full(t0);
        let fast = Rate::per_minute(600).unwrap();
        for _ in 0..600 {
            assert_eq!(bucket.take(fast, t0), Ok(()));
        }
        assert_eq!(bucket.take(fast, t0), Err(Duration::from_millis(100)));
        for (wait, secs) in [(0, 1), (1, 1), (999, 1), (1000, 1), (1001, 2), (12_000, 12), (12_500, 13)] {
            assert_eq!(retry_after_secs(Duration::from_millis(wait)), secs, "{wait} ms");
        }
    }
}
