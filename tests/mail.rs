//! E-mail and FAX-to-mail intake over a real SMTP socket: Japanese charsets, broken MIME,
//! threading, duplicates, loops, limits, fax gateways and acknowledgements.

mod common;

use common::mime::{actions, b64, encode, encoded_word, history, intake_detail, quoted_printable};
use common::smtp::{Smtp, send_mail, sink, ticket_of};
use common::{Db, TestApp, TestDb, spawn_app, spawn_with};
use serde_json::Value;

on_both_backends!(
    replies_thread_onto_their_ticket_and_duplicates_are_stored_once,
    a_stranger_quoting_a_ticket_number_opens_a_ticket_of_their_own,
    mail_with_too_many_attachments_is_stored_with_the_first_and_says_how_many_were_left_out,
);

const SUBJECT: &str = "パスワード初期化のお願い（至急）";
const BODY: &str = "お世話になっております。\nパスワードを忘れてしまいました。①②　ﾃｽﾄ\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn japanese_mail_in_every_charset_reads_correctly() {
    let app = spawn_app(Db::Sqlite, "charsets").await.unwrap();
    let head = |subject: String, id: &str, ctype: &str, cte: &str| {
        format!(
            "From: {} <yamada@example.go.jp>\r\nTo: helpdesk@example.jp\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.go.jp>\r\nMIME-Version: 1.0\r\nContent-Type: {ctype}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n",
            encoded_word("山田 太郎", "UTF-8")
        )
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for (charset, cte) in [
        ("ISO-2022-JP", "7bit"),
        ("Shift_JIS", "8bit"),
        ("EUC-JP", "base64"),
        ("UTF-8", "base64"),
        ("UTF-8", "quoted-printable"),
    ] {
        let bytes = encode(BODY, charset);
        let body = match cte {
            "base64" => b64(&bytes).into_bytes(),
            "quoted-printable" => quoted_printable(&bytes).into_bytes(),
            _ => bytes,
        };
        let subject = if cte == "quoted-printable" {
            format!("=?UTF-8?Q?{}?=", quoted_printable(SUBJECT.as_bytes()).replace(' ', "_").replace("=\r\n", ""))
        } else {
            encoded_word(SUBJECT, charset)
        };
        let mut raw =
            head(subject, &format!("{charset}-{cte}"), &format!("text/plain; charset={charset}"), cte).into_bytes();
        raw.extend_from_slice(&body);
        raw.extend_from_slice(b"\r\n");
        cases.push((if cte == "quoted-printable" { "UTF-8 quoted-printable" } else { charset }, raw));
    }
    for (name, raw) in cases {
        let reply = send_mail(app.mail, "yamada@example.go.jp", "helpdesk@example.jp", &raw).await;
        let t = app.ticket(&ticket_of(&reply)).await;
        assert_eq!(t["subject"], SUBJECT, "{name}");
        assert_eq!(t["channel"], "email", "{name}");
        assert_eq!(t["category"], "password_reset", "{name}: routed on the decoded text");
        let c = &t["contacts"][0];
        assert!(c["body"].as_str().unwrap().contains("パスワードを忘れてしまいました"), "{name}: {}", c["body"]);
        assert_eq!(c["display_name"], "山田 太郎", "{name}");
        assert_eq!(c["email"], "yamada@example.go.jp", "{name}");
        assert_eq!(t["attachments"][0]["filename"], "message.eml", "{name}: the original is kept");
    }

    // HTML only, alternative (text preferred), RFC 2231 file name, inline image.
    let html = format!(
        "{}<html><body><p>印刷が<b>できません</b></p><p>プリンタ：３Ｆ</p></body></html>\r\n",
        head("=?UTF-8?B?5Y2w5Yi344Gn44GN44Gq44GE?=".into(), "html", "text/html; charset=UTF-8", "8bit")
    );
    let t = app
        .ticket(&ticket_of(&send_mail(app.mail, "a@example.go.jp", "helpdesk@example.jp", html.as_bytes()).await))
        .await;
    let body = t["contacts"][0]["body"].as_str().unwrap();
    assert!(body.contains("印刷ができません") && body.contains("プリンタ：３Ｆ") && !body.contains("<p>"), "{body}");

    let pdf = b64(b"%PDF-1.4 /Type /Page");
    let png = b64(b"\x89PNG\r\n\x1a\nfake");
    let multipart = format!(
        "From: b@example.go.jp\r\nSubject: =?UTF-8?B?55Sz6KuL5pu4?=\r\nMessage-ID: <multi@example.go.jp>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n\
Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n--alt\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nテキスト版です\r\n\
--alt\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>HTML版です</p>\r\n--alt--\r\n\
--outer\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''%E7%94%B3%E8%AB%8B%E6%9B%B8.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n\
--outer\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\nContent-ID: <img1>\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--outer--\r\n"
    );
    let t = app
        .ticket(&ticket_of(&send_mail(app.mail, "b@example.go.jp", "helpdesk@example.jp", multipart.as_bytes()).await))
        .await;
    assert_eq!(t["subject"], "申請書");
    let body = t["contacts"][0]["body"].as_str().unwrap();
    assert!(body.contains("テキスト版です") && !body.contains("HTML版"), "{body}");
    let names: Vec<&str> =
        t["attachments"].as_array().unwrap().iter().map(|a| a["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["message.eml", "申請書.pdf", "attachment-2.png"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_mime_from_dovecot_still_becomes_tickets() {
    let app = spawn_app(Db::Sqlite, "malformed").await.unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mail-malformed");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 23);
    for file in files {
        let raw = std::fs::read(&file).unwrap();
        let reply = send_mail(app.mail, "sender@example.go.jp", "helpdesk@example.jp", &raw).await;
        let number = ticket_of(&reply);
        let t = app.ticket(&number).await;
        assert!(!t["contacts"].as_array().unwrap().is_empty(), "{}", file.display());
        assert_eq!(t["attachments"][0]["filename"], "message.eml", "{}: the original is kept", file.display());
    }
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    app.stop().await;
}

fn simple(id: &str, subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: Sato <sato@example.go.jp>\r\nTo: helpdesk@example.jp\r\nSubject: {}\r\nMessage-ID: <{id}>\r\n{extra_headers}Content-Type: text/plain; charset=UTF-8\r\n\r\n本文です。\r\n",
        encoded_word(subject, "UTF-8")
    )
    .into_bytes()
}

async fn replies_thread_onto_their_ticket_and_duplicates_are_stored_once(db: Db) {
    let Some(app) = spawn_app(db, "threading").await else { return };
    let send = |raw: Vec<u8>| {
        let addr = app.mail;
        async move { ticket_of(&send_mail(addr, "sato@example.go.jp", "helpdesk@example.jp", &raw).await) }
    };
    let first = send(simple("a1@example.go.jp", "VPNに接続できません", "")).await;
    let reply =
        send(simple("a2@example.go.jp", "Re: VPNに接続できません", "In-Reply-To: <a1@example.go.jp>\r\n")).await;
    assert_eq!(reply, first, "In-Reply-To threads");
    let deep =
        send(simple("a3@example.go.jp", "Re: Re: VPN", "References: <x@elsewhere> <a2@example.go.jp>\r\n")).await;
    assert_eq!(deep, first, "References threads");
    let by_subject = send(simple("a4@example.go.jp", &format!("Re: 【受付番号 {first}】"), "")).await;
    assert_eq!(by_subject, first, "the ticket number in the subject threads");
    let duplicate = send(simple("a1@example.go.jp", "VPNに接続できません", "")).await;
    assert_eq!(duplicate, first, "a repeated Message-ID answers with its ticket");
    let t = app.ticket(&first).await;
    assert_eq!(t["contact_count"], 4, "the duplicate is not stored twice");

    let other = send(simple("b1@example.go.jp", "別件です", "")).await;
    assert_ne!(other, first);
    assert_eq!(app.patch(&first, serde_json::json!({"status": "in_progress"})).await.0, 200);
    let close = serde_json::json!({"status": "closed", "resolution": "VPN設定を案内"});
    assert_eq!(app.patch(&first, close).await.0, 200);
    let after_close = send(simple("a5@example.go.jp", "Re: VPN", "In-Reply-To: <a1@example.go.jp>\r\n")).await;
    assert_ne!(after_close, first, "a reply to a closed ticket opens a new one");
    app.stop().await;
}

/// A ticket number (or a Message-ID) is not a key: a stranger who quotes one gets a ticket of
/// their own that names it; the ticket's participants and the trusted domains join it.
async fn a_stranger_quoting_a_ticket_number_opens_a_ticket_of_their_own(db: Db) {
    let Some(db) = TestDb::new(db, "strangers").await else { return };
    let app = spawn_with(db, |s| s.mail.trusted_domains = vec!["kanri.example.go.jp".into()]).await;
    let live = from_sato(&app, "s1@example.go.jp", "アカウントがロックされました", "").await;
    let from = |who: &str, id: &str, subject: &str, extra: &str| {
        format!(
            "From: {who}\r\nTo: helpdesk@example.jp\r\nSubject: {}\r\nMessage-ID: <{id}>\r\n{extra}\
Content-Type: text/plain; charset=UTF-8\r\n\r\n至急ご確認ください。\r\n",
            encoded_word(subject, "UTF-8")
        )
        .into_bytes()
    };
    let send = |envelope: &'static str, raw: Vec<u8>| {
        let addr = app.mail;
        async move { ticket_of(&send_mail(addr, envelope, "helpdesk@example.jp", &raw).await) }
    };

    let by_number = send(
        "attacker@evil.example",
        from("Attacker <attacker@evil.example>", "e1@evil.example", &format!("Re: 【受付番号 {live}】"), ""),
    )
    .await;
    assert_ne!(by_number, live, "a stranger quoting the number does not join the ticket");
    let t = app.ticket(&by_number).await;
    let mention = t["history"].as_array().unwrap().iter().find(|h| h["action"] == "mentions_ticket").cloned();
    assert_eq!(mention.expect("the new ticket names the one it mentioned")["detail"]["ticket"], live.as_str());

    let by_reference = send(
        "attacker@evil.example",
        from(
            "Attacker <attacker@evil.example>",
            "e2@evil.example",
            "Re: ロック",
            "In-Reply-To: <s1@example.go.jp>\r\n",
        ),
    )
    .await;
    assert_ne!(by_reference, live, "nor does one quoting its Message-ID");
    assert_eq!(app.ticket(&live).await["contact_count"], 1, "the live ticket got nothing from the stranger");

    let trusted = send(
        "kanri@kanri.example.go.jp",
        from("管理者 <kanri@kanri.example.go.jp>", "k1@kanri.example.go.jp", &format!("Re: 【受付番号 {live}】"), ""),
    )
    .await;
    assert_eq!(trusted, live, "a trusted domain joins");
    let participant = from_sato(&app, "s2@example.go.jp", &format!("Re: 【受付番号 {live}】"), "").await;
    assert_eq!(participant, live, "the person who wrote joins");
    app.stop().await;
}

