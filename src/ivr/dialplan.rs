//! Dialplans: one TOML file per line in `dialplans/` (format documented in
//! `dialplans/helpdesk.toml`): which dialled numbers it answers, business hours with Japanese
//! public holidays, the year-end closure (12/29–1/3) and special closed days, the announcements
//! and menu in hours, the closed announcement and voicemail out of hours, and the operator
//! groups calls are transferred to. Pure: the call task asks it what to do.

use super::builtin;
use crate::config::SipSettings;
use crate::diagnostic::{Problem, Problems, TomlLines};
pub use crate::domain::calendar::Opening;
use crate::domain::calendar::{Calendar, CalendarSpec};
use crate::domain::phone;
use chrono::{NaiveDate, NaiveTime};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    numbers: Vec<String>,
    hours: CalendarSpec,
    open: RawOpen,
    closed: RawClosed,
    targets: BTreeMap<String, String>,
    #[serde(default)]
    notices: RawNotices,
}

/// Where callers hear the maintenance slot and the public notices' audio.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotices {
    #[serde(default = "before_menu")]
    open: String,
    #[serde(default = "before_voicemail")]
    closed: String,
}

impl Default for RawNotices {
    fn default() -> Self {
        RawNotices { open: before_menu(), closed: before_voicemail() }
    }
}

fn before_menu() -> String {
    "before_menu".into()
}
fn before_voicemail() -> String {
    "before_voicemail".into()
}

/// Where in a call the notices play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeAt {
    /// In hours: first thing; out of hours: before the closed announcement.
    First,
    /// In hours: after the welcome, before the menu; out of hours: before the voicemail prompt.
    BeforeChoice,
    Nowhere,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpen {
    welcome: String,
    menu: String,
    choices: BTreeMap<String, String>,
    #[serde(default = "five")]
    menu_timeout_secs: u64,
    #[serde(default = "two")]
    retries: u32,
    invalid: String,
    /// Where a caller who presses nothing goes.
    no_choice: String,
    transfer: String,
}

fn five() -> u64 {
    5
}
fn two() -> u32 {
    2
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClosed {
    announcement: String,
    holiday: String,
    voicemail: String,
    #[serde(default = "two_minutes")]
    voicemail_max_secs: u64,
    #[serde(default = "three")]
    voicemail_silence_secs: u64,
    goodbye: String,
}

fn two_minutes() -> u64 {
    120
}
fn three() -> u64 {
    3
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialplan {
    pub file: String,
    /// Normalised numbers; `*` answers any.
    pub numbers: Vec<String>,
    /// Hours, working days, holidays, the year-end closure and special closed days.
    pub calendar: Calendar,
    pub welcome: String,
    pub menu: String,
    /// Digit → target name.
    pub choices: BTreeMap<String, String>,
    pub menu_timeout_secs: u64,
    pub retries: u32,
    pub invalid: String,
    pub no_choice: String,
    pub transfer: String,
    pub closed: String,
    pub holiday: String,
    pub voicemail: String,
    pub voicemail_max_secs: u64,
    pub voicemail_silence_secs: u64,
    pub goodbye: String,
    /// Target name → SIP URI of the operator group.
    pub targets: BTreeMap<String, String>,
    /// Where the maintenance slot and the public notices play in hours, and out of hours.
    pub notices_open: NoticeAt,
    pub notices_closed: NoticeAt,
}

impl Dialplan {
    pub fn answers(&self, dialled: Option<&str>) -> bool {
        let n = dialled.and_then(phone::normalize);
        self.numbers.iter().any(|x| x == "*" || Some(x) == n.as_ref())
    }

    /// Whether the line is open at a JST date and time.
    pub fn opening(&self, date: NaiveDate, time: NaiveTime) -> Opening {
        self.calendar.opening(date, time)
    }
}

/// The announcements a dialplan may name, and where they are (for messages).
pub struct PromptNames {
    names: std::collections::HashSet<String>,
    place: String,
}

impl PromptNames {
    /// The `*.wav` files in `dir`.
    pub fn in_dir(dir: &Path) -> PromptNames {
        let names = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "wav"))
                    .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        PromptNames { names, place: dir.display().to_string() }
    }

    /// These and `slots` too: the slots of the store's announcement versions (those an admin
    /// added play their approved version).
    pub fn with_slots(mut self, slots: &[String]) -> PromptNames {
        self.names.extend(slots.iter().cloned());
        self
    }

    /// `[sip] prompts` as configured: the directory, or the built-in set (see [`builtin`]).
    pub fn configured(prompts: &str) -> PromptNames {
        if builtin::serves(prompts, &SipSettings::default().prompts) {
            let names = builtin::PROMPTS.iter().map(|(n, _)| (*n).to_owned()).collect();
            return PromptNames { names, place: "the built-in announcements".into() };
        }
        PromptNames::in_dir(Path::new(prompts))
    }
}

