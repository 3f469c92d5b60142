//! SIP messages as madoguchi handles them: a request's line, its headers by canonical name
//! (compact forms expanded), its body; responses built by copying what RFC 3261 §8.2.6 says.

use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Invite,
    Ack,
    Bye,
    Cancel,
    Options,
    Info,
    Refer,
    Notify,
    Register,
    Other(String),
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "INVITE" => Method::Invite,
            "ACK" => Method::Ack,
            "BYE" => Method::Bye,
            "CANCEL" => Method::Cancel,
            "OPTIONS" => Method::Options,
            "INFO" => Method::Info,
            "REFER" => Method::Refer,
            "NOTIFY" => Method::Notify,
            "REGISTER" => Method::Register,
            other => Method::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Invite => "INVITE",
            Method::Ack => "ACK",
            Method::Bye => "BYE",
            Method::Cancel => "CANCEL",
            Method::Options => "OPTIONS",
            Method::Info => "INFO",
            Method::Refer => "REFER",
            Method::Notify => "NOTIFY",
            Method::Register => "REGISTER",
            Method::Other(s) => s,
        }
    }
}

/// Header names in their canonical spelling; compact forms (RFC 3261 §7.3.3) expanded.
pub fn canonical_name(name: &str) -> String {
    let full = match name.to_ascii_lowercase().as_str() {
        "v" | "via" => "Via",
        "f" | "from" => "From",
        "t" | "to" => "To",
        "i" | "call-id" => "Call-ID",
        "m" | "contact" => "Contact",
        "l" | "content-length" => "Content-Length",
        "c" | "content-type" => "Content-Type",
        "k" | "supported" => "Supported",
        "s" | "subject" => "Subject",
        "e" | "content-encoding" => "Content-Encoding",
        "r" | "refer-to" => "Refer-To",
        "b" | "referred-by" => "Referred-By",
        "cseq" => "CSeq",
        "max-forwards" => "Max-Forwards",
        "record-route" => "Record-Route",
        "require" => "Require",
        "proxy-require" => "Proxy-Require",
        "accept" => "Accept",
        "p-asserted-identity" => "P-Asserted-Identity",
        "privacy" => "Privacy",
        "date" => "Date",
        "expires" => "Expires",
        _ => return name.to_owned(),
    };
    full.to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub uri: String,
    /// Headers in the order received, canonical names, unfolded values.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn call_id(&self) -> &str {
        self.header("Call-ID").unwrap_or_default()
    }

    /// `(number, method)` of CSeq.
    pub fn cseq(&self) -> (u32, &str) {
        let v = self.header("CSeq").unwrap_or_default();
        let mut parts = v.split_whitespace();
        (parts.next().and_then(|n| n.parse().ok()).unwrap_or(0), parts.next().unwrap_or(""))
    }

    /// The top Via's branch parameter.
    pub fn branch(&self) -> Option<&str> {
        let via = self.header("Via")?;
        let top = via.split(',').next()?;
        param(top, "branch")
    }

    pub fn tag_in_from(&self) -> Option<&str> {
        param(self.header("From")?, "tag")
    }

    pub fn to_tag(&self) -> Option<&str> {
        param(self.header("To")?, "tag")
    }
}

/// A value from the network, fit for a log line: control characters (CR, LF, ESC, NUL…) and
/// non-ASCII are escaped, so nobody can forge log lines or terminal sequences through a header.
pub fn loggable(value: &str) -> impl std::fmt::Display + '_ {
    struct Escaped<'a>(&'a str);
    impl std::fmt::Display for Escaped<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            for c in self.0.chars().take(256) {
                if c.is_ascii_graphic() || c == ' ' {
                    f.write_char(c)?;
                } else {
                    write!(f, "{}", c.escape_unicode())?;
                }
            }
            Ok(())
        }
    }
    Escaped(value)
}

