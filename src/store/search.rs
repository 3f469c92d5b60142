//! Building the ticket list query: filters, text search (FTS5 trigram on SQLite, pg_trgm on
//! PostgreSQL) and keyset paging. Values are always bound, never spliced into the SQL.

use super::{Backend, OwnerFilter, TicketFilter};
use crate::domain::{phone, search, text};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// SQL text with `$n` placeholders and the values to bind to them, in order.
#[derive(Debug, Default)]
pub(super) struct Sql {
    pub text: String,
    pub values: Vec<Value>,
}

impl Sql {
    pub(super) fn bind(&mut self, v: Value) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }

    /// The query with its values bound, its rows read as `T`.
    pub(super) fn query_as<'q, T>(self) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(self.text));
        for v in self.values {
            query = match v {
                Value::Int(i) => query.bind(i),
                Value::Text(s) => query.bind(s),
                Value::Bytes(b) => query.bind(b),
            };
        }
        query
    }
}

pub(super) const SUMMARY_COLUMNS: &str = "t.id, t.number, t.subject, t.channel, t.category, t.priority, t.tier, \
     t.status, t.contact_count, t.owner, (SELECT u.name FROM users u WHERE u.login = t.owner) AS owner_name, \
     t.merged_into, t.created_at, t.updated_at";

/// Trigram search needs three characters; shorter words are matched with LIKE.
const TRIGRAM: usize = 3;

pub(super) fn list_query(backend: Backend, f: &TicketFilter) -> Sql {
    let mut sql = Sql::default();
    let mut conditions = Vec::new();
    let words: Vec<String> = f.text.as_deref().map(search::words_within_bounds).unwrap_or_default();
    let long: Vec<&String> = words.iter().filter(|w| w.chars().count() >= TRIGRAM).collect();
    let pairs: Vec<&String> = words.iter().filter(|w| text::is_bigram_word(w)).collect();
    let mut like: Vec<&String> =
        words.iter().filter(|w| w.chars().count() < TRIGRAM && !text::is_bigram_word(w)).collect();

    let (from, id_col) = backend.text_search(&mut sql, &mut conditions, long, pairs, &mut like);
    for w in like {
        let p = sql.bind(Value::Text(format!("%{}%", escape_like(w))));
        conditions.push(format!("t.search_text LIKE {p} ESCAPE '\\'"));
    }
    if !f.status.is_empty() {
        let ps: Vec<String> = f.status.iter().map(|s| sql.bind(Value::Text(s.as_str().into()))).collect();
        conditions.push(format!("t.status IN ({})", ps.join(", ")));
    }
    if let Some(c) = f.channel {
        let p = sql.bind(Value::Text(c.as_str().into()));
        conditions.push(format!("t.channel = {p}"));
    }
    if let Some(tier) = f.tier {
        let p = sql.bind(Value::Int(tier.get().into()));
        conditions.push(format!("t.tier = {p}"));
    }
    if let Some(c) = &f.category {
        let p = sql.bind(Value::Text(c.clone()));
        conditions.push(format!("t.category = {p}"));
    }
    match &f.owner {
        Some(OwnerFilter::User(login)) => {
            let p = sql.bind(Value::Text(login.clone()));
            conditions.push(format!("t.owner = {p}"));
        }
        Some(OwnerFilter::Nobody) => conditions.push("t.owner IS NULL".into()),
        None => {}
    }
    let caller: Option<String> = f.caller.as_deref().map(|c| c.chars().filter(|c| !c.is_control()).collect());
    if let Some(caller) = caller.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        if caller.contains('@') {
            let p = sql.bind(Value::Text(caller.to_ascii_lowercase()));
            conditions.push(format!("t.id IN (SELECT ticket_id FROM contacts WHERE email_key = {p})"));
        } else {
            let key = phone::normalize(caller).unwrap_or_else(|| caller.to_owned());
            let p = sql.bind(Value::Text(key));
            conditions
                .push(format!("t.id IN (SELECT ticket_id FROM contacts WHERE caller_key = {p} OR fax_key = {p})"));
        }
    }
    if let Some(before) = f.before {
        let p = sql.bind(Value::Int(before));
        conditions.push(format!("{id_col} < {p}"));
    }
    let limit = sql.bind(Value::Int(i64::from(f.limit) + 1));
    let filter = if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
    sql.text = format!("SELECT {SUMMARY_COLUMNS} FROM {from}{filter} ORDER BY {id_col} DESC LIMIT {limit}");
    sql
}

