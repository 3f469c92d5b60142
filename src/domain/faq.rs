//! FAQ upkeep (FAQ の整備): what an entry must hold, the approval steps it goes through, and who
//! may move it along. Pure rules; the store keeps the entries and asks these inside the
//! transaction that changes one.
//!
//! ```text
//! draft ──submit──► submitted ──(each step of [faq] approvals, in order)──► approved ──publish──► published
//!   ▲                  │ reject / edit                                        │ reject / edit          │ withdraw
//!   └──────────────────┴──────────────────────────────────────────────────────┘                        ▼
//!   └────────────────────────────────────── edit ─────────────────────────────────────────────── withdrawn
//! ```

use super::user::Role;
use chrono::{Datelike, Duration, NaiveDate};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    /// Only in the console, for the helpdesk's own answers.
    Internal,
    /// Also on the public page `/faq` and in `/faq.json` once published.
    Public,
}

impl Audience {
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Internal => "internal",
            Audience::Public => "public",
        }
    }
}

impl std::str::FromStr for Audience {
    type Err = String;
    fn from_str(s: &str) -> Result<Audience, String> {
        match s {
            "internal" => Ok(Audience::Internal),
            "public" => Ok(Audience::Public),
            other => Err(format!("'{other}' is not an audience (internal or public)")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Draft,
    /// Waiting for its approval steps, one after the other.
    Submitted,
    /// Every step approved; a supervisor publishes it.
    Approved,
    Published,
    /// Taken down after publication; an edit makes it a draft again.
    Withdrawn,
}

impl State {
    pub const ALL: [State; 5] = [State::Draft, State::Submitted, State::Approved, State::Published, State::Withdrawn];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Draft => "draft",
            State::Submitted => "submitted",
            State::Approved => "approved",
            State::Published => "published",
            State::Withdrawn => "withdrawn",
        }
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        State::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| format!("'{s}' is not an FAQ state"))
    }
}

/// The approval steps every entry goes through, in order (`[faq] approvals`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Steps(Vec<String>);

/// 統括責任者, then 労災保険業務課.
pub const DEFAULT_STEPS: [&str; 2] = ["general_manager", "business_division"];

impl Default for Steps {
    fn default() -> Steps {
        Steps(DEFAULT_STEPS.map(String::from).to_vec())
    }
}

impl Steps {
    /// Steps as configured (checked by [`steps_problem`] when the settings were read).
    pub fn new(names: &[String]) -> Steps {
        Steps(names.iter().map(|n| n.trim().to_owned()).collect())
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    pub fn contains(&self, step: &str) -> bool {
        self.0.iter().any(|s| s == step)
    }

    /// The step awaited after `approved` steps of this round, if any is left.
    pub fn next(&self, approved: usize) -> Option<&str> {
        self.0.get(approved).map(String::as_str)
    }
}

/// What a step is called on screen, Japanese and English. A step that is not one of the
/// known names is shown as written in the settings.
pub fn step_label(step: &str) -> (String, String) {
    match step {
        "general_manager" => ("統括責任者の承認".into(), "General manager's approval".into()),
        "business_division" => ("業務課の承認".into(), "Business division's approval".into()),
        other => (other.to_owned(), other.to_owned()),
    }
}

pub const MAX_STEP_CHARS: usize = 64;

/// What is wrong with `[faq] approvals`, one line per problem: there must be at least one step,
/// each named (any name: unknown ones are free labels), and no step twice.
pub fn steps_problems(names: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if names.is_empty() {
        problems
            .push("approvals must name at least one step (e.g. [\"general_manager\", \"business_division\"])".into());
    }
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() {
            problems.push(format!("approvals[{i}] is empty: every step needs a name"));
        } else if name.chars().count() > MAX_STEP_CHARS || name.chars().any(char::is_control) {
            problems.push(format!(
                "approvals[{i}] must be at most {MAX_STEP_CHARS} characters, without control characters"
            ));
        } else if names[..i].iter().any(|earlier| earlier.trim() == name) {
            problems.push(format!("approvals[{i}] '{name}' is listed twice: each step is approved once"));
        }
    }
    problems
}

