//! Ticket vocabulary: channel, status (with its allowed transitions), priority, tier, number.

use super::user::Role;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{value}' is not a valid {what} (expected one of: {expected})")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// Declares a string-backed enum with `as_str`, `FromStr`, `Display` and serde in one place,
/// so the database, the API and the rules file all spell the values the same way.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError {
                        what: $what,
                        value: s.chars().take(40).collect(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl TryFrom<String> for $name {
            type Error = ParseEnumError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        /// In the API's OpenAPI document: a string, one of the values.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

string_enum!(
    /// How a contact reached the helpdesk.
    Channel, "channel", {
        Phone => "phone",
        Email => "email",
        Fax => "fax",
        Manual => "manual",
    }
);

string_enum!(
    /// Where a ticket is in its life: new → acknowledged → in_progress → escalated → resolved → closed.
    Status, "status", {
        New => "new",
        Acknowledged => "acknowledged",
        InProgress => "in_progress",
        Escalated => "escalated",
        WaitingReporter => "waiting_reporter",
        WaitingVendor => "waiting_vendor",
        Resolved => "resolved",
        Closed => "closed",
    }
);

string_enum!(
    Priority, "priority", {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("a ticket cannot go from {from} to {to}")]
pub struct TransitionError {
    pub from: Status,
    pub to: Status,
}

// Declared by `string_enum!`, which cannot mark one variant `#[default]` for every enum.
#[allow(clippy::derivable_impls)]
impl Default for Channel {
    fn default() -> Self {
        Channel::Manual
    }
}

impl Status {
    /// The moves the state machine has. Work comes before its end: a new ticket is neither
    /// resolved nor closed unworked. A resolved ticket may be reopened (back to in_progress);
    /// a closed one only by a supervisor ([`Status::move_needs`]); a new inquiry about a closed
    /// ticket opens a new ticket.
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (a, b) if a == b => true,
            (Closed, InProgress) => true,
            (Closed, _) => false,
            (_, New) => false,
            (New, Resolved | Closed) => false,
            (Resolved, InProgress | Closed) => true,
            (Resolved, _) => false,
            (_, Acknowledged) => self == New,
            _ => true,
        }
    }

    /// The least role that may make the move: reopening a closed ticket is a supervisor's call.
    pub fn move_needs(self, to: Status) -> Role {
        if self == Status::Closed && to != Status::Closed { Role::Supervisor } else { Role::Operator }
    }

    /// Whether moving here needs a resolution on the ticket.
    pub fn needs_resolution(self) -> bool {
        matches!(self, Status::Resolved | Status::Closed)
    }

    pub fn transition(self, to: Status) -> Result<Status, TransitionError> {
        if self.can_become(to) { Ok(to) } else { Err(TransitionError { from: self, to }) }
    }

    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolved | Status::Closed)
    }

    pub fn label_ja(self) -> &'static str {
        match self {
            Status::New => "新規",
            Status::Acknowledged => "受付済",
            Status::InProgress => "対応中",
            Status::Escalated => "エスカレーション中",
            Status::WaitingReporter => "回答待ち（依頼者）",
            Status::WaitingVendor => "回答待ち（業者）",
            Status::Resolved => "解決",
            Status::Closed => "完了",
        }
    }
}

/// Escalation tier: 1 helpdesk (ヘルプデスク), 2 operations / technical support (運用担当・テクニカルサポート),
/// 3 application and hardware/software vendors (保守業者).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Tier(u8);

impl Tier {
    pub const HELPDESK: Tier = Tier(1);
    pub const OPERATIONS: Tier = Tier(2);
    pub const VENDOR: Tier = Tier(3);

    pub fn new(n: i64) -> Result<Tier, ParseEnumError> {
        match n {
            1..=3 => Ok(Tier(n as u8)),
            _ => Err(ParseEnumError { what: "tier", value: n.to_string(), expected: "1 2 3" }),
        }
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Tier {
    type Error = ParseEnumError;
    fn try_from(n: i64) -> Result<Self, Self::Error> {
        Tier::new(n)
    }
}

impl<'de> Deserialize<'de> for Tier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        Tier::new(n).map_err(serde::de::Error::custom)
    }
}

