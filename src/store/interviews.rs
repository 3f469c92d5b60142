//! A ticket's interview (問診) in the store: one row per ticket with the answers by question id,
//! saved in the intake's write batch with its history entry.

use super::write::Pending;
use super::{Store, StoreError};
use crate::domain::interview::Templates;
use crate::domain::text;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::AnyConnection;
use std::sync::{Arc, RwLock};

pub(super) type SharedTemplates = Arc<RwLock<InterviewSet>>;

/// The interview templates in force and where they come from.
#[derive(Debug, Clone, Default)]
pub struct InterviewSet {
    pub templates: Arc<Templates>,
    /// The version saved in the console in force; `None`: the file's (or built-in).
    pub version: Option<i64>,
    /// `[interviews] file` as configured; `None`: the built-in templates.
    pub file: Option<String>,
    /// The TOML source of what is in force.
    pub source: Arc<str>,
}

/// A ticket's interview as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Interview {
    pub template: String,
    pub answers: Map<String, Value>,
    pub complete: bool,
    pub updated_by: String,
    /// JST.
    pub updated_at: String,
}

/// An interview to save: answers already checked against `template` (`null`: clear one).
#[derive(Debug, Clone, PartialEq)]
pub struct InterviewSave {
    pub template: String,
    pub answers: Map<String, Value>,
    /// A PATCH adds to the stored answers; a PUT replaces them.
    pub merge: bool,
}

impl Store {
    pub fn set_interviews(&self, set: InterviewSet) {
        if let Ok(mut t) = self.interviews.write() {
            *t = set;
        }
    }

    pub fn interview_set(&self) -> InterviewSet {
        self.interviews.read().map(|t| t.clone()).unwrap_or_default()
    }

    pub fn interviews(&self) -> Arc<Templates> {
        self.interview_set().templates
    }

    pub(super) async fn interview_in(
        &self,
        conn: &mut AnyConnection,
        ticket_id: i64,
    ) -> Result<Option<Interview>, StoreError> {
        let row: Option<(String, String, i64, String, i64)> = sqlx::query_as(
            "SELECT template, answers, complete, updated_by, updated_at FROM interviews WHERE ticket_id = $1",
        )
        .bind(ticket_id)
        .fetch_optional(conn)
        .await?;
        row.map(|(template, answers, complete, updated_by, updated_at)| {
            let answers = match serde_json::from_str(&answers) {
                Ok(Value::Object(m)) => m,
                _ => return Err(StoreError::Corrupt(format!("interview of ticket {ticket_id} is not a JSON object"))),
            };
            Ok(Interview {
                template,
                answers,
                complete: complete != 0,
                updated_by,
                updated_at: crate::domain::time::jst_rfc3339(updated_at),
            })
        })
        .transpose()
    }

    /// The ticket's interview, if one was started.
    pub async fn interview(&self, ticket_id: i64) -> Result<Option<Interview>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.interview_in(&mut conn, ticket_id).await
    }

    /// Saves answers in the write batch: the row, a history entry naming the answers that
    /// changed, and the answers' text in the ticket's search text. Nothing when nothing changed.
    pub(super) async fn save_interview(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        ticket_id: i64,
        save: &InterviewSave,
        actor: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        let before = self.interview_in(conn, ticket_id).await?;
        let mut answers = match (&before, save.merge) {
            (Some(b), true) if b.template == save.template => b.answers.clone(),
            _ => Map::new(),
        };
        for (k, v) in &save.answers {
            if v.is_null() {
                answers.remove(k);
            } else {
                answers.insert(k.clone(), v.clone());
            }
        }
        // Judged here, on what is stored after this save, whatever saves came before it.
        let complete = self.interviews().get(&save.template).is_some_and(|t| t.check(&answers, true).is_ok());
        let old = before.as_ref().filter(|b| b.template == save.template).map(|b| &b.answers);
        let mut changed: Vec<String> =
            answers.iter().filter(|(k, v)| old.and_then(|o| o.get(*k)) != Some(*v)).map(|(k, _)| k.clone()).collect();
        if let Some(o) = old {
            changed.extend(o.keys().filter(|k| !answers.contains_key(*k)).cloned());
        }
        let same_state = before.as_ref().is_some_and(|b| b.template == save.template && b.complete == complete);
        if changed.is_empty() && same_state {
            return Ok(changed);
        }
        sqlx::query(
            "INSERT INTO interviews (ticket_id, template, answers, complete, updated_by, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ticket_id) DO UPDATE SET template = excluded.template, \
             answers = excluded.answers, complete = excluded.complete, updated_by = excluded.updated_by, \
             updated_at = excluded.updated_at",
        )
        .bind(ticket_id)
        .bind(&save.template)
        .bind(Value::Object(answers.clone()).to_string())
        .bind(i64::from(complete))
        .bind(actor)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let detail = json!({"template": save.template, "changed": changed, "complete": complete});
        pending.history(ticket_id, now, actor, "interview_saved", &detail);
        let words: Vec<String> = changed
            .iter()
            .filter_map(|k| answers.get(k))
            .map(|v| match v {
                Value::String(s) => text::fold(s),
                other => other.to_string(),
            })
            .collect();
        if !words.is_empty() {
            self.append_search_text(conn, pending, ticket_id, &words.join(" ")).await?;
        }
        Ok(changed)
    }
}
