//! Pure helpdesk types: no I/O, no clocks, no database. Everything here is table-tested.

pub(crate) mod ack;
pub mod calendar;
pub(crate) mod callback;
pub(crate) mod calls;
pub mod contact;
pub(crate) mod content;
pub(crate) mod directory;
pub mod faq;
pub mod faq_candidates;
pub(crate) mod host;
pub mod interview;
pub(crate) mod lifecycle;
pub(crate) mod login_limit;
pub mod notice;
pub(crate) mod origin;
pub(crate) mod phone;
pub mod prompt;
pub(crate) mod rate;
pub(crate) mod reply;
pub(crate) mod search;
pub mod session;
pub mod sla;
pub mod suggest;
pub(crate) mod survey;
pub mod text;
pub(crate) mod thread;
pub mod ticket;
pub mod time;
pub mod user;

pub use contact::{AckLimits, AckRequest, AttachmentUpload, CallerInfo, NewContact};
pub use directory::DirectoryEntry;
pub use lifecycle::{FieldChange, Refusal, TicketChange};
pub use ticket::{Channel, ParseEnumError, Priority, Status, TicketNumber, Tier, TransitionError};
