//! Callback tasks (折り返し): which calls become one, the results an attempt records and which of
//! them close the task. Pure rules; the store keeps the tasks, the line and the API ask these.

use super::calls::Ending;
use super::phone;

/// Why the caller is to be called back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// 不在着信: the call reached nobody and the caller left no message.
    Abandoned,
    /// 留守番電話: the caller left a message.
    Voicemail,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Abandoned => "abandoned",
            Reason::Voicemail => "voicemail",
        }
    }
}

impl std::str::FromStr for Reason {
    type Err = String;
    fn from_str(s: &str) -> Result<Reason, String> {
        match s {
            "abandoned" => Ok(Reason::Abandoned),
            "voicemail" => Ok(Reason::Voicemail),
            other => Err(format!("'{other}' is not a callback reason")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    Open,
    Done,
}

impl State {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Done => "done",
        }
    }
}

impl std::str::FromStr for State {
    type Err = String;
    fn from_str(s: &str) -> Result<State, String> {
        match s {
            "open" => Ok(State::Open),
            "done" => Ok(State::Done),
            other => Err(format!("'{other}' is not a callback state (open or done)")),
        }
    }
}

/// What came of one attempt to call back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// 通話できた
    Reached,
    /// 不在
    NoAnswer,
    /// 話し中
    Busy,
    /// 伝言を残した
    LeftMessage,
    /// 番号違い
    WrongNumber,
    /// 不要 (the matter was settled another way)
    NotNeeded,
}

impl Outcome {
    pub(crate) const ALL: [Outcome; 6] = [
        Outcome::Reached,
        Outcome::NoAnswer,
        Outcome::Busy,
        Outcome::LeftMessage,
        Outcome::WrongNumber,
        Outcome::NotNeeded,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Reached => "reached",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::LeftMessage => "left_message",
            Outcome::WrongNumber => "wrong_number",
            Outcome::NotNeeded => "not_needed",
        }
    }

    pub(crate) fn label_ja(self) -> &'static str {
        match self {
            Outcome::Reached => "通話できた",
            Outcome::NoAnswer => "不在",
            Outcome::Busy => "話し中",
            Outcome::LeftMessage => "伝言を残した",
            Outcome::WrongNumber => "番号違い",
            Outcome::NotNeeded => "不要",
        }
    }

    pub(crate) fn label_en(self) -> &'static str {
        match self {
            Outcome::Reached => "Reached",
            Outcome::NoAnswer => "No answer",
            Outcome::Busy => "Busy",
            Outcome::LeftMessage => "Left a message",
            Outcome::WrongNumber => "Wrong number",
            Outcome::NotNeeded => "Not needed",
        }
    }

    /// Whether the task is done after this: the caller was reached, or calling again is pointless.
    pub(crate) fn closes(self) -> bool {
        matches!(self, Outcome::Reached | Outcome::WrongNumber | Outcome::NotNeeded)
    }

    /// The names an attempt may give, for an error message.
    pub(crate) fn names() -> String {
        Outcome::ALL.map(Outcome::as_str).join(" ")
    }
}

impl std::str::FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| format!("'{s}' is not a callback result"))
    }
}

/// The longest note an attempt may carry, in characters.
pub(crate) const NOTE_MAX_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error("この折り返しは完了しています / this callback is already done")]
    Done,
    #[error("result は次のいずれかです / result must be one of: {}", Outcome::names())]
    UnknownResult,
    #[error("メモは {NOTE_MAX_CHARS} 文字までです / note may have at most {NOTE_MAX_CHARS} characters")]
    NoteTooLong,
}

/// The result and note of an attempt as given, checked: the note trimmed, an empty one none.
pub(crate) fn attempt_of(result: &str, note: Option<&str>) -> Result<(Outcome, Option<String>), Refusal> {
    let outcome = result.trim().parse().map_err(|_| Refusal::UnknownResult)?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > NOTE_MAX_CHARS) {
        return Err(Refusal::NoteTooLong);
    }
    Ok((outcome, note.map(str::to_owned)))
}

/// The task's state after an attempt with `outcome`; a done task takes no more attempts.
pub(crate) fn after_attempt(state: State, outcome: Outcome) -> Result<State, Refusal> {
    match state {
        State::Done => Err(Refusal::Done),
        State::Open if outcome.closes() => Ok(State::Done),
        State::Open => Ok(State::Open),
    }
}

