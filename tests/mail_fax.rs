//! FAX from gateways no profile knows, over a real SMTP socket: an Asterisk dialplan's `mail`,
//! FreeSWITCH, a Japanese printer's forward in Shift_JIS, an e-fax service, a cloud PBX's
//! notice, a one-page JPEG and full-width digits become fax tickets (profile `generic`) that a
//! search by the sender's number in another format finds; people's mail with a PDF (a
//! signature's TEL/FAX, a FAX number change form, a colleague passing a fax on in their own
//! words, a reply quoting a fax) stays e-mail.

mod common;

use common::mime::{b64, encode, encoded_word, intake_detail};
use common::smtp::{send_mail, ticket_of};
use common::{Db, TestApp, spawn_app};
use serde_json::Value;

on_both_backends!(gateway_mails_of_every_kind_become_fax_tickets, peoples_mail_with_a_pdf_stays_email);

fn pdf(pages: usize) -> Vec<u8> {
    let mut pdf =
        String::from("%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages >> endobj\n");
    for i in 0..pages {
        pdf.push_str(&format!("{} 0 obj << /Type /Page /Parent 2 0 R >> endobj\n", i + 3));
    }
    pdf.into_bytes()
}

/// A little-endian TIFF of `pages` empty image directories.
fn tiff(pages: u32) -> Vec<u8> {
    let mut b = vec![b'I', b'I', 42, 0, 8, 0, 0, 0];
    for i in 0..pages {
        let next = if i + 1 == pages { 0 } else { 8 + (i + 1) * 6 };
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&next.to_le_bytes());
    }
    b
}

const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9";

/// A file attached to a test message.
struct File {
    content_type: &'static str,
    name: String,
    bytes: Vec<u8>,
}

fn file(content_type: &'static str, name: &str, bytes: Vec<u8>) -> File {
    File { content_type, name: name.into(), bytes }
}

/// A message: `head` (From, Subject, … lines, CRLF-terminated), a text part in `charset`
/// (base64 unless `8bit`), then the files.
fn message(head: &str, charset: &str, cte: &str, text: &str, files: &[File]) -> Vec<u8> {
    let mut raw = format!("{head}To: helpdesk@example.jp\r\nMIME-Version: 1.0\r\n").into_bytes();
    raw.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"=_fax\"\r\n\r\n--=_fax\r\n");
    raw.extend_from_slice(
        format!("Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").as_bytes(),
    );
    let bytes = encode(&text.replace('\n', "\r\n"), charset);
    if cte == "base64" {
        raw.extend_from_slice(b64(&bytes).as_bytes());
    } else {
        raw.extend_from_slice(&bytes);
    }
    raw.extend_from_slice(b"\r\n");
    for f in files {
        raw.extend_from_slice(
            format!(
                "--=_fax\r\nContent-Type: {}; name=\"{}\"\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                f.content_type,
                f.name,
                f.name,
                b64(&f.bytes)
            )
            .as_bytes(),
        );
    }
    raw.extend_from_slice(b"--=_fax--\r\n");
    raw
}

async fn send(app: &TestApp, envelope: &str, raw: &[u8]) -> String {
    ticket_of(&send_mail(app.mail, envelope, "helpdesk@example.jp", raw).await)
}

fn fax_details(t: &Value) -> Option<Value> {
    Some(intake_detail(t, "fax")).filter(|f| !f.is_null())
}

/// Percent-encoded for a query string (`+` and full-width digits included).
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One gateway's mail, and what its ticket must say.
struct Gateway {
    name: &'static str,
    raw: Vec<u8>,
    number: &'static str,
    pages: u64,
    document: &'static str,
    /// The same number as a person would type it into the search.
    search: &'static str,
}

