//! The helpdesk line's logic: dialplans (pure), the line that turns the SIP endpoint's calls into
//! tickets, and the call task that carries a dialplan out.

pub(crate) mod announcer;
pub mod builtin;
pub(crate) mod call;
pub(crate) mod dialplan;
pub(crate) mod line;
pub(crate) mod screen;
