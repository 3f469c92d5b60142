//! Which events a client asked for: `?kind=call,ticket.updated&tier=1,2`. A kind is an event's
//! name or its family (`call`, `ticket`); with tiers given, only events of those tiers pass.

use super::{Item, Kind};
use crate::domain::Tier;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    kinds: Vec<Kind>,
    tiers: Vec<Tier>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("kind: '{0}' is not an event kind (expected call, ticket or one of: {KINDS})")]
    Kind(String),
    #[error("tier: '{0}' is not a tier (1, 2 or 3)")]
    Tier(String),
}

const KINDS: &str = "call.ringing call.answered call.menu call.transferred call.voicemail call.ended \
ticket.created ticket.updated callback.created callback.updated";

impl Filter {
    pub fn parse(kinds: Option<&str>, tiers: Option<&str>) -> Result<Filter, FilterError> {
        let mut filter = Filter::default();
        for word in list(kinds) {
            let matched: Vec<Kind> = Kind::ALL
                .into_iter()
                .filter(|k| k.as_str() == word || k.as_str().split('.').next() == Some(word))
                .collect();
            if matched.is_empty() {
                return Err(FilterError::Kind(word.chars().take(40).collect()));
            }
            filter.kinds.extend(matched);
        }
        for word in list(tiers) {
            let tier = word.parse::<i64>().ok().and_then(|n| Tier::new(n).ok());
            filter.tiers.push(tier.ok_or_else(|| FilterError::Tier(word.chars().take(40).collect()))?);
        }
        Ok(filter)
    }

    /// A resync always passes: the client must reload whatever it follows.
    pub fn passes(&self, item: &Item) -> bool {
        let Item::Event(e) = item else { return true };
        (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && (self.tiers.is_empty() || e.tier.is_some_and(|t| self.tiers.contains(&t)))
    }
}

fn list(value: Option<&str>) -> impl Iterator<Item = &str> {
    value.unwrap_or_default().split(',').map(str::trim).filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Published;
    use std::sync::Arc;

    fn event(kind: Kind, tier: Option<u8>) -> Item {
        let tier = tier.map(|t| Tier::new(t.into()).unwrap());
        Item::Event(Arc::new(Published { id: 1, kind, tier, json: "{}".into() }))
    }

    #[test]
    fn kinds_families_and_tiers() {
        use Kind::*;
        let cases: &[(Option<&str>, Option<&str>, Item, bool)] = &[
            (None, None, event(CallRinging, None), true),
            (Some("call"), None, event(CallEnded, Some(2)), true),
            (Some("call"), None, event(TicketCreated, Some(1)), false),
            (Some("ticket.updated, call.ringing"), None, event(CallRinging, Some(3)), true),
            (Some("ticket.updated"), None, event(TicketCreated, Some(1)), false),
            (None, Some("1,2"), event(CallRinging, Some(2)), true),
            (None, Some("1"), event(CallRinging, Some(2)), false),
            (None, Some("1"), event(CallRinging, None), false),
            (Some("call"), Some("3"), event(CallMenu, Some(3)), true),
            (Some("ticket"), Some("3"), Item::Resync(5), true),
            (Some("callback"), Some("2"), event(CallbackCreated, Some(2)), true),
            (Some("callback"), Some("1"), event(CallbackUpdated, Some(2)), false),
            (Some("ticket"), None, event(CallbackCreated, Some(1)), false),
            (Some(""), Some(" "), event(TicketUpdated, None), true),
        ];
        for (kinds, tiers, item, passes) in cases {
            let filter = Filter::parse(*kinds, *tiers).unwrap();
            assert_eq!(filter.passes(item), *passes, "{kinds:?} {tiers:?} {item:?}");
        }
    }

    #[test]
    fn unknown_kinds_and_tiers_are_named() {
        assert_eq!(Filter::parse(Some("call,calls"), None), Err(FilterError::Kind("calls".into())));
        assert_eq!(Filter::parse(Some("call."), None), Err(FilterError::Kind("call.".into())));
        assert_eq!(Filter::parse(None, Some("1,4")), Err(FilterError::Tier("4".into())));
        assert_eq!(Filter::parse(None, Some("x")), Err(FilterError::Tier("x".into())));
    }
}