fn gateways() -> Vec<Gateway> {
    vec![
        // An Asterisk dialplan: ReceiveFax(), then `mutt -s "New fax received from ${CALLERID(num)}" -a …`.
        Gateway {
            name: "asterisk",
            raw: message(
                "From: Asterisk PBX <asterisk@pbx.example.jp>\r\nSubject: New fax received from 0422123456\r\nMessage-ID: <ast-1715649877.42@pbx.example.jp>\r\n",
                "us-ascii",
                "7bit",
                "A 2 page fax was received from 0422123456 on 2024-05-14 10:23.\nRemote station ID: 0422123456\nFax status: OK\n",
                &[file("image/tiff", "fax-1715649877.42.tif", tiff(2))],
            ),
            number: "0422123456",
            pages: 2,
            document: "fax-1715649877.42.tif",
            search: "0422-12-3456",
        },
        // FreeSWITCH mod_spandsp and an e-mail script; the TIFF as application/octet-stream.
        Gateway {
            name: "freeswitch",
            raw: message(
                "From: FreeSWITCH <freeswitch@pbx.example.jp>\r\nSubject: Fax received: 3 pages\r\nMessage-ID: <fs-8f14e45f@pbx.example.jp>\r\n",
                "us-ascii",
                "7bit",
                "Fax received: /var/spool/fax/rxfax-0612345678.tif\nRemote station ID: +81 6 1234 5678\nCaller ID: 06-1234-5678\nPages: 3\nResult: OK (Success)\n",
                &[file("application/octet-stream", "rxfax-0612345678.tif", tiff(3))],
            ),
            number: "0612345678",
            pages: 3,
            document: "rxfax-0612345678.tif",
            search: "+81-6-1234-5678",
        },
        // A Japanese printer's forward: Shift_JIS subject and body, ISO-2022-JP sender name.
        Gateway {
            name: "mfp (Shift_JIS)",
            raw: message(
                &format!(
                    "From: {} <canon-ir@example.jp>\r\nSubject: {}\r\nMessage-ID: <mfp3f.0099@example.jp>\r\n",
                    encoded_word("複合機 3F", "ISO-2022-JP"),
                    encoded_word("ファクス受信 発信元: 045-123-4567 (ACME)", "Shift_JIS")
                ),
                "Shift_JIS",
                "8bit",
                "ファクスを受信しました。\n受信日時: 2024/05/14 10:23\n枚数: 2\n",
                &[file("application/pdf", "FAX_0099.pdf", pdf(2))],
            ),
            number: "0451234567",
            pages: 2,
            document: "FAX_0099.pdf",
            search: "045(123)4567",
        },
        // An e-fax service, in English; the reference number holds digits that are not a number.
        Gateway {
            name: "efax",
            raw: message(
                "From: eFax <message@inbound.efax.example>\r\nSubject: eFax message from \"052-123-4567\" - 2 page(s), Caller-ID: +81-52-123-4567\r\nMessage-ID: <efax.20240514.1023@inbound.efax.example>\r\n",
                "UTF-8",
                "base64",
                "You have received a 2 page fax at 2024-05-14 10:23:45 JST.\n\n* The reference number for this fax is tko1_did13-1715649825-0521234567-42.\n\nPlease visit https://www.efax.example/help if you have any questions regarding this message or your service.\n\nThank you for using the eFax service!\n",
                &[file("application/pdf", "tko1_did13-1715649825-0521234567-42.pdf", pdf(2))],
            ),
            number: "0521234567",
            pages: 2,
            document: "tko1_did13-1715649825-0521234567-42.pdf",
            search: "+81 52 123 4567",
        },
        // A Japanese cloud PBX's FAX notice: ISO-2022-JP subject, a footer that thanks and signs off.
        Gateway {
            name: "cloud pbx",
            raw: message(
                &format!(
                    "From: {} <fax-notice@cloudpbx.example.jp>\r\nSubject: {}\r\nMessage-ID: <n-20240514102300-75@cloudpbx.example.jp>\r\n",
                    encoded_word("FAXお知らせメール", "UTF-8"),
                    encoded_word("【FAXお知らせメール】FAXを受信しました", "ISO-2022-JP")
                ),
                "UTF-8",
                "base64",
                "クラウドFAXをご利用いただきありがとうございます。\nFAXを受信しました。\n\n送信元FAX番号：075-123-4567\n着信番号：050-5555-0000\n受信日時：2024年5月14日 10時23分\nページ数：3ページ\n\n※このメールは送信専用アドレスから送信されています。\n今後とも当サービスをよろしくお願いいたします。\n",
                &[file("application/pdf", "20240514102300.pdf", pdf(3))],
            ),
            number: "0751234567",
            pages: 3,
            document: "20240514102300.pdf",
            search: "+81 (0)75-123-4567",
        },
        // A printer that sends a one-page fax as a JPEG.
        Gateway {
            name: "jpeg",
            raw: message(
                "From: scan-fax@mfp2.example.jp\r\nSubject: =?UTF-8?B?5Y+X5L+hRkFY?=\r\nMessage-ID: <jpeg-1@mfp2.example.jp>\r\n",
                "UTF-8",
                "base64",
                "相手先: 03(5555)1234\n",
                &[file("image/jpeg", "RX0001.jpg", JPEG.to_vec())],
            ),
            number: "0355551234",
            pages: 1,
            document: "RX0001.jpg",
            search: "03-5555-1234",
        },
        // Full-width digits and dashes everywhere.
        Gateway {
            name: "full-width",
            raw: message(
                &format!(
                    "From: {} <fax@mfp4.example.jp>\r\nSubject: {}\r\nMessage-ID: <zenkaku-1@mfp4.example.jp>\r\n",
                    encoded_word("ＦＡＸ受信", "UTF-8"),
                    encoded_word("ＦＡＸ受信　０９２－１２３－４５６７", "UTF-8")
                ),
                "UTF-8",
                "base64",
                "相手先：０９２－１２３－４５６７\n枚数：４\n",
                &[file("image/tiff", "fax.tif", tiff(4))],
            ),
            number: "0921234567",
            pages: 4,
            document: "fax.tif",
            search: "092-123-4567",
        },
    ]
}

