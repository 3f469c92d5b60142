//! Which Host header values a request may carry: an IP address, `localhost`, or a configured
//! name. Anything else is a name someone else controls pointing at us (DNS rebinding).

use std::net::IpAddr;

/// Whether `host` (a Host header: name or address, maybe with a port) is one this service answers.
pub fn host_allowed(host: &str, names: &[String]) -> bool {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        },
        None => host.rsplit_once(':').filter(|(_, port)| port.parse::<u16>().is_ok()).map_or(host, |(n, _)| n),
    };
    let name = name.trim_end_matches('.');
    if name.is_empty() {
        return false;
    }
    name.parse::<IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || names.iter().any(|n| n.trim().trim_end_matches('.').eq_ignore_ascii_case(name))
}

/// Why `name` cannot be a `[http] hostnames` entry, if it cannot: a DNS name of letters, digits,
/// hyphens and dots (an internationalised name in its `xn--` form), without scheme, port, path or
/// wildcard.
pub fn hostname_problem(name: &str) -> Option<&'static str> {
    if name.contains("://") {
        return Some("give the name alone, without http:// or https://");
    }
    if name.contains(['/', '?', '#']) {
        return Some("give the name alone, without a path");
    }
    if name.contains(':') {
        return Some("give the name alone, without a port");
    }
    if name.contains('*') {
        return Some("wildcards are not allowed; list each name");
    }
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() || bare.len() > 253 {
        return Some("a host name is 1 to 253 characters");
    }
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !bare.split('.').all(label_ok) {
        return Some(
            "use letters, digits, hyphens and dots only (labels of 1 to 63, not starting or ending with a hyphen; \
a Japanese name in its xn-- form)",
        );
    }
    None
}

/// A valid host name as it is compared: lower case, without a trailing dot.
pub fn fold_hostname(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_configured_names_only() {
        let names = vec!["helpdesk.example.go.jp".to_owned()];
        let table = [
            ("127.0.0.1:8080", true),
            ("10.0.0.5", true),
            ("[::1]:8080", true),
            ("localhost:8080", true),
            ("LOCALHOST", true),
            ("helpdesk.example.go.jp", true),
            ("HelpDesk.Example.go.jp.:443", true),
            ("attacker.example.com", false),
            ("attacker.example.com:8080", false),
            ("helpdesk.example.go.jp.attacker.com", false),
            ("", false),
            ("[not-v6]:80", false),
            (":8080", false),
        ];
        for (host, allowed) in table {
            assert_eq!(host_allowed(host, &names), allowed, "{host}");
        }
    }

    #[test]
    fn configured_names_are_dns_names() {
        let table = [
            ("helpdesk.example.go.jp", None),
            ("HelpDesk.Example.GO.JP.", None),
            ("madoguchi", None),
            ("xn--eckwd4c7c.xn--zckzah", None),
            ("10.0.0.5", None),
            ("a-b.example", None),
            ("https://helpdesk.example.go.jp", Some("without http")),
            ("helpdesk.example.go.jp:8443", Some("without a port")),
            ("helpdesk.example.go.jp/console", Some("without a path")),
            ("*.example.go.jp", Some("wildcards")),
            ("help desk.example", Some("letters, digits")),
            ("窓口.example.jp", Some("xn--")),
            ("-help.example", Some("hyphen")),
            ("help..example", Some("letters, digits")),
            ("", Some("1 to 253")),
            (".", Some("1 to 253")),
        ];
        for (name, problem) in table {
            match (hostname_problem(name), problem) {
                (None, None) => {}
                (Some(got), Some(want)) => assert!(got.contains(want), "{name}: {got}"),
                (got, want) => panic!("{name}: got {got:?}, want a problem containing {want:?}"),
            }
        }
        assert_eq!(fold_hostname("HelpDesk.Example.GO.JP."), "helpdesk.example.go.jp");
    }
}
