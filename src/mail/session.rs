//! The SMTP/LMTP conversation, without I/O: bytes in, replies and actions out.
//!
//! ```text
//!  greeting ─► Command ──EHLO/LHLO/HELO──► Command(hello) ──MAIL──► ──RCPT…──► ──DATA──► Data
//!                ▲                                                                     │ CRLF.CRLF
//!                └──────────── reply 250/451/552 after the message is stored ◄──────────┘
//! ```
//! Commands are parsed by smtp-proto (Stalwart's parser); the end of DATA is only CRLF.CRLF, so a
//! bare `\n.\n` cannot smuggle a second message. [`Session::feed`] stops after an action the
//! caller must carry out before reading on (store a message, start TLS, close).

use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{Error as ProtoError, Request};
use std::sync::Arc;

/// After this many bad commands the client is told to go away.
const MAX_ERRORS: u32 = 20;

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub hostname: String,
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    /// `user@domain` or `@domain`, lower case; empty accepts everyone.
    pub recipients: Vec<String>,
    pub tls_available: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub helo: String,
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub data: Vec<u8>,
    pub lmtp: bool,
    pub tls: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    Reply(String),
    /// Store the message, then answer with [`Session::delivered`].
    Deliver(Envelope),
    /// The 220 has been queued as a reply; switch the connection to TLS, then [`Session::tls_started`].
    StartTls,
    Close,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    Stored {
        ticket: String,
    },
    /// Nothing was stored; the sender's MTA should try again.
    TryLater,
}

enum State {
    Command,
    Data { receiver: DataReceiver, too_big: bool },
}

pub struct Session {
    config: Arc<SessionConfig>,
    state: State,
    requests: RequestReceiver,
    helo: Option<String>,
    lmtp: bool,
    tls: bool,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    data: Vec<u8>,
    errors: u32,
}

/// The commands we act on, owned so handling them can borrow the session.
enum Command {
    Hello { host: String, kind: Hello },
    Mail { from: String, size: usize },
    Rcpt { to: String },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    NotOffered(&'static str),
}

#[derive(PartialEq, Eq)]
enum Hello {
    Ehlo,
    Helo,
    Lhlo,
}

impl Command {
    fn from_request(r: Request<std::borrow::Cow<'_, str>>) -> Command {
        match r {
            Request::Ehlo { host } => Command::Hello { host: host.into_owned(), kind: Hello::Ehlo },
            Request::Helo { host } => Command::Hello { host: host.into_owned(), kind: Hello::Helo },
            Request::Lhlo { host } => Command::Hello { host: host.into_owned(), kind: Hello::Lhlo },
            Request::Mail { from } => Command::Mail { from: from.address.into_owned(), size: from.size },
            Request::Rcpt { to } => Command::Rcpt { to: to.address.into_owned() },
            Request::Data => Command::Data,
            Request::Rset => Command::Rset,
            Request::Noop { .. } => Command::Noop,
            Request::Quit => Command::Quit,
            Request::Vrfy { .. } => Command::Vrfy,
            Request::Expn { .. } => Command::Expn,
            Request::Help { .. } => Command::Help,
            Request::StartTls => Command::StartTls,
            other => Command::NotOffered(other.name()),
        }
    }
}

impl Session {
    pub fn new(config: Arc<SessionConfig>) -> Session {
        Session {
            config,
            state: State::Command,
            requests: RequestReceiver::default(),
            helo: None,
            lmtp: false,
            tls: false,
            mail_from: None,
            rcpts: Vec::new(),
            data: Vec::new(),
            errors: 0,
        }
    }

    pub fn greeting(&self) -> String {
        format!("220 {} madoguchi ESMTP ready\r\n", self.config.hostname)
    }

