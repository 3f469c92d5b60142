//! Pure helpdesk types: no I/O, no clocks, no database. Everything here is table-tested.

pub mod ack;
pub mod contact;
pub mod phone;
pub mod search;
pub mod text;
pub mod thread;
pub mod ticket;
pub mod time;

pub use contact::{AckLimits, AckRequest, AttachmentUpload, CallerInfo, NewContact};
pub use ticket::{Channel, ParseEnumError, Priority, Status, TicketNumber, Tier, TransitionError};
