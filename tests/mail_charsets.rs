//! Mail as Japanese clients really write it, over a real SMTP socket: ISO-2022-JP, Shift_JIS,
//! EUC-JP and UTF-8 that declare no charset (in the body and in raw headers), the characters
//! Windows adds to JIS X 0208 (① ㈱ 髙 﨑 ⅰ ～ and half-width katakana) under every label
//! family, base64 with stray characters and broken quoted-printable. Each ticket shows exactly the
//! text that was written, and its history names the charsets that had to be guessed.

mod common;

use common::mime::{b_word, b64, intake_detail, quoted_printable};
use common::smtp::{send_mail, ticket_of};
use common::{Db, TestApp, spawn_app};
use encoding_rs::{EUC_JP, Encoding, ISO_2022_JP, SHIFT_JIS};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn encode(text: &str, encoding: &'static Encoding) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "{text} in {}", encoding.name());
    bytes.into_owned()
}

fn sjis(text: &str) -> Vec<u8> {
    encode(text, SHIFT_JIS)
}

fn euc(text: &str) -> Vec<u8> {
    encode(text, EUC_JP)
}

/// ISO-2022-JP as encoding_rs writes it (each call ends in ESC ( B, so joined pieces carry the
/// redundant escapes Windows writes).
fn jis(text: &str) -> Vec<u8> {
    encode(text, ISO_2022_JP)
}

/// Half-width katakana in ISO-2022-JP's own way, ESC ( I (encoding_rs writes them full-width).
fn jis_kana(text: &str) -> Vec<u8> {
    let mut out = b"\x1b(I".to_vec();
    out.extend(text.chars().map(|c| (c as u32 - 0xFF61 + 0x21) as u8));
    out.extend_from_slice(b"\x1b(B");
    out
}