async fn gateway_mails_of_every_kind_become_fax_tickets(db: Db) {
    let Some(app) = spawn_app(db, "generic_fax").await else { return };
    let cases = gateways();
    for g in &cases {
        let number = send(&app, "fax@gateway.example.jp", &g.raw).await;
        let t = app.ticket(&number).await;
        let name = g.name;
        assert_eq!(t["channel"], "fax", "{name}");
        let c = &t["contacts"][0];
        assert_eq!(c["channel"], "fax", "{name}");
        assert_eq!(c["fax_number"], g.number, "{name}: the normalised number");
        let fax = fax_details(&t).unwrap_or_else(|| panic!("{name}: fax details"));
        assert_eq!(fax["profile"], "generic", "{name}");
        assert_eq!(fax["number"], g.number, "{name}");
        assert_eq!(fax["pages"], g.pages, "{name}: {fax}");
        assert!(fax["evidence"].as_str().is_some_and(|e| e.contains(" = ")), "{name}: {fax}");
        let body = c["body"].as_str().unwrap();
        assert!(
            body.starts_with(&format!("[FAX] 送信元 / from: {}  ページ数 / pages: {}", g.number, g.pages)),
            "{name}: {body}"
        );
        let files: Vec<&str> =
            t["attachments"].as_array().unwrap().iter().map(|a| a["filename"].as_str().unwrap()).collect();
        assert_eq!(files, ["message.eml", g.document], "{name}: the document is kept");
        assert!(
            t["history"].as_array().unwrap().iter().any(|h| h["action"] == "ack_skipped"),
            "{name}: a gateway is not acknowledged"
        );

        let (status, found) = app.get_json(&format!("/api/tickets?channel=fax&caller={}", query_value(g.search))).await;
        assert_eq!(status, 200, "{found}");
        let found: Vec<&str> =
            found["tickets"].as_array().unwrap().iter().map(|t| t["number"].as_str().unwrap()).collect();
        assert_eq!(found, [number.as_str()], "{name}: found by {}", g.search);
    }
    let (_, all) = app.get_json("/api/tickets?channel=fax").await;
    assert_eq!(all["tickets"].as_array().unwrap().len(), cases.len());
    app.stop().await;
}

