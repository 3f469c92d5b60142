//! System operation notices (障害・メンテナンスのお知らせ): what a draft must hold, who may
//! approve, reject or withdraw one, and when a published one is public. Pure rules; the store
//! keeps the notices, the public pages and the announcer ask these.

use super::user::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = NoticeKind)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// 障害: something is broken.
    Failure,
    /// メンテナンス: planned work.
    Maintenance,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Failure => "failure",
            Kind::Maintenance => "maintenance",
        }
    }

    /// The word the public page puts before the title.
    pub fn label_ja(self) -> &'static str {
        match self {
            Kind::Failure => "障害",
            Kind::Maintenance => "メンテナンス",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Kind::Failure => "Failure",
            Kind::Maintenance => "Maintenance",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Kind, String> {
        match s {
            "failure" | "障害" => Ok(Kind::Failure),
            "maintenance" | "メンテナンス" => Ok(Kind::Maintenance),
            other => Err(format!("'{other}' is not a kind of notice (failure or maintenance)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Draft,
    /// Approved: public within its window.
    Published,
    Rejected,
    /// Taken down by a supervisor before its window ended.
    Withdrawn,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Published => "published",
            State::Rejected => "rejected",
            State::Withdrawn => "withdrawn",
        }
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        match s {
            "draft" => Ok(State::Draft),
            "published" => Ok(State::Published),
            "rejected" => Ok(State::Rejected),
            "withdrawn" => Ok(State::Withdrawn),
            other => Err(format!("'{other}' is not a notice state")),
        }
    }
}

/// What the rules need to know of one notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub state: State,
    pub drafted_by: String,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
}

impl Facts {
    /// On `/notices`, in the feed, and (with audio) played to callers at `now`.
    pub fn public(&self, now: i64) -> bool {
        self.state == State::Published
            && self.valid_from.is_none_or(|f| f <= now)
            && self.valid_until.is_none_or(|u| now < u)
    }
}

/// The next instant after `now` at which a published notice's window opens or closes.
pub fn next_change<'a>(notices: impl IntoIterator<Item = &'a Facts>, now: i64) -> Option<i64> {
    notices
        .into_iter()
        .filter(|n| n.state == State::Published)
        .flat_map(|n| [n.valid_from, n.valid_until])
        .flatten()
        .filter(|&at| at > now)
        .min()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "承認・却下・取り下げができるのはスーパーバイザー以上です / only a supervisor or admin may approve, reject or withdraw a notice"
    )]
    NotSupervisor,
    #[error("自分が起案したお知らせは承認・却下できません / the author cannot approve or reject their own notice")]
    OwnDraft,
    #[error("このお知らせは審査待ちではありません（{0}） / this notice is not a draft (it is {0})")]
    NotDraft(&'static str),
    #[error("取り下げられるのは公開中のお知らせだけです / only a published notice can be withdrawn (this one is {0})")]
    NotPublished(&'static str),
}

/// Whether `decider` (with `role`) may approve or reject the notice.
pub fn may_decide(notice: &Facts, decider: &str, role: Role) -> Result<(), Refusal> {
    if !role.allows(Role::Supervisor) {
        return Err(Refusal::NotSupervisor);
    }
    if notice.state != State::Draft {
        return Err(Refusal::NotDraft(notice.state.as_str()));
    }
    if notice.drafted_by == decider {
        return Err(Refusal::OwnDraft);
    }
    Ok(())
}

pub fn may_withdraw(notice: &Facts, role: Role) -> Result<(), Refusal> {
    if !role.allows(Role::Supervisor) {
        return Err(Refusal::NotSupervisor);
    }
    if notice.state != State::Published {
        return Err(Refusal::NotPublished(notice.state.as_str()));
    }
    Ok(())
}

/// The words of a draft, checked before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording<'a> {
    pub title: &'a str,
    pub title_en: &'a str,
    pub body: &'a str,
    pub body_en: &'a str,
}

pub const MAX_TITLE: usize = 200;
pub const MAX_BODY: usize = 10_000;

