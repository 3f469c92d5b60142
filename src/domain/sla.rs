//! SLA clocks: time to first response, to the next update and to resolution, counted in
//! business time on a [`Calendar`], paused while a ticket waits on someone else. Pure: each
//! clock is a value, each happening a function from clock to clock; the store keeps them and
//! the scheduler claims those that are due.

use super::calendar::Calendar;
use super::ticket::Status;

/// What a clock measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    FirstResponse,
    NextUpdate,
    Resolution,
    /// An open callback task not yet answered.
    Callback,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::FirstResponse => "first_response",
            Kind::NextUpdate => "next_update",
            Kind::Resolution => "resolution",
            Kind::Callback => "callback",
        }
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Kind::FirstResponse => "初回応答",
            Kind::NextUpdate => "次回更新",
            Kind::Resolution => "解決",
            Kind::Callback => "折り返し",
        }
    }

    pub const ALL: [Kind; 4] = [Kind::FirstResponse, Kind::NextUpdate, Kind::Resolution, Kind::Callback];
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| format!("'{s}' is not an SLA clock"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    /// The ticket waits on the reporter or a vendor: the clock stands still.
    Paused,
    Met,
    Breached,
    /// No longer applies (the ticket was resolved before a next update was due, …).
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Paused => "paused",
            State::Met => "met",
            State::Breached => "breached",
            State::Stopped => "stopped",
        }
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        [State::Running, State::Paused, State::Met, State::Breached, State::Stopped]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not an SLA clock state"))
    }
}

/// One clock of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    pub kind: Kind,
    pub state: State,
    /// Business time allowed.
    pub target_ms: i64,
    /// Business time used before the current run (pauses end runs).
    pub consumed_ms: i64,
    /// When the current run began; `None` unless running.
    pub running_since: Option<i64>,
    /// When it breaches and when to warn, while running.
    pub due_at: Option<i64>,
    pub warn_at: Option<i64>,
    /// Counted around the clock instead of on business hours.
    pub around_the_clock: bool,
}

/// A status in which the ticket waits on someone else: its clocks stand still.
pub fn pauses(status: Status) -> bool {
    matches!(status, Status::WaitingReporter | Status::WaitingVendor)
}

impl Clock {
    /// A new clock running from `now`.
    pub fn start(
        kind: Kind,
        target_ms: i64,
        around_the_clock: bool,
        warn_before_ms: i64,
        cal: &Calendars,
        now: i64,
    ) -> Clock {
        let mut clock = Clock {
            kind,
            state: State::Paused,
            target_ms,
            consumed_ms: 0,
            running_since: None,
            due_at: None,
            warn_at: None,
            around_the_clock,
        };
        clock.resume(warn_before_ms, cal, now);
        clock
    }

    fn calendar<'a>(&self, cal: &'a Calendars) -> &'a Calendar {
        if self.around_the_clock { &cal.always } else { &cal.business }
    }

    /// Business time used up to `now`.
    pub fn used(&self, cal: &Calendars, now: i64) -> i64 {
        self.consumed_ms + self.running_since.map_or(0, |since| self.calendar(cal).business_ms(since, now))
    }

    /// Stops counting (the ticket waits on someone else).
    pub fn pause(&mut self, cal: &Calendars, now: i64) {
        if self.state != State::Running {
            return;
        }
        self.consumed_ms = self.used(cal, now);
        self.state = State::Paused;
        self.running_since = None;
        self.due_at = None;
        self.warn_at = None;
    }

    /// Counts again from `now`: due when the rest of the target is used up.
    pub fn resume(&mut self, warn_before_ms: i64, cal: &Calendars, now: i64) {
        if self.state != State::Paused {
            return;
        }
        let calendar = self.calendar(cal);
        let left = (self.target_ms - self.consumed_ms).max(0);
        self.state = State::Running;
        self.running_since = Some(now);
        let due = calendar.add_business(now, left);
        self.due_at = Some(due);
        self.warn_at = Some(calendar.add_business(now, (left - warn_before_ms).max(0)).min(due));
    }

    /// Ends the clock in time (`Met`) or as no longer applying (`Stopped`).
    pub fn end(&mut self, state: State, cal: &Calendars, now: i64) {
        if matches!(self.state, State::Running | State::Paused) {
            self.consumed_ms = self.used(cal, now);
            self.state = state;
            self.running_since = None;
            self.due_at = None;
            self.warn_at = None;
        }
    }

    /// A clock that ended (met, breached or stopped) runs again from `now` with at least
    /// `at_least_ms` left, so a reopened ticket never breaches the moment it reopens.
    pub fn restart(&mut self, at_least_ms: i64, warn_before_ms: i64, cal: &Calendars, now: i64) {
        if matches!(self.state, State::Running | State::Paused) {
            return;
        }
        self.consumed_ms = self.consumed_ms.min((self.target_ms - at_least_ms).max(0));
        self.state = State::Paused;
        self.resume(warn_before_ms, cal, now);
    }

    /// Counts afresh from `now` (a next-update clock after each update).
    pub fn reset(&mut self, warn_before_ms: i64, cal: &Calendars, now: i64) {
        self.consumed_ms = 0;
        self.state = State::Paused;
        self.running_since = None;
        self.resume(warn_before_ms, cal, now);
    }

    /// A new target (the ticket's priority or category changed): the time used stays used.
    pub fn retarget(&mut self, target_ms: i64, around_the_clock: bool, warn_before_ms: i64, cal: &Calendars, now: i64) {
        let running = self.state == State::Running;
        self.pause(cal, now);
        self.target_ms = target_ms;
        self.around_the_clock = around_the_clock;
        if running {
            self.resume(warn_before_ms, cal, now);
        }
    }
}

