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
}
