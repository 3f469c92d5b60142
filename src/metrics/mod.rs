//! What `/metrics` shows (Prometheus text format): one [`Metrics`] per running service, made
//! with its [`crate::store::Store`] (which every part that counts already holds, so nothing new
//! is threaded through the layers) and handed to the SIP endpoint and the RTP pacer by `app`.
//! One per service rather than a process-wide static, so that several services in one process
//! (the tests, a bench) each count their own. Every family is fixed here with its labels' values:
//! no number, address, ticket or text from outside ever becomes a label.

mod text;

pub use text::{Counter, Exposition, Gauge, Histogram, LabelledCounter};

use std::sync::{Arc, OnceLock};

/// The `outcome` of `madoguchi_calls_ended_total`: the outcomes of `domain::calls::OUTCOMES`
/// (but `ongoing`), and `other` for an ending that table does not know.
pub const CALL_OUTCOMES: &[&str] = &[
    "transferred",
    "transfer_refused",
    "voicemail",
    "caller_hung_up",
    "cancelled",
    "media_timeout",
    "no_ack",
    "hung_up_by_service",
    "caller_unreachable",
    "no_media",
    "rejected",
    "ended",
    "other",
];

/// The `result` of `madoguchi_mails_total`.
pub const MAIL_RESULTS: &[&str] = &[
    // Stored: a new ticket, or a contact on one (250).
    "accepted",
    // A Message-ID stored before (an MTA's retry), answered with its ticket (250).
    "duplicate",
    // Not stored now; the MTA is told to retry (451).
    "temp_failed",
    // Larger than `[mail] max_message_bytes` (552, by SIZE or after DATA).
    "too_large",
    // A recipient not in `[mail] recipients` (550; one per recipient).
    "recipient_rejected",
    // A connection beyond `max_connections` or `max_connections_per_source` (421).
    "connection_refused",
    "other",
];

/// The `reason` of `madoguchi_rtp_packets_dropped_total`.
pub const RTP_DROP_REASONS: &[&str] = &[
    // Our packet could not be sent (the socket's buffer was full, the network unreachable).
    "send_failed",
    // A packet that came from another address than the caller's, dropped unread.
    "foreign_source",
];

const MS: u64 = 1_000_000;
const US: u64 = 1_000;
static SETUP_BOUNDS: [u64; 12] =
    [MS, 5 * MS / 2, 5 * MS, 10 * MS, 25 * MS, 50 * MS, 100 * MS, 250 * MS, 500 * MS, 1000 * MS, 2500 * MS, 5000 * MS];
static PACING_BOUNDS: [u64; 10] =
    [100 * US, 250 * US, 500 * US, MS, 5 * MS / 2, 5 * MS, 10 * MS, 20 * MS, 50 * MS, 100 * MS];
static DB_BOUNDS: [u64; 14] = [
    500 * US,
    MS,
    5 * MS / 2,
    5 * MS,
    10 * MS,
    25 * MS,
    50 * MS,
    100 * MS,
    250 * MS,
    500 * MS,
    1000 * MS,
    2500 * MS,
    5000 * MS,
    10_000 * MS,
];
static BATCH_BOUNDS: [u64; 11] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/// The service's counters. Cheap to update from any thread: relaxed atomics only.
#[derive(Debug)]
pub struct Metrics {
    /// `[node] name`, resolved at start (empty until then).
    node: OnceLock<String>,
    pub calls_active: Gauge,
    pub calls_ended: LabelledCounter,
    pub call_setup: Histogram,
    pub rtp_sent: Counter,
    pub rtp_dropped: LabelledCounter,
    pub rtp_pacing_error: Histogram,
    pub mails: LabelledCounter,
    pub intake_batch: Histogram,
    pub db_read: Histogram,
    pub db_write: Histogram,
    pub sla_warnings: Counter,
    pub sla_breaches: Counter,
    pub events_clients: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            node: OnceLock::new(),
            calls_active: Gauge::default(),
            calls_ended: LabelledCounter::new("outcome", CALL_OUTCOMES),
            call_setup: Histogram::seconds(&SETUP_BOUNDS),
            rtp_sent: Counter::default(),
            rtp_dropped: LabelledCounter::new("reason", RTP_DROP_REASONS),
            rtp_pacing_error: Histogram::seconds(&PACING_BOUNDS),
            mails: LabelledCounter::new("result", MAIL_RESULTS),
            intake_batch: Histogram::new(&BATCH_BOUNDS, 1.0),
            db_read: Histogram::seconds(&DB_BOUNDS),
            db_write: Histogram::seconds(&DB_BOUNDS),
            sla_warnings: Counter::default(),
            sla_breaches: Counter::default(),
            events_clients: Gauge::default(),
        }
    }
}

