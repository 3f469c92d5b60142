//! Reading the routing rules file, with every problem reported as `file:line: what is wrong`.

use super::{Conditions, Outcome, Rule, Rules};
use crate::diagnostic::{Problem, Problems, TomlLines};
use crate::domain::{Channel, Priority, Tier, phone, text};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The rules used when no `[routing] rules` file is configured (the repository's `routing.toml`).
pub const BUILTIN_RULES: &str = include_str!("../../routing.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    default: RawDefault,
    #[serde(default)]
    categories: BTreeMap<String, String>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefault {
    category: String,
    priority: Priority,
    tier: Tier,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    category: Option<String>,
    priority: Option<Priority>,
    tier: Option<Tier>,
    #[serde(default)]
    when: RawWhen,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawWhen {
    channel: Vec<Channel>,
    dialed: Vec<String>,
    menu: Vec<String>,
    sender: Vec<String>,
    keywords: Vec<String>,
}

pub fn load_file(path: &Path) -> Result<Rules, Problems> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| Problems(vec![Problem::new(&name, None, format!("cannot read: {e}"))]))?;
    parse(&name, &source)
}

pub fn parse(file: &str, source: &str) -> Result<Rules, Problems> {
    let raw: RawFile = toml::from_str(source).map_err(|e| Problems(vec![Problem::from_toml(file, source, &e)]))?;
    let lines = TomlLines::scan(source);
    let mut problems = Vec::new();
    let known_category = |c: &str| raw.categories.is_empty() || raw.categories.contains_key(c);

    if !known_category(&raw.default.category) {
        problems.push(Problem::new(
            file,
            lines.find("default", None, Some("category")),
            format!("category '{}' is not listed in [categories]", raw.default.category),
        ));
    }

    let mut names = HashSet::new();
    let mut rules = Vec::with_capacity(raw.rule.len());
    for (i, r) in raw.rule.into_iter().enumerate() {
        let mut problem = |key: &str, message: String| {
            problems.push(Problem::new(
                file,
                lines.find("rule", Some(i), Some(key)),
                format!("rule '{}': {message}", r.name),
            ));
        };
        if r.name.trim().is_empty() {
            problem("name", "a rule needs a name".into());
        } else if !names.insert(r.name.clone()) {
            problem("name", "another rule has the same name".into());
        }
        if let Some(c) = &r.category
            && !known_category(c)
        {
            problem("category", format!("category '{c}' is not listed in [categories]"));
        }
        if r.category.is_none() && r.priority.is_none() && r.tier.is_none() {
            problem("name", "sets none of category, priority, tier".into());
        }
        let w = r.when;
        if w.channel.is_empty()
            && w.dialed.is_empty()
            && w.menu.is_empty()
            && w.sender.is_empty()
            && w.keywords.is_empty()
        {
            problem("when", "has no conditions, so it would match everything (use [default] for that)".into());
        }
        let mut dialed = Vec::new();
        for d in &w.dialed {
            match phone::normalize(d) {
                Some(n) => dialed.push(n),
                None => problem("dialed", format!("'{d}' is not a phone number")),
            }
        }
        for m in &w.menu {
            if m.is_empty() || !m.chars().all(|c| c.is_ascii_digit() || c == '*' || c == '#') {
                problem("menu", format!("menu choice '{m}' must be digits, * or #"));
            }
        }
        for s in &w.sender {
            if s.trim().is_empty() || s.contains(char::is_whitespace) {
                problem("sender", format!("sender '{s}' must be an address, @domain or domain"));
            }
        }
        let keywords: Vec<String> = w.keywords.iter().map(|k| text::fold(k.trim())).collect();
        if keywords.iter().any(String::is_empty) {
            problem("keywords", "an empty keyword would match everything".into());
        }
        rules.push(Rule {
            name: r.name,
            when: Conditions {
                channel: w.channel,
                dialed,
                menu: w.menu,
                sender: w.sender.iter().map(|s| s.trim().to_ascii_lowercase()).collect(),
                keywords,
            },
            category: r.category,
            priority: r.priority,
            tier: r.tier,
        });
    }

    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    Ok(Rules {
        default: Outcome { category: raw.default.category, priority: raw.default.priority, tier: raw.default.tier },
        rules,
        categories: raw.categories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_rules_are_valid() {
        let rules = parse("routing.toml", BUILTIN_RULES).unwrap();
        assert!(rules.rules.len() >= 7);
        assert_eq!(rules.category_label("account_unlock"), "アカウントロック解除 / Account unlock");
    }

    #[test]
    fn every_problem_is_reported_with_its_line() {
        let src = r#"[default]
category = "general"
priority = "normal"
tier = 1

[categories]
general = "一般"

[[rule]]
name = "a"
category = "nope"
[rule.when]
keywords = ["x"]

[[rule]]
name = "a"
tier = 2
[rule.when]
dialed = ["anonymous"]
menu = ["1a"]

[[rule]]
name = "c"
tier = 1
"#;
        let err = parse("rules.toml", src).unwrap_err();
        let got: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "rules.toml:11: rule 'a': category 'nope' is not listed in [categories]",
                "rules.toml:16: rule 'a': another rule has the same name",
                "rules.toml:19: rule 'a': 'anonymous' is not a phone number",
                "rules.toml:20: rule 'a': menu choice '1a' must be digits, * or #",
                "rules.toml:22: rule 'c': has no conditions, so it would match everything (use [default] for that)",
            ]
        );
    }

    #[test]
    fn type_errors_point_at_their_line() {
        let src = "[default]\ncategory = \"g\"\npriority = \"normal\"\ntier = 7\n";
        let err = parse("r.toml", src).unwrap_err().to_string();
        assert!(err.starts_with("r.toml:4:"), "{err}");
        assert!(err.contains("tier"), "{err}");
        let src = "[default]\ncategory = \"g\"\npriority = \"normal\"\ntier = 1\n[[rule]]\nname = \"x\"\ntier = 1\ncolour = \"red\"\n";
        let err = parse("r.toml", src).unwrap_err().to_string();
        assert!(err.starts_with("r.toml:8:") && err.contains("colour"), "{err}");
    }
}