    /// The connection is now encrypted: the client starts over with EHLO (RFC 3207).
    pub fn tls_started(&mut self) {
        let config = self.config.clone();
        *self = Session::new(config);
        self.tls = true;
    }

    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data { .. })
    }

    /// A mail transaction is under way: MAIL FROM was accepted and the message is not yet
    /// answered (or reset). A stopping service lets it finish.
    pub fn in_transaction(&self) -> bool {
        self.in_data() || self.mail_from.is_some()
    }

    /// What a client is told when the service is stopping: at connection, instead of the
    /// greeting, or between transactions.
    pub fn closing(&self) -> String {
        format!("421 4.3.2 {} Service shutting down, closing connection\r\n", self.config.hostname)
    }

    /// Reads as much of `input` as it can, pushing replies and actions to `out`. Returns after
    /// `Deliver`, `StartTls` or `Close` with the rest of the input left in `input`.
    pub fn feed(&mut self, input: &mut &[u8], out: &mut Vec<Output>) {
        while !input.is_empty() {
            if let State::Data { receiver, too_big } = &mut self.state {
                let mut bytes = input.iter();
                let done = receiver.ingest(&mut bytes, &mut self.data);
                *input = bytes.as_slice();
                if self.data.len() > self.config.max_message_bytes {
                    *too_big = true;
                    self.data.clear();
                }
                if !done {
                    return;
                }
                let too_big = *too_big;
                self.state = State::Command;
                if too_big {
                    self.reset();
                    out.push(reply("552 5.3.4 Message is larger than the limit; it was not stored"));
                    continue;
                }
                out.push(Output::Deliver(Envelope {
                    helo: self.helo.clone().unwrap_or_default(),
                    mail_from: self.mail_from.clone().unwrap_or_default(),
                    rcpts: self.rcpts.clone(),
                    data: std::mem::take(&mut self.data),
                    lmtp: self.lmtp,
                    tls: self.tls,
                }));
                return;
            }
            let mut bytes = input.iter();
            let parsed = self.requests.ingest(&mut bytes).map(Command::from_request);
            *input = bytes.as_slice();
            let stop = match parsed {
                Ok(command) => self.handle(command, out),
                Err(ProtoError::NeedsMoreData { .. }) => return,
                Err(e) => self.error(e, out),
            };
            if stop {
                return;
            }
        }
    }

    /// The reply (one per recipient under LMTP) once the message was stored, or was not.
    pub fn delivered(&mut self, result: &DeliveryResult) -> String {
        let line = match result {
            DeliveryResult::Stored { ticket } => format!("250 2.0.0 Ok: stored as ticket {ticket}\r\n"),
            DeliveryResult::TryLater => "451 4.3.0 Could not store the message now; try again later\r\n".to_owned(),
        };
        let count = if self.lmtp { self.rcpts.len().max(1) } else { 1 };
        self.reset();
        line.repeat(count)
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
        self.data.clear();
    }

    fn error(&mut self, e: ProtoError, out: &mut Vec<Output>) -> bool {
        self.errors += 1;
        if self.errors > MAX_ERRORS {
            out.push(reply("421 4.7.0 Too many errors; closing the connection"));
            out.push(Output::Close);
            return true;
        }
        let text = match e {
            ProtoError::UnknownCommand => "500 5.5.1 Unknown command".to_owned(),
            ProtoError::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax".to_owned(),
            ProtoError::InvalidRecipientAddress => "501 5.1.3 Bad recipient address syntax".to_owned(),
            ProtoError::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {syntax}"),
            ProtoError::InvalidParameter { param } => format!("501 5.5.4 Invalid parameter {param}"),
            ProtoError::UnsupportedParameter { .. } => "504 5.5.4 Unsupported parameter".to_owned(),
            ProtoError::ResponseTooLong => "500 5.5.2 Line too long".to_owned(),
            ProtoError::NeedsMoreData { .. } | ProtoError::InvalidResponse { .. } => {
                "500 5.5.2 Syntax error".to_owned()
            }
        };
        out.push(reply(&text));
        false
    }

    fn accepts(&self, rcpt: &str) -> bool {
        let rcpt = rcpt.to_ascii_lowercase();
        let domain = rcpt.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.config.recipients.is_empty()
            || self.config.recipients.iter().any(|r| match r.strip_prefix('@') {
                Some(d) => d == domain,
                None => *r == rcpt,
            })
    }

    /// Returns true when the caller must act before more input is read.
    fn handle(&mut self, command: Command, out: &mut Vec<Output>) -> bool {
        let text = match command {
            Command::Hello { host, kind } => {
                self.reset();
                self.lmtp = kind == Hello::Lhlo;
                self.helo = Some(host);
                if kind == Hello::Helo {
                    format!("250 {}", self.config.hostname)
                } else {
                    let mut lines = vec![
                        format!("{} Hello", self.config.hostname),
                        "PIPELINING".to_owned(),
                        "8BITMIME".to_owned(),
                        format!("SIZE {}", self.config.max_message_bytes),
                        "ENHANCEDSTATUSCODES".to_owned(),
                        "SMTPUTF8".to_owned(),
                    ];
                    if self.config.tls_available && !self.tls {
                        lines.push("STARTTLS".to_owned());
                    }
                    let last = lines.len() - 1;
                    lines
                        .iter()
                        .enumerate()
                        .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                        .collect::<Vec<_>>()
                        .join("\r\n")
                }
            }
            Command::Mail { from, size } => {
                if self.helo.is_none() {
                    "503 5.5.1 Say EHLO or HELO first".to_owned()
                } else if self.mail_from.is_some() {
                    "503 5.5.1 MAIL already given; RSET to start over".to_owned()
                } else if size > self.config.max_message_bytes {
                    "552 5.3.4 Message size exceeds the limit".to_owned()
                } else {
                    self.mail_from = Some(from);
                    "250 2.1.0 Sender OK".to_owned()
                }
            }
            Command::Rcpt { to } => {
                if self.mail_from.is_none() {
                    "503 5.5.1 MAIL first".to_owned()
                } else if self.rcpts.len() >= self.config.max_recipients {
                    "452 4.5.3 Too many recipients".to_owned()
                } else if !self.accepts(&to) {
                    "550 5.1.1 No such recipient here".to_owned()
                } else {
                    self.rcpts.push(to);
                    "250 2.1.5 Recipient OK".to_owned()
                }
            }
            Command::Data => {
                if self.mail_from.is_none() {
                    "503 5.5.1 MAIL first".to_owned()
                } else if self.rcpts.is_empty() {
                    "554 5.5.1 No valid recipients".to_owned()
                } else {
                    self.data.clear();
                    self.state = State::Data { receiver: DataReceiver::new(), too_big: false };
                    "354 End data with <CR><LF>.<CR><LF>".to_owned()
                }
            }
            Command::Rset => {
                self.reset();
                "250 2.0.0 OK".to_owned()
            }
            Command::Noop => "250 2.0.0 OK".to_owned(),
            Command::Quit => {
                out.push(reply("221 2.0.0 Bye"));
                out.push(Output::Close);
                return true;
            }
            Command::Vrfy | Command::Expn => "502 5.5.1 Not available".to_owned(),
            Command::Help => "214 2.0.0 See RFC 5321".to_owned(),
            Command::StartTls => {
                if self.tls {
                    "503 5.5.1 TLS is already active".to_owned()
                } else if !self.config.tls_available {
                    "502 5.5.1 STARTTLS is not available".to_owned()
                } else {
                    out.push(reply("220 2.0.0 Ready to start TLS"));
                    out.push(Output::StartTls);
                    return true;
                }
            }
            Command::NotOffered(name) => format!("502 5.5.1 {name} is not offered"),
        };
        out.push(reply(&text));
        false
    }
}

