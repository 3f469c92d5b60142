//! A fax's TIFF seen in the browser: its pages counted and each served as a PNG over HTTP, with
//! safe headers and an audit line; a damaged TIFF is a clear 422, and content that is no TIFF
//! (whatever the sender called it) a 415.

mod common;

use common::mime::b64;
use common::{Db, spawn_app};
use serde_json::{Value, json};

on_both_backends!(fax_pages_are_served_as_png_and_damage_is_refused_clearly);

const G4: &[u8] = include_bytes!("data/fax/fax-g4.tif");

/// Width and height from a PNG's IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

async fn fax_pages_are_served_as_png_and_damage_is_refused_clearly(db: Db) {
    let Some(app) = spawn_app(db, "fax_pages").await else { return };
    let mut garbled = G4.to_vec();
    garbled[500..1500].fill(0);
    let truncated = &G4[..2000];
    let attachment = |name: &str, content_type: &str, bytes: &[u8]| json!({"filename": name, "content_type": content_type, "content_base64": b64(bytes)});
    let created: Value = app
        .post_contact(json!({
            "channel": "fax", "subject": "FAX受信", "caller": {"fax": "03-1234-5678"},
            "attachments": [
                attachment("fax.bin", "application/octet-stream", G4),
                attachment("garbled.tif", "image/tiff", &garbled),
                attachment("truncated.tif", "image/tiff", truncated),
                attachment("not-a-fax.tif", "image/tiff", b"%PDF-1.4 this is a PDF"),
            ]
        }))
        .await
        .json()
        .await
        .unwrap();
    let number = created["ticket"].as_str().unwrap();
    let ticket = app.ticket(number).await;
    let ids: Vec<i64> = ticket["attachments"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    let [fax, garbled, truncated, pdf] = ids[..] else { panic!("{ids:?}") };

    // Known by its first bytes, though the sender called it octet-stream.
    let (status, pages) = app.get_json(&format!("/api/attachments/{fax}/pages")).await;
    assert_eq!((status, pages), (200, json!({"pages": 2})));
    for (page, size) in [(1, (1728, 400)), (2, (1728, 240))] {
        let r = app.client.get(app.url(&format!("/api/attachments/{fax}/pages/{page}"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "page {page}");
        let h = r.headers().clone();
        assert_eq!(h["content-type"], "image/png");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "private, max-age=3600");
        assert_eq!(h["content-security-policy"], "sandbox; default-src 'none'");
        assert_eq!(png_size(&r.bytes().await.unwrap()), size, "page {page}");
    }

    let refused = [
        (format!("/api/attachments/{fax}/pages/3"), 404, "3 ページ目はありません"),
        (format!("/api/attachments/{fax}/pages/0"), 404, "ありません"),
        (format!("/api/attachments/{garbled}/pages/1"), 422, "壊れています"),
        (format!("/api/attachments/{truncated}/pages"), 422, "壊れています"),
        (format!("/api/attachments/{truncated}/pages/1"), 422, "壊れています"),
        (format!("/api/attachments/{pdf}/pages"), 415, "TIFF ファイルではありません"),
        (format!("/api/attachments/{pdf}/pages/1"), 415, "TIFF ファイルではありません"),
        ("/api/attachments/999999/pages".to_owned(), 404, "does not exist"),
    ];
    for (path, want, says) in &refused {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, *want, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{path}: {message}");
    }
    let (status, pages) = app.get_json(&format!("/api/attachments/{garbled}/pages")).await;
    assert_eq!((status, pages), (200, json!({"pages": 2})), "its directories are intact; a page is damaged");
    let (status, _) = app.get_json(&format!("/api/attachments/{fax}/pages")).await;
    assert_eq!(status, 200, "the service still answers");

    let store = madoguchi::store::Store::connect(&app.db.settings().database_url(), 1).await.unwrap();
    let audit = store.audit_entries(50).await.unwrap();
    store.close().await;
    let fax_reads = audit.iter().filter(|a| a.action == "attachment_read" && a.subject == fax.to_string()).count();
    assert_eq!(fax_reads, 4, "the count and each page shown are audited reads: {audit:?}");
    app.stop().await;
}
