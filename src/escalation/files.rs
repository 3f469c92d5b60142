//! Reading `sla.toml` and `contacts.toml`, every problem reported as `file:line: what is wrong`.

use super::{Contact, ContactList, Group, Hours, Policies, Policy};
use crate::diagnostic::{Problem, Problems, TomlLines};
use crate::domain::calendar::{Calendar, CalendarSpec};
use crate::domain::sla::{Calendars, parse_duration};
use crate::domain::{Priority, Tier};
use chrono::NaiveTime;
use serde::Deserialize;

/// The policies used when no `[escalation] sla` file is configured (the repository's `sla.toml`).
pub const BUILTIN_SLA: &str = include_str!("../../sla.toml");
/// The contact list used until another is configured or edited (the repository's `contacts.toml`).
pub const BUILTIN_CONTACTS: &str = include_str!("../../contacts.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSla {
    calendar: CalendarSpec,
    warn_before: String,
    callback_within: String,
    #[serde(default)]
    policy: Vec<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    priority: Option<Priority>,
    category: Option<String>,
    #[serde(default)]
    around_the_clock: bool,
    first_response: Option<String>,
    next_update: Option<String>,
    resolution: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContacts {
    #[serde(default)]
    group: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    id: String,
    tier: Tier,
    name: String,
    #[serde(default)]
    name_en: String,
    hours: String,
    #[serde(default)]
    contact: Vec<RawContact>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContact {
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

fn read(path: &std::path::Path) -> Result<(String, String), Problems> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| Problems(vec![Problem::new(&name, None, format!("cannot read: {e}"))]))?;
    Ok((name, source))
}

pub fn load_sla(path: &std::path::Path) -> Result<Policies, Problems> {
    let (name, source) = read(path)?;
    parse_sla(&name, &source)
}

pub fn load_contacts(path: &std::path::Path) -> Result<ContactList, Problems> {
    read_contacts(path).map(|(list, _)| list)
}

/// The contact list in `path`, and its source (shown to admins who edit it in the console).
pub fn read_contacts(path: &std::path::Path) -> Result<(ContactList, String), Problems> {
    let (name, source) = read(path)?;
    Ok((parse_contacts(&name, &source)?, source))
}

fn time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

pub fn parse_sla(file: &str, source: &str) -> Result<Policies, Problems> {
    let raw: RawSla = toml::from_str(source).map_err(|e| Problems(vec![Problem::from_toml(file, source, &e)]))?;
    let lines = TomlLines::scan(source);
    let mut problems = Vec::new();
    let mut problem = |table: &str, index: Option<usize>, key: &str, message: String| {
        problems.push(Problem::new(file, lines.find(table, index, Some(key)), message));
    };
    let business = match raw.calendar.build() {
        Ok(calendar) => Some(calendar),
        Err(found) => {
            for (key, message) in found {
                problem("calendar", None, key, message);
            }
            None
        }
    };
    let mut duration =
        |table: &str, index: Option<usize>, key: &str, text: &str, zero_ok: bool| match parse_duration(text) {
            Ok(0) if !zero_ok => {
                problem(table, index, key, format!("{key}: a target of zero would breach at once"));
                None
            }
            Ok(ms) => Some(ms),
            Err(why) => {
                problem(table, index, key, format!("{key}: {why}"));
                None
            }
        };
    let warn_before = duration("", None, "warn_before", &raw.warn_before, true).unwrap_or(0);
    let callback_within = duration("", None, "callback_within", &raw.callback_within, false).unwrap_or(0);
    let mut policies = Vec::new();
    for (i, p) in raw.policy.iter().enumerate() {
        let targets =
            [("first_response", &p.first_response), ("next_update", &p.next_update), ("resolution", &p.resolution)]
                .map(|(key, text)| text.as_deref().and_then(|t| duration("policy", Some(i), key, t, false)));
        policies.push(Policy {
            name: p.name.clone(),
            priority: p.priority,
            category: p.category.clone(),
            around_the_clock: p.around_the_clock,
            first_response: targets[0],
            next_update: targets[1],
            resolution: targets[2],
        });
    }
    if policies.is_empty() {
        problems.push(Problem::new(file, None, "no [[policy]]: give at least one (the last matching everything)"));
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let business = business.expect("checked");
    Ok(Policies {
        calendars: Calendars { always: Calendar { always: true, ..business.clone() }, business },
        warn_before_ms: warn_before,
        callback_within_ms: callback_within,
        policies,
    })
}

pub fn parse_contacts(file: &str, source: &str) -> Result<ContactList, Problems> {
    let raw: RawContacts = toml::from_str(source).map_err(|e| Problems(vec![Problem::from_toml(file, source, &e)]))?;
    let lines = TomlLines::scan(source);
    let mut problems = Vec::new();
    let mut problem = |table: &str, index: usize, key: Option<&str>, message: String| {
        problems.push(Problem::new(file, lines.find(table, Some(index), key), message));
    };
    let mut groups: Vec<Group> = Vec::new();
    let mut contact_index = 0;
    for (i, g) in raw.group.iter().enumerate() {
        let id_ok = !g.id.is_empty()
            && g.id.len() <= 40
            && g.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            problem("group", i, Some("id"), format!("id '{}': 1 to 40 of letters, digits, - and _", g.id));
        }
        if groups.iter().any(|other| other.id == g.id) {
            problem("group", i, Some("id"), format!("id '{}' is used by another group", g.id));
        }
        if g.name.trim().is_empty() {
            problem("group", i, Some("name"), "name: the group needs a name".into());
        }
        let hours = match g.hours.trim() {
            "24x7" => Some(Hours::Always),
            text => match text.split_once('-').map(|(a, b)| (time(a), time(b))) {
                Some((Some(open), Some(close))) if open < close => Some(Hours::Between(open, close)),
                _ => {
                    problem("group", i, Some("hours"), format!("hours '{}': write 08:30-17:15 or 24x7", g.hours));
                    None
                }
            },
        };
        let mut contacts = Vec::new();
        for c in &g.contact {
            if c.email.trim().is_empty() && c.phone.trim().is_empty() {
                problem("group.contact", contact_index, None, format!("{}: give an email or a phone", c.name));
            }
            let email = c.email.trim();
            if !email.is_empty() && email.parse::<lettre::Address>().is_err() {
                problem("group.contact", contact_index, Some("email"), format!("'{email}' is not an e-mail address"));
            }
            let phone = c.phone.trim();
            if !phone.is_empty() && crate::domain::phone::normalize(phone).is_none() {
                problem("group.contact", contact_index, Some("phone"), format!("'{phone}' is not a phone number"));
            }
            contacts.push(Contact { name: c.name.trim().to_owned(), email: email.to_owned(), phone: phone.to_owned() });
            contact_index += 1;
        }
        groups.push(Group {
            id: g.id.clone(),
            tier: g.tier,
            name: g.name.trim().to_owned(),
            name_en: g.name_en.trim().to_owned(),
            hours: hours.unwrap_or(Hours::Always),
            contacts,
        });
    }
    for tier in [1u8, 2, 3] {
        if !groups.iter().any(|g| g.tier.get() == tier) {
            problems.push(Problem::new(
                file,
                None,
                format!("no group for tier {tier}: escalations to it would reach nobody"),
            ));
        }
    }
    if problems.is_empty() { Ok(ContactList { groups }) } else { Err(Problems(problems)) }
}
