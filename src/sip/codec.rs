//! Bytes ↔ SIP messages: framing (a UDP datagram, or a TCP stream cut by Content-Length),
//! header unfolding and compact forms, and the checks RFC 4475 expects of a receiver. A request
//! that breaks the grammar gets a 400 when a response can be formed, otherwise it is dropped.
//!
//! rsip 0.4 turned out unfit to be the validator here: it rejects nine of RFC 4475's valid
//! messages (unusual methods, escapes, long or whitespace-rich requests) and accepts most of
//! the invalid ones. So this module does the grammar, and uses rsip only to read URIs
//! (caller numbers) in [`crate::sip::uri`].

use super::message::{Method, Request, canonical_name, response};

/// A datagram or framed TCP message larger than this is refused.
pub const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Request(Request),
    /// A response to something we sent: status code and its headers.
    Response {
        code: u16,
        headers: Vec<(String, String)>,
    },
    /// Not usable; `reply` is the response to send, when one can be formed.
    Invalid {
        reason: String,
        reply: Option<Vec<u8>>,
    },
    /// Keep-alive CRLFs.
    KeepAlive,
}

/// The length of the first complete message in a TCP buffer, `Ok(None)` when more is needed,
/// `Err` when the stream cannot be framed (the connection should be closed).
#[cfg(test)]
pub fn frame(buf: &[u8]) -> Result<Option<usize>, String> {
    Ok(needed(buf)?.filter(|&total| buf.len() >= total))
}

/// The length the first message will have, once its headers are complete (leading CRLF
/// keep-alives count as a message of their own).
fn needed(buf: &[u8]) -> Result<Option<usize>, String> {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    if start == buf.len() {
        return Ok(if buf.is_empty() { None } else { Some(buf.len()) });
    }
    let Some(end) = find(&buf[start..], b"\r\n\r\n") else {
        return if buf.len() > MAX_MESSAGE { Err("headers too long".into()) } else { Ok(None) };
    };
    let head = String::from_utf8_lossy(&buf[start..start + end]);
    let mut length = 0usize;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':')
            && canonical_name(name.trim()) == "Content-Length"
        {
            length = value.trim().parse().map_err(|_| "bad Content-Length".to_owned())?;
        }
    }
    let total = start + end + 4 + length;
    if total > MAX_MESSAGE {
        return Err("message too large".into());
    }
    Ok(Some(total))
}

/// [`frame`] for a TCP stream read piece by piece: it remembers how far it has looked for the end
/// of the headers and how long a message with a pending body will be, so a peer that trickles a
/// byte at a time costs a constant amount per byte instead of a rescan of everything buffered.
#[derive(Debug, Default)]
pub struct Framer {
    scanned: usize,
    total: Option<usize>,
}

