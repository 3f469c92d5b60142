//! Which stored content types are served as themselves: only those no browser runs as a page.
//! A client's `text/html`, `image/svg+xml` or `application/xhtml+xml` would execute in the
//! console's origin; they, and anything not listed, are served as `application/octet-stream`.

const SAFE: [&str; 11] = [
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "image/bmp",
    "image/tiff",
    "text/plain",
    "audio/wav",
    "audio/x-wav",
    "audio/wave",
];

/// The Content-Type to serve stored content with (its charset kept for plain text).
pub fn served_type(stored: &str) -> String {
    let mut parts = stored.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !SAFE.contains(&essence.as_str()) {
        return "application/octet-stream".into();
    }
    let charset = parts
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)));
    match charset {
        Some(c) if essence == "text/plain" => format!("text/plain; charset={c}"),
        _ => essence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_types_no_browser_runs_are_served_as_themselves() {
        let table = [
            ("application/pdf", "application/pdf"),
            ("IMAGE/PNG", "image/png"),
            ("text/plain; charset=Shift_JIS", "text/plain; charset=Shift_JIS"),
            ("text/plain; charset=\"x<script>\"", "text/plain"),
            ("audio/wav", "audio/wav"),
            ("text/html", "application/octet-stream"),
            ("text/html; charset=utf-8", "application/octet-stream"),
            ("image/svg+xml", "application/octet-stream"),
            ("application/xhtml+xml", "application/octet-stream"),
            ("text/xml", "application/octet-stream"),
            ("application/javascript", "application/octet-stream"),
            ("", "application/octet-stream"),
            ("garbage", "application/octet-stream"),
        ];
        for (stored, served) in table {
            assert_eq!(served_type(stored), served, "{stored}");
        }
    }
}