/// `[sip] dialplans` and `[sip] prompts` as configured: every `*.toml` in the directory, or the
/// built-in dialplan when the default directory is not there (see [`builtin`]). A dialplan may
/// name an announcement file or one of `slots` (announcement slots kept in the store).
pub fn load(dialplans: &str, prompts: &str, slots: &[String]) -> Result<Vec<Dialplan>, Problems> {
    let names = PromptNames::configured(prompts).with_slots(slots);
    if builtin::serves(dialplans, &SipSettings::default().dialplans) {
        return Ok(vec![parse(builtin::DIALPLAN_FILE, builtin::DIALPLAN, &names)?]);
    }
    load_dir(Path::new(dialplans), &names)
}

/// Reads every `*.toml` in `dir`, checking each against the announcements in `prompts`;
/// problems are reported as `file:line: what is wrong`, for all files at once.
pub fn load_dir(dir: &Path, prompts: &PromptNames) -> Result<Vec<Dialplan>, Problems> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Problems(vec![Problem::new(dir.display().to_string(), None, format!("cannot read: {e}"))]))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut plans = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let name = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(source) => match parse(&name, &source, prompts) {
                Ok(plan) => plans.push(plan),
                Err(p) => problems.extend(p.0),
            },
            Err(e) => problems.push(Problem::new(name, None, format!("cannot read: {e}"))),
        }
    }
    if plans.is_empty() && problems.is_empty() {
        problems.push(Problem::new(dir.display().to_string(), None, "no dialplan (*.toml) here"));
    }
    if problems.is_empty() { Ok(plans) } else { Err(Problems(problems)) }
}