impl Framer {
    /// Like [`frame`] on the whole of `buf`; after `Ok(Some(len))` the caller removes `len` bytes.
    pub fn next(&mut self, buf: &[u8]) -> Result<Option<usize>, String> {
        if let Some(total) = self.total {
            if buf.len() < total {
                return Ok(None);
            }
            *self = Framer::default();
            return Ok(Some(total));
        }
        let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
        if start < buf.len() && find(&buf[self.scanned.saturating_sub(3).max(start)..], b"\r\n\r\n").is_none() {
            self.scanned = buf.len();
            return if buf.len() > MAX_MESSAGE { Err("headers too long".into()) } else { Ok(None) };
        }
        match needed(buf)? {
            Some(total) if buf.len() >= total => {
                *self = Framer::default();
                Ok(Some(total))
            }
            Some(total) => {
                self.total = Some(total);
                Ok(None)
            }
            None => Ok(None),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invalid(reason: &str) -> Parsed {
    Parsed::Invalid { reason: reason.to_owned(), reply: None }
}

/// Headers that may appear once only.
const SINGLE: [&str; 7] = ["From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"];

pub fn parse(bytes: &[u8]) -> Parsed {
    let start = bytes.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(bytes.len());
    if start == bytes.len() {
        return Parsed::KeepAlive;
    }
    if bytes.len() > MAX_MESSAGE {
        return invalid("message too large");
    }
    let bytes = &bytes[start..];
    // A datagram that ends without the empty line is all headers.
    let (head_end, sep) = match find(bytes, b"\r\n\r\n") {
        Some(i) => (i, 4),
        None => match find(bytes, b"\n\n") {
            Some(i) => (i, 2),
            None => (bytes.len(), 0),
        },
    };
    // Bytes that are not UTF-8 (a Shift_JIS display name from an old PBX) are replaced, not
    // fatal: the call still comes through, with U+FFFD where the name could not be read.
    let head = String::from_utf8_lossy(&bytes[..head_end]);
    let body = &bytes[head_end + sep..];

    // Unfold continuation lines.
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        match lines.last_mut() {
            Some(last) if raw.starts_with(' ') || raw.starts_with('\t') => {
                last.push(' ');
                last.push_str(raw.trim());
            }
            _ => lines.push(raw.to_owned()),
        }
    }
    let first = lines.remove(0);
    let mut headers = Vec::with_capacity(lines.len());
    let mut bad_header = None;
    for line in &lines {
        match line.split_once(':') {
            Some((name, value)) if is_token(name.trim_end()) && !name.starts_with(' ') => {
                headers.push((canonical_name(name.trim_end()), value.trim().to_owned()));
            }
            _ => bad_header = Some("Malformed header line".to_owned()),
        }
    }

    if first.starts_with("SIP/") {
        let mut parts = first.splitn(3, ' ');
        let _version = parts.next();
        let code = parts.next().and_then(|c| (c.len() == 3).then_some(c)).and_then(|c| c.parse::<u16>().ok());
        return match code {
            Some(code @ 100..=699) if bad_header.is_none() => Parsed::Response { code, headers },
            _ => invalid("malformed response"),
        };
    }

    let parts: Vec<&str> = first.split(' ').collect();
    let method = parts.first().copied().unwrap_or_default();
    let mut req = Request {
        method: Method::parse(method),
        uri: parts.get(1).copied().unwrap_or_default().to_owned(),
        headers,
        body: body.to_vec(),
    };
    // Without a Via a response cannot be sent anywhere: drop.
    if req.header("Via").is_none() {
        return invalid("no Via");
    }
    let reject = |req: &Request, code: u16, reason: &str| Parsed::Invalid {
        reason: reason.to_owned(),
        reply: (req.method != Method::Ack).then(|| response(req, code, reason, None, &[], b"")),
    };
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) || !is_token(method) {
        return reject(&req, 400, "Bad Request Line");
    }
    if parts[2] != "SIP/2.0" {
        return if parts[2].starts_with("SIP/") {
            reject(&req, 505, "Version Not Supported")
        } else {
            reject(&req, 400, "Bad Request Line")
        };
    }
    if let Some(reason) = bad_header {
        return reject(&req, 400, &reason);
    }
    if std::iter::once(&first).chain(&lines).any(|l| has_bare_control(l)) {
        return reject(&req, 400, "Control character in a header");
    }
    if let Err(reason) = check(&req) {
        return reject(&req, 400, reason);
    }
    // Content-Length: the body is cut to it (extra octets in a datagram are ignored).
    let length = match req.header("Content-Length") {
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return reject(&req, 400, "Bad Content-Length"),
        },
        None => req.body.len(),
    };
    if length > req.body.len() {
        return reject(&req, 400, "Content-Length larger than the body");
    }
    req.body.truncate(length);
    Parsed::Request(req)
}

/// NUL, ESC, a bare CR and the like have no place in a header line (RFC 3261 §25: only HTAB),
/// except escaped as a quoted-pair (`\` before it, inside a quoted string, as RFC 4475's
/// "intmeth" shows).
fn has_bare_control(line: &str) -> bool {
    let mut escaped = false;
    for c in line.chars() {
        if c.is_control() && c != '\t' && !escaped {
            return true;
        }
        escaped = c == '\\' && !escaped;
    }
    false
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// Grammar checks beyond the request line (RFC 4475 §3.1.2).
fn check(req: &Request) -> Result<(), &'static str> {
    for name in SINGLE {
        if req.all(name).count() > 1 {
            return Err("Duplicate header");
        }
    }
    for name in ["From", "To", "Call-ID", "CSeq"] {
        if req.header(name).is_none() {
            return Err("Missing a mandatory header");
        }
    }
    let uri = &req.uri;
    if uri.contains(['<', '>']) || !uri.contains(':') {
        return Err("Bad Request-URI");
    }
    let host_part = uri.rsplit_once('@').map(|(_, h)| h).unwrap_or(uri);
    if uri.starts_with("sip") && host_part.contains('?') {
        return Err("Headers in the Request-URI");
    }
    if !escapes_valid(uri) {
        return Err("Bad escape in the Request-URI");
    }
    let (number, method) = {
        let v = req.header("CSeq").unwrap_or_default();
        let mut it = v.split_whitespace();
        (it.next().and_then(|n| n.parse::<u32>().ok()), it.next())
    };
    match (number, method) {
        (Some(n), Some(m)) if n < 1 << 31 && m == req.method.as_str() => {}
        _ => return Err("CSeq does not match the request"),
    }
    if let Some(mf) = req.header("Max-Forwards")
        && mf.parse::<u8>().is_err()
    {
        return Err("Bad Max-Forwards");
    }
    if let Some(date) = req.header("Date")
        && !date.trim_end().ends_with("GMT")
    {
        return Err("Bad Date");
    }
    for name in ["From", "To", "Contact", "Via", "Record-Route", "P-Asserted-Identity", "Refer-To"] {
        for value in req.all(name) {
            if !value_ok(name, value) {
                return Err("Malformed header value");
            }
        }
    }
    Ok(())
}