/// The values of a header that lists several (`Record-Route: <sip:a;lr>, <sip:b;lr>`), split at
/// the commas outside quotes and `<…>`, trimmed.
pub fn list_values(value: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut angle) = (Vec::new(), 0, false, false);
    let mut chars = value.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if quoted => {
                chars.next();
            }
            '"' if !angle => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|v| !v.is_empty());
    out
}

/// A `;name=value` parameter of a header value (outside `<…>`).
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let after_uri = match value.rfind('>') {
        Some(i) => &value[i + 1..],
        None => value,
    };
    after_uri.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A response to `req`: Via, From, To (with `to_tag` if it has none), Call-ID, CSeq copied;
/// `extra` headers and the body appended; Content-Length computed.
pub fn response(
    req: &Request,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for via in req.all("Via") {
        let _ = write!(out, "Via: {via}\r\n");
    }
    if let Some(from) = req.header("From") {
        let _ = write!(out, "From: {from}\r\n");
    }
    if let Some(to) = req.header("To") {
        match (req.to_tag(), to_tag) {
            (None, Some(tag)) if code > 100 => {
                let _ = write!(out, "To: {to};tag={tag}\r\n");
            }
            _ => {
                let _ = write!(out, "To: {to}\r\n");
            }
        }
    }
    let _ = write!(out, "Call-ID: {}\r\n", req.call_id());
    if let Some(cseq) = req.header("CSeq") {
        let _ = write!(out, "CSeq: {cseq}\r\n");
    }
    for (name, value) in extra {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "Server: madoguchi\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_values_are_escaped() {
        assert_eq!(loggable("abc@host").to_string(), "abc@host");
        assert_eq!(loggable("a\r\nINFO forged\u{1b}[31m").to_string(), "a\\u{d}\\u{a}INFO forged\\u{1b}[31m");
    }

    #[test]
    fn header_lists_split_outside_quotes_and_brackets() {
        let table: [(&str, &[&str]); 5] = [
            ("<sip:a.test;lr>", &["<sip:a.test;lr>"]),
            ("<sip:a.test;lr>, <sip:b.test;lr>", &["<sip:a.test;lr>", "<sip:b.test;lr>"]),
            ("\"Desk, 1\" <sip:x@y;lr>,<sip:z,w@v>", &["\"Desk, 1\" <sip:x@y;lr>", "<sip:z,w@v>"]),
            ("\"a \\\" ,b\" <sip:q@r>", &["\"a \\\" ,b\" <sip:q@r>"]),
            (" , <sip:c.test;lr> ,", &["<sip:c.test;lr>"]),
        ];
        for (value, want) in table {
            assert_eq!(list_values(value), want.to_vec(), "{value}");
        }
    }

    #[test]
    fn params_and_responses() {
        assert_eq!(param("SIP/2.0/UDP h;branch=z9hG4bK1;rport", "branch"), Some("z9hG4bK1"));
        assert_eq!(param("\"A;B\" <sip:a@b;tag=no>;tag=yes", "tag"), Some("yes"));
        let req = Request {
            method: Method::Options,
            uri: "sip:x@y".into(),
            headers: vec![
                ("Via".into(), "SIP/2.0/UDP a;branch=z9hG4bK1".into()),
                ("Via".into(), "SIP/2.0/UDP b;branch=z9hG4bK0".into()),
                ("From".into(), "<sip:a@b>;tag=1".into()),
                ("To".into(), "<sip:x@y>".into()),
                ("Call-ID".into(), "c1".into()),
                ("CSeq".into(), "5 OPTIONS".into()),
            ],
            body: vec![],
        };
        let r = String::from_utf8(response(&req, 200, "OK", Some("t9"), &[("Allow", "INVITE".into())], b"")).unwrap();
        assert!(r.starts_with(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b;branch=z9hG4bK0\r\n"
        ));
        assert!(
            r.contains("To: <sip:x@y>;tag=t9\r\n")
                && r.contains("CSeq: 5 OPTIONS\r\n")
                && r.ends_with("Content-Length: 0\r\n\r\n")
        );
        assert_eq!(req.cseq(), (5, "OPTIONS"));
    }
}