/// In the API's OpenAPI document: 1, 2 or 3.
impl utoipa::PartialSchema for Tier {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(3))
            .into()
    }
}

impl utoipa::ToSchema for Tier {}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The number people read out on the phone: the JST day and a per-day sequence, `20261121-0042`.
/// The sequence is allocated inside the store's transaction, so it is unique across nodes that
/// share one database.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TicketNumber(String);

impl TicketNumber {
    pub fn new(day: &str, seq: i64) -> TicketNumber {
        TicketNumber(format!("{day}-{seq:04}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TicketNumber {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() >= 13
            && s.len() <= 20
            && s.as_bytes()[8] == b'-'
            && s[..8].bytes().all(|b| b.is_ascii_digit())
            && s[9..].bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(TicketNumber(s.to_owned()))
        } else {
            Err(ParseEnumError {
                what: "ticket number",
                value: s.chars().take(40).collect(),
                expected: "YYYYMMDD-NNNN",
            })
        }
    }
}

impl TryFrom<String> for TicketNumber {
    type Error = ParseEnumError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for TicketNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_transitions() {
        use Status::*;
        let table = [
            (New, Acknowledged, true),
            (New, InProgress, true),
            (New, Escalated, true),
            (New, Resolved, false),
            (New, Closed, false),
            (Acknowledged, Escalated, true),
            (Acknowledged, Resolved, true),
            (InProgress, Acknowledged, false),
            (InProgress, Closed, true),
            (Escalated, InProgress, true),
            (Escalated, Resolved, true),
            (Resolved, InProgress, true),
            (Resolved, Escalated, false),
            (Resolved, Closed, true),
            (Closed, InProgress, true),
            (Closed, Resolved, false),
            (Closed, Escalated, false),
            (Closed, New, false),
            (InProgress, New, false),
            (Closed, Closed, true),
        ];
        for (from, to, ok) in table {
            assert_eq!(from.can_become(to), ok, "{from} -> {to}");
        }
        assert_eq!(Closed.transition(New), Err(TransitionError { from: Closed, to: New }));
        assert_eq!(New.transition(Closed), Err(TransitionError { from: New, to: Closed }));
    }

    #[test]
    fn who_may_make_a_move_and_which_need_a_resolution() {
        use Status::*;
        let table = [
            (Closed, InProgress, Role::Supervisor),
            (Closed, Closed, Role::Operator),
            (Resolved, InProgress, Role::Operator),
            (InProgress, Closed, Role::Operator),
            (New, InProgress, Role::Operator),
        ];
        for (from, to, role) in table {
            assert_eq!(from.move_needs(to), role, "{from} -> {to}");
        }
        let need: Vec<Status> = Status::ALL.iter().copied().filter(|s| s.needs_resolution()).collect();
        assert_eq!(need, [Resolved, Closed]);
    }

    #[test]
    fn enums_round_trip_and_reject_unknown() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>().unwrap(), *c);
        }
        let err = "pigeon".parse::<Channel>().unwrap_err();
        assert!(err.to_string().contains("phone email fax manual"), "{err}");
        assert!(Tier::new(0).is_err());
        assert!(Tier::new(4).is_err());
        assert_eq!(Tier::new(2).unwrap(), Tier::OPERATIONS);
    }

    #[test]
    fn ticket_numbers() {
        assert_eq!(TicketNumber::new("20261121", 7).as_str(), "20261121-0007");
        assert_eq!(TicketNumber::new("20261121", 12345).as_str(), "20261121-12345");
        assert!("20261121-0007".parse::<TicketNumber>().is_ok());
        for bad in ["", "2026-11-21", "20261121_0001", "2026112a-0001", "20261121-", "x"] {
            assert!(bad.parse::<TicketNumber>().is_err(), "{bad}");
        }
    }
}
