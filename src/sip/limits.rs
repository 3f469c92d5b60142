//! What one source may cost us, without I/O (time is an input): new INVITEs per second (a token
//! bucket per address), scanners (known User-Agents, or many numbers tried in a minute), and
//! how many bytes an unverified UDP source may make us send (at most three times what it sent,
//! as QUIC does before address validation), so that a forged source address cannot turn us into
//! an amplifier. Refusals are counted per source and summarised once a minute.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Sources remembered at most per table; beyond, idle ones are forgotten first.
const MAX_SOURCES: usize = 100_000;
const AMPLIFICATION: u64 = 3;
const WINDOW: Duration = Duration::from_secs(60);
const SCANNER_PENALTY: Duration = Duration::from_secs(600);
const VERIFIED_FOR: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// More new INVITEs than `invite_rate_per_source`: 503.
    Rate,
    /// A scanner: dropped unanswered.
    Scanner,
    /// `max_calls` reached: 503.
    Busy,
    /// A response not sent because the source is unverified and had its share.
    Amplification,
    /// A request dropped: the transaction table had no room for its source.
    Full,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Rate => "over the INVITE rate",
            Refusal::Scanner => "scanner dropped",
            Refusal::Busy => "max_calls reached",
            Refusal::Amplification => "response withheld (unverified source)",
            Refusal::Full => "request dropped (transaction table full for this source)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Admit,
    /// 503 with Retry-After, no ticket.
    Overloaded,
    /// No answer, no ticket.
    Drop,
}

#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub invites_per_second: u32,
    pub scanner_numbers_per_minute: u32,
    pub scanner_user_agents: Vec<String>,
    pub trusted: Vec<IpAddr>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Watch {
    since: Instant,
    numbers: HashSet<String>,
    flagged_until: Option<Instant>,
}

struct Budget {
    received: u64,
    sent: u64,
    at: Instant,
}

/// A source's unbroken run of round trips: since when, and until when it counts.
struct Verified {
    since: Instant,
    until: Instant,
}

/// A per-source table that never grows past `MAX_SOURCES`: when full, stale entries are pruned
/// (at most once a second, so a flood of new addresses costs no scan per packet), and a new
/// source that still finds no room is not tracked; each caller decides what that means.
struct Table<V> {
    entries: HashMap<IpAddr, V>,
    pruned: Option<Instant>,
}

impl<V> Default for Table<V> {
    fn default() -> Self {
        Table { entries: HashMap::new(), pruned: None }
    }
}

impl<V> Table<V> {
    fn entry(
        &mut self,
        ip: IpAddr,
        now: Instant,
        stale: impl Fn(&V) -> bool,
        new: impl FnOnce() -> V,
    ) -> Option<&mut V> {
        if !self.entries.contains_key(&ip) && self.entries.len() >= MAX_SOURCES {
            if self.pruned.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
                self.entries.retain(|_, v| !stale(v));
                self.pruned = Some(now);
            }
            if self.entries.len() >= MAX_SOURCES {
                return None;
            }
        }
        Some(self.entries.entry(ip).or_insert_with(new))
    }
}

pub struct Limits {
    settings: LimitSettings,
    buckets: Table<Bucket>,
    watches: Table<Watch>,
    budgets: Table<Budget>,
    /// Sources that showed they receive what we send, until when. Only a real round trip puts
    /// an address here, so forged sources cannot fill it.
    verified: Table<Verified>,
    refused: HashMap<(IpAddr, Refusal), u64>,
}