fn escapes_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if !(b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Quotes balanced; no whitespace inside `<…>`; an unquoted display name is tokens only; an
/// address without `<…>` has no `?headers`; no empty parameters.
fn value_ok(name: &str, value: &str) -> bool {
    if name == "Contact" && value.trim() == "*" {
        return true;
    }
    // Walk outside quotes.
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut prev = '\0';
    let mut outside = String::new();
    for c in value.chars() {
        match c {
            '"' if prev != '\\' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            c if in_angle && c.is_whitespace() => return false,
            _ => {}
        }
        if !in_quotes && !in_angle && c != '"' {
            outside.push(c);
        }
        prev = c;
    }
    if in_quotes || in_angle {
        return false;
    }
    if name != "Via" {
        if let Some(lt) = value.find('<') {
            let display = value[..lt].trim();
            let quoted = display.starts_with('"') && display.ends_with('"');
            if !display.is_empty() && !quoted && !display.split_whitespace().all(is_token) {
                return false;
            }
        } else if value.split(';').next().is_some_and(|addr| addr.contains('?')) {
            return false;
        }
    }
    // Empty parameters (`;;`, a trailing `;`, `,,`) outside quotes and brackets.
    let compact: String = outside.chars().filter(|c| !c.is_whitespace()).collect();
    !(compact.contains(";;")
        || compact.ends_with(';')
        || compact.contains(",,")
        || compact.contains(";,")
        || compact.ends_with(','))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_framing_by_content_length() {
        let msg = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcNEXT";
        assert_eq!(frame(msg), Ok(Some(msg.len() - 4)));
        assert_eq!(frame(&msg[..20]), Ok(None));
        assert_eq!(frame(b"\r\n\r\n"), Ok(Some(4)));
        assert!(frame(b"INVITE x SIP/2.0\r\nContent-Length: -5\r\n\r\n").is_err());
    }

    #[test]
    fn the_framer_agrees_with_frame_when_fed_a_byte_at_a_time() {
        let stream =
            b"\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcBYE sip:a@b SIP/2.0\r\nContent-Length: 0\r\n\r\n";
        let mut framer = Framer::default();
        let (mut buf, mut messages) = (Vec::new(), Vec::new());
        for &b in stream.iter() {
            buf.push(b);
            while let Some(len) = framer.next(&buf).unwrap() {
                assert_eq!(frame(&buf).unwrap(), Some(len));
                messages.push(String::from_utf8(buf.drain(..len).collect()).unwrap());
            }
        }
        // Keep-alive CRLFs that arrive alone are passed on alone, as `frame` does.
        assert_eq!(messages[..4], ["\r", "\n", "\r", "\n"]);
        assert!(messages[4].ends_with("abc") && messages[5].starts_with("BYE") && messages.len() == 6, "{messages:?}");
        let mut framer = Framer::default();
        assert!(framer.next(&vec![b'a'; MAX_MESSAGE + 1]).is_err());
    }

    #[test]
    fn control_characters_are_refused_and_bad_utf8_replaced() {
        let with = |from: &[u8], call_id: &[u8]| {
            [
                &b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: "[..],
                from,
                b"\r\nTo: <sip:a@b>\r\nCall-ID: ",
                call_id,
                b"\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            ]
            .concat()
        };
        assert!(matches!(parse(&with(b"<sip:x@y>;tag=1", b"abc")), Parsed::Request(_)));
        for bad in [
            with(b"<sip:x@y>;tag=1", b"ab\x1bc"),
            with(b"<sip:x@y>;tag=1", b"ab\rc"),
            with(b"<sip:x\0@y>;tag=1", b"abc"),
        ] {
            match parse(&bad) {
                Parsed::Invalid { reply: Some(r), .. } => {
                    assert!(r.starts_with(b"SIP/2.0 400"), "{}", String::from_utf8_lossy(&r))
                }
                other => panic!("{other:?}"),
            }
        }
        match parse(&with(b"\"\xff\xfe\" <sip:x@y>;tag=1", b"abc")) {
            Parsed::Request(r) => assert_eq!(r.header("From"), Some("\"\u{fffd}\u{fffd}\" <sip:x@y>;tag=1")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_values() {
        for (v, ok) in [
            ("\"Bell, Alexander\" <sip:a@b>;tag=1", true),
            ("Bell, Alexander <sip:a@b>;tag=1", false),
            ("< sip:a@b >", false),
            ("\"Mr. J. User <sip:j@b>", false),
            ("sip:user@example.com?Route=%3Csip:x%3E", false),
            ("\"Joe\" <sip:joe@example.org>;;;;", false),
            ("sip:caller@example.net;tag=8814", true),
        ] {
            assert_eq!(value_ok("To", v), ok, "{v}");
        }
        assert!(!value_ok("Via", "SIP/2.0/UDP 192.0.2.15;;,;,,"));
        assert!(value_ok("Via", "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP g;branch=z9hG4bK2"));
    }
}
