//! Interop with programs nobody here wrote, as an admin would test the service: swaks (from
//! Debian) sends mail, in plain text and over STARTTLS with a certificate made by openssl.
//! `.ci/run` installs them; elsewhere a missing tool skips its test loudly (under CI it fails).

mod common;

use common::{Db, TestDb, self_signed, spawn_with, tool};
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swaks_delivers_plain_and_over_starttls() {
    let test = "swaks_delivers_plain_and_over_starttls";
    if !tool("swaks", test) || !tool("openssl", test) {
        return;
    }
    let db = TestDb::new(Db::Sqlite, test).await.unwrap();
    let (cert, key) = self_signed(db.dir.path());
    let app = spawn_with(db, move |s| {
        s.mail.tls_cert = cert;
        s.mail.tls_key = key;
        s.mail.recipients = vec!["helpdesk@example.jp".into()];
    })
    .await;
    let server = app.mail.to_string();
    let pdf = app.db.dir.path().join("申請書.pdf");
    std::fs::write(&pdf, b"%PDF-1.4 /Type /Page").unwrap();
    let swaks = |extra: &[&str]| {
        let mut cmd = Command::new("swaks");
        cmd.args([
            "--server",
            &server,
            "--from",
            "sato@example.go.jp",
            "--to",
            "helpdesk@example.jp",
            "--helo",
            "client.example",
        ]);
        cmd.args(extra);
        let out = cmd.output().expect("swaks runs");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = swaks(&[
        "--header",
        "Subject: =?UTF-8?B?44OR44K544Ov44O844OJ44KS5b+Y44KM44G+44GX44Gf?=",
        "--header",
        "Content-Type: text/plain; charset=UTF-8",
        "--body",
        "初期化をお願いします。",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let number = out
        .lines()
        .find_map(|l| l.split("stored as ticket ").nth(1))
        .expect("the ticket number in the 250")
        .trim()
        .to_owned();
    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    assert_eq!(t["subject"], "パスワードを忘れました");
    assert_eq!(t["category"], "password_reset");

    let (code, out) = swaks(&["--tls", "--attach", pdf.to_str().unwrap(), "--header", "Subject: TLS"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("TLS started"), "{out}");
    let number = out.lines().find_map(|l| l.split("stored as ticket ").nth(1)).unwrap().trim().to_owned();
    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    let names: Vec<&str> =
        t["attachments"].as_array().unwrap().iter().map(|a| a["filename"].as_str().unwrap()).collect();
    assert!(names.contains(&"申請書.pdf"), "{names:?}");

    let (code, out) = swaks(&["--to", "nobody@example.jp"]);
    assert_ne!(code, Some(0));
    assert!(out.contains("550 5.1.1"), "{out}");
    app.stop().await;
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// sipp (Debian's sip-tester) calls, presses 2 with the RFC 2833 events of its own
/// `/usr/share/sip-tester/dtmf_2833_2.pcap`, and takes the transfer; the ticket records it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_presses_a_key_with_rfc2833_and_is_transferred() {
    let test = "sipp_presses_a_key_with_rfc2833_and_is_transferred";
    if !tool("sipp", test) {
        return;
    }
    let app = common::sip::spawn_line(true, "55000-55999", |_| {}).await;
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp/dtmf_transfer.xml");
    let out = tokio::process::Command::new("sipp")
        .arg(app.sip.to_string())
        .args(["-sf", scenario.to_str().unwrap(), "-m", "1", "-i", "127.0.0.1", "-timeout", "40s", "-nostdin"])
        .args(["-p", &free_port().to_string(), "-mp", &free_port().to_string(), "-trace_err"])
        .current_dir(app.db.dir.path())
        .output()
        .await
        .expect("sipp runs");
    let errors = std::fs::read_dir(app.db.dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("_errors.log"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<String>();
    assert_eq!(out.status.code(), Some(0), "sipp failed: {}\n{errors}", String::from_utf8_lossy(&out.stderr));
    let (_, page) = app.get_json("/api/tickets?channel=phone").await;
    let number = page["tickets"][0]["number"].as_str().expect("the call's ticket").to_owned();
    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    let choice =
        t["history"].as_array().unwrap().iter().find(|h| h["action"] == "menu_choice").expect("the key was read");
    assert_eq!(choice["detail"]["key"], "2");
    assert_eq!(t["category"], "fault_report");
    app.stop().await;
}

/// Postfix (from Debian) takes a message and relays it to madoguchi, as a site's MTA would.
/// It reconfigures the machine's Postfix, so it runs under CI (which installs Postfix) or when
/// MADOGUCHI_TEST_POSTFIX=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_relays_mail_into_madoguchi() {
    let test = "postfix_relays_mail_into_madoguchi";
    if !common::postfix::wanted(test) {
        return;
    }
    let app = common::spawn_app(Db::Sqlite, test).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    common::postfix::start(port, &[format!("relayhost=[127.0.0.1]:{}", app.mail.port())]);

    let token = format!("pf{port}");
    let message = format!(
        "From: Sato <sato@example.go.jp>\r\nTo: helpdesk@example.jp\r\nSubject: =?UTF-8?B?44OX44Oq44Oz44K/44Gr5Y2w5Yi344Gn44GN44Gq44GE?= {token}\r\nMessage-ID: <{token}@example.go.jp>\r\n\r\nPostfix経由のお問い合わせです。\r\n"
    );
    let accepted = common::postfix::submit(port, message.as_bytes()).await;
    assert_eq!(accepted.0, 250, "Postfix took the message: {}", accepted.1);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let number = loop {
        let (_, page) = app.get_json(&format!("/api/tickets?q={token}")).await;
        if let Some(n) = page["tickets"][0]["number"].as_str() {
            break n.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "Postfix never delivered to madoguchi");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    assert!(t["subject"].as_str().unwrap().starts_with("プリンタに印刷できない"), "{}", t["subject"]);
    let raw = t["contacts"][0]["raw"].as_str().unwrap();
    assert!(raw.contains("Postfix") || raw.contains("ESMTP"), "the relay's Received header is kept: {raw}");
    common::postfix::stop(port);
    app.stop().await;
}
