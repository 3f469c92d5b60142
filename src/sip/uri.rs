//! Reading name-addrs (`"Name" <sip:user@host>;tag=…`) with rsip: the caller's number and display
//! name, whether they asked for privacy.

/// `(display name, user part)` of a From / P-Asserted-Identity value.
pub fn caller(value: &str) -> (Option<String>, Option<String>) {
    let display = value
        .split('<')
        .next()
        .filter(|_| value.contains('<'))
        .map(|d| d.trim().trim_matches('"').trim().to_owned())
        .filter(|d| !d.is_empty());
    let uri_text = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    };
    let user = rsip::Uri::try_from(uri_text)
        .ok()
        .and_then(|u| u.auth.map(|a| a.user))
        .or_else(|| uri_text.split_once(':').map(|(_, rest)| rest.split(['@', ';']).next().unwrap_or("").to_owned()))
        .filter(|u| !u.is_empty());
    (display, user)
}

/// Where a SIP URI sends to, when it names an IP address: its address and port (5060 when it
/// names none). A domain name gives `None` (it would need DNS).
pub fn ip_target(uri: &str) -> Option<std::net::SocketAddr> {
    let rest = uri.trim().strip_prefix("sip:").or_else(|| uri.trim().strip_prefix("sips:"))?;
    let hostport = rest.split([';', '?']).next()?;
    let hostport = hostport.rsplit_once('@').map(|(_, h)| h).unwrap_or(hostport);
    let (host, port) = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        },
    };
    let ip: std::net::IpAddr = host.parse().ok()?;
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => 5060,
    };
    Some(std::net::SocketAddr::new(ip, port))
}

/// The user part of a request URI (the dialled number).
pub fn user_of(uri: &str) -> Option<String> {
    caller(uri).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers() {
        assert_eq!(
            caller("\"山田 太郎\" <sip:0312345678@pbx.example;user=phone>;tag=1"),
            (Some("山田 太郎".into()), Some("0312345678".into()))
        );
        assert_eq!(caller("<sip:+81312345678@trunk>"), (None, Some("+81312345678".into())));
        assert_eq!(caller("sip:5001@pbx;tag=9"), (None, Some("5001".into())));
        assert_eq!(caller("<tel:+81-3-1234-5678>").1.as_deref(), Some("+81-3-1234-5678"));
        assert_eq!(user_of("sip:0120000111@madoguchi"), Some("0120000111".into()));
    }

    #[test]
    fn targets_that_name_an_address() {
        let table = [
            ("sip:127.0.0.1:5070;lr", Some("127.0.0.1:5070")),
            ("sip:192.0.2.7;lr;ftag=abc", Some("192.0.2.7:5060")),
            ("sip:caller@192.0.2.1:5062", Some("192.0.2.1:5062")),
            ("sip:[2001:db8::1]:5080;lr", Some("[2001:db8::1]:5080")),
            ("sip:proxy.test;lr", None),
            ("sip:127.0.0.1:notaport;lr", None),
            ("tel:+81312345678", None),
            ("not a uri", None),
        ];
        for (uri, want) in table {
            assert_eq!(ip_target(uri), want.map(|w| w.parse().unwrap()), "{uri}");
        }
    }
}