/// The two calendars clocks count on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendars {
    pub business: Calendar,
    pub always: Calendar,
}

impl Default for Calendars {
    fn default() -> Self {
        Calendars { business: Calendar::government(), always: Calendar::around_the_clock() }
    }
}

/// What a policy asks of a ticket (business milliseconds; `None`: not measured).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Targets {
    pub first_response: Option<i64>,
    pub next_update: Option<i64>,
    pub resolution: Option<i64>,
    pub around_the_clock: bool,
}

impl Targets {
    fn of(&self, kind: Kind) -> Option<i64> {
        match kind {
            Kind::FirstResponse => self.first_response,
            Kind::NextUpdate => self.next_update,
            Kind::Resolution => self.resolution,
            Kind::Callback => None,
        }
    }
}

/// A clock after [`sync`], and whether it began a new run (its warning and breach are still to
/// come, whatever happened in an earlier run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub clock: Clock,
    pub fresh: bool,
}

/// The least a reopened ticket gets before its resolution clock can breach.
const REOPEN_GRACE_MS: i64 = 3_600_000;

/// Brings a ticket's clocks (first response, next update, resolution) in line with its state:
/// started when it opens, met when a person responds or it is resolved, reset by each update,
/// paused while it waits on someone else, given new targets when its policy changes, restarted
/// (never already breached) when it reopens. `responded`: a person just worked on the ticket.
pub fn sync(
    clocks: &[Clock],
    targets: Option<&Targets>,
    status: Status,
    responded: bool,
    warn_before_ms: i64,
    cal: &Calendars,
    now: i64,
) -> Vec<Synced> {
    let mut out = Vec::new();
    let open = status.is_open();
    for kind in [Kind::FirstResponse, Kind::NextUpdate, Kind::Resolution] {
        let existing = clocks.iter().find(|c| c.kind == kind).cloned();
        let target = targets.and_then(|t| t.of(kind));
        let around = targets.is_some_and(|t| t.around_the_clock);
        let Some(target) = target else {
            // The policy no longer measures it.
            if let Some(mut clock) = existing {
                clock.end(State::Stopped, cal, now);
                out.push(Synced { clock, fresh: false });
            }
            continue;
        };
        let mut fresh = false;
        let mut clock = match existing {
            Some(mut clock) => {
                if clock.target_ms != target || clock.around_the_clock != around {
                    clock.retarget(target, around, warn_before_ms, cal, now);
                }
                clock
            }
            None => {
                let starts = match kind {
                    Kind::FirstResponse => open && !responded,
                    Kind::NextUpdate => open && responded,
                    _ => open,
                };
                if !starts {
                    continue;
                }
                fresh = true;
                Clock::start(kind, target, around, warn_before_ms, cal, now)
            }
        };
        let live = matches!(clock.state, State::Running | State::Paused);
        match kind {
            Kind::FirstResponse if responded && live => clock.end(State::Met, cal, now),
            Kind::NextUpdate if !open => clock.end(State::Stopped, cal, now),
            Kind::NextUpdate if responded && !fresh => {
                clock.reset(warn_before_ms, cal, now);
                fresh = true;
            }
            Kind::Resolution if !open => clock.end(State::Met, cal, now),
            Kind::Resolution if !live => {
                clock.restart(REOPEN_GRACE_MS.min(target), warn_before_ms, cal, now);
                fresh = true;
            }
            _ => {}
        }
        if pauses(status) {
            clock.pause(cal, now);
        } else if open {
            clock.resume(warn_before_ms, cal, now);
        }
        out.push(Synced { clock, fresh });
    }
    out
}