impl Limits {
    pub fn new(mut settings: LimitSettings) -> Limits {
        for ua in &mut settings.scanner_user_agents {
            *ua = fold_agent(ua);
        }
        Limits {
            settings,
            buckets: Table::default(),
            watches: Table::default(),
            budgets: Table::default(),
            verified: Table::default(),
            refused: HashMap::new(),
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.settings.trusted.contains(&ip)
    }

    /// Trusted (in `allowed_sources`) or verified within the last ten minutes.
    pub fn known(&self, ip: IpAddr, now: Instant) -> bool {
        self.trusted(ip) || self.verified.entries.get(&ip).is_some_and(|v| v.until > now)
    }

    /// Any new request: one from a known scanner's User-Agent is dropped, whatever its method
    /// (sipvicious maps with OPTIONS and enumerates with REGISTER as much as with INVITE). The
    /// address is not held against later requests: a forged source must not get a victim shut out.
    pub fn request(&mut self, ip: IpAddr, user_agent: Option<&str>) -> Verdict {
        let scanner = user_agent.is_some_and(|ua| {
            let ua = fold_agent(ua);
            self.settings.scanner_user_agents.iter().any(|s| ua.contains(s.as_str()))
        });
        if scanner {
            self.refuse(ip, Refusal::Scanner);
            return Verdict::Drop;
        }
        Verdict::Admit
    }

    /// A new INVITE (no To tag) from `ip` to `dialed`.
    pub fn invite(&mut self, ip: IpAddr, dialed: &str, now: Instant) -> Verdict {
        if self.is_scanner(ip, dialed, now) {
            self.refuse(ip, Refusal::Scanner);
            return Verdict::Drop;
        }
        let rate = f64::from(self.settings.invites_per_second);
        let stale = |b: &Bucket| now.duration_since(b.at) >= Duration::from_secs(1);
        let Some(bucket) = self.buckets.entry(ip, now, stale, || Bucket { tokens: rate, at: now }) else {
            // Every slot taken by sources active this very second: a flood; new sources wait.
            self.refuse(ip, Refusal::Rate);
            return Verdict::Overloaded;
        };
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(rate);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            self.refuse(ip, Refusal::Rate);
            return Verdict::Overloaded;
        }
        bucket.tokens -= 1.0;
        Verdict::Admit
    }

    /// Many numbers tried in a minute. A source that was exchanging calls with us before this
    /// minute began (a PBX) is exempt, so forged INVITEs in its name cannot shut it out; a
    /// scanner that acknowledges its own probes is not.
    fn is_scanner(&mut self, ip: IpAddr, dialed: &str, now: Instant) -> bool {
        if self.trusted(ip) {
            return false;
        }
        let limit = self.settings.scanner_numbers_per_minute as usize;
        let stale = |w: &Watch| w.flagged_until.is_none_or(|u| u <= now) && now.duration_since(w.since) >= WINDOW;
        let new = || Watch { since: now, numbers: HashSet::new(), flagged_until: None };
        let Some(w) = self.watches.entry(ip, now, stale, new) else { return false };
        let known_before = self.verified.entries.get(&ip).is_some_and(|v| v.until > now && v.since < w.since);
        if known_before {
            return false;
        }
        if w.flagged_until.is_some_and(|u| u > now) {
            return true;
        }
        if now.duration_since(w.since) >= WINDOW {
            w.since = now;
            w.numbers.clear();
        }
        if w.numbers.len() <= limit {
            w.numbers.insert(dialed.to_owned());
        }
        if w.numbers.len() > limit {
            w.flagged_until = Some(now + SCANNER_PENALTY);
            return true;
        }
        false
    }

    /// A call refused for `max_calls`, or for too many unanswered calls from unverified sources.
    pub fn busy(&mut self, ip: IpAddr) {
        self.refuse(ip, Refusal::Busy);
    }

    /// A request dropped because the transaction table has no room for its source.
    pub fn full(&mut self, ip: IpAddr) {
        self.refuse(ip, Refusal::Full);
    }

    fn refuse(&mut self, ip: IpAddr, why: Refusal) {
        if self.refused.len() < MAX_SOURCES || self.refused.contains_key(&(ip, why)) {
            *self.refused.entry((ip, why)).or_default() += 1;
        }
    }

