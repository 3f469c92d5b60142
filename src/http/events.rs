//! `GET /api/events`: the live stream (server-sent events) of calls and tickets, for the console
//! and CTI clients. `?kind=call,ticket.updated&tier=1` filters; `Last-Event-ID` (or
//! `?last_event_id=`) resumes after the last event a client had.

use super::extract::ApiQuery;
use super::{ApiError, AppState};
use crate::events::Item;
use crate::events::filter::Filter;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    kind: Option<String>,
    tier: Option<String>,
    last_event_id: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    operation_id = "events",
    params(EventParams, ("Last-Event-ID" = Option<String>, Header, description = "the id of the last event the client had")),
    responses((status = 200, description = "server-sent events, one JSON object each", body = String, content_type = "text/event-stream"))
)]
pub async fn stream(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<EventParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let filter =
        Filter::parse(p.kind.as_deref(), p.tier.as_deref()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let header_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let after = match header_id.or(p.last_event_id.as_deref()).map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(id) => {
            Some(id.parse::<u64>().map_err(|_| ApiError::BadRequest("Last-Event-ID is not an event id".into()))?)
        }
    };
    if let Some(id) = after {
        // From another node, the id may be one this node has not read yet.
        state.intake.events().caught_up(id).await;
    }
    let subscription = state.intake.events().subscribe(after);
    // Counted in `madoguchi_events_clients` for as long as the response streams.
    let following = crate::metrics::Following::start(state.store.metrics().clone());
    let events = futures_util::stream::unfold((subscription, filter, following), |(mut sub, filter, f)| async move {
        loop {
            let item = sub.next().await?;
            if filter.passes(&item) {
                return Some((Ok::<_, Infallible>(sse_event(&item)), (sub, filter, f)));
            }
        }
    });
    let keep_alive = KeepAlive::new().interval(Duration::from_secs(15)).text("");
    let mut response = Sse::new(events).keep_alive(keep_alive).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies (nginx) must pass each event on at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

fn sse_event(item: &Item) -> Event {
    match item {
        Item::Event(e) => Event::default().id(e.id.to_string()).event(e.kind.as_str()).data(&e.json),
        Item::Resync(id) => Event::default()
            .id(id.to_string())
            .event("resync")
            .data(serde_json::json!({"kind": "resync", "id": id}).to_string()),
    }
}