/// What the exposition needs besides the counters: values read when scraped.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sampled {
    /// Writes waiting for the intake's writer.
    pub intake_queue_depth: usize,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        Arc::new(Metrics::default())
    }

    /// Names the node in `madoguchi_node_info` (the first name given stays).
    pub fn set_node(&self, name: &str) {
        let _ = self.node.set(name.to_owned());
    }

    pub fn node(&self) -> &str {
        self.node.get().map(String::as_str).unwrap_or("")
    }

    /// A call ended with `ending` (as its ticket's history words it: `caller hung up`, …).
    pub fn call_ended(&self, ending: &str) {
        self.calls_ended.inc(&crate::domain::calls::outcome(ending));
    }

    pub fn mail(&self, result: &str) {
        self.mails.inc(result);
    }

    /// The whole exposition.
    pub fn render(&self, sampled: Sampled) -> String {
        let mut out = Exposition::default();
        out.info(
            "madoguchi_node_info",
            "This node: its [node] name and madoguchi's version (always 1).",
            &[("node", self.node()), ("version", env!("CARGO_PKG_VERSION"))],
        );
        out.gauge(
            "madoguchi_calls_active",
            "Calls the line holds now (from INVITE to their end).",
            self.calls_active.get(),
        );
        out.labelled_counter(
            "madoguchi_calls_ended_total",
            "Calls ended, by outcome (as GET /api/calls names them).",
            &self.calls_ended,
        );
        out.histogram(
            "madoguchi_call_setup_seconds",
            "Time from a new INVITE's arrival to our 200 OK (the ticket is written in between).",
            &self.call_setup,
        );
        out.counter("madoguchi_rtp_packets_sent_total", "Announcement RTP packets sent.", &self.rtp_sent);
        out.labelled_counter(
            "madoguchi_rtp_packets_dropped_total",
            "RTP packets dropped: ours that could not be sent, and callers' from a wrong source.",
            &self.rtp_dropped,
        );
        out.histogram(
            "madoguchi_rtp_pacing_error_seconds",
            "How late each RTP packet left after its place in the 20 ms schedule.",
            &self.rtp_pacing_error,
        );
        out.labelled_counter("madoguchi_mails_total", "Mail by what became of it.", &self.mails);
        out.gauge(
            "madoguchi_intake_queue_depth",
            "Writes waiting for the intake's single writer.",
            i64::try_from(sampled.intake_queue_depth).unwrap_or(i64::MAX),
        );
        out.histogram(
            "madoguchi_intake_batch_size",
            "Writes committed together in one transaction by the intake's writer.",
            &self.intake_batch,
        );
        out.labelled_histograms(
            "madoguchi_db_query_seconds",
            "Database time: time-limited reads (kind=read), and the writer's transactions (kind=write).",
            "kind",
            &[("read", &self.db_read), ("write", &self.db_write)],
        );
        out.counter("madoguchi_sla_warnings_total", "SLA warnings sent (a deadline near).", &self.sla_warnings);
        out.counter("madoguchi_sla_breaches_total", "SLA deadlines missed (the ticket escalated).", &self.sla_breaches);
        out.gauge(
            "madoguchi_events_clients",
            "Clients following GET /api/events now (consoles, CTI).",
            self.events_clients.get(),
        );
        out.finish()
    }
}

/// Counts one follower of the event stream while it lives.
pub struct Following(Arc<Metrics>);

impl Following {
    pub fn start(metrics: Arc<Metrics>) -> Following {
        metrics.events_clients.inc();
        Following(metrics)
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.0.events_clients.dec();
    }
}

/// Times `work` into `histogram`.
pub async fn timed<T>(histogram: &Histogram, work: impl std::future::Future<Output = T>) -> T {
    let started = std::time::Instant::now();
    let out = work.await;
    histogram.observe_duration(started.elapsed());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_call_outcome_has_its_label() {
        for (name, _) in crate::domain::calls::OUTCOMES {
            assert!(name == "ongoing" || CALL_OUTCOMES.contains(&name), "{name}");
        }
        let m = Metrics::default();
        m.call_ended("caller hung up");
        m.call_ended("something new");
        assert_eq!(m.calls_ended.get("caller_hung_up"), 1);
        assert_eq!(m.calls_ended.get("other"), 1);
    }

    #[test]
    fn the_exposition_has_each_family_once_with_help_and_type() {
        let m = Metrics::default();
        m.set_node("desk1:5060");
        let text = m.render(Sampled { intake_queue_depth: 3 });
        let mut families = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(name.starts_with("madoguchi_"), "{name}");
                assert!(families.insert(name.to_owned()), "{name} twice");
                assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP");
            }
        }
        assert!(families.len() >= 14, "{families:?}");
        assert!(text.contains("madoguchi_node_info{node=\"desk1:5060\",version=\""));
        assert!(text.contains("madoguchi_intake_queue_depth 3\n"));
    }
}
