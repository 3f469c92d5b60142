//! System facts on fault tickets (障害情報収集・システム情報): the answers of the monitoring
//! systems an admin lists as `[[status_sources]]` (a health API, a Prometheus instant query),
//! fetched onto a ticket so that whoever works the fault sees what the systems said when it was
//! reported.
//!
//! - [`sources`]: the configuration read into typed sources, every problem named.
//! - [`fetch`]: one GET within the source's time and size limits, never a redirect to another
//!   origin, no cookies; any failure becomes a result to store, not an error.
//! - [`runner`]: what stores the answers (a row each, and the ticket's history entry through the
//!   intake's writer), and the task `serve` runs for the tickets a contact opens: the intake only
//!   queues a job for it, so a slow or hanging source never holds up a contact.

pub(crate) mod fetch;
pub(crate) mod runner;
pub(crate) mod sources;

pub(crate) use runner::{Collector, Trigger, start};
pub use sources::{Sources, redact_url};
