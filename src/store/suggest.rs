//! The suggestion index: resolved tickets (and published FAQ entries) as term postings, kept in
//! the transaction that changes them, and the lookup that ranks them for an inquiry by BM25
//! (the rules are in [`crate::domain::suggest`]).

use super::{Store, StoreError};
use crate::domain::suggest::{self, Posting, QueryTerm, Synonyms};
use crate::domain::text::fold;
use serde::Serialize;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::sync::{Arc, RwLock};

/// Query terms looked up at most, and documents read per term (the newest holding it).
const MAX_TERMS: usize = 16;
const PER_TERM: i64 = 500;
/// How much more a term of the subject counts than one of the body.
const SUBJECT_WEIGHT: f64 = 2.0;
/// Below this share of a perfect match a document is not suggested.
const FLOOR: f64 = 0.2;
/// Tickets indexed per statement batch when catching up at start-up.
const BACKFILL_BATCH: i64 = 200;

pub(super) type SharedSynonyms = Arc<RwLock<Arc<Synonyms>>>;

/// One suggested answer source, best first.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suggestion {
    /// "ticket" or "faq".
    pub kind: &'static str,
    /// The resolved ticket's number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faq_id: Option<i64>,
    /// The ticket's subject or the entry's question.
    pub title: String,
    /// The resolution or the entry's answer.
    pub answer: String,
    pub category: String,
    pub score: f64,
    /// How close to a perfect match, 0–1.
    pub relevance: f64,
    /// The stretches of the inquiry that matched.
    pub why: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct TicketText {
    status: String,
    merged_into: Option<String>,
    subject: String,
    resolution: Option<String>,
    body: Option<String>,
}

impl Store {
    pub fn set_synonyms(&self, synonyms: Synonyms) {
        if let Ok(mut s) = self.synonyms.write() {
            *s = Arc::new(synonyms);
        }
    }

    pub fn synonyms(&self) -> Arc<Synonyms> {
        self.synonyms.read().map(|s| s.clone()).unwrap_or_default()
    }

