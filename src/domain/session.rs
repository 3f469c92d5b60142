//! How long a console session lives: it ends after `idle` without a request, and after `max`
//! whatever happens. Instants are UTC milliseconds, passed in (no clock here).

/// `[http] session_idle_minutes` and `session_max_hours`, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle_ms: i64,
    pub max_ms: i64,
}

impl SessionPolicy {
    pub fn from_settings(idle_minutes: u32, max_hours: u32) -> SessionPolicy {
        SessionPolicy { idle_ms: i64::from(idle_minutes) * 60_000, max_ms: i64::from(max_hours) * 3_600_000 }
    }

    /// Whether a session created at `created` and last used at `last_seen` may still be used.
    pub fn is_live(self, created: i64, last_seen: i64, now: i64) -> bool {
        now < created.saturating_add(self.max_ms) && now < last_seen.saturating_add(self.idle_ms)
    }

    /// Sessions created before the first instant, or last used before the second, have ended.
    pub fn cutoffs(self, now: i64) -> (i64, i64) {
        (now.saturating_sub(self.max_ms), now.saturating_sub(self.idle_ms))
    }

    /// Whether a request at `now` should record itself as the session's last use: not every one
    /// (a write per request), but often enough that the idle limit errs by a small fraction.
    pub fn should_touch(self, last_seen: i64, now: i64) -> bool {
        now - last_seen >= (self.idle_ms / 20).min(60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn a_session_ends_when_idle_or_too_old() {
        let policy = SessionPolicy::from_settings(60, 12);
        assert_eq!(policy, SessionPolicy { idle_ms: 60 * MIN, max_ms: 12 * 60 * MIN });
        let created = 1_000_000;
        let table = [
            // (last seen, now, live)
            (created, created, true),
            (created, created + 60 * MIN - 1, true),
            (created, created + 60 * MIN, false),
            (created + 30 * MIN, created + 89 * MIN, true),
            (created + 30 * MIN, created + 90 * MIN, false),
            (created + 12 * 60 * MIN - MIN, created + 12 * 60 * MIN - 1, true),
            (created + 12 * 60 * MIN - MIN, created + 12 * 60 * MIN, false),
        ];
        for (last_seen, now, live) in table {
            assert_eq!(policy.is_live(created, last_seen, now), live, "seen {last_seen}, now {now}");
        }
        let (created_after, seen_after) = policy.cutoffs(created + 12 * 60 * MIN);
        assert_eq!((created_after, seen_after), (created, created + 11 * 60 * MIN));
    }

    #[test]
    fn the_last_use_is_recorded_at_most_once_a_minute() {
        let hour = SessionPolicy::from_settings(60, 12);
        assert!(!hour.should_touch(0, 59_999));
        assert!(hour.should_touch(0, 60_000));
        let minute = SessionPolicy::from_settings(1, 1);
        assert!(!minute.should_touch(0, 2_999));
        assert!(minute.should_touch(0, 3_000));
    }
}
