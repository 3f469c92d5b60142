//! Suggestions from history and the FAQ: the synonyms file (`synonyms.toml`, `[suggest]
//! synonyms`) read into [`Synonyms`], every problem named with file and line. The ranking
//! itself is in `domain::suggest`, the index in `store::suggest`.

use crate::diagnostic::{Problem, Problems, TomlLines};
use crate::domain::suggest::Synonyms;
use crate::domain::text::fold;
use serde::Deserialize;

/// The groups used when no `[suggest] synonyms` file is configured (the repository's).
pub const BUILTIN_SYNONYMS: &str = include_str!("../../synonyms.toml");
const MAX_WORD_CHARS: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    group: Vec<RawGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    words: Vec<String>,
}

pub fn builtin() -> Synonyms {
    parse_synonyms("(built-in) synonyms.toml", BUILTIN_SYNONYMS).expect("the shipped synonyms.toml is valid")
}

pub fn load_synonyms(path: &std::path::Path) -> Result<Synonyms, Problems> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| Problems(vec![Problem::new(&name, None, format!("cannot read: {e}"))]))?;
    parse_synonyms(&name, &source)
}

pub fn parse_synonyms(file: &str, source: &str) -> Result<Synonyms, Problems> {
    let raw: Raw = toml::from_str(source).map_err(|e| Problems(vec![Problem::from_toml(file, source, &e)]))?;
    let lines = TomlLines::scan(source);
    let mut problems = Vec::new();
    let mut groups = Vec::new();
    for (i, g) in raw.group.iter().enumerate() {
        let at = lines.find("group", Some(i), Some("words"));
        let words: Vec<String> = g.words.iter().map(|w| fold(w.trim())).collect();
        if words.len() < 2 {
            problems.push(Problem::new(file, at, "words: a group needs two or more words"));
        }
        for w in &words {
            if w.is_empty() {
                problems.push(Problem::new(file, at, "words: an empty word"));
            } else if w.chars().count() > MAX_WORD_CHARS {
                problems.push(Problem::new(
                    file,
                    at,
                    format!("words: '{w}' is longer than {MAX_WORD_CHARS} characters"),
                ));
            }
        }
        let mut seen: Vec<&String> = Vec::new();
        for w in &words {
            if seen.contains(&w) {
                problems.push(Problem::new(file, at, format!("words: '{w}' is listed twice")));
            }
            seen.push(w);
        }
        groups.push(words);
    }
    if problems.is_empty() { Ok(Synonyms { groups }) } else { Err(Problems(problems)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_groups_are_valid_and_folded() {
        let s = builtin();
        assert!(s.groups.iter().any(|g| g.contains(&"ロック解除".to_owned()) && g.contains(&"アンロック".to_owned())));
        assert_eq!(
            parse_synonyms("s.toml", "[[group]]\nwords = [\"ＶＰＮ\", \"ﾘﾓｰﾄ\"]\n").unwrap().groups,
            [["vpn", "リモート"]]
        );
    }

    #[test]
    fn problems_name_file_and_line() {
        let src = "# c\n\n[[group]]\nwords = [\"a\", \"b\"]\n\n[[group]]\nwords = [\"ロック\"]\n[[group]]\nwords = [\"x\", \"X\"]\n";
        let err = parse_synonyms("syn.toml", src).unwrap_err().to_string();
        assert!(err.contains("syn.toml:7: words: a group needs two or more words"), "{err}");
        assert!(err.contains("syn.toml:9: words: 'x' is listed twice"), "{err}");
        let err = parse_synonyms("syn.toml", "[[group]]\nword = [\"a\"]\n").unwrap_err().to_string();
        assert!(err.starts_with("syn.toml:2:"), "{err}");
    }
}
