//! Where a browser request came from and where a sign-in may send it next: a page on another
//! site must not post to us with an operator's cookie, and `/login?next=` must not send an
//! operator to another site.

/// `next` when it is a path on this site (`/tickets/20261121-0001`), else `None`. `//host`
/// and `/\host` are other sites to a browser; control characters and backslashes are refused.
pub fn local_path(next: &str) -> Option<&str> {
    let mut chars = next.chars();
    let local = chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && next.len() <= 2048
        && !next.chars().any(|c| c == '\\' || c.is_control());
    local.then_some(next)
}

/// Whether an `Origin` header names the host the request was sent to (its `Host` header).
/// `null` and anything that is not `http(s)://authority` do not.
pub fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.trim().split_once("://") else { return false };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return false;
    }
    let strip = |a: &str| -> String {
        let a = a.trim().to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(bare) => bare.to_owned(),
            None => a,
        }
    };
    strip(authority) == strip(host)
}

/// [`same_origin`], or an origin naming one of the service's configured host names (`[http]
/// hostnames`, any port): a proxy in front may rewrite the Host header to its own upstream.
pub fn origin_allowed(origin: &str, host: &str, hostnames: &[String]) -> bool {
    if same_origin(origin, host) {
        return true;
    }
    let Some((scheme, authority)) = origin.trim().split_once("://") else { return false };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") || authority.contains(['/', '?', '#', '@']) {
        return false;
    }
    let name = match authority.rsplit_once(':') {
        Some((name, port)) if port.parse::<u16>().is_ok() && !name.ends_with(':') => name,
        _ => authority,
    };
    !name.is_empty() && hostnames.iter().any(|n| n.trim().trim_end_matches('.').eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        let table = [
            ("/", true),
            ("/tickets/20261121-0001", true),
            ("/mine?status=open", true),
            ("", false),
            ("tickets", false),
            ("//evil.example/", false),
            ("/\\evil.example/", false),
            ("/a\\b", false),
            ("https://evil.example/", false),
            ("/\nSet-Cookie: x", false),
            ("/\tx", false),
            (" /", false),
        ];
        for (next, ok) in table {
            assert_eq!(local_path(next).is_some(), ok, "{next:?}");
        }
        assert!(local_path(&format!("/{}", "a".repeat(3000))).is_none());
    }

    #[test]
    fn an_origin_matches_only_its_own_host() {
        let table = [
            ("http://127.0.0.1:8080", "127.0.0.1:8080", true),
            ("https://helpdesk.example.go.jp", "helpdesk.example.go.jp", true),
            ("https://Helpdesk.Example.go.jp", "helpdesk.example.go.jp", true),
            ("https://helpdesk.example.go.jp", "helpdesk.example.go.jp:443", true),
            ("http://helpdesk.example.go.jp:80", "helpdesk.example.go.jp", true),
            ("http://[::1]:8080", "[::1]:8080", true),
            ("http://127.0.0.1:8081", "127.0.0.1:8080", false),
            ("https://evil.example", "helpdesk.example.go.jp", false),
            ("http://helpdesk.example.go.jp.evil.example", "helpdesk.example.go.jp", false),
            ("null", "127.0.0.1:8080", false),
            ("file://", "127.0.0.1:8080", false),
            ("http://127.0.0.1:8080/", "127.0.0.1:8080", false),
            ("http://user@127.0.0.1:8080", "127.0.0.1:8080", false),
            ("ftp://127.0.0.1:8080", "127.0.0.1:8080", false),
        ];
        for (origin, host, same) in table {
            assert_eq!(same_origin(origin, host), same, "{origin} for {host}");
        }
    }

    #[test]
    fn behind_a_proxy_a_configured_name_is_this_origin() {
        let names = vec!["helpdesk.example.go.jp".to_owned()];
        let table = [
            ("https://helpdesk.example.go.jp", "127.0.0.1:8080", true),
            ("https://HELPDESK.example.go.jp:8443", "127.0.0.1:8080", true),
            ("http://127.0.0.1:8080", "127.0.0.1:8080", true),
            ("https://evil.example", "127.0.0.1:8080", false),
            ("https://helpdesk.example.go.jp.evil.example", "127.0.0.1:8080", false),
            ("https://x@helpdesk.example.go.jp", "127.0.0.1:8080", false),
            ("null", "127.0.0.1:8080", false),
        ];
        for (origin, host, allowed) in table {
            assert_eq!(origin_allowed(origin, host, &names), allowed, "{origin} for {host}");
        }
        assert!(!origin_allowed("https://helpdesk.example.go.jp", "127.0.0.1:8080", &[]));
    }
}