/// Sato's mail (see [`simple`]) over SMTP; the ticket it was stored as.
async fn from_sato(app: &TestApp, id: &str, subject: &str, extra_headers: &str) -> String {
    ticket_of(
        &send_mail(app.mail, "sato@example.go.jp", "helpdesk@example.jp", &simple(id, subject, extra_headers)).await,
    )
}

async fn app_with_relay(relay: &str, adjust: impl FnOnce(&mut madoguchi::config::Settings)) -> TestApp {
    let db = TestDb::new(Db::Sqlite, "acks").await.unwrap();
    let relay = relay.to_owned();
    spawn_with(db, move |s| {
        s.notify.relay = relay;
        s.notify.retry_initial_secs = 1;
        adjust(s);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_carry_the_ticket_number_and_replies_to_them_thread() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut acks = sink(listener).await;
    let app = app_with_relay(&relay, |_| {}).await;

    let number = from_sato(&app, "q1@example.go.jp", "アカウントロック", "").await;
    let ack = tokio::time::timeout(std::time::Duration::from_secs(20), acks.recv())
        .await
        .expect("an acknowledgement arrives")
        .unwrap();
    assert!(ack.contains(&format!("X-Madoguchi-Ticket: {number}")), "{ack}");
    assert!(ack.contains("Auto-Submitted: auto-replied"), "{ack}");
    assert!(ack.contains("In-Reply-To: <q1@example.go.jp>"), "{ack}");
    assert!(ack.contains("To: sato@example.go.jp"), "{ack}");
    let decoded = madoguchi::mail::parse::parse(ack.as_bytes(), "helpdesk@x");
    assert!(decoded.subject.as_deref().unwrap().contains(&format!("【受付番号 {number}】")), "{:?}", decoded.subject);
    assert!(decoded.body.contains(&format!("受付番号は {number} です")), "{}", decoded.body);
    let ack_id = decoded.message_id.unwrap();

    // The person answers the acknowledgement (a mail client that drops the subject's number).
    let reply = simple("q2@example.go.jp", "Re: お問い合わせ", &format!("In-Reply-To: <{ack_id}>\r\n"));
    assert_eq!(ticket_of(&send_mail(app.mail, "sato@example.go.jp", "helpdesk@example.jp", &reply).await), number);
    let t = app.ticket(&number).await;
    assert!(actions(&t).contains(&"ack_queued".to_owned()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loops_are_recorded_but_never_acknowledged_and_acks_are_rate_limited() {
    let app = app_with_relay("", |_| {}).await;
    let cases = [
        ("Auto-Submitted: auto-replied\r\n", "sato@example.go.jp"),
        ("Precedence: bulk\r\n", "sato@example.go.jp"),
        ("X-Autoreply: yes\r\n", "sato@example.go.jp"),
        ("", ""),
    ];
    for (i, (header, envelope)) in cases.iter().enumerate() {
        let raw = simple(&format!("auto{i}@example.go.jp"), "自動応答: 不在です", header);
        let number = ticket_of(&send_mail(app.mail, envelope, "helpdesk@example.jp", &raw).await);
        let t = app.ticket(&number).await;
        let a = actions(&t);
        assert!(a.contains(&"ack_skipped".to_owned()) && !a.contains(&"ack_queued".to_owned()), "{header}: {a:?}");
    }
    let mut queued = 0;
    for i in 0..7 {
        let raw = simple(&format!("many{i}@example.go.jp"), &format!("問い合わせ {i}"), "");
        let number = ticket_of(&send_mail(app.mail, "busy@example.go.jp", "helpdesk@example.jp", &raw).await);
        if actions(&app.ticket(&number).await).contains(&"ack_queued".to_owned()) {
            queued += 1;
        }
    }
    assert_eq!(queued, 5, "at most ack_limit_per_hour acknowledgements per sender");
    app.stop().await;
}

fn skip_reasons(t: &Value) -> Vec<String> {
    history(t, "ack_skipped").iter().map(|h| h["detail"]["reason"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_go_to_the_envelope_sender_and_never_carry_a_link() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut acks = sink(listener).await;
    let app = app_with_relay(&relay, |s| s.mail.recipients = vec!["helpdesk@example.jp".into()]).await;

    // A forged From: with someone else's envelope: nobody is mailed, and the history says why.
    let forged = simple("spam1@example.go.jp", "当選のお知らせ", "");
    let number = ticket_of(&send_mail(app.mail, "victim@elsewhere.example", "helpdesk@example.jp", &forged).await);
    let t = app.ticket(&number).await;
    assert!(skip_reasons(&t).iter().any(|r| r.contains("envelope sender")), "{:?}", skip_reasons(&t));
    assert!(!actions(&t).contains(&"ack_queued".to_owned()));

    // A mailer's bounce address at the sender's own domain is answered, with no link repeated.
    let subject = "VPN障害 http://spam.example/buy?id=1 ｗｗｗ．ｐｒｉｚｅ．ｅｘａｍｐｌｅ win@prize.example";
    let linked = simple("q-link@example.go.jp", subject, "");
    let number = ticket_of(&send_mail(app.mail, "bounce-77@mail.example.go.jp", "helpdesk@example.jp", &linked).await);
    let ack = tokio::time::timeout(std::time::Duration::from_secs(20), acks.recv()).await.expect("an ack").unwrap();
    assert!(ack.contains("To: bounce-77@mail.example.go.jp"), "{ack}");
    assert!(ack.contains(&format!("X-Madoguchi-Ticket: {number}")), "the forged mail was not acknowledged: {ack}");
    let decoded = madoguchi::mail::parse::parse(ack.as_bytes(), "helpdesk@x");
    let text = format!("{:?} {}", decoded.subject, decoded.body);
    assert!(text.contains("VPN障害"), "{text}");
    for link in ["spam.example", "prize.example", "http", "ｐｒｉｚｅ", "@prize"] {
        assert!(!text.contains(link), "{link} repeated: {text}");
    }

    // A colleague at the helpdesk's own domain (the default ack_domains) writing for someone else.
    let staff = simple("q-staff@example.go.jp", "代理で問い合わせます", "");
    let number = ticket_of(&send_mail(app.mail, "staff@example.jp", "helpdesk@example.jp", &staff).await);
    let ack = tokio::time::timeout(std::time::Duration::from_secs(20), acks.recv()).await.expect("an ack").unwrap();
    assert!(ack.contains("To: staff@example.jp") && ack.contains(&number.to_string()), "{ack}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_to_everyone_together_are_rate_limited() {
    let app = app_with_relay("", |s| s.mail.ack_limit_global_per_minute = 3).await;
    let mut queued = 0;
    let mut withheld = Vec::new();
    for i in 0..6 {
        let raw = format!(
            "From: user{i}@site{i}.example\r\nTo: helpdesk@example.jp\r\nSubject: q{i}\r\nMessage-ID: <g{i}@x>\r\n\r\nbody\r\n"
        );
        let number = ticket_of(
            &send_mail(app.mail, &format!("user{i}@site{i}.example"), "helpdesk@example.jp", raw.as_bytes()).await,
        );
        let t = app.ticket(&number).await;
        if actions(&t).contains(&"ack_queued".to_owned()) {
            queued += 1;
        }
        withheld.extend(skip_reasons(&t));
    }
    assert_eq!(queued, 3, "{withheld:?}");
    assert_eq!(withheld.len(), 3, "{withheld:?}");
    assert!(withheld.iter().all(|r| r.contains("all acknowledgements")), "{withheld:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_are_retried_until_the_relay_answers() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let relay = probe.local_addr().unwrap();
    drop(probe);
    let app = app_with_relay(&relay.to_string(), |_| {}).await;
    let number = from_sato(&app, "r1@example.go.jp", "再送テスト", "").await;
    // Wait until the first attempt has failed, then bring the relay up: the retry finds it.
    let store = madoguchi::store::Store::connect(&app.db.url, 1).await.unwrap();
    let number_parsed: madoguchi::domain::TicketNumber = number.parse().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let outbox = store.outbox_of(&number_parsed).await.unwrap();
        if outbox.first().is_some_and(|(status, attempts)| status == "pending" && *attempts >= 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the first attempt never failed: {outbox:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store.close().await;
    let mut acks = sink(tokio::net::TcpListener::bind(relay).await.unwrap()).await;
    let ack = tokio::time::timeout(std::time::Duration::from_secs(30), acks.recv())
        .await
        .expect("retried acknowledgement")
        .unwrap();
    assert!(ack.contains(&number));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_size_recipients_and_commands() {
    let app = app_with_relay("", |s| {
        s.mail.max_message_bytes = 4096;
        s.mail.recipients = vec!["helpdesk@example.jp".into(), "@fax.example.jp".into()];
    })
    .await;
    let (mut s, code) = Smtp::connect(app.mail).await;
    assert_eq!(code, 220);
    let (code, ehlo) = s.cmd("EHLO client.example").await;
    assert_eq!(code, 250);
    for ext in ["PIPELINING", "8BITMIME", "SIZE 4096", "ENHANCEDSTATUSCODES"] {
        assert!(ehlo.contains(ext), "{ehlo}");
    }
    assert_eq!(s.cmd("VRFY root").await.0, 502);
    assert_eq!(s.cmd("MAIL FROM:<a@example.go.jp> SIZE=999999").await.0, 552);
    assert_eq!(s.cmd("MAIL FROM:<a@example.go.jp>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<stranger@example.jp>").await.0, 550);
    assert_eq!(s.cmd("RCPT TO:<scan@fax.example.jp>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    let big = format!("Subject: big\r\n\r\n{}\r\n", "あ".repeat(3000));
    assert_eq!(s.data(big.as_bytes()).await.0, 552, "oversize after DATA");
    // The session goes on: a normal message is accepted on the same connection.
    assert_eq!(s.cmd("MAIL FROM:<a@example.go.jp>").await.0, 250);
    assert_eq!(s.cmd("RCPT TO:<helpdesk@example.jp>").await.0, 250);
    assert_eq!(s.cmd("DATA").await.0, 354);
    assert_eq!(s.data(&simple("small@example.go.jp", "小さい", "")).await.0, 250);
    assert_eq!(s.cmd("QUIT").await.0, 221);

    // Pipelined: all commands in one write, replies in order.
    let (mut s, _) = Smtp::connect(app.mail).await;
    s.send_raw(b"EHLO c\r\nMAIL FROM:<p@example.go.jp>\r\nRCPT TO:<helpdesk@example.jp>\r\nDATA\r\n").await;
    assert_eq!(s.reply().await.0, 250);
    assert_eq!(s.reply().await.0, 250);
    assert_eq!(s.reply().await.0, 250);
    assert_eq!(s.reply().await.0, 354);
    assert_eq!(s.data(&simple("pipe@example.go.jp", "パイプライン", "")).await.0, 250);
    app.stop().await;
}

/// The first reply on a connection from `source` to `to`, within five seconds.
async fn greeting_from(source: &str, to: std::net::SocketAddr) -> (u16, tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let mut stream = socket.connect(to).await.unwrap();
    let mut buf = [0u8; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("a reply at once, not silence")
        .unwrap();
    let code = String::from_utf8_lossy(&buf[..n])[..3].parse().unwrap();
    (code, stream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_beyond_the_connection_limits_hear_421_at_once() {
    let app = app_with_relay("", |s| {
        s.mail.max_connections = 3;
        s.mail.max_connections_per_source = 2;
    })
    .await;
    let (a, _keep_a) = greeting_from("127.0.0.1", app.mail).await;
    let (b, keep_b) = greeting_from("127.0.0.1", app.mail).await;
    assert_eq!((a, b), (220, 220));
    assert_eq!(greeting_from("127.0.0.1", app.mail).await.0, 421, "a third from one address");
    let (c, _keep_c) = greeting_from("127.0.0.2", app.mail).await;
    assert_eq!(c, 220, "another address still gets in");
    assert_eq!(greeting_from("127.0.0.3", app.mail).await.0, 421, "beyond max_connections");
    drop(keep_b);
    let mut answered = 0;
    for _ in 0..50 {
        if greeting_from("127.0.0.1", app.mail).await.0 == 220 {
            answered += 1;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(answered, 1, "a closed connection frees its place");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fax_gateway_mail_becomes_a_fax_ticket() {
    let app = spawn_app(Db::Sqlite, "fax").await.unwrap();
    let pdf = b64(b"%PDF-1.4\n3 0 obj << /Type /Page >>\n4 0 obj << /Type /Page >>\n5 0 obj << /Type /Page >>\n");
    let hylafax = format!(
        "From: FAX Agent <fax@faxsrv.example.jp>\r\nTo: helpdesk@example.jp\r\nSubject: Fax received from \"+81 3 1234 5678\"\r\nMime-Version: 1.0\r\n\
Content-Type: Multipart/Mixed; Boundary=\"NextPart4711\"\r\n\r\n--NextPart4711\r\nContent-type: text/plain; charset=us-ascii\r\n\r\n\
recvq/fax00012.tif:\r\n          Sender: +81 3 1234 5678\r\n           Pages: 2\r\n        Received: 2024:05:14 10:23:45\r\n         CallID1: 0312345678\r\n          CommID: 000000123\r\n\
--NextPart4711\r\nContent-Type: application/pdf; name=\"fax00012.pdf\"\r\nContent-Disposition: attachment; filename=\"fax00012.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--NextPart4711--\r\n"
    );
    let freepbx = format!(
        "From: \"Fax Service\" <fax@pbx.example.jp>\r\nTo: helpdesk@example.jp\r\nSubject: New fax from: \"ACME\" <0612345678>\r\nMessage-ID: <6642bd2d1a2b3@pbx.example.jp>\r\nMime-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B_ATC_1\"\r\n\r\n--B_ATC_1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
Enclosed, please find a new fax from: \"ACME\" <0612345678>\r\nReceived & processed: Tue, 14 May 2024 10:24:37 +0900\r\nOn: pbx.example.jp\r\n\
--B_ATC_1\r\nContent-type: application/pdf; name=\"1715649877.123.pdf\"\r\nContent-Disposition: attachment;\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n--B_ATC_1--\r\n"
    );
    let tiff = b64(&[b'I', b'I', 42, 0, 8, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mfp = format!(
        "From: mfp-3f@example.jp\r\nTo: helpdesk@example.jp\r\nSubject: From 0451234567 (ACME) (Fax Message No. 0042)\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"R\"\r\n\r\n--R\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nこのメールは「RNP0026」(“RICOH MP 5054”)から送信されたものです。\r\n\
--R\r\nContent-Type: image/tiff; name=\"0042.tif\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{tiff}\r\n--R--\r\n"
    );
    for (raw, profile, number, pages) in [
        (hylafax, "hylafax", "0312345678", 2),
        (freepbx, "freepbx", "0612345678", 3),
        (mfp, "mfp-forward", "0451234567", 2),
    ] {
        let t = app
            .ticket(&ticket_of(
                &send_mail(app.mail, "fax@gateway.example.jp", "helpdesk@example.jp", raw.as_bytes()).await,
            ))
            .await;
        assert_eq!(t["channel"], "fax", "{profile}");
        assert_eq!(t["contacts"][0]["fax_number"], number, "{profile}");
        let details =
            t["history"].as_array().unwrap().iter().find(|h| h["action"] == "intake_details").expect("fax details");
        assert_eq!(details["detail"]["details"]["fax"]["profile"], profile);
        assert_eq!(details["detail"]["details"]["fax"]["pages"], pages, "{profile}");
        assert!(t["contacts"][0]["body"].as_str().unwrap().starts_with("[FAX] 送信元 / from:"), "{profile}");
        assert!(t["attachments"].as_array().unwrap().len() >= 2, "{profile}: the document is kept");
        assert!(actions(&t).contains(&"ack_skipped".to_owned()), "{profile}: a fax gateway is not acknowledged");
    }
    let (_, faxes) = app.get_json("/api/tickets?channel=fax&caller=03-1234-5678").await;
    assert_eq!(faxes["tickets"].as_array().unwrap().len(), 1, "found by the sender's fax number in any format");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_answers_451_so_the_mta_retries() {
    let Some(app) = spawn_app(Db::Postgres, "a_store_that_fails_answers_451").await else { return };
    let first =
        send_mail(app.mail, "sato@example.go.jp", "helpdesk@example.jp", &simple("f1@example.go.jp", "前", "")).await;
    assert_eq!(first.0, 250);
    // The database goes away under the running service.
    app.db.cleanup().await;
    let reply =
        send_mail(app.mail, "sato@example.go.jp", "helpdesk@example.jp", &simple("f2@example.go.jp", "後", "")).await;
    assert_eq!(reply.0, 451, "{}", reply.1);
    assert!(reply.1.contains("try again later"), "{}", reply.1);
    app.stop().await;
}

/// A mail is never lost for carrying more attachments than a contact may have: it becomes a
/// ticket with the original message and the first parts, and the history counts the rest.
async fn mail_with_too_many_attachments_is_stored_with_the_first_and_says_how_many_were_left_out(db: Db) {
    let Some(test_db) = TestDb::new(db, "mail_with_too_many_attachments").await else { return };
    let app = spawn_with(test_db, |s| s.intake.max_attachments_per_contact = 3).await;
    let mut raw = String::from(
        "From: sato@example.go.jp\r\nTo: helpdesk@example.jp\r\nSubject: scans\r\nMessage-ID: <many@example.go.jp>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nscans attached\r\n",
    );
    for i in 1..=7 {
        raw.push_str(&format!(
            "--b\r\nContent-Type: application/pdf; name=\"scan{i}.pdf\"\r\nContent-Disposition: attachment; filename=\"scan{i}.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(format!("%PDF-1.4 page {i}").as_bytes())
        ));
    }
    raw.push_str("--b--\r\n");
    let reply = send_mail(app.mail, "sato@example.go.jp", "helpdesk@example.jp", raw.as_bytes()).await;
    let t = app.ticket(&ticket_of(&reply)).await;
    let names: Vec<&str> =
        t["attachments"].as_array().unwrap().iter().map(|a| a["filename"].as_str().unwrap()).collect();
    assert_eq!(names, ["message.eml", "scan1.pdf", "scan2.pdf"], "{t}");
    let left_out = intake_detail(&t, "attachments_left_out");
    assert_eq!(left_out["count"], 5, "{t}");
    assert_eq!(left_out["limit"], 3, "{t}");
    // Nothing is lost: the original message, every part in it, is kept.
    let id = t["attachments"][0]["id"].as_i64().unwrap();
    let original =
        app.client.get(app.url(&format!("/api/attachments/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(original.contains("scan7.pdf"), "{original}");
    app.stop().await;
}
