//! A server-sent events client for tests: reads `GET /api/events` as a browser's EventSource does.
#![allow(dead_code)]

use serde_json::Value;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
    /// When the read that completed the event returned.
    pub arrived: Instant,
}

pub struct EventStream {
    response: reqwest::Response,
    /// Bytes read and not yet an event (a chunk may end inside a character).
    buffer: Vec<u8>,
    /// When the last chunk was read.
    read_at: Instant,
}

impl EventStream {
    /// Opens the stream at `url`; panics unless it is answered 200 `text/event-stream`.
    pub async fn open(client: &reqwest::Client, url: &str, last_event_id: Option<&str>) -> EventStream {
        let mut request = client.get(url);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        EventStream { response, buffer: Vec::new(), read_at: Instant::now() }
    }

    /// The next event (keep-alive comments skipped); panics after `wait`.
    pub async fn next(&mut self, wait: Duration) -> SseEvent {
        tokio::time::timeout(wait, self.next_event()).await.expect("an event within the time").expect("stream open")
    }

    /// The next event within `wait`, or None.
    pub async fn try_next(&mut self, wait: Duration) -> Option<SseEvent> {
        tokio::time::timeout(wait, self.next_event()).await.ok().flatten()
    }

    /// The first event of `kind`, skipping others.
    pub async fn next_of(&mut self, kind: &str, wait: Duration) -> SseEvent {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let e = self.next(left).await;
            if e.event == kind {
                return e;
            }
        }
    }

    /// The next event, waiting as long as it takes; None once the stream ends.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let bytes: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let frame = String::from_utf8_lossy(&bytes);
                let (mut id, mut event, mut data) = (None, "message".to_owned(), String::new());
                for line in frame.lines() {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "id" => id = Some(value.to_owned()),
                        "event" => event = value.to_owned(),
                        "data" => {
                            if !data.is_empty() {
                                data.push('\n');
                            }
                            data.push_str(value);
                        }
                        _ => {}
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Some(SseEvent { id, event, data, arrived: self.read_at });
            }
            let chunk = self.response.chunk().await.ok()??;
            self.read_at = Instant::now();
            self.buffer.extend_from_slice(&chunk);
        }
    }
}