    async fn ticket_text(&self, conn: &mut AnyConnection, ticket_id: i64) -> Result<Option<TicketText>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.status, t.merged_into, t.subject, t.resolution, \
             (SELECT c.body FROM contacts c WHERE c.ticket_id = t.id ORDER BY c.id LIMIT 1) AS body \
             FROM tickets t WHERE t.id = $1",
        )
        .bind(ticket_id)
        .fetch_optional(conn)
        .await?)
    }

    /// Puts the ticket in the index if it is resolved or closed (and not merged away), or takes
    /// it out otherwise. Called in the transaction that changed it.
    pub(super) async fn suggest_sync_ticket(&self, conn: &mut AnyConnection, ticket_id: i64) -> Result<(), StoreError> {
        let Some(t) = self.ticket_text(conn, ticket_id).await? else { return Ok(()) };
        self.suggest_remove(conn, "ticket", ticket_id).await?;
        if matches!(t.status.as_str(), "resolved" | "closed") && t.merged_into.is_none() {
            let text = [t.subject.as_str(), t.resolution.as_deref().unwrap_or(""), t.body.as_deref().unwrap_or("")];
            self.suggest_put(conn, "ticket", ticket_id, &text.join("\n")).await?;
        }
        Ok(())
    }

    /// Puts a published FAQ entry in the index, or takes any other out.
    pub(super) async fn suggest_sync_faq(&self, conn: &mut AnyConnection, entry_id: i64) -> Result<(), StoreError> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT state, question, answer FROM faq_entries WHERE id = $1")
                .bind(entry_id)
                .fetch_optional(&mut *conn)
                .await?;
        self.suggest_remove(conn, "faq", entry_id).await?;
        if let Some((state, question, answer)) = row
            && state == "published"
        {
            self.suggest_put(conn, "faq", entry_id, &format!("{question}\n{answer}")).await?;
        }
        Ok(())
    }

    /// Adds a document (which must not be in the index).
    pub(super) async fn suggest_put(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        ref_id: i64,
        text: &str,
    ) -> Result<(), StoreError> {
        let terms = suggest::terms(&fold(text));
        if terms.counts.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = terms.counts.iter().map(|(t, _)| t.as_str()).collect();
        let (doc,): (i64,) = sqlx::query_as(
            "INSERT INTO suggest_docs (kind, ref_id, length, terms) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(kind)
        .bind(ref_id)
        .bind(i64::from(terms.length))
        .bind(names.join(" "))
        .fetch_one(&mut *conn)
        .await?;
        // Within SQLite's and PostgreSQL's limits on bound values per statement.
        for chunk in terms.counts.chunks(500) {
            let rows = placeholders(chunk.len(), 4);
            let sql = format!("INSERT INTO suggest_postings (term, doc, tf, dl) VALUES {rows}");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (term, tf) in chunk {
                q = q.bind(term.as_str()).bind(doc).bind(i64::from(*tf)).bind(i64::from(terms.length));
            }
            q.execute(&mut *conn).await?;
            let rows = placeholders(chunk.len(), 1).replace(')', ", 1)");
            let sql = format!(
                "INSERT INTO suggest_terms (term, df) VALUES {rows} ON CONFLICT (term) DO UPDATE SET df = suggest_terms.df + 1"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (term, _) in chunk {
                q = q.bind(term.as_str());
            }
            q.execute(&mut *conn).await?;
        }
        sqlx::query("UPDATE suggest_stats SET docs = docs + 1, total_length = total_length + $1 WHERE id = 1")
            .bind(i64::from(terms.length))
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Takes a document out of the index, if it is there.
    pub(super) async fn suggest_remove(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        ref_id: i64,
    ) -> Result<(), StoreError> {
        let row: Option<(i64, i64, String)> =
            sqlx::query_as("SELECT id, length, terms FROM suggest_docs WHERE kind = $1 AND ref_id = $2")
                .bind(kind)
                .bind(ref_id)
                .fetch_optional(&mut *conn)
                .await?;
        let Some((doc, length, terms)) = row else { return Ok(()) };
        let terms: Vec<&str> = terms.split(' ').filter(|t| !t.is_empty()).collect();
        for chunk in terms.chunks(500) {
            let list = numbered(2, chunk.len());
            let sql = format!("DELETE FROM suggest_postings WHERE doc = $1 AND term IN ({list})");
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(doc);
            for t in chunk {
                q = q.bind(*t);
            }
            q.execute(&mut *conn).await?;
            let list = numbered(1, chunk.len());
            let sql = format!("UPDATE suggest_terms SET df = df - 1 WHERE term IN ({list})");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for t in chunk {
                q = q.bind(*t);
            }
            q.execute(&mut *conn).await?;
        }
        sqlx::query("DELETE FROM suggest_docs WHERE id = $1").bind(doc).execute(&mut *conn).await?;
        sqlx::query("UPDATE suggest_stats SET docs = docs - 1, total_length = total_length - $1 WHERE id = 1")
            .bind(length)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// Indexes resolved tickets and published FAQ entries the index does not have yet (those
    /// from before it existed), a batch per transaction; how many it added.
    pub async fn suggest_backfill(&self) -> Result<usize, StoreError> {
        let mut added = 0;
        loop {
            let mut tx = self.backend.begin_write(&self.pool).await?;
            let ids: Vec<(i64,)> = sqlx::query_as(
                "SELECT t.id FROM tickets t WHERE t.status IN ('resolved', 'closed') AND t.merged_into IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM suggest_docs d WHERE d.kind = 'ticket' AND d.ref_id = t.id) \
                 ORDER BY t.id LIMIT $1",
            )
            .bind(BACKFILL_BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if ids.is_empty() {
                break;
            }
            for (id,) in &ids {
                self.suggest_sync_ticket(&mut tx, *id).await?;
            }
            tx.commit().await?;
            added += ids.len();
        }
        let mut tx = self.backend.begin_write(&self.pool).await?;
        let entries: Vec<(i64,)> = sqlx::query_as(
            "SELECT f.id FROM faq_entries f WHERE f.state = 'published' \
             AND NOT EXISTS (SELECT 1 FROM suggest_docs d WHERE d.kind = 'faq' AND d.ref_id = f.id)",
        )
        .fetch_all(&mut *tx)
        .await?;
        for (id,) in &entries {
            self.suggest_sync_faq(&mut tx, *id).await?;
        }
        tx.commit().await?;
        Ok(added + entries.len())
    }

    /// Suggestions for a ticket (from its subject and first contact's text), leaving it out;
    /// `None` when there is no such ticket.
    pub async fn suggestions_for_ticket(
        &self,
        ticket_id: i64,
        limit: usize,
    ) -> Result<Option<Vec<Suggestion>>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let Some(t) = self.ticket_text(&mut conn, ticket_id).await? else { return Ok(None) };
        drop(conn);
        let exclude = ("ticket", ticket_id);
        Ok(Some(self.suggestions(&t.subject, t.body.as_deref().unwrap_or(""), Some(exclude), limit).await?))
    }

    /// The answer sources most like an inquiry (its subject and text), best first.
    pub async fn suggestions(
        &self,
        subject: &str,
        body: &str,
        exclude: Option<(&str, i64)>,
        limit: usize,
    ) -> Result<Vec<Suggestion>, StoreError> {
        let subject = fold(subject);
        let body: String = fold(body).chars().take(suggest::MAX_TEXT_CHARS).collect();
        let folded = format!("{subject}\n{body}");
        let added = self.synonyms().expand(&folded);
        let mut wanted: Vec<(String, f64)> = Vec::new();
        let mut want = |text: &str, weight: f64| {
            for (t, _) in suggest::terms(text).counts {
                let weight = weight * suggest::term_weight(&t);
                match wanted.iter_mut().find(|(w, _)| *w == t) {
                    Some(found) => found.1 = found.1.max(weight),
                    None => wanted.push((t, weight)),
                }
            }
        };
        want(&subject, SUBJECT_WEIGHT);
        want(&body, 1.0);
        for word in &added {
            want(word, 1.0);
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.pool.acquire().await?;
        let (docs, total): (i64, i64) =
            sqlx::query_as("SELECT docs, total_length FROM suggest_stats WHERE id = 1").fetch_one(&mut *conn).await?;
        if docs <= 0 {
            return Ok(Vec::new());
        }
        let mut known: Vec<QueryTerm> = Vec::new();
        for chunk in wanted.chunks(500) {
            let sql = format!("SELECT term, df FROM suggest_terms WHERE term IN ({})", numbered(1, chunk.len()));
            let mut q = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(sql));
            for (t, _) in chunk {
                q = q.bind(t.as_str());
            }
            for (term, df) in q.fetch_all(&mut *conn).await? {
                let weight = chunk.iter().find(|(t, _)| *t == term).map_or(1.0, |(_, w)| *w);
                known.push(QueryTerm { term, df, weight });
            }
        }
        let picked = suggest::pick(&known, docs, MAX_TERMS);
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        // One round trip; each arm names its term by number, so no term text comes back.
        let arms: Vec<String> = (1..=picked.len())
            .map(|i| {
                format!(
                    "SELECT * FROM (SELECT CAST({} AS BIGINT) AS t, doc, tf, dl FROM suggest_postings \
                     WHERE term = ${i} ORDER BY doc DESC LIMIT {PER_TERM}) p{i}",
                    i - 1
                )
            })
            .collect();
        let mut q = sqlx::query_as::<_, (i64, i64, i64, i64)>(AssertSqlSafe(arms.join(" UNION ALL ")));
        for p in &picked {
            q = q.bind(p.term.as_str());
        }
        let postings: Vec<Posting> = q
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(term, doc, tf, dl)| Posting { term: term as usize, doc, tf, dl })
            .collect();
        let exclude_doc = match exclude {
            Some((kind, id)) => {
                sqlx::query_as::<_, (i64,)>("SELECT id FROM suggest_docs WHERE kind = $1 AND ref_id = $2")
                    .bind(kind)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .map(|r| r.0)
            }
            None => None,
        };
        let avgdl = total as f64 / docs as f64;
        let ranked = suggest::rank(&postings, &picked, docs, avgdl, exclude_doc, FLOOR, limit);
        let mut out = Vec::with_capacity(ranked.len());
        for r in ranked {
            let doc: Option<(String, i64)> = sqlx::query_as("SELECT kind, ref_id FROM suggest_docs WHERE id = $1")
                .bind(r.doc)
                .fetch_optional(&mut *conn)
                .await?;
            let Some((kind, ref_id)) = doc else { continue };
            let mut why = suggest::matching_words(&folded, &r.matched);
            for word in &added {
                if suggest::terms(word).counts.iter().all(|(t, _)| r.matched.contains(t)) {
                    why.push(word.clone());
                }
            }
            if let Some(s) = self.describe(&mut conn, &kind, ref_id, r.score, r.relevance, why).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn describe(
        &self,
        conn: &mut AnyConnection,
        kind: &str,
        ref_id: i64,
        score: f64,
        relevance: f64,
        why: Vec<String>,
    ) -> Result<Option<Suggestion>, StoreError> {
        let round = |x: f64| (x * 1000.0).round() / 1000.0;
        match kind {
            "ticket" => {
                let row: Option<(String, String, String, Option<String>)> =
                    sqlx::query_as("SELECT number, subject, category, resolution FROM tickets WHERE id = $1")
                        .bind(ref_id)
                        .fetch_optional(conn)
                        .await?;
                Ok(row.map(|(number, subject, category, resolution)| Suggestion {
                    kind: "ticket",
                    ticket: Some(number),
                    faq_id: None,
                    title: subject,
                    answer: resolution.unwrap_or_default(),
                    category,
                    score: round(score),
                    relevance: round(relevance),
                    why,
                }))
            }
            "faq" => {
                let row: Option<(i64, String, String, String)> = sqlx::query_as(
                    "SELECT id, question, answer, category FROM faq_entries WHERE id = $1 AND state = 'published'",
                )
                .bind(ref_id)
                .fetch_optional(conn)
                .await?;
                Ok(row.map(|(id, question, answer, category)| Suggestion {
                    kind: "faq",
                    ticket: None,
                    faq_id: Some(id),
                    title: question,
                    answer,
                    category,
                    score: round(score),
                    relevance: round(relevance),
                    why,
                }))
            }
            _ => Ok(None),
        }
    }
}

/// `($1, $2, …), (…)`: `rows` groups of `width` numbered placeholders.
fn placeholders(rows: usize, width: usize) -> String {
    (0..rows).map(|r| format!("({})", numbered(r * width + 1, width))).collect::<Vec<_>>().join(", ")
}

/// `$from, $from+1, …`: `count` placeholders.
fn numbered(from: usize, count: usize) -> String {
    (from..from + count).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(numbered(2, 3), "$2, $3, $4");
        assert_eq!(placeholders(2, 1).replace(')', ", 1)"), "($1, 1), ($2, 1)");
    }
}
