//! Cookies: reading one from the request's `Cookie` headers, and writing `Set-Cookie`.

use axum::http::{HeaderMap, HeaderValue, header};

/// The console's session cookie: the session id, whose SHA-256 the store keeps.
pub const SESSION: &str = "madoguchi_session";
/// The sign-in form's own CSRF token, set with the form and sent back with it.
pub const LOGIN: &str = "madoguchi_login";
/// The chosen language, `ja` or `en` (set by console.js; not a secret).
pub const LANG: &str = "lang";

/// The first cookie called `name`, from every `Cookie` header.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// A cookie's value as we make them: hex of 256 bits. Anything else is not ours, and is not
/// looked up.
pub fn is_our_secret(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One `Set-Cookie` header: always `HttpOnly`, `SameSite`, and `Secure` when asked.
pub struct SetCookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub path: &'a str,
    /// `None`: gone when the browser closes.
    pub max_age: Option<u64>,
    pub same_site: &'static str,
    pub secure: bool,
}

impl<'a> SetCookie<'a> {
    pub fn header(&self) -> HeaderValue {
        let mut s = format!("{}={}; Path={}; HttpOnly; SameSite={}", self.name, self.value, self.path, self.same_site);
        if let Some(age) = self.max_age {
            s.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            s.push_str("; Secure");
        }
        // Names and values are ours (constants and hex), so always a valid header.
        HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
    }

    /// The same cookie, deleted.
    pub fn removal(name: &'a str, path: &'a str, secure: bool) -> SetCookie<'a> {
        SetCookie { name, value: "", path, max_age: Some(0), same_site: "Lax", secure }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cookie_of_a_name_is_found_in_every_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; lang=en"));
        h.append(header::COOKIE, HeaderValue::from_static("madoguchi_session=abc;lang=ja"));
        assert_eq!(get(&h, "lang"), Some("en"));
        assert_eq!(get(&h, SESSION), Some("abc"));
        assert_eq!(get(&h, "madoguchi"), None);
        assert_eq!(get(&HeaderMap::new(), "lang"), None);
        assert!(is_our_secret(&"a1".repeat(32)));
        assert!(!is_our_secret("abc") && !is_our_secret(&"g1".repeat(32)));
    }

    #[test]
    fn set_cookie_carries_its_flags() {
        let c = SetCookie { name: SESSION, value: "ff", path: "/", max_age: None, same_site: "Lax", secure: false };
        assert_eq!(c.header(), "madoguchi_session=ff; Path=/; HttpOnly; SameSite=Lax");
        let c = SetCookie { secure: true, max_age: Some(60), ..c };
        assert_eq!(c.header(), "madoguchi_session=ff; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure");
        assert_eq!(
            SetCookie::removal(LOGIN, "/login", false).header(),
            "madoguchi_login=; Path=/login; HttpOnly; SameSite=Lax; Max-Age=0"
        );
    }
}
