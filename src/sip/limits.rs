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
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Rate => "over the INVITE rate",
            Refusal::Scanner => "scanner dropped",
            Refusal::Busy => "max_calls reached",
            Refusal::Amplification => "response withheld (unverified source)",
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
    verified_until: Option<Instant>,
    at: Instant,
}

pub struct Limits {
    settings: LimitSettings,
    buckets: HashMap<IpAddr, Bucket>,
    watches: HashMap<IpAddr, Watch>,
    budgets: HashMap<IpAddr, Budget>,
    refused: HashMap<(IpAddr, Refusal), u64>,
}

impl Limits {
    pub fn new(mut settings: LimitSettings) -> Limits {
        for ua in &mut settings.scanner_user_agents {
            *ua = ua.to_ascii_lowercase();
        }
        Limits {
            settings,
            buckets: HashMap::new(),
            watches: HashMap::new(),
            budgets: HashMap::new(),
            refused: HashMap::new(),
        }
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.settings.trusted.contains(&ip)
    }

    /// Any new request: one from a known scanner's User-Agent is dropped, whatever its method
    /// (sipvicious maps with OPTIONS and enumerates with REGISTER as much as with INVITE).
    pub fn request(&mut self, ip: IpAddr, user_agent: Option<&str>) -> Verdict {
        if self.scanner_agent(user_agent) {
            self.refuse(ip, Refusal::Scanner);
            return Verdict::Drop;
        }
        Verdict::Admit
    }

    fn scanner_agent(&self, user_agent: Option<&str>) -> bool {
        user_agent.is_some_and(|ua| {
            let ua = ua.to_ascii_lowercase();
            self.settings.scanner_user_agents.iter().any(|s| ua.contains(s.as_str()))
        })
    }