    /// A datagram of `bytes` came from `ip`.
    pub fn received(&mut self, ip: IpAddr, bytes: usize, now: Instant) {
        let stale = |b: &Budget| now.duration_since(b.at) >= WINDOW;
        if let Some(b) = self.budgets.entry(ip, now, stale, || Budget { received: 0, sent: 0, at: now }) {
            b.received += bytes as u64;
            b.at = now;
        }
    }

    /// `ip` showed that it receives what we send (it echoed our tag, or answered our request).
    pub fn verified(&mut self, ip: IpAddr, now: Instant) {
        let fresh = || Verified { since: now, until: now };
        if let Some(v) = self.verified.entry(ip, now, |v| v.until <= now, fresh) {
            if v.until <= now {
                v.since = now;
            }
            v.until = now + VERIFIED_FOR;
        }
    }

    /// Whether `bytes` may be sent to `ip` over UDP now; counts them if so.
    pub fn may_send(&mut self, ip: IpAddr, bytes: usize, now: Instant) -> bool {
        if self.known(ip, now) {
            return true;
        }
        // An untracked source (the table is full of others) has no budget at all.
        let within = self.budgets.entries.get_mut(&ip).is_some_and(|b| {
            let ok = b.sent + bytes as u64 <= AMPLIFICATION * b.received;
            if ok {
                b.sent += bytes as u64;
            }
            ok
        });
        if !within {
            self.refuse(ip, Refusal::Amplification);
        }
        within
    }

    /// Once a minute: one line per source that was refused anything, and idle state forgotten.
    pub fn sweep(&mut self, now: Instant) -> Vec<String> {
        let mut by_source: HashMap<IpAddr, Vec<(Refusal, u64)>> = HashMap::new();
        for ((ip, why), n) in self.refused.drain() {
            by_source.entry(ip).or_default().push((why, n));
        }
        let mut lines: Vec<String> = by_source
            .into_iter()
            .map(|(ip, mut counts)| {
                counts.sort();
                let what: Vec<String> = counts.iter().map(|(w, n)| format!("{n} {}", w.as_str())).collect();
                format!("{ip}: {}", what.join(", "))
            })
            .collect();
        lines.sort();
        self.buckets.entries.retain(|_, b| now.duration_since(b.at) < WINDOW);
        self.watches
            .entries
            .retain(|_, w| w.flagged_until.is_some_and(|u| u > now) || now.duration_since(w.since) < WINDOW);
        self.budgets.entries.retain(|_, b| now.duration_since(b.at) < WINDOW);
        self.verified.entries.retain(|_, v| v.until > now);
        lines
    }
}

