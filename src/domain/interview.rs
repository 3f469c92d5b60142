//! 問診: the guided interview of whoever reports a fault or asks for an account change. A
//! template is an ordered list of questions, each with an answer type, whether it is required,
//! a hint for the operator, and optionally a condition (ask B only when A is "yes"). Answers are
//! checked here, without I/O: a complete interview must answer every required question it asks,
//! each with a value of its type.

use chrono::{NaiveDateTime, TimeZone};
use serde::Serialize;
use serde_json::{Map, Value};

/// Longest text answer, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Text,
    Choice,
    YesNo,
    /// A date and time in Japan time, `YYYY-MM-DDTHH:MM`.
    Datetime,
    Number,
    Phone,
    /// A screen ID or an error code: letters, digits, `-`, `_`, `.`, `/`.
    Code,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "text" => Kind::Text,
            "choice" => Kind::Choice,
            "yes_no" => Kind::YesNo,
            "datetime" => Kind::Datetime,
            "number" => Kind::Number,
            "phone" => Kind::Phone,
            "code" => Kind::Code,
            _ => return None,
        })
    }
}

/// Ask a question only when an earlier one was answered with one of `values`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub question: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub text_en: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    pub required: bool,
    pub hint: String,
    pub choices: Vec<String>,
    pub when: Option<Condition>,
    /// Personal data (a name, a staff number): never sent to a vendor (tier 3).
    pub personal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub name_en: String,
    /// The ticket categories it opens for.
    pub categories: Vec<String>,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Templates {
    pub templates: Vec<Template>,
}

impl Templates {
    pub fn get(&self, id: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.id == id)
    }

    /// The template a ticket of `category` opens with.
    pub fn for_category(&self, category: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.categories.iter().any(|c| c == category))
    }
}

/// What is wrong with one answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{question}: {message}")]
pub struct AnswerProblem {
    pub question: String,
    pub message: String,
}

fn problem(question: &str, message: impl Into<String>) -> AnswerProblem {
    AnswerProblem { question: question.to_owned(), message: message.into() }
}

impl Template {
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    /// Whether `q` is asked, given the answers so far.
    pub fn asks(&self, q: &Question, answers: &Map<String, Value>) -> bool {
        match &q.when {
            None => true,
            Some(c) => {
                answers.get(&c.question).and_then(Value::as_str).is_some_and(|a| c.values.iter().any(|v| v == a))
            }
        }
    }

    /// Checks answers by question id and returns them normalised (trimmed text, numbers as
    /// numbers, JST date-times as `YYYY-MM-DDTHH:MM`); answers to questions not asked are left
    /// out. `complete`: every required question asked must be answered.
    pub fn check(
        &self,
        answers: &Map<String, Value>,
        complete: bool,
    ) -> Result<Map<String, Value>, Vec<AnswerProblem>> {
        let mut problems = Vec::new();
        for id in answers.keys() {
            if self.question(id).is_none() {
                problems.push(problem(id, "この問診にない質問です / not a question of this interview"));
            }
        }
        let mut out = Map::new();
        for q in &self.questions {
            if let Some(v) = answers.get(&q.id).filter(|v| !is_blank(v)) {
                match normalise(q, v) {
                    Ok(v) => {
                        out.insert(q.id.clone(), v);
                    }
                    Err(message) => problems.push(problem(&q.id, message)),
                }
            }
        }
        // Conditions are judged on the normalised answers; a question not asked keeps no answer.
        let asked: Vec<&Question> = self.questions.iter().filter(|q| self.asks(q, &out)).collect();
        out.retain(|id, _| asked.iter().any(|q| &q.id == id));
        if complete {
            for q in asked.iter().filter(|q| q.required && !out.contains_key(&q.id)) {
                if !problems.iter().any(|p| p.question == q.id) {
                    problems.push(problem(&q.id, "必須の質問です / this question must be answered"));
                }
            }
        }
        if problems.is_empty() { Ok(out) } else { Err(problems) }
    }

    /// The answers as lines `question: answer`, in the template's order; personal answers only
    /// when `personal`.
    pub fn lines(&self, answers: &Map<String, Value>, personal: bool) -> Vec<(String, String)> {
        self.questions
            .iter()
            .filter(|q| personal || !q.personal)
            .filter_map(|q| answers.get(&q.id).map(|v| (q.text.clone(), shown(q, v))))
            .collect()
    }
}

fn shown(q: &Question, v: &Value) -> String {
    match (q.kind, v) {
        (Kind::YesNo, Value::String(s)) if s == "yes" => "はい".into(),
        (Kind::YesNo, Value::String(s)) if s == "no" => "いいえ".into(),
        (_, Value::String(s)) => s.clone(),
        (_, other) => other.to_string(),
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        _ => false,
    }
}

