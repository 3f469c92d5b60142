//! The interview templates (問診), `interviews.toml` (`[interviews] file`), read into
//! [`Templates`] with every problem named by file and line. The answers' rules are in
//! `domain::interview`.

use crate::diagnostic::{Problem, Problems, TomlLines};
use crate::domain::interview::{Condition, Kind, Question, Template, Templates};
use serde::Deserialize;

/// The templates used until another file is configured or edited in the console.
pub const BUILTIN_INTERVIEWS: &str = include_str!("../../interviews.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    template: Vec<RawTemplate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    id: String,
    name: String,
    #[serde(default)]
    name_en: String,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    question: Vec<RawQuestion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    id: String,
    text: String,
    #[serde(default)]
    text_en: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    hint: String,
    #[serde(default)]
    choices: Vec<String>,
    #[serde(default)]
    personal: bool,
    when: Option<RawWhen>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWhen {
    question: String,
    is: Vec<String>,
}

pub fn builtin() -> Templates {
    parse_interviews("(built-in) interviews.toml", BUILTIN_INTERVIEWS).expect("the shipped interviews.toml is valid")
}

/// The templates in `path`, and its source (shown to admins who edit it in the console).
pub fn read_interviews(path: &std::path::Path) -> Result<(Templates, String), Problems> {
    let name = path.display().to_string();
    let source = std::fs::read_to_string(path)
        .map_err(|e| Problems(vec![Problem::new(&name, None, format!("cannot read: {e}"))]))?;
    Ok((parse_interviews(&name, &source)?, source))
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn parse_interviews(file: &str, source: &str) -> Result<Templates, Problems> {
    let raw: Raw = toml::from_str(source).map_err(|e| Problems(vec![Problem::from_toml(file, source, &e)]))?;
    let lines = TomlLines::scan(source);
    let mut problems = Vec::new();
    let mut templates: Vec<Template> = Vec::new();
    let mut question_index = 0;
    for (i, t) in raw.template.iter().enumerate() {
        let at = |key: &str| lines.find("template", Some(i), Some(key));
        if !is_id(&t.id) {
            problems.push(Problem::new(file, at("id"), format!("id '{}': 1 to 40 of letters, digits, - and _", t.id)));
        }
        if templates.iter().any(|o| o.id == t.id) {
            problems.push(Problem::new(file, at("id"), format!("id '{}' is used by another template", t.id)));
        }
        if t.name.trim().is_empty() {
            problems.push(Problem::new(file, at("name"), "name: give the template a name"));
        }
        for c in &t.categories {
            if let Some(other) = templates.iter().find(|o| o.categories.contains(c)) {
                problems.push(Problem::new(
                    file,
                    at("categories"),
                    format!("category '{c}' already opens template '{}'", other.id),
                ));
            }
        }
        let mut questions: Vec<Question> = Vec::new();
        for q in &t.question {
            let qi = question_index;
            question_index += 1;
            let at = |key: &str| lines.find("template.question", Some(qi), Some(key));
            let mut bad = |key: &str, message: String| problems.push(Problem::new(file, at(key), message));
            if !is_id(&q.id) {
                bad("id", format!("question id '{}': 1 to 40 of letters, digits, - and _", q.id));
            }
            if questions.iter().any(|o| o.id == q.id) {
                bad("id", format!("question id '{}' is used twice in template '{}'", q.id, t.id));
            }
            if q.text.trim().is_empty() {
                bad("text", format!("question '{}': text is empty", q.id));
            }
            let kind = Kind::parse(&q.kind);
            if kind.is_none() {
                bad(
                    "type",
                    format!(
                        "question '{}': type '{}' is not text, choice, yes_no, datetime, number, phone or code",
                        q.id, q.kind
                    ),
                );
            }
            if kind == Some(Kind::Choice) && q.choices.len() < 2 {
                bad("choices", format!("question '{}': a choice needs two or more choices", q.id));
            }
            if kind != Some(Kind::Choice) && !q.choices.is_empty() {
                bad("choices", format!("question '{}': choices are for type \"choice\"", q.id));
            }
            let when = match &q.when {
                None => None,
                Some(w) => {
                    match questions.iter().find(|o| o.id == w.question) {
                        None => bad(
                            "when",
                            format!(
                                "question '{}': when names '{}', which is not an earlier question",
                                q.id, w.question
                            ),
                        ),
                        Some(earlier) => {
                            let allowed: Vec<String> = match earlier.kind {
                                Kind::YesNo => vec!["yes".into(), "no".into()],
                                Kind::Choice => earlier.choices.clone(),
                                _ => Vec::new(),
                            };
                            if allowed.is_empty() {
                                bad("when", format!("question '{}': when must name a yes_no or choice question", q.id));
                            }
                            for v in w.is.iter().filter(|v| !allowed.is_empty() && !allowed.contains(v)) {
                                bad("when", format!("question '{}': '{v}' is not an answer of '{}'", q.id, w.question));
                            }
                        }
                    }
                    if w.is.is_empty() {
                        bad("when", format!("question '{}': when needs is = [...]", q.id));
                    }
                    Some(Condition { question: w.question.clone(), values: w.is.clone() })
                }
            };
            questions.push(Question {
                id: q.id.clone(),
                text: q.text.clone(),
                text_en: q.text_en.clone(),
                kind: kind.unwrap_or(Kind::Text),
                required: q.required,
                hint: q.hint.clone(),
                choices: q.choices.clone(),
                when,
                personal: q.personal,
            });
        }
        if questions.is_empty() {
            problems.push(Problem::new(file, at("id"), format!("template '{}' has no [[template.question]]", t.id)));
        }
        templates.push(Template {
            id: t.id.clone(),
            name: t.name.clone(),
            name_en: t.name_en.clone(),
            categories: t.categories.clone(),
            questions,
        });
    }
    if problems.is_empty() { Ok(Templates { templates }) } else { Err(Problems(problems)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_templates_cover_the_everyday_categories() {
        let t = builtin();
        for category in ["fault_report", "account_unlock", "password_reset", "forced_signout", "user_id_change"] {
            assert!(t.for_category(category).is_some(), "{category}");
        }
        let fault = t.get("fault_report").unwrap();
        let ids: Vec<&str> = fault.questions.iter().map(|q| q.id.as_str()).collect();
        for want in [
            "started_at",
            "system",
            "screen_id",
            "error_message",
            "users_affected",
            "reproducible",
            "steps",
            "just_before",
        ] {
            assert!(ids.contains(&want), "{want}");
        }
        assert_eq!(fault.question("steps").unwrap().when.as_ref().unwrap().question, "reproducible");
    }

    #[test]
    fn problems_name_file_and_line() {
        let src = BUILTIN_INTERVIEWS.replace("type = \"number\"", "type = \"integer\"").replace(
            "when = { question = \"reproducible\", is = [\"yes\"] }",
            "when = { question = \"later\", is = [\"yes\"] }",
        );
        let err = parse_interviews("interviews.toml", &src).unwrap_err().to_string();
        let line = |needle: &str| src.lines().position(|l| l.contains(needle)).unwrap() + 1;
        assert!(
            err.contains(&format!(
                "interviews.toml:{}: question 'users_affected': type 'integer'",
                line("\"integer\"")
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("interviews.toml:{}: question 'steps': when names 'later'", line("\"later\""))),
            "{err}"
        );
        let dup = BUILTIN_INTERVIEWS.replace("categories = [\"forced_signout\"]", "categories = [\"fault_report\"]");
        let err = parse_interviews("i.toml", &dup).unwrap_err().to_string();
        assert!(err.contains("category 'fault_report' already opens template 'fault_report'"), "{err}");
        let choice = BUILTIN_INTERVIEWS
            .replace("choices = [\"折り返し電話\", \"上長経由\", \"窓口で手渡し\"]", "choices = [\"電話\"]");
        assert!(parse_interviews("i.toml", &choice).unwrap_err().to_string().contains("two or more choices"));
    }
}
