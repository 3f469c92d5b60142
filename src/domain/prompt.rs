//! Announcement versions: which one plays now, when that next changes by itself, and who may
//! decide a request. Pure rules; the store keeps the facts, the announcer applies the answer.

use super::user::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved,
    Rejected,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Rejected => "rejected",
        }
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        match s {
            "pending" => Ok(State::Pending),
            "approved" => Ok(State::Approved),
            "rejected" => Ok(State::Rejected),
            other => Err(format!("'{other}' is not a prompt version state")),
        }
    }
}

/// What the rules need to know of one version of a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub version: i64,
    pub state: State,
    pub requested_by: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
    /// When it was approved or last rolled back to.
    pub activated_at: Option<i64>,
}

impl Facts {
    fn scheduled(&self) -> bool {
        self.valid_from.is_some() || self.valid_until.is_some()
    }

    fn in_window(&self, now: i64) -> bool {
        self.valid_from.is_none_or(|f| f <= now) && self.valid_until.is_none_or(|u| now < u)
    }
}

/// The version of a slot that plays at `now`: of the approved versions whose window holds `now`,
/// a scheduled one (a year-end notice) before the standing ones, and of those the one activated
/// last (approved, or rolled back to). `None`: nothing approved applies (the slot is silent).
pub fn active(versions: &[Facts], now: i64) -> Option<i64> {
    versions
        .iter()
        .filter(|v| v.state == State::Approved && v.in_window(now))
        .max_by_key(|v| (v.scheduled(), v.activated_at.unwrap_or(i64::MIN), v.version))
        .map(|v| v.version)
}

/// The next instant after `now` at which a window opens or closes, so the announcer wakes then.
pub fn next_change(versions: &[Facts], now: i64) -> Option<i64> {
    versions
        .iter()
        .filter(|v| v.state == State::Approved)
        .flat_map(|v| [v.valid_from, v.valid_until])
        .flatten()
        .filter(|&at| at > now)
        .min()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("承認・却下できるのはスーパーバイザー以上です / only a supervisor or admin may approve or reject")]
    NotSupervisor,
    #[error("自分の依頼は承認・却下できません / the requester cannot decide their own request")]
    OwnRequest,
    #[error("この版は審査待ちではありません（{0}） / this version is not pending (it is {0})")]
    NotPending(&'static str),
    #[error("戻せるのは承認済みの版だけです / only an approved version can be rolled back to")]
    NotApproved,
    #[error("有効期間の終わりが始まりより前です / valid_until must be after valid_from")]
    EmptyWindow,
}

/// Whether `decider` (with `role`) may approve or reject `version`.
pub fn may_decide(version: &Facts, decider: &str, role: Role) -> Result<(), Refusal> {
    if !role.allows(Role::Supervisor) {
        return Err(Refusal::NotSupervisor);
    }
    if version.state != State::Pending {
        return Err(Refusal::NotPending(version.state.as_str()));
    }
    if version.requested_by == decider {
        return Err(Refusal::OwnRequest);
    }
    Ok(())
}

/// Whether a rollback (making an earlier approved version play again) may be done by `role`.
pub fn may_roll_back(version: &Facts, role: Role) -> Result<(), Refusal> {
    if !role.allows(Role::Supervisor) {
        return Err(Refusal::NotSupervisor);
    }
    if version.state != State::Approved {
        return Err(Refusal::NotApproved);
    }
    Ok(())
}

/// A slot is named like a dialplan refers to it.
pub fn slot_problem(slot: &str) -> Option<&'static str> {
    let ok = !slot.is_empty()
        && slot.len() <= 40
        && slot.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    (!ok).then_some("a slot name is 1 to 40 of a-z, 0-9, _ and -")
}

pub fn check_window(from: Option<i64>, until: Option<i64>) -> Result<(), Refusal> {
    match (from, until) {
        (Some(f), Some(u)) if u <= f => Err(Refusal::EmptyWindow),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(version: i64, state: State, window: (Option<i64>, Option<i64>), activated: Option<i64>) -> Facts {
        Facts {
            version,
            state,
            requested_by: "sato".into(),
            valid_from: window.0,
            valid_until: window.1,
            activated_at: activated,
        }
    }

    #[test]
    fn which_version_plays() {
        use State::*;
        let always = (None, None);
        let year_end = (Some(100), Some(200));
        let cases: &[(&str, Vec<Facts>, i64, Option<i64>)] = &[
            ("shipped only", vec![v(1, Approved, always, Some(0))], 50, Some(1)),
            (
                "a pending request does not play",
                vec![v(1, Approved, always, Some(0)), v(2, Pending, always, None)],
                50,
                Some(1),
            ),
            (
                "a rejected one neither",
                vec![v(1, Approved, always, Some(0)), v(2, Rejected, always, None)],
                50,
                Some(1),
            ),
            (
                "the approved one does",
                vec![v(1, Approved, always, Some(0)), v(2, Approved, always, Some(10))],
                50,
                Some(2),
            ),
            ("rolled back to 1", vec![v(1, Approved, always, Some(20)), v(2, Approved, always, Some(10))], 50, Some(1)),
            (
                "before its window",
                vec![v(1, Approved, always, Some(0)), v(2, Approved, year_end, Some(10))],
                99,
                Some(1),
            ),
            (
                "in its window, over a later standing one",
                vec![
                    v(1, Approved, always, Some(0)),
                    v(2, Approved, year_end, Some(10)),
                    v(3, Approved, always, Some(30)),
                ],
                100,
                Some(2),
            ),
            (
                "after its window",
                vec![v(1, Approved, always, Some(0)), v(2, Approved, year_end, Some(10))],
                200,
                Some(1),
            ),
            ("nothing approved", vec![v(2, Pending, always, None)], 50, None),
        ];
        for (what, versions, now, want) in cases {
            assert_eq!(active(versions, *now), *want, "{what}");
        }
    }

    #[test]
    fn windows_wake_the_announcer() {
        let versions = vec![
            v(1, State::Approved, (None, None), Some(0)),
            v(2, State::Approved, (Some(100), Some(200)), Some(10)),
            v(3, State::Pending, (Some(50), None), None),
        ];
        assert_eq!(next_change(&versions, 0), Some(100));
        assert_eq!(next_change(&versions, 100), Some(200));
        assert_eq!(next_change(&versions, 200), None);
    }

    #[test]
    fn who_may_decide() {
        let pending = v(2, State::Pending, (None, None), None);
        assert_eq!(may_decide(&pending, "suzuki", Role::Supervisor), Ok(()));
        assert_eq!(may_decide(&pending, "admin", Role::Admin), Ok(()));
        assert_eq!(may_decide(&pending, "sato", Role::Supervisor), Err(Refusal::OwnRequest));
        assert_eq!(may_decide(&pending, "tanaka", Role::Operator), Err(Refusal::NotSupervisor));
        let done = v(2, State::Approved, (None, None), Some(1));
        assert_eq!(may_decide(&done, "suzuki", Role::Supervisor), Err(Refusal::NotPending("approved")));
        assert_eq!(may_roll_back(&done, Role::Supervisor), Ok(()));
        assert_eq!(may_roll_back(&pending, Role::Admin), Err(Refusal::NotApproved));
        assert_eq!(may_roll_back(&done, Role::Operator), Err(Refusal::NotSupervisor));
        assert_eq!(check_window(Some(5), Some(5)), Err(Refusal::EmptyWindow));
        assert_eq!(check_window(Some(5), None), Ok(()));
    }
}