async fn peoples_mail_with_a_pdf_stays_email(db: Db) {
    let Some(app) = spawn_app(db, "not_fax").await else { return };
    let form = |name: &str| [file("application/pdf", name, pdf(1))];
    let people = [
        (
            "a PDF, no fax words",
            "yamada@example.go.jp",
            message(
                &format!(
                    "From: {} <yamada@example.go.jp>\r\nSubject: {}\r\nMessage-ID: <p1@example.go.jp>\r\n",
                    encoded_word("山田 花子", "UTF-8"),
                    encoded_word("申請書の送付", "UTF-8")
                ),
                "ISO-2022-JP",
                "7bit",
                "お世話になっております。\n申請書をお送りします。\nよろしくお願いいたします。\n",
                &form("申請書.pdf"),
            ),
        ),
        (
            "a business signature with TEL and FAX",
            "suzuki@sample.example.co.jp",
            message(
                &format!(
                    "From: {} <suzuki@sample.example.co.jp>\r\nSubject: {}\r\nMessage-ID: <p2@sample.example.co.jp>\r\n",
                    encoded_word("鈴木 一郎", "UTF-8"),
                    encoded_word("お見積書送付の件", "ISO-2022-JP")
                ),
                "ISO-2022-JP",
                "7bit",
                "お世話になっております。株式会社サンプルの鈴木です。\n先日ご依頼いただいた見積書をPDFにてお送りいたします。\nご確認のほどよろしくお願いいたします。\n\n━━━━━━━━━━━━━━━━━━\n株式会社サンプル 営業部 鈴木一郎\n〒100-0001 東京都千代田区千代田1-1\nTEL: 03-1234-5678 / FAX: 03-1234-5679\nMail: suzuki@sample.example.co.jp\n━━━━━━━━━━━━━━━━━━\n",
                &form("見積書.pdf"),
            ),
        ),
        (
            "a FAX number change with its form",
            "sato@example.go.jp",
            message(
                &format!(
                    "From: {} <sato@example.go.jp>\r\nSubject: {}\r\nMessage-ID: <p3@example.go.jp>\r\n",
                    encoded_word("佐藤", "UTF-8"),
                    encoded_word("FAX番号変更のお願い", "Shift_JIS")
                ),
                "Shift_JIS",
                "8bit",
                "お世話になっております。総務課の佐藤です。\n課のFAX番号を変更したいので申請書PDFを送ります。\n新しいFAX番号: 03-1234-0000\n旧FAX番号: 03-1234-9999\nよろしくお願いいたします。\n",
                &form("FAX番号変更申請書.pdf"),
            ),
        ),
        (
            "FAX受信 cannot be done, with a screenshot",
            "kato@example.go.jp",
            message(
                &format!(
                    "From: kato@example.go.jp\r\nSubject: {}\r\nMessage-ID: <p4@example.go.jp>\r\n",
                    encoded_word("FAX受信ができません", "UTF-8")
                ),
                "UTF-8",
                "base64",
                "お疲れ様です。3Fの複合機でFAXが受信できません。\nエラー画面の写真を添付します。\n",
                &[file("image/png", "error.png", b"\x89PNG\r\n\x1a\nfake".to_vec())],
            ),
        ),
        (
            "a colleague passing on a fax in their own words",
            "ito@example.go.jp",
            message(
                &format!(
                    "From: {} <ito@example.go.jp>\r\nSubject: {}\r\nMessage-ID: <p6@example.go.jp>\r\n",
                    encoded_word("伊藤", "UTF-8"),
                    encoded_word("FAX受信しました", "UTF-8")
                ),
                "UTF-8",
                "base64",
                "お疲れ様です。\n03-7777-1234 からFAXが届きましたので、スキャンして送ります。\nご対応よろしくお願いします。\n",
                &form("scan.pdf"),
            ),
        ),
    ];
    for (what, envelope, raw) in &people {
        let number = send(&app, envelope, raw).await;
        let t = app.ticket(&number).await;
        assert_eq!(t["channel"], "email", "{what}");
        assert_eq!(t["contacts"][0]["email"], *envelope, "{what}");
        assert!(t["contacts"][0]["fax_number"].is_null(), "{what}");
        assert!(fax_details(&t).is_none(), "{what}");
        assert_eq!(t["attachments"].as_array().unwrap().len(), 2, "{what}: the file is kept");
    }

    // A fax arrives; a colleague answers it, quoting it, with the original as a PDF.
    let fax = message(
        "From: fax@mfp.example.jp\r\nSubject: =?UTF-8?B?RkFY5Y+X5L+hIOeZuuS/oeWFgzogMDMtODg4OC0xMjM0?=\r\nMessage-ID: <fax-0100@mfp.example.jp>\r\n",
        "UTF-8",
        "base64",
        "枚数: 2\n",
        &[file("application/pdf", "fax0100.pdf", pdf(2))],
    );
    let fax_ticket = send(&app, "fax@mfp.example.jp", &fax).await;
    let t = app.ticket(&fax_ticket).await;
    assert_eq!((t["channel"].as_str(), t["contacts"][0]["fax_number"].as_str()), (Some("fax"), Some("0388881234")));
    let reply = message(
        &format!(
            "From: {} <sato@example.go.jp>\r\nSubject: {}\r\nMessage-ID: <p5@example.go.jp>\r\nIn-Reply-To: <fax-0100@mfp.example.jp>\r\nReferences: <fax-0100@mfp.example.jp>\r\n",
            encoded_word("佐藤", "UTF-8"),
            encoded_word("Re: FAX受信 発信元: 03-8888-1234", "ISO-2022-JP")
        ),
        "ISO-2022-JP",
        "7bit",
        "お疲れ様です。\n先ほどのFAXの原本をPDFで送ります。\n\n2024年5月14日(火) 10:30 fax@mfp.example.jp <fax@mfp.example.jp>:\n> FAX受信 発信元: 03-8888-1234\n> [FAX] 送信元 / from: 0388881234  ページ数 / pages: 2\n> 枚数: 2\n",
        &form("原本.pdf"),
    );
    let number = send(&app, "sato@example.go.jp", &reply).await;
    let t = app.ticket(&number).await;
    assert_ne!(number, fax_ticket, "a stranger's reply opens its own ticket");
    assert_eq!(t["channel"], "email", "a reply quoting a fax");
    assert_eq!(t["contacts"][0]["channel"], "email");
    assert!(t["contacts"][0]["fax_number"].is_null());
    assert!(fax_details(&t).is_none());

    let (_, faxes) = app.get_json("/api/tickets?channel=fax").await;
    let faxes: Vec<&str> = faxes["tickets"].as_array().unwrap().iter().map(|t| t["number"].as_str().unwrap()).collect();
    assert_eq!(faxes, [fax_ticket.as_str()], "only the gateway's mail is a fax");
    app.stop().await;
}
