//! The FAQ entries published in one JST week (Monday to Sunday), for the weekly operations
//! meeting (`madoguchi report faq --week`): as text (Japanese first), CSV or JSON.

use crate::domain::faq::{jst_days, step_label, week_of};
use crate::domain::time::{jst_rfc3339, to_jst};
use crate::store::{FaqEntry, Store, StoreError};
use chrono::{Datelike, NaiveDate};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct WeeklyFaqAdditions {
    pub monday: NaiveDate,
    pub sunday: NaiveDate,
    /// In the order they were published (whatever became of them since).
    pub entries: Vec<FaqEntry>,
}

/// The entries published in the JST week that holds `week_containing`.
pub async fn weekly_faq_additions(store: &Store, week_containing: NaiveDate) -> Result<WeeklyFaqAdditions, StoreError> {
    let (monday, sunday) = week_of(week_containing);
    let (from, to) = jst_days(monday, sunday);
    Ok(WeeklyFaqAdditions { monday, sunday, entries: store.faq_additions(from, to).await? })
}

const WEEKDAYS: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];

fn day_words(d: NaiveDate) -> String {
    format!("{d} ({})", WEEKDAYS[d.weekday().num_days_from_monday() as usize])
}

fn minutes(millis: i64) -> String {
    to_jst(millis).format("%Y-%m-%d %H:%M").to_string()
}

/// The steps approved in the round it was published from: `(step, by, at)`.
fn approvals(e: &FaqEntry) -> Vec<(&str, &str, i64)> {
    e.decisions
        .iter()
        .filter(|d| d.review_round == e.review_round && d.decision == "approved")
        .map(|d| (d.step.as_str(), d.decided_by.as_str(), d.decided_at))
        .collect()
}

fn audience_words(audience: &str) -> &'static str {
    if audience == "public" { "公開 / public" } else { "内部 / internal" }
}

impl WeeklyFaqAdditions {
    pub fn text(&self) -> String {
        let mut out = format!(
            "FAQ 追加（週次報告） / FAQ additions (weekly): {} 〜 {} JST\n追加 {n} 件 / {n} added\n",
            day_words(self.monday),
            day_words(self.sunday),
            n = self.entries.len()
        );
        for e in &self.entries {
            let withdrawn = if e.state == "withdrawn" { "  (その後取り下げ / withdrawn since)" } else { "" };
            out.push_str(&format!(
                "\n#{}  {}  {}  {}{withdrawn}\n  Q: {}\n",
                e.id,
                e.published_at.map(minutes).unwrap_or_default(),
                audience_words(e.audience),
                e.category,
                e.question.lines().next().unwrap_or_default().chars().take(80).collect::<String>(),
            ));
            let steps: Vec<String> =
                approvals(e).iter().map(|(step, by, _)| format!("{} {by}", step_label(step).0)).collect();
            out.push_str(&format!(
                "  作成 / by: {}  公開 / published by: {}  承認 / approvals: {}  チケット / tickets: {}\n",
                e.author,
                e.published_by.as_deref().unwrap_or("-"),
                if steps.is_empty() { "-".to_owned() } else { steps.join(", ") },
                e.tickets.len(),
            ));
        }
        out
    }

    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let header = [
            "id",
            "published_at",
            "published_by",
            "category",
            "audience",
            "state",
            "question",
            "author",
            "approvals",
            "tickets",
        ];
        let mut rows = vec![header.map(String::from).to_vec()];
        for e in &self.entries {
            let steps: Vec<String> = approvals(e).iter().map(|(step, by, _)| format!("{step}:{by}")).collect();
            rows.push(vec![
                e.id.to_string(),
                e.published_at.map(jst_rfc3339).unwrap_or_default(),
                e.published_by.clone().unwrap_or_default(),
                e.category.clone(),
                e.audience.to_owned(),
                e.state.to_owned(),
                e.question.clone(),
                e.author.clone(),
                steps.join(" "),
                e.tickets.join(" "),
            ]);
        }
        for row in rows {
            // Writing to memory cannot fail.
            let _ = w.write_record(&row);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let steps: Vec<Value> = approvals(e)
                    .iter()
                    .map(|(step, by, at)| {
                        json!({"step": step, "label": step_label(step).0, "by": by, "at": jst_rfc3339(*at)})
                    })
                    .collect();
                json!({
                    "id": e.id, "question": e.question, "answer": e.answer, "category": e.category,
                    "audience": e.audience, "state": e.state, "author": e.author,
                    "published_at": e.published_at.map(jst_rfc3339), "published_by": e.published_by,
                    "approvals": steps, "tickets": e.tickets,
                })
            })
            .collect();
        json!({
            "week": {"from": self.monday.to_string(), "to": self.sunday.to_string()},
            "count": self.entries.len(),
            "entries": entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FaqDecision;

    fn entry(id: i64, question: &str) -> FaqEntry {
        FaqEntry {
            id,
            question: question.into(),
            answer: "窓口へ".into(),
            category: "account_unlock".into(),
            audience: "public",
            state: "published",
            author: "sato".into(),
            edited_by: "sato".into(),
            created_at: 0,
            updated_at: 0,
            submitted_at: None,
            submitted_by: None,
            // 2026-11-17 10:00 JST
            published_at: Some(1_794_877_200_000),
            published_by: Some("suzuki".into()),
            withdrawn_at: None,
            withdrawn_by: None,
            tickets: vec!["20261110-0001".into(), "20261111-0002".into()],
            decisions: vec![FaqDecision {
                entry_id: id,
                review_round: 1,
                step: "general_manager".into(),
                decision: "approved".into(),
                decided_by: "yamada".into(),
                decided_at: 0,
                comment: None,
            }],
            uses: 0,
            review_round: 1,
        }
    }

    #[test]
    fn the_week_in_three_formats() {
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).unwrap();
        let week = WeeklyFaqAdditions {
            monday: d(16),
            sunday: d(22),
            entries: vec![entry(3, "ロック, \"解除\"は？\n二行目")],
        };
        let text = week.text();
        assert!(
            text.starts_with("FAQ 追加（週次報告） / FAQ additions (weekly): 2026-11-16 (月) 〜 2026-11-22 (日) JST")
        );
        assert!(text.contains("追加 1 件 / 1 added"), "{text}");
        assert!(text.contains("#3  2026-11-17 10:00  公開 / public  account_unlock"), "{text}");
        assert!(text.contains("Q: ロック, \"解除\"は？\n") && text.contains("統括責任者の承認 yamada"), "{text}");
        let csv = week.csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("id,published_at,published_by,category,audience,state,question,author,approvals,tickets")
        );
        assert!(csv.contains("3,2026-11-17T10:00:00+09:00,suzuki,account_unlock,public,published,\"ロック, \"\"解除\"\"は？\n二行目\",sato,general_manager:yamada,20261110-0001 20261111-0002"), "{csv}");
        let json = week.json();
        assert_eq!(json["week"], json!({"from": "2026-11-16", "to": "2026-11-22"}));
        assert_eq!(json["count"], 1);
        assert_eq!(json["entries"][0]["approvals"][0]["label"], "統括責任者の承認");
        assert!(WeeklyFaqAdditions { entries: vec![], ..week }.text().contains("追加 0 件 / 0 added"));
    }
}
