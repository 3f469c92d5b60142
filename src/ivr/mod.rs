//! The helpdesk line's logic: dialplans (pure) and the call task that carries them out.

pub mod call;
pub mod dialplan;