/// What the rules need to know of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub state: State,
    pub author: String,
    /// Who last changed its words (the author until someone edits it).
    pub edited_by: String,
    /// The steps approved since it was last submitted, in order.
    pub approved: Vec<String>,
}

impl Facts {
    /// Whether `who` wrote or last changed it: they may not approve or reject it.
    fn written_by(&self, who: &str) -> bool {
        self.author == who || self.edited_by == who
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "承認・却下・公開・取り下げができるのはスーパーバイザー以上です / only a supervisor or admin may approve, reject, publish or withdraw an FAQ entry"
    )]
    NotSupervisor,
    #[error(
        "自分が作成・編集した FAQ は承認・却下できません / the author (or last editor) cannot approve or reject their own FAQ entry"
    )]
    OwnEntry,
    #[error("step: 承認手順にない名前です（{0}） / step is not one of the approval steps ([faq] approvals): {0}")]
    UnknownStep(String),
    #[error("承認の順序が違います。次は「{label}」です / approvals go in order: the next step is {expected}")]
    OutOfOrder { expected: String, label: String },
    #[error("この FAQ は承認待ちではありません（{0}） / this FAQ entry is not waiting for approval (it is {0})")]
    NotSubmitted(&'static str),
    #[error("提出できるのは下書きだけです（{0}） / only a draft can be submitted (this entry is {0})")]
    NotDraft(&'static str),
    #[error(
        "公開できるのはすべての承認を得た FAQ だけです（{0}） / only an approved FAQ entry can be published (this one is {0})"
    )]
    NotApproved(&'static str),
    #[error(
        "取り下げられるのは公開中の FAQ だけです（{0}） / only a published FAQ entry can be withdrawn (this one is {0})"
    )]
    NotPublished(&'static str),
    #[error(
        "公開中の FAQ は編集できません。取り下げてから編集してください / a published FAQ entry cannot be edited; withdraw it first"
    )]
    EditPublished,
}

/// How the API answers a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// Not this person (403).
    Denied,
    /// Not in this state (409).
    Conflict,
    /// Not a valid request (422).
    Invalid,
}

impl Refusal {
    pub fn kind(&self) -> RefusalKind {
        match self {
            Refusal::NotSupervisor | Refusal::OwnEntry => RefusalKind::Denied,
            Refusal::UnknownStep(_) => RefusalKind::Invalid,
            _ => RefusalKind::Conflict,
        }
    }
}

fn supervisor(role: Role) -> Result<(), Refusal> {
    if role.allows(Role::Supervisor) { Ok(()) } else { Err(Refusal::NotSupervisor) }
}

/// An edit of its words: a draft stays one; a submitted, approved or withdrawn entry becomes a
/// draft again (its approvals no longer count); a published one must be withdrawn first.
pub fn edit(entry: &Facts) -> Result<State, Refusal> {
    match entry.state {
        State::Published => Err(Refusal::EditPublished),
        _ => Ok(State::Draft),
    }
}

/// A draft sent for approval: it waits for the first step (approved at once when there is none).
pub fn submit(entry: &Facts, steps: &Steps) -> Result<State, Refusal> {
    if entry.state != State::Draft {
        return Err(Refusal::NotDraft(entry.state.as_str()));
    }
    Ok(if steps.names().is_empty() { State::Approved } else { State::Submitted })
}

/// `by` records that `step` was obtained: a supervisor who did not write the entry, for the step
/// that is next. The entry is approved once the last step is.
pub fn approve(entry: &Facts, steps: &Steps, step: &str, by: &str, role: Role) -> Result<State, Refusal> {
    supervisor(role)?;
    if entry.written_by(by) {
        return Err(Refusal::OwnEntry);
    }
    if entry.state != State::Submitted {
        return Err(Refusal::NotSubmitted(entry.state.as_str()));
    }
    if !steps.contains(step) {
        return Err(Refusal::UnknownStep(step.to_owned()));
    }
    let done = entry.approved.len();
    match steps.next(done) {
        Some(expected) if expected == step => {
            Ok(if done + 1 == steps.names().len() { State::Approved } else { State::Submitted })
        }
        Some(expected) => Err(Refusal::OutOfOrder { expected: expected.to_owned(), label: step_label(expected).0 }),
        // Every step is done already, so it would be approved, not submitted.
        None => Err(Refusal::NotSubmitted(entry.state.as_str())),
    }
}