fn normalise(q: &Question, v: &Value) -> Result<Value, String> {
    let text = match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) if q.kind == Kind::Number => n.to_string(),
        Value::Bool(b) if q.kind == Kind::YesNo => (if *b { "yes" } else { "no" }).to_owned(),
        _ => return Err("文字列で答えてください / give the answer as a string".into()),
    };
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(format!("{MAX_TEXT_CHARS} 文字までです / at most {MAX_TEXT_CHARS} characters"));
    }
    match q.kind {
        Kind::Text => Ok(Value::String(text)),
        Kind::Choice if q.choices.contains(&text) => Ok(Value::String(text)),
        Kind::Choice => Err(format!("選択肢から選んでください / one of: {}", q.choices.join(", "))),
        Kind::YesNo => match text.as_str() {
            "yes" | "はい" => Ok("yes".into()),
            "no" | "いいえ" => Ok("no".into()),
            _ => Err("yes か no / yes or no".into()),
        },
        Kind::Datetime => jst_minute(&text).map(Value::String).ok_or_else(|| {
            "日時は 2026-11-20T09:30 の形で（日本時間） / a date and time like 2026-11-20T09:30 (JST)".into()
        }),
        Kind::Number => {
            let folded = crate::domain::text::fold(&text).replace(',', "");
            folded
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| folded.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from).ok_or(()))
                .map_err(|_| "数で答えてください / a number".into())
        }
        Kind::Phone => {
            let digits = crate::domain::text::fold(&text);
            let ok = digits.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c))
                && (6..=20).contains(&digits.chars().filter(char::is_ascii_digit).count());
            if ok {
                Ok(Value::String(digits))
            } else {
                Err("電話番号ではありません / not a phone number".into())
            }
        }
        Kind::Code => {
            let code = crate::domain::text::fold(&text).to_uppercase();
            let ok = !code.is_empty()
                && code.len() <= 40
                && code.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c));
            if ok {
                Ok(Value::String(code))
            } else {
                Err("英数字と - _ . / の40文字まで / letters, digits, - _ . / (40 at most)".into())
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM` (JST) from that form, with seconds, a space, or an RFC 3339 time in any zone.
fn jst_minute(text: &str) -> Option<String> {
    let jst = chrono::FixedOffset::east_opt(9 * 3600)?;
    let at = match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.with_timezone(&jst),
        Err(_) => {
            let t = text.replace(' ', "T");
            let naive = NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S"))
                .ok()?;
            jst.from_local_datetime(&naive).single()?
        }
    };
    Some(at.format("%Y-%m-%dT%H:%M").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(id: &str, kind: Kind, required: bool, when: Option<(&str, &str)>) -> Question {
        Question {
            id: id.into(),
            text: format!("{id}?"),
            text_en: String::new(),
            kind,
            required,
            hint: String::new(),
            choices: if kind == Kind::Choice { vec!["全員".into(), "一部".into()] } else { vec![] },
            when: when.map(|(question, v)| Condition { question: question.into(), values: vec![v.into()] }),
            personal: id == "name",
        }
    }

    fn template() -> Template {
        Template {
            id: "fault".into(),
            name: "障害".into(),
            name_en: String::new(),
            categories: vec!["fault_report".into()],
            questions: vec![
                q("started", Kind::Datetime, true, None),
                q("screen", Kind::Code, false, None),
                q("reproducible", Kind::YesNo, true, None),
                q("steps", Kind::Text, true, Some(("reproducible", "yes"))),
                q("users", Kind::Number, false, None),
                q("scope", Kind::Choice, false, None),
                q("callback", Kind::Phone, false, None),
                q("name", Kind::Text, false, None),
            ],
        }
    }

    fn answers(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_condition_asks_a_question_only_after_its_answer() {
        let t = template();
        let no = t
            .check(&answers(json!({"started": "2026-11-20 09:30", "reproducible": "no", "steps": "x"})), true)
            .unwrap();
        assert!(!no.contains_key("steps"), "not asked, not kept: {no:?}");
        let missing =
            t.check(&answers(json!({"started": "2026-11-20T09:30", "reproducible": "yes"})), true).unwrap_err();
        assert_eq!(missing.iter().map(|p| p.question.as_str()).collect::<Vec<_>>(), ["steps"]);
        assert!(t.check(&answers(json!({"reproducible": "yes"})), false).is_ok(), "a draft may leave required ones");
    }

    #[test]
    fn each_answer_is_checked_and_normalised_by_type() {
        let t = template();
        let ok = t
            .check(
                &answers(json!({"started": "2026-11-20T00:30:00Z", "screen": " ａ-１２ ", "reproducible": "はい",
                    "steps": " 保存を押す ", "users": "１,２００", "scope": "一部", "callback": "03-5253-1111"})),
                true,
            )
            .unwrap();
        assert_eq!(ok["started"], "2026-11-20T09:30", "UTC converted to JST");
        assert_eq!(
            (ok["screen"].as_str(), ok["reproducible"].as_str(), ok["steps"].as_str()),
            (Some("A-12"), Some("yes"), Some("保存を押す"))
        );
        assert_eq!(ok["users"], 1200);
        let table: [(&str, Value); 8] = [
            ("started", json!("昨日の朝")),
            ("screen", json!("画面A")),
            ("reproducible", json!("たぶん")),
            ("users", json!("多数")),
            ("scope", json!("全部")),
            ("callback", json!("03-12")),
            ("name", json!(12)),
            ("unknown", json!("x")),
        ];
        for (id, bad) in table {
            let mut a = answers(json!({"started": "2026-11-20T09:30", "reproducible": "no"}));
            a.insert(id.into(), bad.clone());
            let err = t.check(&a, false).unwrap_err();
            assert_eq!(err.len(), 1, "{id} {bad}: {err:?}");
            assert_eq!(err[0].question, id, "{err:?}");
        }
    }

    #[test]
    fn personal_answers_are_left_out_for_vendors() {
        let t = template();
        let a = answers(json!({"reproducible": "no", "name": "山田"}));
        assert_eq!(
            t.lines(&a, true),
            [("reproducible?".to_owned(), "いいえ".to_owned()), ("name?".to_owned(), "山田".to_owned())]
        );
        assert_eq!(t.lines(&a, false).len(), 1);
    }
}