fn q_word(charset: &str, bytes: &[u8]) -> String {
    let text: String = bytes
        .iter()
        .map(|&b| match b {
            b' ' => "_".to_owned(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("={b:02X}"),
        })
        .collect();
    format!("=?{charset}?Q?{text}?=")
}

fn percent(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A message: header lines (raw bytes allowed), an empty line, the body.
fn message(headers: &[&[u8]], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for header in headers {
        out.extend_from_slice(header);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
    out
}

fn header(name: &str, value: &[u8]) -> Vec<u8> {
    [format!("{name}: ").as_bytes(), value].concat()
}

fn cat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

/// One mail and what its ticket must show.
struct Case {
    name: &'static str,
    raw: Vec<u8>,
    subject: &'static str,
    sender: &'static str,
    body: &'static str,
    /// File name and content of each attachment after the kept original (`message.eml`).
    files: Vec<(&'static str, Vec<u8>)>,
    /// `history[intake_details].detail.details.charset_guess`, null when nothing was guessed.
    guess: Value,
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\nendobj\n%%EOF\n";

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();
    let common = |id: &str| -> Vec<Vec<u8>> {
        vec![b"To: helpdesk@example.jp".to_vec(), format!("Message-ID: <{id}@example.go.jp>").into_bytes()]
    };
    let build = |id: &str, mut headers: Vec<Vec<u8>>, body: &[u8]| {
        headers.extend(common(id));
        let refs: Vec<&[u8]> = headers.iter().map(Vec::as_slice).collect();
        message(&refs, body)
    };

    // Outlook and older mailers: ISO-2022-JP everywhere, no MIME headers, no encoded words.
    cases.push(Case {
        name: "undeclared ISO-2022-JP",
        raw: build(
            "u-jis",
            vec![
                header("From", &cat(&[&jis("山田 太郎"), b" <yamada@example.go.jp>"])),
                header("Subject", &jis("【至急】パスワード初期化のお願い①")),
            ],
            &jis("お世話になっております。\n総務課の山田です。\nパスワードを初期化してください。①㈱髙～"),
        ),
        subject: "【至急】パスワード初期化のお願い①",
        sender: "山田 太郎",
        body: "お世話になっております。\n総務課の山田です。\nパスワードを初期化してください。①㈱髙～",
        files: vec![],
        guess: json!({"body": "ISO-2022-JP", "from": "ISO-2022-JP", "subject": "ISO-2022-JP"}),
    });

    cases.push(Case {
        name: "undeclared 8-bit Shift_JIS",
        raw: build(
            "u-sjis",
            vec![
                header("From", &cat(&[&sjis("髙橋 一郎"), b" <takahashi@example.go.jp>"])),
                header("Subject", &sjis("プリンタが印刷できません（３Ｆ）①")),
            ],
            &sjis("３階のプリンタで印刷できません。\nエラー表示：ﾄﾅｰ ｴﾝﾌﾟﾃｨ\n㈱髙﨑ⅰ～"),
        ),
        subject: "プリンタが印刷できません（３Ｆ）①",
        sender: "髙橋 一郎",
        body: "３階のプリンタで印刷できません。\nエラー表示：ﾄﾅｰ ｴﾝﾌﾟﾃｨ\n㈱髙﨑ⅰ～",
        files: vec![],
        guess: json!({"body": "Shift_JIS", "from": "Shift_JIS", "subject": "Shift_JIS"}),
    });

    cases.push(Case {
        name: "undeclared EUC-JP",
        raw: build(
            "u-euc",
            vec![
                header(
                    "From",
                    format!("{} <suzuki@example.go.jp>", b_word("UTF-8", "鈴木 次郎".as_bytes())).as_bytes(),
                ),
                header("Subject", &euc("ネットワーク障害のお知らせ")),
                b"MIME-Version: 1.0".to_vec(),
                b"Content-Type: text/plain".to_vec(),
                b"Content-Transfer-Encoding: 8bit".to_vec(),
            ],
            &euc("ネットワークに接続できません。\n①㈱髙～ﾃｽﾄ"),
        ),
        subject: "ネットワーク障害のお知らせ",
        sender: "鈴木 次郎",
        body: "ネットワークに接続できません。\n①㈱髙～ﾃｽﾄ",
        files: vec![],
        guess: json!({"body": "EUC-JP", "subject": "EUC-JP"}),
    });

    cases.push(Case {
        name: "undeclared UTF-8 headers",
        raw: build(
            "u-utf8",
            vec![
                header("From", "佐藤 花子 <sato@example.go.jp>".as_bytes()),
                header("Subject", "アカウントがロックされました".as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                b"Content-Type: text/plain; charset=UTF-8".to_vec(),
                b"Content-Transfer-Encoding: 8bit".to_vec(),
            ],
            "ロック解除をお願いします。①㈱髙～ﾃｽﾄ".as_bytes(),
        ),
        subject: "アカウントがロックされました",
        sender: "佐藤 花子",
        body: "ロック解除をお願いします。①㈱髙～ﾃｽﾄ",
        files: vec![],
        guess: json!({"from": "UTF-8", "subject": "UTF-8"}),
    });

    let multipart = |text_headers: &str, text: &[u8], attachment_headers: &str, content: &[u8]| {
        cat(&[
            b"--b1\r\n",
            text_headers.as_bytes(),
            b"\r\n\r\n",
            text,
            b"\r\n--b1\r\n",
            attachment_headers.as_bytes(),
            b"\r\n\r\n",
            content,
            b"\r\n--b1--",
        ])
    };
    let mixed = b"Content-Type: multipart/mixed; boundary=\"b1\"".to_vec();

    cases.push(Case {
        name: "Shift_JIS labelled",
        raw: build(
            "l-sjis",
            vec![
                header("From", format!("{} <takahashi@example.go.jp>", b_word("SJIS", &sjis("髙橋 ﾀﾛｳ"))).as_bytes()),
                header("Subject", b_word("Shift_JIS", &sjis("ﾃｽﾄ送信①㈱髙～")).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                mixed.clone(),
            ],
            &multipart(
                "Content-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: 8bit",
                &sjis("本文です。①㈱髙﨑ⅰ～ﾃｽﾄ"),
                &format!(
                    "Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n filename=\"{}\"\r\nContent-Transfer-Encoding: base64",
                    b_word("x-sjis", &sjis("申請書①ﾃｽﾄ.pdf"))
                ),
                b64(PDF).as_bytes(),
            ),
        ),
        subject: "ﾃｽﾄ送信①㈱髙～",
        sender: "髙橋 ﾀﾛｳ",
        body: "本文です。①㈱髙﨑ⅰ～ﾃｽﾄ",
        files: vec![("申請書①ﾃｽﾄ.pdf", PDF.to_vec())],
        guess: Value::Null,
    });

    cases.push(Case {
        name: "CP932 labelled",
        raw: build(
            "l-cp932",
            vec![
                header("From", format!("{} <ito@example.go.jp>", q_word("MS932", &sjis("伊藤 ①"))).as_bytes()),
                header("Subject", b_word("CP932", &sjis("髙﨑ⅰ～の件")).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                mixed.clone(),
            ],
            &multipart(
                "Content-Type: text/plain; charset=CP932\r\nContent-Transfer-Encoding: base64",
                b64(&sjis("よろしくお願いします。㈱髙～ﾃｽﾄ")).as_bytes(),
                &format!(
                    "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=CP932''{}\r\nContent-Transfer-Encoding: base64",
                    percent(&sjis("髙﨑ⅰ～.pdf"))
                ),
                b64(PDF).as_bytes(),
            ),
        ),
        subject: "髙﨑ⅰ～の件",
        sender: "伊藤 ①",
        body: "よろしくお願いします。㈱髙～ﾃｽﾄ",
        files: vec![("髙﨑ⅰ～.pdf", PDF.to_vec())],
        guess: Value::Null,
    });

    // RFC 2231 continuations split between the two bytes of 髙.
    let name = sjis("髙橋ﾒﾓ①.txt");
    cases.push(Case {
        name: "Windows-31J labelled",
        raw: build(
            "l-w31j",
            vec![
                header("From", format!("\"{}\" <kato@example.go.jp>", b_word("windows-31j", &sjis("加藤 ㈱"))).as_bytes()),
                header("Subject", b_word("Windows-31J", &sjis("申請について～①")).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                mixed.clone(),
            ],
            &multipart(
                "Content-Type: text/plain; charset=Windows-31J\r\nContent-Transfer-Encoding: quoted-printable",
                quoted_printable(&sjis("申請書を送ります。\n髙﨑ⅰ～ﾃｽﾄ①㈱")).as_bytes(),
                &format!(
                    "Content-Type: text/plain; charset=CP932\r\nContent-Disposition: attachment;\r\n filename*0*=windows-31j''{};\r\n filename*1*={}\r\nContent-Transfer-Encoding: base64",
                    percent(&name[..1]),
                    percent(&name[1..])
                ),
                b64(&sjis("メモ①髙")).as_bytes(),
            ),
        ),
        subject: "申請について～①",
        sender: "加藤 ㈱",
        body: "申請書を送ります。\n髙﨑ⅰ～ﾃｽﾄ①㈱",
        // A text file keeps its own bytes, in its own charset.
        files: vec![("髙橋ﾒﾓ①.txt", sjis("メモ①髙"))],
        guess: Value::Null,
    });

    cases.push(Case {
        name: "ISO-2022-JP labelled, half-width katakana by ESC ( I",
        raw: build(
            "l-jis",
            vec![
                header("From", format!("{} <yamamoto@example.go.jp>", b_word("ISO-2022-JP", &cat(&[&jis("山本 "), &jis_kana("ﾀﾛｳ")]))).as_bytes()),
                header("Subject", b_word("ISO-2022-JP", &cat(&[&jis("テスト "), &jis_kana("ﾃｽﾄ"), &jis("①")])).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                mixed.clone(),
            ],
            &multipart(
                "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit",
                &cat(&[&jis("お問い合わせです。\n"), &jis_kana("ｶﾀｶﾅ"), &jis("と①㈱髙﨑ⅰ～")]),
                &format!(
                    "Content-Type: application/octet-stream; name=\"{}\"\r\nContent-Disposition: attachment\r\nContent-Transfer-Encoding: base64",
                    b_word("ISO-2022-JP", &cat(&[&jis_kana("ﾌｧｲﾙ"), &jis("①")]))
                ),
                b64(b"data").as_bytes(),
            ),
        ),
        subject: "テスト ﾃｽﾄ①",
        sender: "山本 ﾀﾛｳ",
        body: "お問い合わせです。\nｶﾀｶﾅと①㈱髙﨑ⅰ～",
        files: vec![("ﾌｧｲﾙ①", b"data".to_vec())],
        guess: Value::Null,
    });

    cases.push(Case {
        name: "ISO-2022-JP-MS labelled",
        raw: build(
            "l-jisms",
            vec![
                header("From", format!("{} <nakamura@example.go.jp>", b_word("ISO-2022-JP-MS", &jis("中村 髙"))).as_bytes()),
                header("Subject", b_word("ISO-2022-JP-MS", &jis("髙﨑ⅰ～の申請")).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                mixed.clone(),
            ],
            &multipart(
                "Content-Type: text/plain; charset=ISO-2022-JP-MS\r\nContent-Transfer-Encoding: base64",
                b64(&jis("添付します。\n①㈱髙﨑ⅰ～")).as_bytes(),
                &format!(
                    "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*=ISO-2022-JP-MS'ja'{}\r\nContent-Transfer-Encoding: base64",
                    percent(&jis("①資料.pdf"))
                ),
                b64(PDF).as_bytes(),
            ),
        ),
        subject: "髙﨑ⅰ～の申請",
        sender: "中村 髙",
        body: "添付します。\n①㈱髙﨑ⅰ～",
        files: vec![("①資料.pdf", PDF.to_vec())],
        guess: Value::Null,
    });

    // Windows writes an escape sequence per run, even back to back.
    cases.push(Case {
        name: "CP50220 labelled, redundant escapes",
        raw: build(
            "l-cp50220",
            vec![
                header(
                    "From",
                    format!("{} <kobayashi@example.go.jp>", b_word("CP50220", &cat(&[&jis("小林"), &jis("①")])))
                        .as_bytes(),
                ),
                header("Subject", b_word("CP50220", &cat(&[&jis("件名"), &jis("～"), b"\x1b(B"])).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                b"Content-Type: text/plain; charset=CP50220".to_vec(),
            ],
            &cat(&[&jis("本文"), &jis("①㈱"), b"\x1b(B\x1b(B", &jis("髙～")]),
        ),
        subject: "件名～",
        sender: "小林①",
        body: "本文①㈱髙～",
        files: vec![],
        guess: Value::Null,
    });

    // CP50222 shifts half-width katakana in and out with SO and SI.
    cases.push(Case {
        name: "CP50221 and CP50222 labelled, half-width katakana",
        raw: build(
            "l-cp5022x",
            vec![
                header(
                    "From",
                    format!("{} <kimura@example.go.jp>", b_word("CP50221", &cat(&[&jis("木村 "), &jis_kana("ｹﾝ")])))
                        .as_bytes(),
                ),
                header("Subject", b_word("CP50221", &cat(&[&jis_kana("ｹｲﾔｸ"), &jis("更新①")])).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                b"Content-Type: text/plain; charset=CP50222".to_vec(),
            ],
            &cat(&[&jis("契約"), b"\x1b(J\x0e9=3=\x0f", &jis("①㈱髙～")]),
        ),
        subject: "ｹｲﾔｸ更新①",
        sender: "木村 ｹﾝ",
        body: "契約ｹｽｳｽ①㈱髙～",
        files: vec![],
        guess: Value::Null,
    });

    cases.push(Case {
        name: "EUC-JP labelled (EUC-JP, eucJP-ms, CP51932)",
        raw: build(
            "l-euc",
            vec![
                header("From", format!("{} <matsumoto@example.go.jp>", b_word("eucJP-ms", &euc("松本 髙"))).as_bytes()),
                header("Subject", b_word("EUC-JP", &euc("①㈱髙～ﾃｽﾄ")).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                mixed.clone(),
            ],
            &multipart(
                "Content-Type: text/plain; charset=CP51932\r\nContent-Transfer-Encoding: 8bit",
                &euc("ご確認ください。\n①㈱髙﨑ⅰ～ﾃｽﾄ"),
                &format!(
                    "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"{}\"\r\nContent-Transfer-Encoding: base64",
                    b_word("EUC-JP", &euc("報告書ﾃｽﾄ①.pdf"))
                ),
                b64(PDF).as_bytes(),
            ),
        ),
        subject: "①㈱髙～ﾃｽﾄ",
        sender: "松本 髙",
        body: "ご確認ください。\n①㈱髙﨑ⅰ～ﾃｽﾄ",
        files: vec![("報告書ﾃｽﾄ①.pdf", PDF.to_vec())],
        guess: Value::Null,
    });

    // RFC 2045 §6.8: characters outside the base64 alphabet are ignored.
    let stray = |encoded: String| {
        let (head, tail) = encoded.split_at(encoded.len() / 2);
        format!("{head}!\r\n {tail}\r\n*****************")
    };
    let subject = b64("障害報告".as_bytes());
    cases.push(Case {
        name: "base64 with stray characters",
        raw: build(
            "b64",
            vec![
                header("From", format!("{} <mori@example.go.jp>", b_word("UTF-8", "森 ①".as_bytes())).as_bytes()),
                header("Subject", format!("=?UTF-8?B?{}!{}?=", &subject[..4], &subject[4..]).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                mixed.clone(),
            ],
            &multipart(
                "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: base64",
                stray(b64(&jis("サーバーが停止しています。\n①㈱髙～"))).as_bytes(),
                "Content-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\nContent-Transfer-Encoding: base64",
                stray(b64(PDF)).as_bytes(),
            ),
        ),
        subject: "障害報告",
        sender: "森 ①",
        body: "サーバーが停止しています。\n①㈱髙～",
        files: vec![("report.pdf", PDF.to_vec())],
        guess: Value::Null,
    });

    cases.push(Case {
        name: "broken quoted-printable",
        raw: build(
            "qp",
            vec![
                header("From", b"=?utf-8?q?=e6=b8=85=e6=b0=b4?= <shimizu@example.go.jp>"),
                header("Subject", b"=?utf-8?q?=e3=83=86=e3=82=b9=e3=83=88_QP?="),
                b"MIME-Version: 1.0".to_vec(),
                b"Content-Type: text/plain; charset=UTF-8".to_vec(),
                b"Content-Transfer-Encoding: quoted-printable".to_vec(),
            ],
            b"=E3=81=8A=e5=95=8f=E3=81=84=E5=90=88=E3=82=8F=E3=81=9B  \r\n1+1==2, a=b, =zz 100%\r\nsoft=  \r\nbreak done=",
        ),
        subject: "テスト QP",
        sender: "清水",
        body: "お問い合わせ\n1+1==2, a=b, =zz 100%\nsoftbreak done",
        files: vec![],
        guess: Value::Null,
    });

    cases.push(Case {
        name: "labels that do not fit the bytes",
        raw: build(
            "mislabelled",
            vec![
                header("From", format!("{} <okada@example.go.jp>", b_word("us-ascii", &sjis("岡田"))).as_bytes()),
                header("Subject", b_word("UTF-8", &sjis("文字化け①")).as_bytes()),
                b"MIME-Version: 1.0".to_vec(),
                b"Content-Type: multipart/alternative; boundary=\"b1\"".to_vec(),
            ],
            &cat(&[b"--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", &sjis("本文①ﾃｽﾄ"), b"\r\n--b1--"]),
        ),
        subject: "文字化け①",
        sender: "岡田",
        body: "本文①ﾃｽﾄ",
        files: vec![],
        guess: json!({"body": "Shift_JIS", "from": "Shift_JIS", "subject": "Shift_JIS"}),
    });
    cases
}

fn charset_guess(ticket: &Value) -> Value {
    intake_detail(ticket, "charset_guess")
}

async fn attachment(app: &TestApp, id: &Value) -> Vec<u8> {
    let response = app.client.get(app.url(&format!("/api/attachments/{id}"))).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn japanese_mail_as_clients_write_it_reads_exactly() {
    let app = spawn_app(Db::Sqlite, "mail_charsets").await.unwrap();
    let cases = corpus();
    assert!(cases.len() >= 12);
    for case in cases {
        let name = case.name;
        let reply = send_mail(app.mail, "sender@example.go.jp", "helpdesk@example.jp", &case.raw).await;
        let (status, t) = app.get_json(&format!("/api/tickets/{}", ticket_of(&reply))).await;
        assert_eq!(status, 200, "{name}: {t}");
        assert_eq!(t["subject"], case.subject, "{name}");
        let contact = &t["contacts"][0];
        assert_eq!(contact["display_name"], case.sender, "{name}");
        assert_eq!(contact["body"], case.body, "{name}");
        let attachments = t["attachments"].as_array().unwrap();
        assert_eq!(attachments[0]["filename"], "message.eml", "{name}");
        let names: Vec<&str> = attachments[1..].iter().map(|a| a["filename"].as_str().unwrap()).collect();
        let want: Vec<&str> = case.files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, want, "{name}");
        for (a, (file, content)) in attachments[1..].iter().zip(&case.files) {
            assert_eq!(a["sha256"], hex::encode(Sha256::digest(content)), "{name}: {file}");
            assert_eq!(&attachment(&app, &a["id"]).await, content, "{name}: {file}");
        }
        assert_eq!(charset_guess(&t), case.guess, "{name}");
    }
    app.stop().await;
}

/// An old client or a copier's scan-to-mail says HELO (so no 8BITMIME was offered), names
/// itself in Shift_JIS, and sends 8-bit Shift_JIS with no MIME header at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_bit_text_after_helo_is_read_by_its_charset() {
    let Some(app) = spawn_app(Db::Sqlite, "helo-8bit").await else { return };
    let (mut smtp, greeting) = common::smtp::Smtp::connect(app.mail).await;
    assert_eq!(greeting, 220);
    let mut helo = b"HELO ".to_vec();
    helo.extend(sjis("総務課複合機"));
    helo.extend_from_slice(b"\r\n");
    smtp.send_raw(&helo).await;
    assert_eq!(smtp.reply().await.0, 250, "an 8-bit HELO name is not refused");
    assert_eq!(smtp.cmd("MAIL FROM:<soumu@mhlw.go.jp>").await.0, 250);
    assert_eq!(smtp.cmd("RCPT TO:<helpdesk@example.go.jp>").await.0, 250);
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    let mut message = b"From: soumu@mhlw.go.jp\r\nSubject: ".to_vec();
    message.extend(sjis("プリンタが印刷できません"));
    message.extend_from_slice(b"\r\n\r\n");
    message.extend(sjis("３階の複合機で印刷ジョブが止まったままです。\r\n"));
    let reply = smtp.data(&message).await;
    assert_eq!(reply.0, 250, "{}", reply.1);
    let ticket = app.ticket(&ticket_of(&reply)).await;
    assert_eq!(ticket["subject"], "プリンタが印刷できません");
    let body = ticket["contacts"][0]["body"].as_str().unwrap();
    assert!(body.contains("３階の複合機で印刷ジョブが止まったままです。"), "{body}");
    assert!(!ticket.to_string().contains('\u{FFFD}'), "no replacement characters anywhere: {ticket}");
    let guessed = intake_detail(&ticket, "charset_guess");
    assert_eq!(guessed["body"], "Shift_JIS", "{guessed}");
    app.stop().await;
}
