//! Password guessing is slowed per account and per source address: after `max_failures` failed
//! sign-ins within `period` of the first, every attempt (even with the right password) is
//! refused until that period is over. Kept in memory and bounded in size; instants are UTC
//! milliseconds, passed in.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Failures allowed in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub max_failures: u32,
    pub period_ms: i64,
}

/// 5 failures in 15 minutes for one account.
pub const PER_ACCOUNT: Window = Window { max_failures: 5, period_ms: 15 * 60_000 };
/// 20 failures in 15 minutes from one address (an IPv6 /64).
pub const PER_SOURCE: Window = Window { max_failures: 20, period_ms: 15 * 60_000 };
/// Accounts and addresses remembered at most, each.
pub const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    started: i64,
    failures: u32,
}

/// Failures per key in fixed windows that start at a key's first failure.
#[derive(Debug)]
struct FailureCounter<K> {
    window: Window,
    capacity: usize,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> FailureCounter<K> {
    fn new(window: Window, capacity: usize) -> Self {
        FailureCounter { window, capacity: capacity.max(1), entries: HashMap::new() }
    }

    fn ends(&self, e: &Entry) -> i64 {
        e.started.saturating_add(self.window.period_ms)
    }

    /// Milliseconds until `key` may try again, if it is blocked now.
    fn blocked_for(&self, key: &K, now: i64) -> Option<i64> {
        let e = self.entries.get(key)?;
        let ends = self.ends(e);
        (e.failures >= self.window.max_failures && now < ends).then_some(ends - now)
    }

    fn fail(&mut self, key: &K, now: i64) {
        let period = self.window.period_ms;
        if let Some(e) = self.entries.get_mut(key) {
            if now < e.started.saturating_add(period) {
                e.failures = e.failures.saturating_add(1);
            } else {
                *e = Entry { started: now, failures: 1 };
            }
            return;
        }
        if self.entries.len() >= self.capacity {
            self.prune(now);
        }
        self.entries.insert(key.clone(), Entry { started: now, failures: 1 });
    }

    /// Forgets windows that are over; if that frees nothing, the oldest window (the one closest
    /// to its end) is forgotten, so memory stays bounded whatever an attacker sends.
    fn prune(&mut self, now: i64) {
        let period = self.window.period_ms;
        self.entries.retain(|_, e| now < e.started.saturating_add(period));
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self.entries.iter().min_by_key(|(_, e)| e.started).map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
    }

    fn clear(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Takes back one failure (one that was counted before it was known not to be one).
    fn forgive(&mut self, key: &K) {
        if let Some(e) = self.entries.get_mut(key) {
            e.failures = e.failures.saturating_sub(1);
            if e.failures == 0 {
                self.entries.remove(key);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The account and address counters together.
#[derive(Debug)]
pub struct LoginLimiter {
    accounts: FailureCounter<String>,
    sources: FailureCounter<IpAddr>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        LoginLimiter::new(PER_ACCOUNT, PER_SOURCE, CAPACITY)
    }
}

impl LoginLimiter {
    pub fn new(per_account: Window, per_source: Window, capacity: usize) -> LoginLimiter {
        LoginLimiter {
            accounts: FailureCounter::new(per_account, capacity),
            sources: FailureCounter::new(per_source, capacity),
        }
    }

    /// `Err(ms)`: refused, to be tried again in `ms` milliseconds. Without a source address
    /// only the account is counted.
    pub fn check(&self, login: &str, source: Option<IpAddr>, now: i64) -> Result<(), i64> {
        let account = self.accounts.blocked_for(&account_key(login), now);
        let source = source.and_then(|s| self.sources.blocked_for(&source_key(s), now));
        match account.max(source) {
            Some(ms) => Err(ms),
            None => Ok(()),
        }
    }

    pub fn failed(&mut self, login: &str, source: Option<IpAddr>, now: i64) {
        self.accounts.fail(&account_key(login), now);
        if let Some(s) = source {
            self.sources.fail(&source_key(s), now);
        }
    }

    /// After an attempt counted with [`Self::failed`] before its password was checked turned
    /// out right: the account's failures are forgotten; the address's earlier ones are not, or
    /// one valid account would let an address guess at every other without limit.
    pub fn succeeded(&mut self, login: &str, source: Option<IpAddr>) {
        self.accounts.clear(&account_key(login));
        if let Some(s) = source {
            self.sources.forgive(&source_key(s));
        }
    }

    /// Takes back an attempt counted with [`Self::failed`] that could not be checked at all
    /// (the database did not answer): it was nobody's failure.
    pub fn withdrawn(&mut self, login: &str, source: Option<IpAddr>) {
        self.accounts.forgive(&account_key(login));
        if let Some(s) = source {
            self.sources.forgive(&source_key(s));
        }
    }

    /// Accounts and addresses remembered now.
    #[cfg(test)]
    fn remembered(&self) -> (usize, usize) {
        (self.accounts.len(), self.sources.len())
    }
}

/// Logins are counted however they are capitalised, and at most 64 characters of one (a login
/// is no longer) are kept.
fn account_key(login: &str) -> String {
    login.trim().chars().take(64).flat_map(char::to_lowercase).collect()
}

/// An IPv6 client holds a whole /64, so that is what is counted; an IPv4 address mapped into
/// IPv6 is the IPv4 address.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Whole seconds, rounded up, for a Retry-After header.
pub fn retry_after_secs(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_account_is_blocked_after_five_failures_until_the_window_ends() {
        let mut limiter = LoginLimiter::default();
        let a = ip("192.0.2.1");
        // (minute of the attempt, fails?, expected check before it)
        let table = [
            (0, true, Ok(())),
            (1, true, Ok(())),
            (2, true, Ok(())),
            (3, true, Ok(())),
            (4, true, Ok(())),
            (5, false, Err(10 * MIN)),
            (14, false, Err(MIN)),
            (15, true, Ok(())),
            (16, false, Ok(())),
        ];
        for (minute, fails, want) in table {
            let now = minute * MIN;
            assert_eq!(limiter.check("sato", a, now), want, "minute {minute}");
            if fails && want.is_ok() {
                limiter.failed("sato", a, now);
            }
        }
        assert_eq!(limiter.check("Sato ", ip("192.0.2.2"), 16 * MIN), Ok(()), "a new window began at 15");
    }

    #[test]
    fn capitalisation_does_not_make_a_new_account() {
        let mut limiter = LoginLimiter::default();
        for (i, login) in ["sato", "SATO", "Sato", " sato", "satO"].into_iter().enumerate() {
            limiter.failed(login, ip(&format!("192.0.2.{i}")), 0);
        }
        assert_eq!(limiter.check("sato", None, 1), Err(15 * MIN - 1));
        assert_eq!(limiter.check("suzuki", None, 1), Ok(()));
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let mut limiter = LoginLimiter::default();
        let a = ip("192.0.2.1");
        for i in 0..5 {
            limiter.failed("sato", a, i);
        }
        limiter.succeeded("sato", a);
        for i in 0..4 {
            assert_eq!(limiter.check("sato", a, 10 + i), Ok(()), "attempt {i} after a success");
            limiter.failed("sato", a, 10 + i);
        }
        assert_eq!(limiter.remembered(), (1, 1));
        for i in 0..12 {
            limiter.failed(&format!("user{i}"), a, 20 + i);
        }
        assert_eq!(limiter.check("tanaka", a, 40), Err(15 * MIN - 40), "20 failures from one address");
        assert_eq!(limiter.check("tanaka", ip("192.0.2.9"), 40), Ok(()), "another address");
        assert_eq!(limiter.check("tanaka", None, 40), Ok(()), "no address known: the account alone");
    }

    #[test]
    fn an_attempt_that_could_not_be_checked_is_taken_back() {
        let mut limiter = LoginLimiter::default();
        let a = ip("192.0.2.1");
        for i in 0..5 {
            limiter.failed("sato", a, i);
        }
        limiter.withdrawn("sato", a);
        assert_eq!(limiter.check("sato", a, 10), Ok(()), "four failures");
        limiter.failed("sato", a, 11);
        assert!(limiter.check("sato", a, 12).is_err());
        limiter.withdrawn("nobody", None);
        assert_eq!(limiter.remembered(), (1, 1));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64() {
        let table = [
            ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true),
            ("2001:db8:1:2::1", "2001:db8:1:3::1", false),
            ("::ffff:192.0.2.1", "192.0.2.1", true),
            ("192.0.2.1", "192.0.2.2", false),
        ];
        for (a, b, same) in table {
            let (a, b): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
            assert_eq!(source_key(a) == source_key(b), same, "{a} {b}");
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let mut limiter = LoginLimiter::new(PER_ACCOUNT, PER_SOURCE, 3);
        for i in 0..3 {
            limiter.failed(&format!("u{i}"), None, i);
        }
        limiter.failed("u3", None, 10);
        assert_eq!(limiter.remembered(), (3, 0), "the oldest was forgotten");
        assert_eq!(limiter.check("u0", None, 11), Ok(()));
        limiter.failed("u4", None, 20 * MIN);
        assert_eq!(limiter.remembered(), (1, 0), "windows that are over are pruned first");
        let long = "x".repeat(10_000);
        assert_eq!(account_key(&long).len(), 64);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (ms, secs) in [(1, 1), (999, 1), (1000, 1), (1001, 2), (15 * MIN, 900), (0, 1)] {
            assert_eq!(retry_after_secs(ms), secs, "{ms}");
        }
    }
}
