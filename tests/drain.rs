//! SIGTERM drains the real binary: new calls and OPTIONS probes get 503 with Retry-After (so a
//! proxy fails over), new SMTP sessions 421, while the call in progress goes on and a mail
//! transaction under way finishes; the process exits 0 once the call ends, or at `[node]
//! drain_seconds` after ending the call itself (BYE), its ticket recording how it ended.

mod common;

use common::sip::{Phone, hang_up, hear, tag_of, write_line};
use common::smtp::Smtp;
use common::{Db, Process, TestDb, spawn_binary};
use madoguchi::domain::TicketNumber;
use std::time::Duration;

/// `madoguchi serve` with the test line (always open) on `db`, RTP on `ports`, draining at most
/// `drain_seconds`.
async fn node(db: &TestDb, ports: &str, drain_seconds: &str) -> Process {
    let dir = db.dir.path();
    write_line(dir, true);
    let (data, plans, prompts) = (dir.join("data"), dir.join("dialplans"), dir.join("prompts"));
    spawn_binary(
        dir,
        &[
            ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
            ("MADOGUCHI_DATABASE_URL", &db.url),
            ("MADOGUCHI_SIP_DIALPLANS", plans.to_str().unwrap()),
            ("MADOGUCHI_SIP_PROMPTS", prompts.to_str().unwrap()),
            ("MADOGUCHI_SIP_RTP_PORTS", ports),
            ("MADOGUCHI_SIP_MAX_CALLS", "50"),
            ("MADOGUCHI_NODE_DRAIN_SECONDS", drain_seconds),
        ],
    )
    .await
}

/// A call answered and acknowledged, hearing its announcement: the phone, the dialog's tag and
/// the ticket number.
async fn call_in_progress(node: &Process, call_id: &str) -> (Phone, String, String) {
    let mut phone = Phone::udp(node.sip, call_id).await;
    let (ok, _) = phone.call("").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    hear(&phone, 5).await;
    (phone, tag, ok.header("X-Madoguchi-Ticket").expect("the ticket number"))
}

/// Sends SIGTERM and waits until the service says it drains.
async fn terminate(node: &mut Process) {
    let pid = node.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    wait_for_log(node, "draining").await;
}

/// Waits for a log line containing `text`; the lines before it are passed over.
async fn wait_for_log(node: &mut Process, text: &str) -> String {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = node.log.recv().await {
            if line.contains(text) {
                return Some(line);
            }
        }
        None
    });
    found.await.ok().flatten().unwrap_or_else(|| panic!("the service logs {text:?}"))
}

/// The process's exit, which must come.
async fn exits(node: &mut Process) -> std::process::ExitStatus {
    tokio::time::timeout(Duration::from_secs(30), node.child.wait()).await.expect("the service exits").unwrap()
}

/// The `ending` of the ticket's `call_ended` entries, read from the database after the service
/// stopped (everything it committed is there).
async fn call_endings(url: &str, ticket: &str) -> Vec<String> {
    let store = madoguchi::store::Store::connect(url, 1).await.unwrap();
    let number: TicketNumber = ticket.parse().unwrap();
    let page = store.history(&number, None, 200).await.unwrap().expect("the ticket exists");
    store.close().await;
    page.items
        .iter()
        .filter(|h| h.action == "call_ended")
        .map(|h| h.detail["ending"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn options(phone: &Phone, branch: &str) -> String {
    format!(
        "OPTIONS sip:0120000111@madoguchi SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch}\r\nMax-Forwards: 70\r\n\
         From: <sip:probe@proxy.test>;tag=p1\r\nTo: <sip:0120000111@madoguchi>\r\nCall-ID: {branch}\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        phone.local
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_refuses_new_work_and_lets_the_call_and_the_mail_in_progress_finish() {
    let db = TestDb::new(Db::Sqlite, "drain").await.unwrap();
    let mut node = node(&db, "57000-57049", "30").await;
    // A mail transaction under way and a call in progress when SIGTERM comes.
    let (mut smtp, greeting) = Smtp::connect(node.mail).await;
    assert_eq!(greeting, 220);
    assert_eq!(smtp.cmd("EHLO client.test").await.0, 250);
    assert_eq!(smtp.cmd("MAIL FROM:<yamada@example.go.jp>").await.0, 250);
    assert_eq!(smtp.cmd("RCPT TO:<helpdesk@example.go.jp>").await.0, 250);
    let (mut phone, tag, ticket) = call_in_progress(&node, "drain-call").await;
    let mut probe = Phone::udp(node.sip, "drain-probe").await;
    let before = probe.transact(&options(&probe, "z9hG4bKprobe1")).await;
    assert_eq!(before.code(), 200, "{}", before.text);

    terminate(&mut node).await;

    // A new call is refused for a proxy to try another node; so is a proxy's probe.
    let mut caller = Phone::udp(node.sip, "drain-new-call").await;
    let (refused, _) = caller.invite("").await;
    let refused = refused.expect("a final answer to the new INVITE");
    assert_eq!(refused.code(), 503, "{}", refused.text);
    assert!(refused.header("Retry-After").is_some_and(|v| v.parse::<u32>().is_ok()), "{}", refused.text);
    let probed = probe.transact(&options(&probe, "z9hG4bKprobe2")).await;
    assert_eq!(probed.code(), 503, "{}", probed.text);
    assert!(probed.header("Retry-After").is_some(), "{}", probed.text);
    // A new SMTP session is told 421 at once.
    let (mut late, code) = Smtp::connect(node.mail).await;
    assert_eq!(code, 421, "a new SMTP session while draining");
    assert_eq!(late.reply().await.0, 0, "and closed");
    // The mail transaction under way is stored; then the session is closed with 421.
    assert_eq!(smtp.cmd("DATA").await.0, 354);
    let message = b"From: yamada@example.go.jp\r\nTo: helpdesk@example.go.jp\r\nSubject: drain\r\n\r\nstill stored\r\n";
    let (code, stored) = smtp.data(message).await;
    assert_eq!(code, 250, "{stored}");
    let (code, closing) = smtp.reply().await;
    assert_eq!(code, 421, "{closing}");
    assert!(closing.starts_with("421 4.3.2 "), "{closing}");

    // The call in progress goes on: its media still flows, the caller hangs up as ever.
    hear(&phone, 10).await;
    hang_up(&mut phone, &tag).await;
    let ok = phone
        .expect("200 to the BYE", |m| m.code() == 200 && m.header("CSeq").is_some_and(|c| c.ends_with("BYE")))
        .await;
    assert_eq!(ok.code(), 200);
    let status = exits(&mut node).await;
    assert!(status.success(), "a drained stop exits 0: {status:?}");
    assert_eq!(call_endings(&node.database_url, &ticket).await, vec!["caller hung up".to_owned()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_drain_limit_the_call_is_ended_by_us_and_its_ticket_says_so() {
    let db = TestDb::new(Db::Sqlite, "drain limit").await.unwrap();
    let mut node = node(&db, "57050-57099", "2").await;
    let (mut phone, _tag, ticket) = call_in_progress(&node, "drain-limit-call").await;

    terminate(&mut node).await;

    let bye = phone.expect("our BYE at the drain limit", |m| m.method() == "BYE").await;
    assert!(bye.first.starts_with(&format!("BYE sip:caller@{} SIP/2.0", phone.local)), "{}", bye.text);
    phone.answer(&bye, 200).await;
    let status = exits(&mut node).await;
    assert!(status.success(), "a drain that ended calls still exits 0: {status:?}");
    assert_eq!(call_endings(&node.database_url, &ticket).await, vec!["hung up by the service".to_owned()]);
}
