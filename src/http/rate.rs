//! Requests per credential: each API token (later each console session) has a bucket of
//! `[http] requests_per_minute`; beyond it 429 with Retry-After. Runs after
//! [`super::auth::authenticate`], keyed by what it put in the request's extensions.

use super::ApiError;
use super::auth::{Acting, Credential};
use crate::domain::rate::{Bucket, Rate, retry_after_secs};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Buckets are pruned when there are this many, or twice as many as after the last pruning.
const PRUNE_FROM: usize = 1024;

/// The user, and the credential they used when the authentication that ran said which.
type Key = (i64, Option<Credential>);

pub(crate) struct RateLimiter {
    rate: Option<Rate>,
    buckets: Mutex<Buckets>,
}

struct Buckets {
    map: HashMap<Key, Bucket>,
    prune_at: usize,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u32) -> Arc<RateLimiter> {
        Arc::new(RateLimiter {
            rate: Rate::per_minute(per_minute),
            buckets: Mutex::new(Buckets { map: HashMap::new(), prune_at: PRUNE_FROM }),
        })
    }

    /// Takes a token for `key` at `now`, or says in how many seconds to retry.
    fn take(&self, key: Key, now: Instant) -> Result<(), u64> {
        let Some(rate) = self.rate else { return Ok(()) };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if !buckets.map.contains_key(&key) && buckets.map.len() >= buckets.prune_at {
            // A full bucket is the same as none: only the clients still paying back a burst stay.
            buckets.map.retain(|_, b| !b.is_full(now));
            buckets.prune_at = PRUNE_FROM.max(2 * buckets.map.len());
        }
        buckets.map.entry(key).or_insert_with(|| Bucket::full(now)).take(rate, now).map_err(retry_after_secs)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.lock().unwrap().map.len()
    }
}

/// Middleware: 429 with Retry-After once the request's credential has used its bucket.
pub(crate) async fn limit(State(limiter): State<Arc<RateLimiter>>, request: Request, next: Next) -> Response {
    let Some(user) = request.extensions().get::<Acting>().map(|a| a.0.user_id) else {
        return ApiError::Unauthenticated.into_response();
    };
    let key = (user, request.extensions().get::<Credential>().cloned());
    match limiter.take(key, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after_secs) => ApiError::TooManyRequests { retry_after_secs }.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn token(user: i64, hash: &str) -> Key {
        (user, Some(Credential(format!("token:{hash}"))))
    }

    #[test]
    fn each_credential_has_its_own_bucket() {
        let limiter = RateLimiter::new(2);
        let t0 = Instant::now();
        assert_eq!(limiter.take(token(1, "a"), t0), Ok(()));
        assert_eq!(limiter.take(token(1, "a"), t0), Ok(()));
        assert_eq!(limiter.take(token(1, "a"), t0), Err(30));
        assert_eq!(limiter.take(token(1, "b"), t0), Ok(()), "the same user's other token");
        assert_eq!(limiter.take(token(2, "c"), t0), Ok(()));
        let unlimited = RateLimiter::new(0);
        for _ in 0..10_000 {
            assert_eq!(unlimited.take(token(1, "a"), t0), Ok(()));
        }
        assert_eq!(unlimited.len(), 0);
    }

    #[test]
    fn refilled_buckets_are_forgotten_and_the_map_stays_bounded() {
        let limiter = RateLimiter::new(60);
        let t0 = Instant::now();
        for _ in 0..30 {
            limiter.take(token(0, "busy"), t0).unwrap();
        }
        for i in 1..PRUNE_FROM {
            limiter.take(token(i as i64, "x"), t0).unwrap();
        }
        assert_eq!(limiter.len(), PRUNE_FROM);
        let later = t0 + Duration::from_secs(2);
        limiter.take(token(-1, "new"), later).unwrap();
        assert_eq!(limiter.len(), 2, "the refilled buckets went; the busy one and the new one stay");
        let taken = (0..100).take_while(|_| limiter.take(token(0, "busy"), later).is_ok()).count();
        assert_eq!(taken, 32, "the busy bucket kept what it had used (28 s still owed of 60)");
        for i in 0..3 * PRUNE_FROM {
            let at = later + Duration::from_secs(120 * (i as u64 + 1));
            limiter.take(token(10_000 + i as i64, "y"), at).unwrap();
            assert!(limiter.len() <= PRUNE_FROM, "bounded: {}", limiter.len());
        }
    }
}