    /// A new INVITE (no To tag) from `ip` to `dialed`.
    pub fn invite(&mut self, ip: IpAddr, dialed: &str, user_agent: Option<&str>, now: Instant) -> Verdict {
        if self.is_scanner(ip, dialed, user_agent, now) {
            self.refuse(ip, Refusal::Scanner);
            return Verdict::Drop;
        }
        let rate = f64::from(self.settings.invites_per_second);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= MAX_SOURCES {
            self.buckets.retain(|_, b| now.duration_since(b.at) < Duration::from_secs(1));
        }
        let bucket = self.buckets.entry(ip).or_insert(Bucket { tokens: rate, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(rate);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            self.refuse(ip, Refusal::Rate);
            return Verdict::Overloaded;
        }
        bucket.tokens -= 1.0;
        Verdict::Admit
    }

    fn is_scanner(&mut self, ip: IpAddr, dialed: &str, user_agent: Option<&str>, now: Instant) -> bool {
        let by_agent = self.scanner_agent(user_agent);
        if self.trusted(ip) && !by_agent {
            return false;
        }
        if !self.watches.contains_key(&ip) && self.watches.len() >= MAX_SOURCES {
            self.watches.retain(|_, w| w.flagged_until.is_some_and(|u| u > now));
        }
        let limit = self.settings.scanner_numbers_per_minute as usize;
        let w = self.watches.entry(ip).or_insert(Watch { since: now, numbers: HashSet::new(), flagged_until: None });
        if by_agent {
            w.flagged_until = Some(now + SCANNER_PENALTY);
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
        if w.numbers.len() > limit && !self.settings.trusted.contains(&ip) {
            w.flagged_until = Some(now + SCANNER_PENALTY);
            return true;
        }
        false
    }

    /// A call refused for `max_calls`.
    pub fn busy(&mut self, ip: IpAddr) {
        self.refuse(ip, Refusal::Busy);
    }

    fn refuse(&mut self, ip: IpAddr, why: Refusal) {
        if self.refused.len() < MAX_SOURCES || self.refused.contains_key(&(ip, why)) {
            *self.refused.entry((ip, why)).or_default() += 1;
        }
    }

    fn budget(&mut self, ip: IpAddr, now: Instant) -> &mut Budget {
        if !self.budgets.contains_key(&ip) && self.budgets.len() >= MAX_SOURCES {
            self.budgets.retain(|_, b| now.duration_since(b.at) < WINDOW);
        }
        self.budgets.entry(ip).or_insert(Budget { received: 0, sent: 0, verified_until: None, at: now })
    }

    /// A datagram of `bytes` came from `ip`.
    pub fn received(&mut self, ip: IpAddr, bytes: usize, now: Instant) {
        let b = self.budget(ip, now);
        b.received += bytes as u64;
        b.at = now;
    }

    /// `ip` showed that it receives what we send (it echoed our tag, or answered our request).
    pub fn verified(&mut self, ip: IpAddr, now: Instant) {
        self.budget(ip, now).verified_until = Some(now + VERIFIED_FOR);
    }

    /// Whether `bytes` may be sent to `ip` over UDP now; counts them if so.
    pub fn may_send(&mut self, ip: IpAddr, bytes: usize, now: Instant) -> bool {
        if self.trusted(ip) {
            return true;
        }
        let b = self.budget(ip, now);
        if b.verified_until.is_some_and(|u| u > now) {
            return true;
        }
        if b.sent + bytes as u64 > AMPLIFICATION * b.received {
            self.refuse(ip, Refusal::Amplification);
            return false;
        }
        b.sent += bytes as u64;
        true
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
        self.buckets.retain(|_, b| now.duration_since(b.at) < WINDOW);
        self.watches.retain(|_, w| w.flagged_until.is_some_and(|u| u > now) || now.duration_since(w.since) < WINDOW);
        self.budgets.retain(|_, b| b.verified_until.is_some_and(|u| u > now) || now.duration_since(b.at) < WINDOW);
        lines
    }
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
        let verdicts: Vec<Verdict> = (0..5).map(|_| l.invite(ip, "0120", None, t)).collect();
        assert_eq!(verdicts[..3], [Verdict::Admit; 3]);
        assert_eq!(verdicts[3..], [Verdict::Overloaded; 2]);
        assert_eq!(l.invite(ip, "0120", None, t + Duration::from_millis(400)), Verdict::Admit);
        assert_eq!(l.invite("198.51.100.2".parse().unwrap(), "0120", None, t), Verdict::Admit, "per source");
        let summary = l.sweep(t);
        assert_eq!(summary, ["198.51.100.1: 2 over the INVITE rate"]);
        assert!(l.sweep(t).is_empty(), "each minute counts anew");
    }

    #[test]
    fn scanners_by_agent_or_by_many_numbers_are_dropped() {
        let mut l = limits(1000, 3);
        let t = Instant::now();
        let scanner: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(l.invite(scanner, "100", Some("friendly-scanner"), t), Verdict::Drop);
        assert_eq!(l.invite(scanner, "100", Some("Zoiper"), t), Verdict::Drop, "the source stays flagged");
        assert_eq!(l.request(scanner, Some("sipvicious 0.3.4")), Verdict::Drop, "any method");
        assert_eq!(l.request(scanner, Some("Zoiper")), Verdict::Admit, "an OPTIONS from a phone behind the same NAT");

        let walker: IpAddr = "203.0.113.10".parse().unwrap();
        let v: Vec<Verdict> = (0..6).map(|n| l.invite(walker, &format!("10{n}"), None, t)).collect();
        assert_eq!(v, [Verdict::Admit, Verdict::Admit, Verdict::Admit, Verdict::Drop, Verdict::Drop, Verdict::Drop]);
        let pbx: IpAddr = "192.0.2.10".parse().unwrap();
        assert!(
            (0..20).all(|n| l.invite(pbx, &format!("{n}"), None, t) == Verdict::Admit),
            "the trunk calls many numbers"
        );
        let same: IpAddr = "203.0.113.11".parse().unwrap();
        assert!((0..20).all(|_| l.invite(same, "0120", None, t) == Verdict::Admit), "one number many times is no scan");
        assert_eq!(l.invite(walker, "100", None, t + SCANNER_PENALTY + WINDOW), Verdict::Admit, "the penalty ends");
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