/// "15m", "4h", "90s", "1h30m": a target in milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("'{text}' is not a duration like 30m, 4h or 1h30m");
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            'h' => 3_600_000,
            'm' => 60_000,
            's' => 1_000,
            _ => return Err(bad()),
        };
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::jst;
    use chrono::TimeZone;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        jst().with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().timestamp_millis()
    }

    #[test]
    fn a_clock_is_due_after_its_target_in_business_time() {
        let cal = Calendars::default();
        // Friday 16:45 + 1h: 30 min on Friday, 30 min on Tuesday (Monday 11/23 is a holiday).
        let clock = Clock::start(Kind::FirstResponse, HOUR, false, 15 * MIN, &cal, at(2026, 11, 20, 16, 45));
        assert_eq!(clock.due_at, Some(at(2026, 11, 24, 9, 0)));
        assert_eq!(clock.warn_at, Some(at(2026, 11, 24, 8, 45)));
        // Around the clock: an urgent security incident on New Year's Eve.
        let urgent = Clock::start(Kind::FirstResponse, HOUR, true, 15 * MIN, &cal, at(2026, 12, 31, 23, 30));
        assert_eq!(urgent.due_at, Some(at(2027, 1, 1, 0, 30)));
        // A warning longer than the target: warn at once.
        let short = Clock::start(Kind::FirstResponse, 10 * MIN, true, HOUR, &cal, at(2026, 11, 20, 10, 0));
        assert_eq!(short.warn_at, Some(at(2026, 11, 20, 10, 0)));
    }

    #[test]
    fn waiting_stops_the_clock_and_resuming_counts_only_what_was_left() {
        let cal = Calendars::default();
        let mut clock = Clock::start(Kind::Resolution, 4 * HOUR, false, 0, &cal, at(2026, 11, 20, 9, 0));
        clock.pause(&cal, at(2026, 11, 20, 10, 0)); // an hour used, then waiting on the reporter
        assert_eq!((clock.state, clock.consumed_ms, clock.due_at), (State::Paused, HOUR, None));
        clock.pause(&cal, at(2026, 11, 20, 11, 0));
        assert_eq!(clock.consumed_ms, HOUR, "pausing twice uses nothing");
        // The reporter answers the next working day: three hours are left.
        clock.resume(0, &cal, at(2026, 11, 24, 9, 0));
        assert_eq!(clock.due_at, Some(at(2026, 11, 24, 12, 0)));
        assert_eq!(clock.used(&cal, at(2026, 11, 24, 10, 0)), 2 * HOUR);
        clock.end(State::Met, &cal, at(2026, 11, 24, 11, 0));
        assert_eq!((clock.state, clock.consumed_ms), (State::Met, 3 * HOUR));
    }

    #[test]
    fn reopening_never_breaches_at_once() {
        let cal = Calendars::default();
        let mut clock = Clock::start(Kind::Resolution, 2 * HOUR, true, 0, &cal, at(2026, 11, 20, 9, 0));
        clock.end(State::Breached, &cal, at(2026, 11, 20, 12, 0));
        assert_eq!(clock.consumed_ms, 3 * HOUR);
        clock.restart(HOUR, 0, &cal, at(2026, 11, 25, 9, 0));
        assert_eq!((clock.state, clock.due_at), (State::Running, Some(at(2026, 11, 25, 10, 0))));
        // One met with time to spare keeps what was left.
        let mut met = Clock::start(Kind::Resolution, 2 * HOUR, true, 0, &cal, at(2026, 11, 20, 9, 0));
        met.end(State::Met, &cal, at(2026, 11, 20, 9, 30));
        met.restart(HOUR, 0, &cal, at(2026, 11, 25, 9, 0));
        assert_eq!(met.due_at, Some(at(2026, 11, 25, 10, 30)));
    }

    #[test]
    fn a_new_target_keeps_the_time_used() {
        let cal = Calendars::default();
        let mut clock = Clock::start(Kind::FirstResponse, 4 * HOUR, false, 0, &cal, at(2026, 11, 20, 9, 0));
        clock.retarget(2 * HOUR, false, 0, &cal, at(2026, 11, 20, 10, 0));
        assert_eq!(clock.due_at, Some(at(2026, 11, 20, 11, 0)));
        let mut next = Clock::start(Kind::NextUpdate, HOUR, false, 0, &cal, at(2026, 11, 20, 9, 0));
        next.reset(0, &cal, at(2026, 11, 20, 9, 50));
        assert_eq!(next.due_at, Some(at(2026, 11, 20, 10, 50)));
    }

    #[test]
    fn a_tickets_clocks_follow_its_life() {
        let cal = Calendars::default();
        let targets = Targets {
            first_response: Some(HOUR),
            next_update: Some(2 * HOUR),
            resolution: Some(8 * HOUR),
            around_the_clock: false,
        };
        let t0 = at(2026, 11, 20, 9, 0);
        let kinds = |s: &[Synced]| s.iter().map(|c| (c.clock.kind, c.clock.state, c.fresh)).collect::<Vec<_>>();
        let clocks = |s: &[Synced]| s.iter().map(|c| c.clock.clone()).collect::<Vec<_>>();
        // A new ticket: first response and resolution run.
        let created = sync(&[], Some(&targets), Status::New, false, 0, &cal, t0);
        assert_eq!(
            kinds(&created),
            [(Kind::FirstResponse, State::Running, true), (Kind::Resolution, State::Running, true)]
        );
        // A person takes it up: first response met, the next-update clock starts.
        let taken = sync(&clocks(&created), Some(&targets), Status::InProgress, true, 0, &cal, t0 + 10 * MIN);
        assert_eq!(
            kinds(&taken),
            [
                (Kind::FirstResponse, State::Met, false),
                (Kind::NextUpdate, State::Running, true),
                (Kind::Resolution, State::Running, false)
            ]
        );
        // Waiting on the reporter: everything stands still.
        let waiting = sync(&clocks(&taken), Some(&targets), Status::WaitingReporter, true, 0, &cal, t0 + 20 * MIN);
        assert!(waiting.iter().filter(|c| c.clock.kind != Kind::FirstResponse).all(|c| c.clock.state == State::Paused));
        // The reporter answers (no person's action): the clocks go on where they were.
        let back = sync(&clocks(&waiting), Some(&targets), Status::InProgress, false, 0, &cal, t0 + 80 * MIN);
        let resolution = back.iter().find(|c| c.clock.kind == Kind::Resolution).unwrap();
        assert_eq!(resolution.clock.due_at, Some(at(2026, 11, 24, 9, 15)), "7h40m left from Friday 10:20");
        // Resolved: resolution met, next update stopped.
        let done = sync(&clocks(&back), Some(&targets), Status::Resolved, true, 0, &cal, t0 + 2 * HOUR);
        assert_eq!(
            kinds(&done)[1..],
            [(Kind::NextUpdate, State::Stopped, false), (Kind::Resolution, State::Met, false)]
        );
        // Reopened days later by a new mail: resolution runs again with its time left, fresh.
        let reopened = sync(&clocks(&done), Some(&targets), Status::InProgress, false, 0, &cal, at(2026, 11, 27, 9, 0));
        let resolution = reopened.iter().find(|c| c.clock.kind == Kind::Resolution).unwrap();
        assert!(resolution.fresh && resolution.clock.state == State::Running);
        assert!(resolution.clock.due_at.unwrap() >= at(2026, 11, 27, 10, 0), "never due at once");
        // A policy that measures less stops the rest.
        let none = sync(&clocks(&reopened), None, Status::InProgress, false, 0, &cal, at(2026, 11, 27, 9, 5));
        assert!(none.iter().all(|c| matches!(c.clock.state, State::Stopped | State::Met)));
    }

    #[test]
    fn durations() {
        for (text, want) in [("15m", 15 * MIN), ("4h", 4 * HOUR), ("1h30m", 90 * MIN), ("90s", 90_000), ("0m", 0)] {
            assert_eq!(parse_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "4", "h", "4d", "-1h", "1.5h", "99999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
