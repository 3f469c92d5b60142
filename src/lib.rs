//! # madoguchi — the helpdesk's single window (窓口)
//!
//! One service that takes every inquiry to a government IT helpdesk (phone, e-mail, FAX, or
//! logged by hand), turns it into a routed ticket, and shows it to the operators.
//!
//! ```text
//!  PBX / SIP trunk          operators / integrations     staff e-mail, FAX gateways (via the MTA)
//!     │ SIP (UDP, TCP) + RTP     │ HTTP (JSON API)            │ SMTP/LMTP, or `import-mail`
//!     ▼                          ▼                            ▼
//!  sip/ transport → codec    http/ (thin handlers)       mail/ session (no I/O) → listener
//!     → endpoint (transactions,  │                            → parse → fax → deliver
//!       dialogs, limits, timers) │                            │
//!     ⇅ events / commands        │                            │
//!  ivr/ line → call ⇄ media/ (pacer, RTP, G.711, DTMF)        │
//!     │                          │                            │
//!     └──────────────────────► intake ◄───────────────────────┘──► routing (pure rules)
//!                                │ one writer task, group commit
//!                                ▼
//!                 store/ (SQLite | PostgreSQL) + attachment files ──► outbox ──► notify (lettre)
//! ```
//!
//! - [`domain`]: pure types (channel, status transitions, ticket numbers, phone numbers, text folding).
//! - [`config`]: settings from TOML + `MADOGUCHI_*` environment, every problem as `file:line`.
//! - [`routing`]: the rules file and the pure routing decision.
//! - [`store`]: the incident database on SQLite or PostgreSQL, one interface.
//! - [`intake`]: the one way writes get into the store; owns the writer.
//! - [`sip`]: SIP in RFC 3261's layers, knowing nothing of tickets; [`media`]: RTP and audio;
//!   [`ivr`]: the line (calls → tickets), dialplans and call tasks.
//! - [`mail`]: e-mail and FAX-to-mail intake; [`notify`]: outgoing mail from the outbox;
//!   `fax_pages`: a fax TIFF's pages as PNG for the browser.
//! - [`events`]: the live stream of call and ticket events (screen-pop, live queue).
//! - [`metrics`]: the counters `/metrics` shows (Prometheus text format), one set per service.
//! - `facts`: system facts (障害情報収集): monitoring systems' answers fetched onto fault tickets.
//! - [`faq_report`]: the FAQ entries published in a week, for the weekly report.
//! - [`http`]: the JSON API and the operators' console (sessions, pages, assets).
//! - [`reports`]: daily, weekly and monthly figures (定期報告), and the scheduled mail of them.
//! - [`drain`]: stopping in two stages (new work refused, work in progress let finish).
//! - [`app`]: wires it together, binds sockets, shuts down cleanly; [`check`]: loads all of it
//!   without serving, for `madoguchi check`.

pub mod app;
pub mod auth;
pub mod check;
pub mod config;
pub mod diagnostic;
pub mod directory;
pub mod domain;
pub mod drain;
pub mod escalation;
pub mod events;
pub(crate) mod facts;
pub mod faq_report;
pub(crate) mod fax_pages;
pub(crate) mod http;
pub mod intake;
pub mod interviews;
pub mod ivr;
pub mod mail;
pub mod media;
pub mod metrics;
pub(crate) mod notify;
pub(crate) mod os;
pub(crate) mod random;
pub mod reports;
pub mod routing;
pub(crate) mod sip;
pub mod store;
pub mod suggest;
pub mod telemetry;
pub(crate) mod tls;
