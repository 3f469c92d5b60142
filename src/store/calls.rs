//! The caller log: the calls the SIP line took (the phone contact it records at each INVITE),
//! newest first, with how each ended (its ticket's `call_ended` history entry) and the menu keys
//! chosen. One time-limited read transaction, like every other read.

use super::search::{Sql, Value};
use super::{Backend, Store, StoreError};
use crate::domain::{TicketNumber, calls, phone};
use serde::Serialize;
use sqlx::{AnyConnection, AssertSqlSafe};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// A phone number, however written (`03-1234-5678`, `+81 3 1234 5678`).
    pub caller: Option<String>,
    /// The endings to list (see [`crate::domain::calls`]); empty: calls still on.
    pub endings: Option<&'static [&'static str]>,
    /// Only calls older than this cursor (a previous page's `next`).
    pub before: Option<i64>,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    #[serde(serialize_with = "jst")]
    pub at: i64,
    /// As the PBX sent it.
    pub caller_number: Option<String>,
    pub caller_normalised: Option<String>,
    pub caller_name: Option<String>,
    pub dialled: Option<String>,
    /// `transferred`, `voicemail`, `caller_hung_up`, …; `None` while the call is on.
    pub outcome: Option<String>,
    /// The menu keys chosen, in order.
    pub menu: Option<String>,
    pub ticket: TicketNumber,
    pub contact_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallPage {
    pub calls: Vec<CallRecord>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CallRow {
    id: i64,
    received_at: i64,
    caller_number: Option<String>,
    caller_key: Option<String>,
    display_name: Option<String>,
    dialed_number: Option<String>,
    #[sqlx(try_from = "String")]
    number: TicketNumber,
    ticket_id: i64,
    ending: Option<String>,
}

impl Store {
    pub async fn list_calls(&self, filter: &CallFilter) -> Result<CallPage, StoreError> {
        self.timed(async {
            let mut r = self.begin_read().await?;
            let sql = call_query(self.backend, filter);
            let mut rows = sql.query_as::<CallRow>().fetch_all(r.conn()).await?;
            let next = if rows.len() > filter.limit as usize {
                rows.truncate(filter.limit as usize);
                rows.last().map(|c| c.id.to_string())
            } else {
                None
            };
            let mut menus = menu_keys(r.conn(), &rows).await?;
            r.finish().await?;
            let calls = rows
                .into_iter()
                .map(|c| CallRecord {
                    at: c.received_at,
                    caller_number: c.caller_number,
                    caller_normalised: c.caller_key,
                    caller_name: c.display_name,
                    dialled: c.dialed_number,
                    outcome: c.ending.as_deref().map(calls::outcome),
                    menu: menus.remove(&c.ticket_id),
                    ticket: c.number,
                    contact_id: c.id,
                })
                .collect();
            Ok(CallPage { calls, next })
        })
        .await
    }
}

/// The calls' menu keys by ticket, from the `menu_choice` history entries.
async fn menu_keys(conn: &mut AnyConnection, rows: &[CallRow]) -> Result<HashMap<i64, String>, StoreError> {
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let list = (1..=rows.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT ticket_id, detail FROM history WHERE action = 'menu_choice' AND ticket_id IN ({list}) ORDER BY id"
    );
    let mut query = sqlx::query_as::<_, (i64, String)>(AssertSqlSafe(sql));
    for row in rows {
        query = query.bind(row.ticket_id);
    }
    let mut keys: HashMap<i64, String> = HashMap::new();
    for (ticket, detail) in query.fetch_all(conn).await? {
        let detail: serde_json::Value =
            serde_json::from_str(&detail).map_err(|e| StoreError::Corrupt(format!("history detail: {e}")))?;
        if let Some(key) = detail["key"].as_str() {
            keys.entry(ticket).or_default().push_str(key);
        }
    }
    Ok(keys)
}

/// The calls query: the line's phone contacts (`actor` sip: not voicemail recordings, not calls
/// logged by hand), each with the first ending recorded on its ticket after it.
fn call_query(backend: Backend, f: &CallFilter) -> Sql {
    let mut sql = Sql::default();
    let ending = format!(
        "(SELECT {} FROM history h WHERE h.ticket_id = c.ticket_id AND h.action = 'call_ended' \
         AND h.at >= c.recorded_at ORDER BY h.id LIMIT 1)",
        backend.json_text("h.detail", "ending")
    );
    let mut conditions = vec!["c.channel = 'phone'".to_owned(), "c.actor = 'sip'".to_owned()];
    let caller: Option<String> = f.caller.as_deref().map(|c| c.chars().filter(|c| !c.is_control()).collect());
    if let Some(caller) = caller.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        let key = phone::normalize(caller).unwrap_or_else(|| caller.to_owned());
        let p = sql.bind(Value::Text(key));
        conditions.push(format!("c.caller_key = {p}"));
    }
    match f.endings {
        None => {}
        Some([]) => conditions.push(format!("{ending} IS NULL")),
        Some(endings) => {
            let ps: Vec<String> = endings.iter().map(|e| sql.bind(Value::Text((*e).to_owned()))).collect();
            conditions.push(format!("{ending} IN ({})", ps.join(", ")));
        }
    }
    if let Some(before) = f.before {
        let p = sql.bind(Value::Int(before));
        conditions.push(format!("c.id < {p}"));
    }
    let limit = sql.bind(Value::Int(i64::from(f.limit) + 1));
    sql.text = format!(
        "SELECT c.id, c.received_at, c.caller_number, c.caller_key, c.display_name, c.dialed_number, t.number, \
         t.id AS ticket_id, {ending} AS ending FROM contacts c JOIN tickets t ON t.id = c.ticket_id \
         WHERE {} ORDER BY c.id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    sql
}

fn jst<S: serde::Serializer>(millis: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::domain::time::jst_rfc3339(*millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_matched_however_written_and_the_outcome_by_its_endings() {
        let f = CallFilter {
            caller: Some("+81 3-1234-5678".into()),
            endings: calls::endings("caller_hung_up"),
            before: Some(42),
            limit: 10,
        };
        let sql = call_query(Backend::Sqlite, &f);
        assert!(sql.text.contains("c.caller_key = $1"), "{}", sql.text);
        assert!(sql.text.contains("json_extract(h.detail, '$.ending')"), "{}", sql.text);
        assert!(sql.text.contains("LIMIT 1) IN ($2)"), "{}", sql.text);
        assert!(sql.text.contains("c.id < $3") && sql.text.ends_with("ORDER BY c.id DESC LIMIT $4"), "{}", sql.text);
        assert_eq!(
            sql.values,
            [Value::Text("0312345678".into()), Value::Text("caller hung up".into()), Value::Int(42), Value::Int(11)]
        );

        let ongoing = CallFilter { endings: calls::endings("ongoing"), limit: 5, ..Default::default() };
        let sql = call_query(Backend::Postgres, &ongoing);
        assert!(sql.text.contains("(h.detail::jsonb ->> 'ending')"), "{}", sql.text);
        assert!(sql.text.contains("LIMIT 1) IS NULL"), "{}", sql.text);
        assert_eq!(sql.values, [Value::Int(6)]);
    }
}