/// Sent back to its author as a draft, from any step of its review (also once approved, before
/// it is published).
pub fn reject(entry: &Facts, by: &str, role: Role) -> Result<State, Refusal> {
    supervisor(role)?;
    if entry.written_by(by) {
        return Err(Refusal::OwnEntry);
    }
    match entry.state {
        State::Submitted | State::Approved => Ok(State::Draft),
        other => Err(Refusal::NotSubmitted(other.as_str())),
    }
}

pub fn publish(entry: &Facts, role: Role) -> Result<State, Refusal> {
    supervisor(role)?;
    match entry.state {
        State::Approved => Ok(State::Published),
        other => Err(Refusal::NotApproved(other.as_str())),
    }
}

pub fn withdraw(entry: &Facts, role: Role) -> Result<State, Refusal> {
    supervisor(role)?;
    match entry.state {
        State::Published => Ok(State::Withdrawn),
        other => Err(Refusal::NotPublished(other.as_str())),
    }
}

/// The words of an entry, checked before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wording<'a> {
    pub question: &'a str,
    pub answer: &'a str,
    pub category: &'a str,
}

pub const MAX_QUESTION: usize = 500;
pub const MAX_ANSWER: usize = 20_000;
pub const MAX_CATEGORY: usize = 64;
/// Tickets one entry may be drafted from.
pub const MAX_TICKETS: usize = 500;

/// What is wrong with an entry's words, naming the field; `None` when it may be stored.
pub fn wording_problem(w: &Wording) -> Option<String> {
    for (field, text, what) in [
        ("question", w.question, "質問が空です / the question is empty"),
        ("answer", w.answer, "回答が空です / the answer is empty"),
        ("category", w.category, "分類が空です / the category is empty"),
    ] {
        if text.trim().is_empty() {
            return Some(format!("{field}: {what}"));
        }
    }
    for (field, text, max) in [
        ("question", w.question, MAX_QUESTION),
        ("answer", w.answer, MAX_ANSWER),
        ("category", w.category, MAX_CATEGORY),
    ] {
        if text.chars().count() > max {
            return Some(format!("{field}: {max} 文字までです / at most {max} characters"));
        }
        let allowed = |c: char| !c.is_control() || (field == "answer" && matches!(c, '\n' | '\r' | '\t'));
        if !text.chars().all(allowed) {
            return Some(format!("{field}: 制御文字は使えません / control characters are not allowed"));
        }
    }
    None
}

/// The JST week (Monday to Sunday) that holds `day`.
pub fn week_of(day: NaiveDate) -> (NaiveDate, NaiveDate) {
    let monday = day - Duration::days(i64::from(day.weekday().num_days_from_monday()));
    (monday, monday + Duration::days(6))
}

