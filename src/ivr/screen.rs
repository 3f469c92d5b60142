//! What the operators' screens show when a call rings: who is calling (as sent and normalised,
//! the name given, the staff directory's entry), the number dialled, the ticket the call has, and
//! the caller's other open tickets and last five tickets.

use crate::domain::{CallerInfo, Status, TicketNumber, phone};
use crate::store::{Store, TicketFilter, TicketSummary};
use serde_json::{Value, json};

/// How many of the caller's recent tickets the card shows.
pub const RECENT: u32 = 5;
/// How many of the caller's open tickets the card shows.
pub const OPEN: u32 = 20;

/// The caller's directory entry and tickets, read while the call's ticket is being written.
#[derive(Debug, Default)]
pub struct CallerContext {
    pub directory: Option<crate::domain::DirectoryEntry>,
    pub open: Vec<TicketSummary>,
    pub recent: Vec<TicketSummary>,
}

pub async fn caller_context(store: &Store, number: Option<&str>) -> CallerContext {
    let Some(number) = number.filter(|n| phone::normalize(n).is_some()) else { return CallerContext::default() };
    let filter = |status: Vec<Status>, limit| TicketFilter {
        status,
        caller: Some(number.to_owned()),
        limit,
        ..Default::default()
    };
    let open = filter(Status::ALL.iter().copied().filter(|s| s.is_open()).collect(), OPEN + 1);
    let recent = filter(Vec::new(), RECENT + 1);
    let (directory, open, recent) = tokio::join!(
        store.directory_lookup(None, Some(number)),
        store.list_tickets(&open),
        store.list_tickets(&recent)
    );
    let read = |what: &str, e: &dyn std::fmt::Display| tracing::warn!(error = %e, "screen-pop: {what} not read");
    CallerContext {
        directory: directory.unwrap_or_else(|e| {
            read("directory", &e);
            None
        }),
        open: open.map(|p| p.tickets).unwrap_or_else(|e| {
            read("open tickets", &e);
            Vec::new()
        }),
        recent: recent.map(|p| p.tickets).unwrap_or_else(|e| {
            read("recent tickets", &e);
            Vec::new()
        }),
    }
}

/// The `call.ringing` event's data. The call's own ticket is left out of the caller's lists
/// (they were read while it was being written, so it may or may not be among them).
pub fn ringing(
    call: u64,
    caller: &CallerInfo,
    dialed: Option<&str>,
    ticket: Option<&TicketNumber>,
    context: CallerContext,
) -> Value {
    let others = |list: Vec<TicketSummary>, n: u32| -> Vec<TicketSummary> {
        list.into_iter().filter(|t| Some(&t.number) != ticket).take(n as usize).collect()
    };
    json!({
        "call": call,
        "ticket": ticket,
        "caller": {
            "number": caller.number,
            "normalised": caller.number.as_deref().and_then(phone::normalize),
            "name": caller.name,
        },
        "directory": context.directory.map(|d| json!({"name": d.name, "department": d.department})),
        "dialled": dialed,
        "open_tickets": others(context.open, OPEN),
        "recent_tickets": others(context.recent, RECENT),
    })
}
