//! Problems in files an admin edits (configuration, routing rules, later dialplans), reported as
//! `file:line: what is wrong`, all of them at once.

use std::collections::HashMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem { file: file.into(), line, message: message.into() }
    }

    /// A TOML syntax or type error, placed on the line its span points at.
    pub fn from_toml(file: &str, source: &str, err: &toml::de::Error) -> Problem {
        let line = err.span().map(|span| line_of_offset(source, span.start));
        Problem::new(file, line, err.message().trim().to_owned())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Every problem found in one check; its Display is one `file:line: message` per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// An error and its causes on one line, leaving out a cause whose text the line already has
/// (libraries often repeat their source in their own message).
pub fn each_cause_once(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

pub fn line_of_offset(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Finds the line of a table header or key in a TOML document, for problems found after
/// deserialising (when serde's spans are gone). `[[rule]]` tables are told apart by index;
/// `[rule.when]` belongs to the `[[rule]]` above it.
pub struct TomlLines {
    entries: Vec<(String, Option<usize>, Option<String>, usize)>,
}

impl TomlLines {
    pub fn scan(source: &str) -> TomlLines {
        let mut entries = Vec::new();
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut current: (String, Option<usize>) = (String::new(), None);
        for (i, raw) in source.lines().enumerate() {
            let line = raw.trim();
            let lineno = i + 1;
            if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
                let name = name.trim().to_owned();
                let n = counts.entry(name.clone()).or_default();
                current = (name.clone(), Some(*n));
                *n += 1;
                entries.push((name, current.1, None, lineno));
            } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                let name = name.trim().to_owned();
                let parent_index = name
                    .split_once('.')
                    .filter(|(parent, _)| *parent == current.0 || current.0.starts_with(&format!("{parent}.")))
                    .and(current.1);
                let table = name.split('.').next().unwrap_or_default().to_owned();
                current = if parent_index.is_some() { (table, parent_index) } else { (name, None) };
                entries.push((current.0.clone(), current.1, None, lineno));
            } else if let Some((key, _)) = line.split_once('=')
                && !line.starts_with('#')
            {
                let key = key.trim().trim_matches('"').to_owned();
                entries.push((current.0.clone(), current.1, Some(key), lineno));
            }
        }
        TomlLines { entries }
    }

    /// The line of `key` in `table` (`""` for the top level), or of the table's header when
    /// `key` is `None` or not written.
    pub fn find(&self, table: &str, index: Option<usize>, key: Option<&str>) -> Option<usize> {
        let in_table = |e: &&(String, Option<usize>, Option<String>, usize)| e.0 == table && e.1 == index;
        key.and_then(|k| self.entries.iter().filter(in_table).find(|e| e.2.as_deref() == Some(k)).map(|e| e.3))
            .or_else(|| self.entries.iter().filter(in_table).find(|e| e.2.is_none()).map(|e| e.3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_tables_and_arrays_of_tables() {
        let src = "data_dir = \"x\"\n[http]\nlisten = \"a\"\n\n[[rule]]\nname = \"a\"\n[rule.when]\nkeywords = []\n[[rule]]\nname = \"b\"\ntier = 9\n";
        let lines = TomlLines::scan(src);
        assert_eq!(lines.find("", None, Some("data_dir")), Some(1));
        assert_eq!(lines.find("http", None, Some("listen")), Some(3));
        assert_eq!(lines.find("rule", Some(0), Some("keywords")), Some(8));
        assert_eq!(lines.find("rule", Some(1), Some("tier")), Some(11));
        assert_eq!(lines.find("rule", Some(1), Some("missing")), Some(9));
    }

    #[test]
    fn problems_print_one_per_line() {
        let p = Problems(vec![Problem::new("a.toml", Some(3), "bad"), Problem::new("b.toml", None, "worse")]);
        assert_eq!(p.to_string(), "a.toml:3: bad\nb.toml: worse");
    }
}
