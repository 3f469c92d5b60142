//! # madoguchi — the helpdesk's single window (窓口)
//!
//! One service that takes every inquiry to a government IT helpdesk (phone, e-mail, FAX, or
//! logged by hand), turns it into a routed ticket, and shows it to the operators.
//!
//! ```text
//!   callers / staff / operators
//!        │ HTTP (JSON API)            (later: SIP + RTP, SMTP/LMTP)
//!        ▼
//!   http/ ──────────────► intake ──► routing (pure rules → category, priority, tier)
//!    (thin handlers)        │
//!        │ reads            ▼ one writer task, group commit
//!        └────────────►  store/ (SQLite | PostgreSQL) + attachment files
//! ```
//!
//! - [`domain`]: pure types (channel, status transitions, ticket numbers, phone numbers, text folding).
//! - [`config`]: settings from TOML + `MADOGUCHI_*` environment, every problem as `file:line`.
//! - [`routing`]: the rules file and the pure routing decision.
//! - [`store`]: the incident database on SQLite or PostgreSQL, one interface.
//! - [`intake`]: the one way writes get into the store; owns the writer.
//! - [`http`]: the JSON API.
//! - [`app`]: wires it together, binds sockets, shuts down cleanly.

pub mod app;
pub mod config;
pub mod diagnostic;
pub mod directory;
pub mod domain;
pub mod http;
pub mod intake;
pub mod mail;
pub mod notify;
pub mod routing;
pub mod store;
pub mod telemetry;