/// The task an answered call leaves behind, if any. A stored message is always one (it may say
/// the number to call); a call that reached nobody (the caller hung up in the announcements, the
/// menu or the transfer announcement, before the REFER; the line went silent; the operator group
/// refused the transfer; or, out of hours, no message was left) is one when there is a number to
/// call back. A call the operator group took is none.
pub(crate) fn task_for(ending: Ending, voicemail_stored: bool, caller_number: Option<&str>) -> Option<Reason> {
    if voicemail_stored {
        return Some(Reason::Voicemail);
    }
    let callable = caller_number.and_then(phone::normalize).is_some();
    match ending {
        Ending::Transferred => None,
        Ending::TransferRefused
        | Ending::Voicemail
        | Ending::CallerHungUp
        | Ending::MediaTimeout
        | Ending::HungUpByService => callable.then_some(Reason::Abandoned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_calls_leave_a_task() {
        use Ending::*;
        let number = Some("+81312345678");
        let table: &[(Ending, bool, Option<&str>, Option<Reason>)] = &[
            // In hours: hung up in the welcome, the menu or the transfer announcement.
            (CallerHungUp, false, number, Some(Reason::Abandoned)),
            (MediaTimeout, false, number, Some(Reason::Abandoned)),
            (TransferRefused, false, number, Some(Reason::Abandoned)),
            // Cut off by a node stopping (the end of its drain): nobody spoke to the caller.
            (HungUpByService, false, number, Some(Reason::Abandoned)),
            (Transferred, false, number, None),
            // Out of hours: a message, or none (hung up before or after the beep without speaking).
            (Voicemail, true, number, Some(Reason::Voicemail)),
            (CallerHungUp, true, number, Some(Reason::Voicemail)),
            (MediaTimeout, true, number, Some(Reason::Voicemail)),
            (Voicemail, false, number, Some(Reason::Abandoned)),
            // Nobody to call back: anonymous, or a caller with no digits.
            (CallerHungUp, false, None, None),
            (Voicemail, false, Some("anonymous"), None),
            (Voicemail, true, None, Some(Reason::Voicemail)),
            (CallerHungUp, false, Some("5001"), Some(Reason::Abandoned)),
        ];
        for (ending, stored, caller, want) in table {
            assert_eq!(task_for(*ending, *stored, *caller), *want, "{ending:?} stored {stored} caller {caller:?}");
        }
        for ending in [Transferred, TransferRefused, Voicemail, CallerHungUp, MediaTimeout, HungUpByService] {
            assert_eq!(task_for(ending, true, None), Some(Reason::Voicemail), "{ending:?}");
        }
    }

    #[test]
    fn results_close_or_keep_the_task() {
        use Outcome::*;
        let table = [
            (Reached, "reached", "通話できた", "Reached", State::Done),
            (NoAnswer, "no_answer", "不在", "No answer", State::Open),
            (Busy, "busy", "話し中", "Busy", State::Open),
            (LeftMessage, "left_message", "伝言を残した", "Left a message", State::Open),
            (WrongNumber, "wrong_number", "番号違い", "Wrong number", State::Done),
            (NotNeeded, "not_needed", "不要", "Not needed", State::Done),
        ];
        assert_eq!(table.len(), Outcome::ALL.len());
        for (outcome, name, ja, en, state) in table {
            assert_eq!((outcome.as_str(), outcome.label_ja(), outcome.label_en()), (name, ja, en));
            assert_eq!(name.parse::<Outcome>(), Ok(outcome));
            assert_eq!(serde_json::to_value(outcome).unwrap(), name, "the API's name is the stored one");
            assert_eq!(after_attempt(State::Open, outcome), Ok(state), "{name}");
            assert_eq!(after_attempt(State::Done, outcome), Err(Refusal::Done), "{name}");
        }
        assert!(Outcome::names().starts_with("reached no_answer busy"));
    }

    #[test]
    fn an_attempt_needs_a_known_result_and_a_short_note() {
        assert_eq!(attempt_of(" busy ", Some("  ")), Ok((Outcome::Busy, None)));
        assert_eq!(attempt_of("reached", Some(" 折り返し済み ")), Ok((Outcome::Reached, Some("折り返し済み".into()))));
        assert_eq!(attempt_of("Reached", None), Err(Refusal::UnknownResult));
        assert_eq!(attempt_of("通話できた", None), Err(Refusal::UnknownResult));
        assert_eq!(attempt_of("", None), Err(Refusal::UnknownResult));
        let longest = "あ".repeat(NOTE_MAX_CHARS);
        assert_eq!(attempt_of("no_answer", Some(&longest)), Ok((Outcome::NoAnswer, Some(longest.clone()))));
        let over = format!("{longest}あ");
        assert_eq!(attempt_of("no_answer", Some(&over)), Err(Refusal::NoteTooLong));
        let message = Refusal::UnknownResult.to_string();
        assert!(message.contains("reached no_answer busy left_message wrong_number not_needed"), "{message}");
    }

    #[test]
    fn reasons_and_states_read_back() {
        for reason in [Reason::Abandoned, Reason::Voicemail] {
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        for state in [State::Open, State::Done] {
            assert_eq!(state.as_str().parse::<State>(), Ok(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert!("closed".parse::<State>().is_err());
    }
}
