//! Escalation per the contact list (連絡先一覧) and SLA policies: who each tier's groups are
//! and when they can be reached (`contacts.toml`), and how long the helpdesk may take to respond,
//! update and resolve (`sla.toml`). Both are read once into these types; the shipped files are
//! built in and used until others are configured.

mod files;
pub mod mail;
pub mod scheduler;

pub use files::{BUILTIN_CONTACTS, BUILTIN_SLA, load_contacts, load_sla, parse_contacts, parse_sla, read_contacts};

use crate::domain::calendar::Calendar;
use crate::domain::sla::Calendars;
use crate::domain::{Priority, Tier};
use chrono::NaiveTime;

/// The SLA policies and the calendar they count on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policies {
    pub calendars: Calendars,
    pub warn_before_ms: i64,
    pub callback_within_ms: i64,
    pub policies: Vec<Policy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub priority: Option<Priority>,
    pub category: Option<String>,
    pub around_the_clock: bool,
    /// Targets in business milliseconds; `None`: not measured.
    pub first_response: Option<i64>,
    pub next_update: Option<i64>,
    pub resolution: Option<i64>,
}

impl Policies {
    pub fn builtin() -> Policies {
        parse_sla("(built-in) sla.toml", BUILTIN_SLA).expect("the shipped sla.toml is valid")
    }

    /// The first policy whose priority and category match the ticket's.
    pub fn for_ticket(&self, priority: Priority, category: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| {
            p.priority.is_none_or(|want| want == priority) && p.category.as_deref().is_none_or(|want| want == category)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hours {
    Always,
    /// On working days of the business calendar.
    Between(NaiveTime, NaiveTime),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: String,
    pub tier: Tier,
    pub name: String,
    pub name_en: String,
    pub hours: Hours,
    pub contacts: Vec<Contact>,
}

impl Group {
    /// When the group can be reached: its hours on the business calendar's working days.
    pub fn calendar(&self, business: &Calendar) -> Calendar {
        match self.hours {
            Hours::Always => Calendar { always: true, ..business.clone() },
            Hours::Between(open_at, close_at) => Calendar { open_at, close_at, ..business.clone() },
        }
    }

    /// The addresses notifications go to.
    pub fn emails(&self) -> Vec<String> {
        self.contacts.iter().filter(|c| !c.email.is_empty()).map(|c| c.email.clone()).collect()
    }
}

/// The contact list: every group of every tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactList {
    pub groups: Vec<Group>,
}

impl ContactList {
    pub fn builtin() -> ContactList {
        parse_contacts("(built-in) contacts.toml", BUILTIN_CONTACTS).expect("the shipped contacts.toml is valid")
    }

    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The group a ticket escalated to `tier` goes to unless another is chosen: the tier's first.
    pub fn first_of(&self, tier: Tier) -> Option<&Group> {
        self.groups.iter().find(|g| g.tier == tier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_files_are_valid_and_match_as_documented() {
        let sla = Policies::builtin();
        let name = |p: Priority, c: &str| sla.for_ticket(p, c).map(|p| p.name.as_str());
        assert_eq!(name(Priority::Low, "security_incident"), Some("security-incident"));
        assert_eq!(name(Priority::Urgent, "account_unlock"), Some("urgent"));
        assert_eq!(name(Priority::High, "general"), Some("high"));
        assert_eq!(name(Priority::Normal, "howto"), Some("standard"));
        assert!(sla.for_ticket(Priority::Low, "security_incident").unwrap().around_the_clock);
        assert_eq!(sla.warn_before_ms, 30 * 60_000);
        let contacts = ContactList::builtin();
        let tier = |n: i64| contacts.first_of(Tier::new(n).unwrap()).map(|g| g.id.as_str());
        assert_eq!((tier(1), tier(2), tier(3)), (Some("helpdesk"), Some("operations"), Some("application-vendor")));
        assert_eq!(contacts.group("hardware-vendor").unwrap().hours, Hours::Always);
        assert_eq!(contacts.group("operations").unwrap().emails(), ["ops@example.go.jp"]);
    }

    #[test]
    fn problems_name_file_and_line() {
        let src = BUILTIN_SLA
            .replace("open = \"08:30\"", "open = \"8時半\"")
            .replace("first_response = \"30m\"", "first_response = \"30分\"")
            .replace("warn_before = \"30m\"", "warn_before = \"0\"");
        let err = parse_sla("sla.toml", &src).unwrap_err().to_string();
        assert!(err.contains("'8時半' is not a time like 08:30"), "{err}");
        assert!(err.contains("first_response: '30分' is not a duration"), "{err}");
        assert!(err.contains("warn_before: '0' is not a duration"), "{err}");
        assert!(err.lines().all(|l| l.starts_with("sla.toml:")), "{err}");
        let line = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
        assert!(err.contains(&format!("sla.toml:{}: first_response", line("30分"))), "{err}");

        let src = BUILTIN_CONTACTS
            .replace("hours = \"09:00-18:00\"", "hours = \"9時から\"")
            .replace("email = \"ops@example.go.jp\"", "email = \"ops at example\"")
            .replace("id = \"operations\"", "id = \"helpdesk\"");
        let err = parse_contacts("contacts.toml", &src).unwrap_err().to_string();
        assert!(err.contains("hours '9時から': write 08:30-17:15 or 24x7"), "{err}");
        assert!(err.contains("'ops at example' is not an e-mail address"), "{err}");
        assert!(err.contains("id 'helpdesk' is used by another group"), "{err}");
        let line = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
        assert!(err.contains(&format!("contacts.toml:{}: 'ops at example'", line("ops at example"))), "{err}");
        let no_tier3: String = BUILTIN_CONTACTS.replace("tier = 3", "tier = 2");
        let err = parse_contacts("c.toml", &no_tier3).unwrap_err().to_string();
        assert!(err.contains("no group for tier 3"), "{err}");
    }
}