pub(super) fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Status;

    #[test]
    fn sqlite_uses_the_trigram_index_for_long_words_and_like_for_short_ones() {
        let f = TicketFilter {
            text: Some("パスワード 障害 5%".into()),
            status: vec![Status::New, Status::InProgress],
            limit: 20,
            ..Default::default()
        };
        let sql = list_query(Backend::Sqlite, &f);
        assert!(sql.text.contains("FROM ticket_fts f JOIN tickets t"), "{}", sql.text);
        assert!(sql.text.contains("ticket_fts MATCH $1"), "{}", sql.text);
        assert!(sql.text.contains("t.search_text LIKE $2 ESCAPE '\\'"), "{}", sql.text);
        assert!(sql.text.ends_with("ORDER BY f.rowid DESC LIMIT $6"), "{}", sql.text);
        assert_eq!(sql.values[0], Value::Text("\"パスワード\"".into()));
        assert_eq!(sql.values[1], Value::Text("%5\\%%".into()));
        assert_eq!(sql.values[2], Value::Text("%障害%".into()), "narrowed by the trigram index already");
        assert_eq!(sql.values[5], Value::Int(21));
    }

    #[test]
    fn two_character_japanese_words_use_the_pair_index() {
        let f = TicketFilter { text: Some("障害 印刷 x".into()), limit: 5, ..Default::default() };
        let sql = list_query(Backend::Sqlite, &f);
        assert!(sql.text.contains("FROM ticket_grams g JOIN tickets t ON t.id = g.rowid"), "{}", sql.text);
        assert_eq!(sql.values[0], Value::Text("\"障害\" AND \"印刷\"".into()));
        assert_eq!(sql.values[1], Value::Text("%x%".into()));
        assert!(sql.text.ends_with("ORDER BY g.rowid DESC LIMIT $3"), "{}", sql.text);

        let sql = list_query(Backend::Postgres, &f);
        assert!(sql.text.contains("t.search_grams @@ plainto_tsquery('simple', $1)"), "{}", sql.text);
        assert_eq!(sql.values[1], Value::Text("印刷".into()));
    }

    #[test]
    fn postgres_uses_like_for_every_word() {
        let f = TicketFilter {
            text: Some("ＶＰＮ接続".into()),
            caller: Some("+81 3-1234-5678".into()),
            before: Some(99),
            limit: 5,
            ..Default::default()
        };
        let sql = list_query(Backend::Postgres, &f);
        assert!(sql.text.contains("FROM tickets t WHERE t.search_text LIKE $1"), "{}", sql.text);
        assert!(sql.text.contains("caller_key = $2 OR fax_key = $2"), "{}", sql.text);
        assert!(sql.text.contains("t.id < $3"), "{}", sql.text);
        assert_eq!(sql.values[0], Value::Text("%vpn接続%".into()));
        assert_eq!(sql.values[1], Value::Text("0312345678".into()));
    }

    #[test]
    fn owner_filters() {
        let f = TicketFilter {
            owner: Some(OwnerFilter::User("sato".into())),
            status: vec![Status::New],
            limit: 5,
            ..Default::default()
        };
        let sql = list_query(Backend::Postgres, &f);
        assert!(sql.text.contains("WHERE t.status IN ($1) AND t.owner = $2 ORDER BY"), "{}", sql.text);
        assert_eq!(sql.values[1], Value::Text("sato".into()));
        let f = TicketFilter { owner: Some(OwnerFilter::Nobody), limit: 5, ..Default::default() };
        let sql = list_query(Backend::Sqlite, &f);
        assert!(sql.text.contains("WHERE t.owner IS NULL ORDER BY t.id DESC"), "{}", sql.text);
        assert_eq!(sql.values, [Value::Int(6)]);
    }

    #[test]
    fn quotes_in_words_cannot_break_the_match_expression() {
        let f = TicketFilter { text: Some("a\"b OR c".into()), limit: 5, ..Default::default() };
        let sql = list_query(Backend::Sqlite, &f);
        assert_eq!(sql.values[0], Value::Text("\"a\"\"b\"".into()));
    }
}
