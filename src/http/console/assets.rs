//! The console's stylesheet and scripts, inside the binary. They are served without sign-in
//! (they hold nothing private), named in pages by a hash of their content (`?v=`), so browsers
//! may keep them for a year and still never run a stale copy after an upgrade.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "console.css", content_type: "text/css; charset=utf-8", body: include_bytes!("assets/console.css") },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/console.js"),
    },
    Asset { name: "desk.css", content_type: "text/css; charset=utf-8", body: include_bytes!("assets/desk.css") },
    Asset { name: "desk.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("assets/desk.js") },
];

/// Each asset's content hash (the first 16 hex digits of its SHA-256), in `ASSETS` order.
static HASHES: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| crate::store::sha256_hex(a.body)[..16].to_owned()).collect());

fn find(name: &str) -> Option<(&'static Asset, &'static str)> {
    let i = ASSETS.iter().position(|a| a.name == name)?;
    Some((&ASSETS[i], HASHES[i].as_str()))
}

/// `/assets/console.css?v=<hash>`: the URL pages use for an asset.
pub fn url(name: &str) -> String {
    match find(name) {
        Some((asset, hash)) => format!("/assets/{}?v={hash}", asset.name),
        None => format!("/assets/{name}"),
    }
}

/// `GET /assets/{name}`: the asset with a year's caching and its ETag; 304 when the browser
/// has it already.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some((asset, hash)) = find(&name) else {
        return crate::http::ApiError::NotFound("no such asset".into()).into_response();
    };
    let etag = format!("\"{hash}\"");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim().trim_start_matches("W/") == etag));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { (StatusCode::OK, asset.body).into_response() };
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn assets_are_named_by_their_content() {
        let css = super::url("console.css");
        assert!(css.starts_with("/assets/console.css?v=") && css.len() == "/assets/console.css?v=".len() + 16, "{css}");
        assert_ne!(super::url("console.js"), super::url("console.css"));
    }
}