fn reply(text: &str) -> Output {
    Output::Reply(format!("{text}\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(max: usize) -> Session {
        Session::new(Arc::new(SessionConfig {
            hostname: "mx.test".into(),
            max_message_bytes: max,
            max_recipients: 2,
            recipients: vec!["helpdesk@example.jp".into(), "@fax.example.jp".into()],
            tls_available: true,
        }))
    }

    /// Feeds `input` in pieces of `chunk` bytes; returns replies' first three characters and
    /// delivered messages, answering each delivery with `result`.
    fn run(s: &mut Session, input: &[u8], chunk: usize, result: DeliveryResult) -> (Vec<String>, Vec<Envelope>) {
        let mut codes = Vec::new();
        let mut delivered = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        for piece in input.chunks(chunk) {
            pending.extend_from_slice(piece);
            loop {
                let mut rest: &[u8] = &pending;
                let mut out = Vec::new();
                s.feed(&mut rest, &mut out);
                let consumed = pending.len() - rest.len();
                let mut acted = false;
                for o in out {
                    match o {
                        Output::Reply(r) => codes.extend(r.lines().map(|l| l[..3].to_owned())),
                        Output::Deliver(e) => {
                            delivered.push(e);
                            codes.extend(s.delivered(&result).lines().map(|l| l[..3].to_owned()));
                            acted = true;
                        }
                        Output::StartTls | Output::Close => acted = true,
                    }
                }
                pending.drain(..consumed);
                if !acted || pending.is_empty() {
                    break;
                }
            }
        }
        (codes, delivered)
    }

    const STORED: fn() -> DeliveryResult = || DeliveryResult::Stored { ticket: "20261121-0001".into() };

    #[test]
    fn a_pipelined_session_in_any_fragmentation_delivers_one_unstuffed_message() {
        let input = b"EHLO client\r\nMAIL FROM:<a@x.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\nDATA\r\nSubject: t\r\n\r\nline\r\n..dot\r\n.\r\nQUIT\r\n";
        for chunk in [1, 2, 3, 7, 64, input.len()] {
            let mut s = session(1_000_000);
            let (codes, delivered) = run(&mut s, input, chunk, STORED());
            let mut want = vec!["250"; 7 + 2];
            want.extend(["354", "250", "221"]);
            assert_eq!(codes, want, "chunk {chunk}");
            assert_eq!(delivered.len(), 1, "chunk {chunk}");
            assert_eq!(delivered[0].data, b"Subject: t\r\n\r\nline\r\n.dot\r\n");
            assert_eq!(delivered[0].mail_from, "a@x.jp");
        }
    }

    #[test]
    fn smuggled_end_of_data_is_not_an_end() {
        let input = b"HELO c\r\nMAIL FROM:<a@x.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\nDATA\r\nA\n.\nMAIL FROM:<evil@x.jp>\r\n.\r\n";
        let mut s = session(1_000_000);
        let (codes, delivered) = run(&mut s, input, 5, STORED());
        assert_eq!(codes, ["250", "250", "250", "354", "250"]);
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].data, b"A\n.\nMAIL FROM:<evil@x.jp>\r\n");
    }

    #[test]
    fn replies_for_each_mistake() {
        let table: [(&[u8], &[&str]); 10] = [
            (b"MAIL FROM:<a@x.jp>\r\n", &["503"]),
            (b"HELO c\r\nRCPT TO:<helpdesk@example.jp>\r\n", &["250", "503"]),
            (b"HELO c\r\nMAIL FROM:<a@x.jp>\r\nRCPT TO:<someone@else.jp>\r\nRCPT TO:<x@FAX.example.jp>\r\n", &["250", "250", "550", "250"]),
            (b"HELO c\r\nMAIL FROM:<a@x.jp>\r\nDATA\r\n", &["250", "250", "554"]),
            (b"HELO c\r\nMAIL FROM:<a@x.jp> SIZE=5000\r\n", &["250", "552"]),
            (b"HELO c\r\nMAIL FROM:<a@x.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\n", &["250", "250", "250", "250", "452"]),
            (b"VRFY root\r\nEXPN staff\r\nAUTH PLAIN AGFAYgBj\r\n", &["502", "502", "502"]),
            (b"FOO bar\r\nHELO c\r\nMAIL FROM:<a@x.jp>\r\nMAIL FROM:<b@x.jp>\r\nRSET\r\nNOOP\r\n", &["500", "250", "250", "503", "250", "250"]),
            (b"EHLO c\r\nSTARTTLS\r\n", &["250", "250", "250", "250", "250", "250", "250", "220"]),
            (b"HELO c\r\nMAIL FROM:<a@x.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\nDATA\r\n0123456789012345678901234567890\r\n.\r\nNOOP\r\n", &["250", "250", "250", "354", "552", "250"]),
        ];
        for (input, want) in table {
            let mut s = session(16);
            let (codes, delivered) = run(&mut s, input, 4, STORED());
            assert_eq!(codes, want, "{}", String::from_utf8_lossy(input));
            assert!(delivered.is_empty());
        }
    }

    #[test]
    fn lmtp_answers_once_per_recipient_and_failures_say_try_later() {
        let input = b"LHLO c\r\nMAIL FROM:<a@x.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\nRCPT TO:<x@fax.example.jp>\r\nDATA\r\nhi\r\n.\r\n";
        let mut s = session(1000);
        let (codes, delivered) = run(&mut s, input, 100, DeliveryResult::TryLater);
        assert_eq!(&codes[codes.len() - 3..], ["354", "451", "451"]);
        assert!(delivered[0].lmtp);
    }

    #[test]
    fn a_flood_of_garbage_ends_the_connection() {
        let mut input = Vec::new();
        for _ in 0..30 {
            input.extend_from_slice(b"\x00\xff garbage\r\n");
        }
        let mut s = session(1000);
        let mut out = Vec::new();
        let mut rest: &[u8] = &input;
        s.feed(&mut rest, &mut out);
        assert_eq!(out.last(), Some(&Output::Close));
        assert!(matches!(&out[out.len() - 2], Output::Reply(r) if r.starts_with("421")));
    }
}
