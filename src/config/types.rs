//! Values the configuration holds as what they mean, parsed once when it is read: a port range,
//! the relay's security, a password that never prints, a regular expression, an optional address.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::IpAddr;

/// `first-last`, e.g. `20000-29999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn len(self) -> u32 {
        u32::from(self.last - self.first) + 1
    }

    pub fn is_empty(self) -> bool {
        false
    }
}

impl std::str::FromStr for PortRange {
    type Err = String;

    fn from_str(s: &str) -> Result<PortRange, String> {
        let parsed = s.split_once('-').and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        match parsed {
            Some((first, last)) if first <= last => Ok(PortRange { first, last }),
            _ => Err(format!("'{s}' must be first-last, e.g. 20000-29999")),
        }
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PortRange, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// How outgoing mail reaches the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelaySecurity {
    /// Plain SMTP: only for a relay on this host or a trusted network, and never with a password.
    None,
    Starttls,
    Tls,
}

/// `[log] format`: lines for people, or one JSON object per line for a log collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A password: kept for the one place that sends it, never in `Debug`, logs or error messages.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "Secret(empty)" } else { "Secret(***)" })
    }
}

/// Written back only as empty: the defaults table the environment overlay reads its types from
/// is the one place settings are serialised.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("")
    }
}

/// A regular expression from the configuration; empty means none. A pattern that does not
/// compile is kept with its error, so that every bad pattern in a file is reported at once.
#[derive(Clone, Default)]
pub struct Pattern {
    source: String,
    compiled: Option<Result<regex::Regex, String>>,
}

impl Pattern {
    pub fn new(source: impl Into<String>) -> Pattern {
        let source = source.into();
        let compiled = (!source.is_empty()).then(|| regex::Regex::new(&source).map_err(|e| e.to_string()));
        Pattern { source, compiled }
    }

    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// The compiled expression; `None` when empty or when it did not compile (see [`Self::error`]).
    pub fn regex(&self) -> Option<&regex::Regex> {
        self.compiled.as_ref().and_then(|c| c.as_ref().ok())
    }

    pub fn error(&self) -> Option<&str> {
        self.compiled.as_ref().and_then(|c| c.as_ref().err()).map(String::as_str)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl Serialize for Pattern {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        Ok(Pattern::new(String::deserialize(d)?))
    }
}

/// An address that may be left empty (`""`): `serde(with = "optional_ip")`.
pub mod optional_ip {
    use super::*;

    pub fn serialize<S: Serializer>(ip: &Option<IpAddr>, s: S) -> Result<S::Ok, S::Error> {
        match ip {
            Some(ip) => s.collect_str(ip),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.trim().parse().map(Some).map_err(|_| serde::de::Error::custom(format!("'{text}' is not an IP address")))
    }
}

/// An optional socket address written as a string; empty is none.
pub mod optional_addr {
    use super::*;
    use std::net::SocketAddr;

    pub fn serialize<S: Serializer>(addr: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match addr {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        text.trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("'{text}' is not an address with a port (127.0.0.1:9090)")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(toml::Value::try_from(&s).unwrap().as_str(), Some(""));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn port_ranges_parse_and_print() {
        let r: PortRange = "20000-29999".parse().unwrap();
        assert_eq!((r.first, r.last, r.len()), (20000, 29999, 10000));
        assert_eq!(r.to_string(), "20000-29999");
        for bad in ["", "20000", "3-1", "a-b", "1-70000"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_bad_pattern_keeps_its_error() {
        assert!(Pattern::new("").regex().is_none() && Pattern::new("").error().is_none());
        assert!(Pattern::new("^FAX").regex().unwrap().is_match("FAX 1"));
        assert!(Pattern::new("^FAX(").error().is_some());
    }
}

/// A time of day `HH:MM` (JST), e.g. `07:30`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockTime(pub chrono::NaiveTime);

impl ClockTime {
    pub fn new(hour: u32, minute: u32) -> ClockTime {
        ClockTime(chrono::NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or_default())
    }
}

impl std::str::FromStr for ClockTime {
    type Err = String;

    fn from_str(s: &str) -> Result<ClockTime, String> {
        let parsed = (s.len() == 5).then(|| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok()).flatten();
        parsed.map(ClockTime).ok_or_else(|| format!("'{s}' must be a time like 07:30 (HH:MM, JST)"))
    }
}

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

impl Serialize for ClockTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ClockTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ClockTime, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}
