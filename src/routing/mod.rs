//! Routing: pure rules that choose a contact's category, priority and tier. The first rule whose
//! conditions all hold wins; a rule's unset outcome falls back to the file's `[default]`.
//! The rules file format is documented in `routing.toml` at the repository's root.

mod file;

pub use file::{BUILTIN_RULES, load_file, parse};

use crate::domain::{Channel, NewContact, Priority, Tier, phone, text};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub default: Outcome,
    pub rules: Vec<Rule>,
    /// Category id → label shown to people (Japanese first).
    pub categories: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub category: String,
    pub priority: Priority,
    pub tier: Tier,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub when: Conditions,
    pub category: Option<String>,
    pub priority: Option<Priority>,
    pub tier: Option<Tier>,
}

/// Each list is "any of"; every list that is not empty must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    pub channel: Vec<Channel>,
    /// Dialled numbers, normalised (`03-…`, `+81 3 …` alike).
    pub dialed: Vec<String>,
    pub menu: Vec<String>,
    /// `user@example.go.jp`, `@example.go.jp` or `example.go.jp` (also matches subdomains).
    pub sender: Vec<String>,
    /// Folded (NFKC, lower case) words looked for in the subject and body.
    pub keywords: Vec<String>,
}

/// What routing decided and why; recorded in the ticket's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub category: String,
    pub priority: Priority,
    pub tier: Tier,
    /// The rule that matched; `None` when the defaults applied.
    pub rule: Option<String>,
}

impl Rules {
    pub fn route(&self, contact: &NewContact) -> Decision {
        let haystack = text::fold(&format!("{}\n{}", contact.subject.as_deref().unwrap_or(""), contact.body));
        let dialed = contact.dialed_number.as_deref().and_then(phone::normalize);
        let sender = contact.caller.email.as_deref().map(str::to_ascii_lowercase);
        let matched = self.rules.iter().find(|r| r.when.hold(contact, &haystack, dialed.as_deref(), sender.as_deref()));
        match matched {
            Some(rule) => Decision {
                category: rule.category.clone().unwrap_or_else(|| self.default.category.clone()),
                priority: rule.priority.unwrap_or(self.default.priority),
                tier: rule.tier.unwrap_or(self.default.tier),
                rule: Some(rule.name.clone()),
            },
            None => Decision {
                category: self.default.category.clone(),
                priority: self.default.priority,
                tier: self.default.tier,
                rule: None,
            },
        }
    }

    pub fn category_label<'a>(&'a self, id: &'a str) -> &'a str {
        self.categories.get(id).map(String::as_str).unwrap_or(id)
    }
}

impl Conditions {
    fn hold(&self, c: &NewContact, haystack: &str, dialed: Option<&str>, sender: Option<&str>) -> bool {
        let channel = self.channel.is_empty() || self.channel.contains(&c.channel);
        let dialed = self.dialed.is_empty() || dialed.is_some_and(|d| self.dialed.iter().any(|x| x == d));
        let menu = self.menu.is_empty()
            || c.menu_choices.as_deref().is_some_and(|m| self.menu.iter().any(|x| m.starts_with(x.as_str())));
        let sender = self.sender.is_empty() || sender.is_some_and(|s| self.sender.iter().any(|p| sender_matches(p, s)));
        let keywords = self.keywords.is_empty() || self.keywords.iter().any(|k| haystack.contains(k.as_str()));
        channel && dialed && menu && sender && keywords
    }
}

fn sender_matches(pattern: &str, address: &str) -> bool {
    let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    match pattern.find('@') {
        Some(0) => domain == &pattern[1..],
        Some(_) => address == pattern,
        None => domain == pattern || domain.ends_with(&format!(".{pattern}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(channel: Channel, subject: &str, body: &str) -> NewContact {
        NewContact { channel, subject: Some(subject.into()), body: body.into(), ..Default::default() }
    }

    fn builtin() -> Rules {
        parse("routing.toml", BUILTIN_RULES).unwrap()
    }

    #[test]
    fn builtin_rules_route_the_everyday_categories() {
        let rules = builtin();
        let table = [
            ("アカウントがロックされました", "", "account_unlock", 1),
            ("ﾛｯｸ解除のお願い", "", "account_unlock", 1),
            ("強制サインアウトをお願いします", "", "forced_signout", 1),
            ("パスワードを忘れました", "初期化してください", "password_reset", 1),
            ("", "生体認証でログインできないので一時パスワードを発行してください", "temporary_password", 1),
            ("ユーザＩＤ追加申請", "", "user_id_change", 1),
            ("システム障害", "画面にエラーが表示されます", "fault_report", 2),
            ("操作方法について", "帳票の出力方法を教えてください", "howto", 1),
            ("不審なメールを開いてしまった", "", "security_incident", 2),
            ("Password reset please", "", "password_reset", 1),
            ("こんにちは", "ご相談です", "general", 1),
        ];
        for (subject, body, category, tier) in table {
            let d = rules.route(&contact(Channel::Email, subject, body));
            assert_eq!((d.category.as_str(), d.tier.get()), (category, tier), "{subject} {body}");
        }
        let d = rules.route(&contact(Channel::Email, "こんにちは", ""));
        assert_eq!(d.rule, None);
        assert_eq!(d.priority, Priority::Normal);
    }

    #[test]
    fn conditions_combine_channel_menu_dialed_and_sender() {
        let src = r#"
[default]
category = "general"
priority = "normal"
tier = 1
[categories]
general = "一般"
fault = "障害"
vip = "VIP"
[[rule]]
name = "fault-by-menu"
category = "fault"
tier = 2
[rule.when]
channel = ["phone"]
menu = ["2"]
dialed = ["03-1234-5678"]
[[rule]]
name = "ministry"
category = "vip"
priority = "high"
[rule.when]
sender = ["@mhlw.go.jp", "boss@example.jp"]
"#;
        let rules = parse("t.toml", src).unwrap();
        let mut phone = contact(Channel::Phone, "", "");
        phone.menu_choices = Some("2".into());
        phone.dialed_number = Some("+81 3 1234 5678".into());
        assert_eq!(rules.route(&phone).rule.as_deref(), Some("fault-by-menu"));
        phone.dialed_number = Some("0399999999".into());
        assert_eq!(rules.route(&phone).rule, None);

        let mut mail = contact(Channel::Email, "x", "");
        for (address, rule) in [
            ("Taro@MHLW.go.jp", Some("ministry")),
            ("boss@example.jp", Some("ministry")),
            ("other@example.jp", None),
            ("x@evil-mhlw.go.jp", None),
        ] {
            mail.caller.email = Some(address.into());
            assert_eq!(rules.route(&mail).rule.as_deref(), rule, "{address}");
        }
        mail.caller.email = Some("x@mhlw.go.jp".into());
        let d = rules.route(&mail);
        assert_eq!((d.priority, d.tier), (Priority::High, Tier::HELPDESK));
    }

    #[test]
    fn domain_pattern_matches_subdomains() {
        assert!(sender_matches("mhlw.go.jp", "a@mhlw.go.jp"));
        assert!(sender_matches("mhlw.go.jp", "a@sub.mhlw.go.jp"));
        assert!(!sender_matches("mhlw.go.jp", "a@xmhlw.go.jp"));
    }
}