/// User-Agents compared without case, spaces or punctuation: "Friendly Scanner", "sip-vicious"
/// and "friendly-scanner" are one.
fn fold_agent(ua: &str) -> String {
    ua.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, numbers: u32) -> Limits {
        Limits::new(LimitSettings {
            invites_per_second: rate,
            scanner_numbers_per_minute: numbers,
            scanner_user_agents: vec!["friendly-scanner".into(), "SIPVicious".into()],
            trusted: vec!["192.0.2.10".parse().unwrap()],
        })
    }

    #[test]
    fn invites_beyond_the_rate_are_overloaded_until_tokens_return() {
        let mut l = limits(3, 100);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        let t = Instant::now();
        let verdicts: Vec<Verdict> = (0..5).map(|_| l.invite(ip, "0120", t)).collect();
        assert_eq!(verdicts[..3], [Verdict::Admit; 3]);
        assert_eq!(verdicts[3..], [Verdict::Overloaded; 2]);
        assert_eq!(l.invite(ip, "0120", t + Duration::from_millis(400)), Verdict::Admit);
        assert_eq!(l.invite("198.51.100.2".parse().unwrap(), "0120", t), Verdict::Admit, "per source");
        let summary = l.sweep(t);
        assert_eq!(summary, ["198.51.100.1: 2 over the INVITE rate"]);
        assert!(l.sweep(t).is_empty(), "each minute counts anew");
    }

    #[test]
    fn scanners_by_agent_or_by_many_numbers_are_dropped() {
        let mut l = limits(1000, 3);
        let t = Instant::now();
        let scanner: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(l.request(scanner, Some("friendly-scanner")), Verdict::Drop);
        assert_eq!(l.request(scanner, Some("Friendly Scanner 1.0")), Verdict::Drop, "however it is spelt");
        assert_eq!(l.request(scanner, Some("sip-vicious")), Verdict::Drop);
        assert_eq!(l.request(scanner, Some("Zoiper")), Verdict::Admit, "an agent alone never shuts an address out");

        let walker: IpAddr = "203.0.113.10".parse().unwrap();
        let v: Vec<Verdict> = (0..6).map(|n| l.invite(walker, &format!("10{n}"), t)).collect();
        assert_eq!(v, [Verdict::Admit, Verdict::Admit, Verdict::Admit, Verdict::Drop, Verdict::Drop, Verdict::Drop]);
        let pbx: IpAddr = "192.0.2.10".parse().unwrap();
        assert!((0..20).all(|n| l.invite(pbx, &format!("{n}"), t) == Verdict::Admit), "the trunk calls many numbers");
        let same: IpAddr = "203.0.113.11".parse().unwrap();
        assert!((0..20).all(|_| l.invite(same, "0120", t) == Verdict::Admit), "one number many times is no scan");
        assert_eq!(l.invite(walker, "100", t + SCANNER_PENALTY + WINDOW), Verdict::Admit, "the penalty ends");

        // A forged burst in the name of a PBX that was already calling us: not a scanner.
        let pbx_unlisted: IpAddr = "198.51.100.20".parse().unwrap();
        l.verified(pbx_unlisted, t);
        let later = t + Duration::from_millis(5);
        assert!((0..10).all(|n| l.invite(pbx_unlisted, &format!("20{n}"), later) == Verdict::Admit));
        // A scanner that acknowledges its own probes as it goes is still one.
        let acking: IpAddr = "203.0.113.12".parse().unwrap();
        let verdicts: Vec<Verdict> = (0..6)
            .map(|n| {
                let v = l.invite(acking, &format!("30{n}"), later);
                l.verified(acking, later);
                v
            })
            .collect();
        assert_eq!(verdicts[5], Verdict::Drop, "{verdicts:?}");
    }

    #[test]
    fn a_flood_of_new_addresses_is_neither_tracked_without_bound_nor_scanned_per_packet() {
        let mut l = limits(10, 10);
        let t = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 10) {
            l.received(IpAddr::from(i.to_be_bytes()), 4, t);
        }
        assert_eq!(l.budgets.entries.len(), MAX_SOURCES);
        let newcomer: IpAddr = "198.51.100.99".parse().unwrap();
        assert!(!l.may_send(newcomer, 100, t), "an untracked source has no budget");
        l.verified(newcomer, t);
        assert!(l.may_send(newcomer, 100, t), "a verified one does");
        assert_eq!(l.verified.entries.len(), 1);
        l.received(newcomer, 4, t + WINDOW);
        assert!(l.budgets.entries.len() <= MAX_SOURCES);
    }

    #[test]
    fn unverified_sources_get_at_most_three_times_what_they_sent() {
        let mut l = limits(10, 10);
        let t = Instant::now();
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        l.received(ip, 500, t);
        assert!(l.may_send(ip, 700, t));
        assert!(l.may_send(ip, 700, t));
        assert!(!l.may_send(ip, 700, t), "2,100 > 1,500");
        assert!(l.may_send(ip, 100, t));
        l.verified(ip, t);
        assert!(l.may_send(ip, 10_000, t));
        assert!(l.may_send("192.0.2.10".parse().unwrap(), 10_000, t), "the trunk is trusted");
        assert_eq!(l.sweep(t), ["198.51.100.7: 1 response withheld (unverified source)"]);
    }
}