/// The instants `[start, end)` of the JST days `first..=last`, in milliseconds.
pub fn jst_days(first: NaiveDate, last: NaiveDate) -> (i64, i64) {
    let midnight = |d: NaiveDate| {
        let utc = d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp_millis();
        utc - 9 * 3_600_000
    };
    (midnight(first), midnight(last + Duration::days(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(state: State, approved: &[&str]) -> Facts {
        Facts {
            state,
            author: "sato".into(),
            edited_by: "sato".into(),
            approved: approved.iter().map(|s| s.to_string()).collect(),
        }
    }

    const GM: &str = "general_manager";
    const BD: &str = "business_division";

    #[test]
    fn every_transition_by_state_and_role() {
        use State::*;
        let steps = Steps::default();
        let sup = Role::Supervisor;
        // (entry, action, who, role, outcome)
        type Act = fn(&Facts, &Steps, &str, Role) -> Result<State, Refusal>;
        type Row<'a> = (Facts, &'a str, Act, &'a str, Role, Result<State, Refusal>);
        let edit_: Act = |f, _, _, _| edit(f);
        let submit_: Act = |f, s, _, _| submit(f, s);
        let gm: Act = |f, s, by, r| approve(f, s, GM, by, r);
        let bd: Act = |f, s, by, r| approve(f, s, BD, by, r);
        let reject_: Act = |f, _, by, r| reject(f, by, r);
        let publish_: Act = |f, _, _, r| publish(f, r);
        let withdraw_: Act = |f, _, _, r| withdraw(f, r);
        let table: Vec<Row> = vec![
            (facts(Draft, &[]), "edit draft", edit_, "sato", Role::Operator, Ok(Draft)),
            (facts(Submitted, &[GM]), "edit submitted", edit_, "tanaka", Role::Operator, Ok(Draft)),
            (facts(Approved, &[GM, BD]), "edit approved", edit_, "sato", Role::Operator, Ok(Draft)),
            (facts(Withdrawn, &[]), "edit withdrawn", edit_, "sato", Role::Operator, Ok(Draft)),
            (facts(Published, &[]), "edit published", edit_, "sato", sup, Err(Refusal::EditPublished)),
            (facts(Draft, &[]), "submit draft", submit_, "sato", Role::Operator, Ok(Submitted)),
            (
                facts(Submitted, &[]),
                "submit twice",
                submit_,
                "sato",
                Role::Operator,
                Err(Refusal::NotDraft("submitted")),
            ),
            (facts(Withdrawn, &[]), "submit withdrawn", submit_, "sato", sup, Err(Refusal::NotDraft("withdrawn"))),
            (facts(Submitted, &[]), "first step", gm, "suzuki", sup, Ok(Submitted)),
            (facts(Submitted, &[GM]), "last step", bd, "suzuki", Role::Admin, Ok(Approved)),
            (facts(Submitted, &[]), "second before first", bd, "suzuki", sup, Err(out_of_order(GM))),
            (facts(Submitted, &[GM]), "first again", gm, "suzuki", sup, Err(out_of_order(BD))),
            (facts(Submitted, &[]), "own entry", gm, "sato", sup, Err(Refusal::OwnEntry)),
            (facts(Submitted, &[]), "operator approves", gm, "tanaka", Role::Operator, Err(Refusal::NotSupervisor)),
            (facts(Draft, &[]), "approve a draft", gm, "suzuki", sup, Err(Refusal::NotSubmitted("draft"))),
            (facts(Approved, &[GM, BD]), "approve approved", bd, "suzuki", sup, Err(Refusal::NotSubmitted("approved"))),
            (facts(Submitted, &[GM]), "reject", reject_, "suzuki", sup, Ok(Draft)),
            (facts(Approved, &[GM, BD]), "reject approved", reject_, "suzuki", sup, Ok(Draft)),
            (facts(Submitted, &[]), "reject own", reject_, "sato", sup, Err(Refusal::OwnEntry)),
            (facts(Draft, &[]), "reject draft", reject_, "suzuki", sup, Err(Refusal::NotSubmitted("draft"))),
            (facts(Submitted, &[]), "operator rejects", reject_, "tanaka", Role::Operator, Err(Refusal::NotSupervisor)),
            (facts(Approved, &[GM, BD]), "publish", publish_, "sato", sup, Ok(Published)),
            (
                facts(Submitted, &[GM]),
                "publish half-approved",
                publish_,
                "suzuki",
                sup,
                Err(Refusal::NotApproved("submitted")),
            ),
            (
                facts(Approved, &[GM, BD]),
                "operator publishes",
                publish_,
                "tanaka",
                Role::Operator,
                Err(Refusal::NotSupervisor),
            ),
            (facts(Published, &[]), "withdraw", withdraw_, "suzuki", sup, Ok(Withdrawn)),
            (
                facts(Approved, &[]),
                "withdraw unpublished",
                withdraw_,
                "suzuki",
                sup,
                Err(Refusal::NotPublished("approved")),
            ),
            (
                facts(Published, &[]),
                "operator withdraws",
                withdraw_,
                "tanaka",
                Role::Operator,
                Err(Refusal::NotSupervisor),
            ),
        ];
        for (entry, what, act, who, role, want) in table {
            assert_eq!(act(&entry, &steps, who, role), want, "{what}");
        }
    }

    fn out_of_order(expected: &str) -> Refusal {
        Refusal::OutOfOrder { expected: expected.into(), label: step_label(expected).0 }
    }

    #[test]
    fn steps_are_configurable_free_labels_in_order() {
        let steps = Steps::new(&["課長".into(), " 部長 ".into(), "business_division".into()]);
        let sup = Role::Supervisor;
        let mut entry = facts(State::Submitted, &[]);
        assert_eq!(approve(&entry, &steps, "部長", "suzuki", sup), Err(out_of_order("課長")));
        assert_eq!(
            approve(&entry, &steps, "general_manager", "suzuki", sup),
            Err(Refusal::UnknownStep("general_manager".into()))
        );
        assert_eq!(Refusal::UnknownStep("x".into()).kind(), RefusalKind::Invalid);
        for (step, next) in
            [("課長", State::Submitted), ("部長", State::Submitted), ("business_division", State::Approved)]
        {
            assert_eq!(approve(&entry, &steps, step, "suzuki", sup), Ok(next), "{step}");
            entry.approved.push(step.into());
        }
        assert_eq!(
            submit(&facts(State::Draft, &[]), &Steps::new(&[])),
            Ok(State::Approved),
            "no steps: approved at once"
        );
        assert_eq!(step_label("general_manager").0, "統括責任者の承認");
        assert_eq!(step_label("business_division").0, "業務課の承認");
        assert_eq!(step_label("課長"), ("課長".into(), "課長".into()));
    }

    #[test]
    fn someone_who_edited_the_entry_cannot_approve_it_either() {
        let entry = Facts { edited_by: "suzuki".into(), ..facts(State::Submitted, &[]) };
        assert_eq!(approve(&entry, &Steps::default(), GM, "suzuki", Role::Supervisor), Err(Refusal::OwnEntry));
        assert_eq!(approve(&entry, &Steps::default(), GM, "yamada", Role::Supervisor), Ok(State::Submitted));
    }

    #[test]
    fn configured_steps_must_be_named_once_each() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(steps_problems(&names(&DEFAULT_STEPS)).is_empty());
        assert!(steps_problems(&names(&["統括責任者", "労災保険業務課", "情報課"])).is_empty());
        let problems = steps_problems(&names(&["a", " ", "a", "b"]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("approvals[1] is empty"), "{problems:?}");
        assert!(problems[1].starts_with("approvals[2] 'a' is listed twice"), "{problems:?}");
        assert!(steps_problems(&[]).first().is_some_and(|p| p.contains("at least one step")));
        assert!(!steps_problems(&names(&[&"x".repeat(65)])).is_empty());
    }

    #[test]
    fn an_entry_needs_a_question_an_answer_and_a_category() {
        let ok = Wording {
            question: "ロックを解除するには？",
            answer: "窓口へ\nお電話ください。",
            category: "account_unlock",
        };
        assert_eq!(wording_problem(&ok), None);
        let table = [
            (Wording { question: " ", ..ok.clone() }, "question:"),
            (Wording { answer: "", ..ok.clone() }, "answer:"),
            (Wording { category: "\t", ..ok.clone() }, "category:"),
            (Wording { question: &"あ".repeat(501), ..ok.clone() }, "question:"),
            (Wording { question: "a\nb", ..ok.clone() }, "question:"),
            (Wording { answer: "a\u{7}b", ..ok.clone() }, "answer:"),
            (Wording { category: &"c".repeat(65), ..ok.clone() }, "category:"),
        ];
        for (w, want) in table {
            let got = wording_problem(&w).unwrap_or_default();
            assert!(got.starts_with(want), "{w:?}: {got}");
        }
    }

    #[test]
    fn a_week_runs_monday_to_sunday_in_japan_time() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(week_of(d(2026, 11, 21)), (d(2026, 11, 16), d(2026, 11, 22)), "a Saturday");
        assert_eq!(week_of(d(2026, 11, 16)), (d(2026, 11, 16), d(2026, 11, 22)), "a Monday");
        assert_eq!(week_of(d(2026, 11, 22)), (d(2026, 11, 16), d(2026, 11, 22)), "a Sunday");
        assert_eq!(week_of(d(2027, 1, 1)), (d(2026, 12, 28), d(2027, 1, 3)), "across the new year");
        let (from, to) = jst_days(d(2026, 11, 16), d(2026, 11, 22));
        assert_eq!(crate::domain::time::jst_rfc3339(from), "2026-11-16T00:00:00+09:00");
        assert_eq!(crate::domain::time::jst_rfc3339(to), "2026-11-23T00:00:00+09:00");
    }
}