pub fn parse(file: &str, source: &str, prompts: &PromptNames) -> Result<Dialplan, Problems> {
    let raw: RawPlan = toml::from_str(source).map_err(|e| Problems(vec![Problem::from_toml(file, source, &e)]))?;
    let lines = TomlLines::scan(source);
    let mut problems = Vec::new();
    let mut problem = |table: &str, key: &str, message: String| {
        problems.push(Problem::new(file, lines.find(table, None, Some(key)), message));
    };
    let calendar = match raw.hours.build() {
        Ok(calendar) => Some(calendar),
        Err(found) => {
            for (key, message) in found {
                problem("hours", key, message);
            }
            None
        }
    };
    let mut numbers = Vec::new();
    for n in &raw.numbers {
        match (n.as_str(), phone::normalize(n)) {
            ("*", _) => numbers.push("*".to_owned()),
            (_, Some(norm)) => numbers.push(norm),
            _ => problem("", "numbers", format!("'{n}' is not a phone number or *")),
        }
    }
    for (digit, target) in &raw.open.choices {
        if digit.len() != 1 || !digit.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') {
            problem("open.choices", digit, format!("menu key '{digit}' must be one of 0-9, * or #"));
        }
        if !raw.targets.contains_key(target) {
            problem("open.choices", digit, format!("target '{target}' is not in [targets]"));
        }
    }
    if !raw.targets.contains_key(&raw.open.no_choice) {
        problem("open", "no_choice", format!("target '{}' is not in [targets]", raw.open.no_choice));
    }
    for (name, uri) in &raw.targets {
        if !(uri.starts_with("sip:") || uri.starts_with("sips:") || uri.starts_with("tel:")) {
            problem("targets", name, format!("'{uri}' is not a sip:, sips: or tel: URI"));
        }
    }
    let notices_open = match raw.notices.open.as_str() {
        "before_welcome" => NoticeAt::First,
        "before_menu" => NoticeAt::BeforeChoice,
        "none" => NoticeAt::Nowhere,
        other => {
            problem("notices", "open", format!("'{other}' is not before_welcome, before_menu or none"));
            NoticeAt::Nowhere
        }
    };
    let notices_closed = match raw.notices.closed.as_str() {
        "before_announcement" => NoticeAt::First,
        "before_voicemail" => NoticeAt::BeforeChoice,
        "none" => NoticeAt::Nowhere,
        other => {
            problem("notices", "closed", format!("'{other}' is not before_announcement, before_voicemail or none"));
            NoticeAt::Nowhere
        }
    };
    let named = [
        ("open", "welcome", &raw.open.welcome),
        ("open", "menu", &raw.open.menu),
        ("open", "invalid", &raw.open.invalid),
        ("open", "transfer", &raw.open.transfer),
        ("closed", "announcement", &raw.closed.announcement),
        ("closed", "holiday", &raw.closed.holiday),
        ("closed", "voicemail", &raw.closed.voicemail),
        ("closed", "goodbye", &raw.closed.goodbye),
    ];
    for (table, key, name) in named {
        // The maintenance slot ships silent: it needs no file.
        if !prompts.names.contains(name.as_str()) && name != super::announcer::MAINTENANCE {
            problem(table, key, format!("prompt '{name}' not found ({}/{name}.wav)", prompts.place));
        }
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    Ok(Dialplan {
        file: file.to_owned(),
        numbers,
        calendar: calendar.expect("checked"),
        welcome: raw.open.welcome,
        menu: raw.open.menu,
        choices: raw.open.choices,
        menu_timeout_secs: raw.open.menu_timeout_secs,
        retries: raw.open.retries,
        invalid: raw.open.invalid,
        no_choice: raw.open.no_choice,
        transfer: raw.open.transfer,
        closed: raw.closed.announcement,
        holiday: raw.closed.holiday,
        voicemail: raw.closed.voicemail,
        voicemail_max_secs: raw.closed.voicemail_max_secs,
        voicemail_silence_secs: raw.closed.voicemail_silence_secs,
        goodbye: raw.closed.goodbye,
        targets: raw.targets,
        notices_open,
        notices_closed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Dialplan {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let plans = load_dir(&root.join("dialplans"), &PromptNames::in_dir(&root.join("prompts"))).unwrap();
        plans.into_iter().next().unwrap()
    }

    #[test]
    fn business_hours_holidays_and_year_end() {
        let plan = shipped();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let table = [
            (d(2026, 11, 20), t(10, 0), Opening::Open), // Friday
            (d(2026, 11, 20), t(8, 29), Opening::AfterHours),
            (d(2026, 11, 20), t(17, 15), Opening::AfterHours),
            (d(2026, 11, 21), t(10, 0), Opening::ClosedDay), // Saturday
            (d(2026, 11, 23), t(10, 0), Opening::ClosedDay), // 勤労感謝の日
            (d(2026, 12, 29), t(10, 0), Opening::ClosedDay), // year-end closure
            (d(2027, 1, 4), t(10, 0), Opening::Open),        // Monday after the closure
            (d(2026, 5, 6), t(10, 0), Opening::ClosedDay),   // 振替休日
        ];
        for (date, time, want) in table {
            assert_eq!(plan.opening(date, time), want, "{date} {time}");
        }
        assert!(plan.answers(Some("+81 3-1234-5678")) || plan.numbers.contains(&"*".to_owned()));
        assert_eq!((plan.notices_open, plan.notices_closed), (NoticeAt::BeforeChoice, NoticeAt::BeforeChoice));
    }

    #[test]
    fn a_dialplan_may_name_a_slot_an_admin_added_and_the_maintenance_slot() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(root.join("dialplans/helpdesk.toml"))
            .unwrap()
            .replace("goodbye = \"goodbye\"", "goodbye = \"nenmatsu\"")
            .replace("transfer = \"transfer\"", "transfer = \"maintenance\"");
        let files = || PromptNames::in_dir(&root.join("prompts"));
        let err = parse("x.toml", &src, &files()).unwrap_err().to_string();
        assert!(err.contains("prompt 'nenmatsu' not found") && !err.contains("'maintenance'"), "{err}");
        let plan = parse("x.toml", &src, &files().with_slots(&["nenmatsu".to_owned()])).unwrap();
        assert_eq!((plan.goodbye.as_str(), plan.transfer.as_str()), ("nenmatsu", "maintenance"));
    }

    #[test]
    fn problems_name_file_and_line() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let src = std::fs::read_to_string(root.join("dialplans/helpdesk.toml"))
            .unwrap()
            .replace("open = \"08:30\"", "open = \"8時半\"")
            .replace("\"2\" = \"tier2\"", "\"2\" = \"tier9\"")
            .replace("welcome = \"welcome\"", "welcome = \"welcom\"")
            .replace("open = \"before_menu\"", "open = \"after_menu\"");
        let err = parse("x.toml", &src, &PromptNames::in_dir(&root.join("prompts"))).unwrap_err().to_string();
        assert!(err.contains("is not a time like 08:30"), "{err}");
        assert!(err.contains("target 'tier9' is not in [targets]"), "{err}");
        assert!(err.contains("prompt 'welcom' not found"), "{err}");
        assert!(err.contains("'after_menu' is not before_welcome, before_menu or none"), "{err}");
        assert!(err.lines().all(|l| l.starts_with("x.toml:")), "{err}");
    }
}