/// What is wrong with a draft, in the words of its fields; `None` when it may be stored.
pub fn draft_problem(w: &Wording, from: Option<i64>, until: Option<i64>, now: i64) -> Option<String> {
    let chars = |s: &str| s.chars().count();
    if w.title.trim().is_empty() {
        return Some("title: 件名が空です / the title is empty".into());
    }
    if w.body.trim().is_empty() {
        return Some("body: 本文が空です / the body is empty".into());
    }
    for (field, text, max) in [
        ("title", w.title, MAX_TITLE),
        ("title_en", w.title_en, MAX_TITLE),
        ("body", w.body, MAX_BODY),
        ("body_en", w.body_en, MAX_BODY),
    ] {
        if chars(text) > max {
            return Some(format!("{field}: {max} 文字までです / at most {max} characters"));
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
            return Some(format!("{field}: 制御文字は使えません / control characters are not allowed"));
        }
    }
    if let (Some(f), Some(u)) = (from, until)
        && u <= f
    {
        return Some("valid_until: 終了が開始より前です / valid_until must be after valid_from".into());
    }
    if until.is_some_and(|u| u <= now) {
        return Some("valid_until: 終了がすでに過ぎています / valid_until is in the past".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: State, by: &str, from: Option<i64>, until: Option<i64>) -> Facts {
        Facts { state, drafted_by: by.into(), valid_from: from, valid_until: until }
    }

    #[test]
    fn only_published_notices_within_their_window_are_public() {
        let table = [
            (facts(State::Draft, "a", None, None), 50, false),
            (facts(State::Rejected, "a", None, None), 50, false),
            (facts(State::Withdrawn, "a", None, None), 50, false),
            (facts(State::Published, "a", None, None), 50, true),
            (facts(State::Published, "a", Some(10), Some(100)), 9, false),
            (facts(State::Published, "a", Some(10), Some(100)), 10, true),
            (facts(State::Published, "a", Some(10), Some(100)), 99, true),
            (facts(State::Published, "a", Some(10), Some(100)), 100, false),
            (facts(State::Published, "a", None, Some(100)), 100, false),
        ];
        for (notice, now, want) in table {
            assert_eq!(notice.public(now), want, "{notice:?} at {now}");
        }
    }

    #[test]
    fn the_next_change_is_the_nearest_edge_of_a_published_window() {
        let notices = [
            facts(State::Published, "a", Some(10), Some(100)),
            facts(State::Draft, "a", Some(20), None),
            facts(State::Published, "a", None, Some(60)),
        ];
        assert_eq!(next_change(&notices, 0), Some(10));
        assert_eq!(next_change(&notices, 10), Some(60));
        assert_eq!(next_change(&notices, 60), Some(100));
        assert_eq!(next_change(&notices, 100), None);
    }

    #[test]
    fn a_supervisor_who_did_not_draft_it_decides_a_draft() {
        let draft = facts(State::Draft, "sato", None, None);
        assert_eq!(may_decide(&draft, "suzuki", Role::Supervisor), Ok(()));
        assert_eq!(may_decide(&draft, "admin", Role::Admin), Ok(()));
        assert_eq!(may_decide(&draft, "sato", Role::Supervisor), Err(Refusal::OwnDraft));
        assert_eq!(may_decide(&draft, "tanaka", Role::Operator), Err(Refusal::NotSupervisor));
        let published = facts(State::Published, "sato", None, None);
        assert_eq!(may_decide(&published, "suzuki", Role::Supervisor), Err(Refusal::NotDraft("published")));
        assert_eq!(may_withdraw(&published, Role::Supervisor), Ok(()));
        assert_eq!(may_withdraw(&published, Role::Operator), Err(Refusal::NotSupervisor));
        assert_eq!(may_withdraw(&draft, Role::Admin), Err(Refusal::NotPublished("draft")));
    }

    #[test]
    fn a_draft_needs_a_title_a_body_and_a_window_that_has_not_ended() {
        let ok = Wording { title: "メール遅延", title_en: "", body: "復旧作業中です。", body_en: "" };
        assert_eq!(draft_problem(&ok, Some(10), Some(20), 5), None);
        assert_eq!(draft_problem(&ok, None, None, 5), None);
        let table = [
            (Wording { title: " ", ..ok.clone() }, None, None, "title:"),
            (Wording { body: "", ..ok.clone() }, None, None, "body:"),
            (Wording { title_en: &"x".repeat(201), ..ok.clone() }, None, None, "title_en:"),
            (Wording { body: "a\u{7}b", ..ok.clone() }, None, None, "body:"),
            (ok.clone(), Some(20), Some(10), "valid_until:"),
            (ok.clone(), None, Some(4), "valid_until:"),
        ];
        for (w, from, until, want) in table {
            let got = draft_problem(&w, from, until, 5).unwrap_or_default();
            assert!(got.starts_with(want), "{w:?}: {got}");
        }
    }
}
