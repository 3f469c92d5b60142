//! E-mail and FAX-to-mail intake: an SMTP/LMTP listener the site's MTA relays to, and
//! `madoguchi import-mail` for an MTA pipe. A message is answered 250 only after it is stored.
//!
//! - [`session`]: the SMTP/LMTP conversation as a state machine without I/O.
//! - [`listener`]: sockets, timeouts, connection limit, STARTTLS.
//! - [`parse`]: MIME with Japanese charsets, via mail-parser.
//! - [`fax`]: fax gateway profiles.
//! - [`deliver`]: a received message → a contact → the intake.

pub mod deliver;
pub mod fax;
pub mod listener;
pub mod parse;
pub mod session;
