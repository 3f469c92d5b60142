//! SIP along RFC 3261's layers, each owning its own state, knowing nothing of tickets:
//!
//! ```text
//! transport (UDP, TCP: sockets, caps, framing) → codec (bytes ↔ messages)
//!   → endpoint (the one task: limits, transaction tables, dialogs, timer queue)
//!       ├─ transaction/ server + client machines (no I/O)
//!       ├─ dialog (no I/O: Call-ID + both tags)
//!       └─ events out / commands in (bounded channels) ⇄ ivr::line
//! ```
//! Media lives in [`crate::media`]; the helpdesk side of calls in [`crate::ivr`].

pub mod codec;
pub mod dialog;
pub mod endpoint;
pub mod limits;
pub mod message;
pub mod sdp;
pub mod timers;
pub mod transaction;
pub mod transport;
pub mod uri;
