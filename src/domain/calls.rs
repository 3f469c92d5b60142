//! The caller log's names for how a call ended. The line records each call's ending in its
//! ticket's history (`call_ended`, `ending`: "caller hung up", "no ACK for the 200 OK", …); the
//! log shows and filters them as short names (`caller_hung_up`, `no_ack`).

/// How a call the line answered (and whose call task ran) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Transferred,
    TransferRefused,
    /// Out of hours, after the voicemail prompt: a message may or may not have been stored.
    Voicemail,
    CallerHungUp,
    MediaTimeout,
    /// The service ended the call (a node stopping, at the end of its drain).
    HungUpByService,
}

impl Ending {
    /// As the ticket's history records it (`call_ended`, `ending`).
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Transferred => "transferred",
            Ending::TransferRefused => "transfer refused",
            Ending::Voicemail => "voicemail",
            Ending::CallerHungUp => "caller hung up",
            Ending::MediaTimeout => "media timeout",
            Ending::HungUpByService => "hung up by the service",
        }
    }
}

/// Each outcome and the endings recorded for it. `ongoing` is a call with no ending yet.
pub const OUTCOMES: [(&str, &[&str]); 13] = [
    ("transferred", &["transferred"]),
    ("transfer_refused", &["transfer refused"]),
    ("voicemail", &["voicemail"]),
    ("caller_hung_up", &["caller hung up"]),
    ("cancelled", &["caller cancelled before answer"]),
    ("media_timeout", &["media timeout"]),
    ("no_ack", &["no ACK for the 200 OK"]),
    ("hung_up_by_service", &["hung up by the service"]),
    ("caller_unreachable", &["caller unreachable"]),
    ("no_media", &["no media description"]),
    ("rejected", &["rejected"]),
    ("ended", &["ended"]),
    ("ongoing", &[]),
];

/// The outcome of a recorded ending; one this table does not know is named after its words.
pub fn outcome(ending: &str) -> String {
    match OUTCOMES.iter().find(|(_, endings)| endings.contains(&ending)) {
        Some((name, _)) => (*name).to_owned(),
        None => {
            let words: Vec<String> = ending
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            words.join("_")
        }
    }
}

/// The endings an outcome filter matches (empty for `ongoing`); `None` for an unknown name.
pub fn endings(outcome: &str) -> Option<&'static [&'static str]> {
    OUTCOMES.iter().find(|(name, _)| *name == outcome.trim()).map(|(_, endings)| *endings)
}

/// The names a filter may use, for an error message.
pub fn names() -> String {
    OUTCOMES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_have_short_names_both_ways() {
        let table = [
            ("transferred", "transferred"),
            ("caller hung up", "caller_hung_up"),
            ("no ACK for the 200 OK", "no_ack"),
            ("caller cancelled before answer", "cancelled"),
            ("rejected", "rejected"),
            ("Something New!", "something_new"),
        ];
        for (ending, name) in table {
            assert_eq!(outcome(ending), name, "{ending}");
        }
        for (name, recorded) in OUTCOMES {
            assert_eq!(endings(name), Some(recorded));
            for ending in recorded {
                assert_eq!(outcome(ending), name);
            }
        }
        assert_eq!(endings(" voicemail "), Some(&["voicemail"][..]));
        assert_eq!(endings("hung up"), None);
        assert!(names().starts_with("transferred transfer_refused"));
    }
}
