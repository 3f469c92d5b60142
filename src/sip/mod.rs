//! SIP, the only code that knows SIP: message parsing apart from transport apart from the
//! transaction layer apart from the calls. Media lives in [`crate::media`].

pub mod codec;
pub mod message;
pub mod sdp;
pub mod server;
pub mod transaction;
pub mod uri;
