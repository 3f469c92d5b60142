//! E-mail and FAX-to-mail intake: an SMTP/LMTP listener the site's MTA relays to, and
//! `madoguchi import-mail` for an MTA pipe. A message is answered 250 only after it is stored.
//!
//! - [`session`]: the SMTP/LMTP conversation as a state machine without I/O.
//! - [`listener`]: sockets, timeouts, connection limit, STARTTLS.
//! - [`parse`]: MIME structure via mail-parser; the text in it via [`charset`] and [`header`].
//! - [`header`]: raw header values: display names, file name parameters (RFC 2231).
//! - [`charset`]: bytes to text: charset labels, undeclared Japanese text, encoded words, lenient base64 and QP.
//! - [`fax`]: fax gateway profiles.
//! - [`deliver`]: a received message → a contact → the intake.

pub(crate) mod charset;
pub mod deliver;
pub(crate) mod fax;
pub(crate) mod header;
pub(crate) mod listener;
pub mod parse;
pub(crate) mod session;
