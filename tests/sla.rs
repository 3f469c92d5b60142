//! SLA clocks and escalation with a controllable clock: the scheduler's `tick` is told what time
//! it is. A ticket that breaches its first-response time escalates exactly once (also across a
//! restart, and with two services on one database acting at the same instant); the tier's group
//! is warned before and the next tier's group is mailed at the breach, received by a real SMTP
//! socket; the relay is in the history. Waiting on the reporter pauses the clocks.

mod common;

use common::{Db, TestDb, authorised, grant};
use madoguchi::app::Core;
use madoguchi::config::{OpenMode, Settings};
use madoguchi::domain::user::Role;
use madoguchi::escalation::scheduler::tick;
use madoguchi::store::Fired;
use serde_json::{Value, json};
use std::time::Duration;

const MINUTE: i64 = 60_000;

/// Around the clock, so the test does not depend on the day it runs: first response in an
/// hour, warned ten minutes before; every group reachable at all hours.
fn write_policies(dir: &std::path::Path) -> (String, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sla = std::fs::read_to_string(root.join("sla.toml"))
        .unwrap()
        .replace("warn_before = \"30m\"", "warn_before = \"10m\"")
        .replace("first_response = \"2h\"", "first_response = \"1h\"")
        .replace("name = \"standard\"\n", "name = \"standard\"\naround_the_clock = true\n");
    let contacts = std::fs::read_to_string(root.join("contacts.toml"))
        .unwrap()
        .replace("hours = \"08:30-17:15\"", "hours = \"24x7\"")
        .replace("hours = \"09:00-18:00\"", "hours = \"24x7\"");
    let (s, c) = (dir.join("sla-test.toml"), dir.join("contacts-test.toml"));
    std::fs::write(&s, sla).unwrap();
    std::fs::write(&c, contacts).unwrap();
    (s.display().to_string(), c.display().to_string())
}

fn adjust(settings: &mut Settings, files: &(String, String), relay: &str) {
    settings.escalation.sla = files.0.clone();
    settings.escalation.contacts = files.1.clone();
    settings.escalation.scheduler = false;
    settings.notify.relay = relay.to_owned();
    settings.notify.retry_initial_secs = 1;
    settings.http.public_url = "https://helpdesk.example.go.jp".into();
}

async fn history(app: &common::TestApp, number: &str) -> Vec<Value> {
    let (_, h) = app.get_json(&format!("/api/tickets/{number}/history")).await;
    h.as_array().cloned().or_else(|| h["history"].as_array().cloned()).unwrap_or_default()
}

fn count(history: &[Value], action: &str) -> usize {
    history.iter().filter(|e| e["action"] == action).count()
}

async fn new_ticket(app: &common::TestApp, subject: &str) -> (String, i64) {
    let r = app.post_contact(json!({"subject": subject, "caller": {"name": "山田 太郎"}})).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let number = v["ticket"].as_str().unwrap().to_owned();
    let (_, clocks) = app.get_json(&format!("/api/tickets/{number}/sla")).await;
    let first = clocks["clocks"].as_array().unwrap().iter().find(|c| c["kind"] == "first_response").cloned();
    let first = first.unwrap_or_else(|| panic!("a first-response clock runs: {clocks}"));
    assert_eq!(first["state"], "running", "{clocks}");
    let due = chrono::DateTime::parse_from_rfc3339(first["due_at"].as_str().unwrap()).unwrap().timestamp_millis();
    (number, due)
}

/// Waits until the sink has received `n` more messages (at most 20 s), and returns them.
async fn received(sink: &mut tokio::sync::mpsc::UnboundedReceiver<String>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), sink.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => panic!("only {} of {n} mails arrived: {got:?}", got.len()),
        }
    }
    got
}

fn decoded_subject(message: &str) -> String {
    let parsed = mail_parser::MessageParser::default().parse(message.as_bytes()).unwrap();
    parsed.subject().unwrap_or_default().to_owned()
}

async fn a_breach_escalates_once_and_the_next_tier_is_mailed(db: Db) {
    let Some(db) = TestDb::new(db, "sla_breach").await else { return };
    let files = write_policies(db.dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut sink = common::smtp::sink(listener).await;
    let mut settings = db.settings();
    adjust(&mut settings, &files, &relay);
    let (f, r) = (files.clone(), relay.clone());
    let app = common::spawn_with(db, move |s| adjust(s, &f, &r)).await;
    let core = Core::start(&settings, OpenMode::Existing).await.unwrap();

    let (number, due) = new_ticket(&app, "メールが送信できない").await;
    assert!(tick(&core.intake, due - 11 * MINUTE).await.is_empty(), "nothing is due before the warning");
    let warned = tick(&core.intake, due - 9 * MINUTE).await;
    assert!(matches!(&warned[..], [Fired::Warned { .. }]), "{warned:?}");
    assert!(tick(&core.intake, due - 5 * MINUTE).await.is_empty(), "warned once");
    let warning = received(&mut sink, 1).await;
    assert!(warning[0].contains("To: helpdesk@example.go.jp"), "the ticket's own tier is warned: {}", warning[0]);
    assert!(decoded_subject(&warning[0]).starts_with("[SLA期限間近 / SLA warning]"), "{}", warning[0]);

    let breached = tick(&core.intake, due + MINUTE).await;
    assert!(matches!(&breached[..], [Fired::Breached { .. }]), "{breached:?}");
    assert!(tick(&core.intake, due + 2 * MINUTE).await.is_empty(), "escalated once");
    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    let t = if t["ticket"].is_object() { t["ticket"].clone() } else { t };
    assert_eq!((t["tier"].as_i64(), t["status"].as_str()), (Some(2), Some("escalated")), "{t}");
    let mail = received(&mut sink, 1).await.remove(0);
    assert!(mail.contains("To: ops@example.go.jp"), "the next tier's first group: {mail}");
    let parsed = mail_parser::MessageParser::default().parse(mail.as_bytes()).unwrap();
    let body = parsed.body_text(0).unwrap().into_owned();
    assert!(body.starts_with("運用担当 各位"), "Japanese first: {body}");
    assert!(body.contains("初回応答の対応目標を超過しました") && body.contains("山田 太郎"), "{body}");
    assert!(body.contains(&format!("https://helpdesk.example.go.jp/tickets/{number}")), "{body}");

    // The relay, with whom and how, and its delivery, are in the history.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let h = loop {
        let h = history(&app, &number).await;
        if count(&h, "relay_delivered") == 2 || tokio::time::Instant::now() > deadline {
            break h;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let relays: Vec<&Value> = h.iter().filter(|e| e["action"] == "relay").collect();
    assert_eq!(relays.len(), 2, "a warning and an escalation: {h:?}");
    let escalation = relays[1];
    assert_eq!(escalation["detail"]["group"], "operations", "{escalation}");
    assert_eq!(escalation["detail"]["how"], "mail");
    assert_eq!(escalation["detail"]["to"], json!(["ops@example.go.jp"]));
    assert_eq!((count(&h, "sla_breached"), count(&h, "sla_warning"), count(&h, "relay_delivered")), (1, 1, 2), "{h:?}");

    // Across a restart: a ticket warned before it is breached after, once.
    let (second, due2) = new_ticket(&app, "メールが送信できない（2件目）").await;
    assert!(due2 - due < 10 * MINUTE, "the same around-the-clock policy");
    let warned = tick(&core.intake, due2 - 5 * MINUTE).await;
    assert!(matches!(&warned[..], [Fired::Warned { .. }]), "{warned:?}");
    drop(core);
    let settings2 = settings.clone();
    let core = Core::start(&settings2, OpenMode::Existing).await.unwrap();
    let after = tick(&core.intake, due2 + MINUTE).await;
    assert!(matches!(&after[..], [Fired::Breached { .. }]), "{after:?}");
    assert!(tick(&core.intake, due2 + 60 * MINUTE).await.is_empty());
    let h2 = history(&app, &second).await;
    assert_eq!((count(&h2, "sla_warning"), count(&h2, "sla_breached")), (1, 1), "{h2:?}");
    app.stop().await;
}

on_both_backends!(a_breach_escalates_once_and_the_next_tier_is_mailed);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_on_one_postgresql_escalate_a_breach_once() {
    let Some(db) = TestDb::new(Db::Postgres, "sla_two_nodes").await else { return };
    let files = write_policies(db.dir.path());
    let mut settings = db.settings();
    adjust(&mut settings, &files, "");
    let (f, s2) = (files.clone(), settings.clone());
    let app = common::spawn_with(db, move |s| adjust(s, &f, "")).await;
    let (a, b) =
        (Core::start(&s2, OpenMode::Existing).await.unwrap(), Core::start(&s2, OpenMode::Existing).await.unwrap());
    let mut numbers = Vec::new();
    let mut latest = 0;
    for i in 0..20 {
        let (number, due) = new_ticket(&app, &format!("障害報告 {i}")).await;
        numbers.push(number);
        latest = latest.max(due);
    }
    // Both act at the same instant on every due clock: each warning and breach happens once.
    let (x, y) = tokio::join!(tick(&a.intake, latest + MINUTE), tick(&b.intake, latest + MINUTE));
    let breaches = x.iter().chain(&y).filter(|f| matches!(f, Fired::Breached { .. })).count();
    assert_eq!(breaches, 20, "each of 20 tickets breached once: {x:?} {y:?}");
    let (x, y) = tokio::join!(tick(&a.intake, latest + 2 * MINUTE), tick(&b.intake, latest + 2 * MINUTE));
    assert!(x.is_empty() && y.is_empty(), "nothing left: {x:?} {y:?}");
    for number in &numbers {
        let h = history(&app, number).await;
        assert_eq!((count(&h, "sla_breached"), count(&h, "relay")), (1, 1), "{number}: {h:?}");
    }
    app.stop().await;
}

async fn waiting_on_the_reporter_stops_the_clocks(db: Db) {
    let Some(db) = TestDb::new(db, "sla_pause").await else { return };
    let files = write_policies(db.dir.path());
    let mut settings = db.settings();
    adjust(&mut settings, &files, "");
    let f = files.clone();
    let app = common::spawn_with(db, move |s| adjust(s, &f, "")).await;
    let core = Core::start(&settings, OpenMode::Existing).await.unwrap();
    let operator = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    let (number, due) = new_ticket(&app, "パスワードを忘れた").await;
    let patch = |body: Value| {
        let url = app.url(&format!("/api/tickets/{number}"));
        let request = operator.patch(url).json(&body).send();
        async move { request.await.unwrap().status().as_u16() }
    };
    // A person takes it up: first response met, next update starts.
    assert_eq!(patch(json!({"status": "in_progress"})).await, 200);
    assert_eq!(patch(json!({"status": "waiting_reporter"})).await, 200);
    let (_, clocks) = app.get_json(&format!("/api/tickets/{number}/sla")).await;
    let state = |kind: &str| {
        clocks["clocks"].as_array().unwrap().iter().find(|c| c["kind"] == kind).map(|c| c["state"].clone())
    };
    assert_eq!(state("first_response"), Some(json!("met")), "{clocks}");
    assert_eq!(state("resolution"), Some(json!("paused")), "{clocks}");
    assert_eq!(state("next_update"), Some(json!("paused")), "{clocks}");
    assert!(tick(&core.intake, due + 48 * 60 * MINUTE).await.is_empty(), "a paused clock never breaches");
    assert_eq!(patch(json!({"status": "in_progress"})).await, 200);
    let (_, clocks) = app.get_json(&format!("/api/tickets/{number}/sla")).await;
    let resolution = clocks["clocks"].as_array().unwrap().iter().find(|c| c["kind"] == "resolution").unwrap();
    assert_eq!(resolution["state"], "running", "{clocks}");
    let h = history(&app, &number).await;
    // Back from waiting: resolution goes on where it stood; the next update counts afresh.
    assert!(count(&h, "sla_paused") == 2 && count(&h, "sla_resumed") == 1 && count(&h, "sla_met") == 1, "{h:?}");
    app.stop().await;
}

on_both_backends!(waiting_on_the_reporter_stops_the_clocks);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_relays_a_ticket_to_a_chosen_group_and_logs_a_phone_relay() {
    let Some(db) = TestDb::new(Db::Sqlite, "sla_relay").await else { return };
    let files = write_policies(db.dir.path());
    let f = files.clone();
    let app = common::spawn_with(db, move |s| adjust(s, &f, "")).await;
    let operator = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    let (number, _) = new_ticket(&app, "帳票が出力できない").await;
    let (_, groups) = app.get_json("/api/groups").await;
    assert_eq!(groups["groups"].as_array().unwrap().len(), 6, "{groups}");
    let url = app.url(&format!("/api/tickets/{number}/escalate"));
    let (status, answer) =
        common::post(&operator, &url, json!({"group": "application-vendor", "reason": "画面 A-12 の不具合"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["tier"].as_i64(), answer["status"].as_str()), (Some(3), Some("escalated")));
    let (status, _) = common::post(&operator, &url, json!({"group": "nobody", "reason": "x"})).await;
    assert_eq!(status, 422, "an unknown group is refused");
    let (status, _) = common::post(&operator, &url, json!({"reason": " "})).await;
    assert_eq!(status, 422, "a reason is required");
    let relays = app.url(&format!("/api/tickets/{number}/relays"));
    let body = json!({"group": "hardware-vendor", "contact": "田中様", "how": "phone",
        "at": "2026-11-20T10:15:00+09:00", "note": "サーバ再起動を依頼"});
    let (status, logged) = common::post(&operator, &relays, body).await;
    assert_eq!(status, 201, "{logged}");
    let h = history(&app, &number).await;
    let relays: Vec<&Value> = h.iter().filter(|e| e["action"] == "relay").collect();
    assert_eq!(relays.len(), 2, "{h:?}");
    assert_eq!(relays[0]["detail"]["reason"], "画面 A-12 の不具合");
    assert_eq!(relays[0]["detail"]["by"], "sato");
    assert_eq!(relays[1]["detail"]["how"], "phone");
    assert_eq!(relays[1]["detail"]["at"], "2026-11-20T10:15:00+09:00");
    assert_eq!(relays[1]["detail"]["to"], "田中様");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_contact_list_is_used_without_a_restart() {
    let Some(db) = TestDb::new(Db::Sqlite, "sla_reload").await else { return };
    let files = write_policies(db.dir.path());
    let f = files.clone();
    let app = common::spawn_with(db, move |s| adjust(s, &f, "")).await;
    let emails = |groups: &Value| groups["groups"][1]["contacts"][0]["email"].as_str().unwrap_or_default().to_owned();
    assert_eq!(emails(&app.get_json("/api/groups").await.1), "ops@example.go.jp");
    let edited = std::fs::read_to_string(&files.1).unwrap().replace("ops@example.go.jp", "ops-desk@example.go.jp");
    std::fs::write(&files.1, edited).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while emails(&app.get_json("/api/groups").await.1) != "ops-desk@example.go.jp" {
        assert!(tokio::time::Instant::now() < deadline, "the edited list is read within seconds");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

/// Waits (at most 15 s) until `fetch` gives what `done` wants; the last answer.
async fn eventually<F, Fut>(what: &str, mut fetch: F, done: impl Fn(&Value) -> bool) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let v = fetch().await;
        if done(&v) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn put(client: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    let r = client.put(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn ops_email(groups: &Value) -> String {
    let ops = groups["groups"].as_array().unwrap().iter().find(|g| g["id"] == "operations").cloned();
    ops.map(|g| g["contacts"][0]["email"].as_str().unwrap_or_default().to_owned()).unwrap_or_default()
}

async fn admins_edit_the_contact_list_in_the_console(db: Db) {
    let Some(db) = TestDb::new(db, "contact_list_edit").await else { return };
    let files = write_policies(db.dir.path());
    let mut settings = db.settings();
    adjust(&mut settings, &files, "");
    let f = files.clone();
    let app = common::spawn_with(db, move |s| adjust(s, &f, "")).await;
    let operator = authorised(&grant(&settings.database_url(), "sato", Role::Operator).await);
    let url = app.url("/api/contact-list");

    let list: Value = operator.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!((list["from"].as_str(), list["editable"].as_bool()), (Some("file"), Some(false)), "{list}");
    assert_eq!(list["file"].as_str(), Some(files.1.as_str()));
    let source = list["source"].as_str().unwrap().to_owned();
    assert!(source.contains("ops@example.go.jp"), "the file's text is what the editor starts from");
    let edited = source.replace("ops@example.go.jp", "ops-desk@example.go.jp");
    let body = json!({"source": edited, "reason": "運用担当の窓口変更", "base_version": null});
    assert_eq!(put(&operator, &url, body.clone()).await.0, 403, "only admins edit the list");

    // A broken list is refused with each wrong line, and nothing changes.
    let broken = edited
        .replace("email = \"helpdesk@example.go.jp\"", "email = \"helpdesk\"")
        .replace("id = \"other-systems\"", "id = \"helpdesk\"");
    let (status, refused) =
        put(&app.client, &url, json!({"source": broken, "reason": "x", "base_version": null})).await;
    assert_eq!(status, 422, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    let line = broken.lines().position(|l| l == "email = \"helpdesk\"").unwrap() + 1;
    assert!(message.contains(&format!("contacts.toml:{line}: 'helpdesk' is not an e-mail address")), "{message}");
    assert!(message.lines().count() >= 2, "every problem is named: {message}");
    let (status, refused) = put(
        &app.client,
        &url,
        json!({"source": edited.replace("tier = 3", "tier = 4"), "reason": "x", "base_version": null}),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("'4' is not a valid tier"), "{refused}");
    let (status, _) =
        put(&app.client, &url, json!({"source": "[[group]\n", "reason": "x", "base_version": null})).await;
    assert_eq!(status, 422, "not TOML");
    let (status, _) = put(&app.client, &url, json!({"source": edited, "reason": " ", "base_version": null})).await;
    assert_eq!(status, 422, "a reason is required");
    assert_eq!(ops_email(&app.get_json("/api/groups").await.1), "ops@example.go.jp");
    assert_eq!(app.get_json("/api/contact-list").await.1["versions"], json!([]));

    let (status, saved) = put(&app.client, &url, body.clone()).await;
    assert_eq!((status, saved["version"].as_i64()), (200, Some(1)), "{saved}");
    assert_eq!(ops_email(&app.get_json("/api/groups").await.1), "ops-desk@example.go.jp", "in force at once");
    let (status, _) = put(&app.client, &url, body).await;
    assert_eq!(status, 409, "a save on top of a version the editor did not see is refused");
    let list = app.get_json("/api/contact-list").await.1;
    assert_eq!((list["from"].as_str(), list["version"].as_i64()), (Some("console"), Some(1)), "{list}");
    assert_eq!(list["versions"][0]["edited_by"], "tester");
    assert_eq!(list["versions"][0]["reason"], "運用担当の窓口変更");

    // The audit says who changed which group, and why.
    let store = madoguchi::store::Store::connect(&settings.database_url(), 1).await.unwrap();
    let audit = store.audit_entries(20).await.unwrap();
    let line = audit.iter().find(|a| a.action == "contact_list_saved").expect("the save is audited");
    assert_eq!((line.actor.as_str(), line.subject.as_str()), ("tester", "contacts v1"));
    let detail: Value = serde_json::from_str(&line.detail).unwrap();
    assert_eq!(
        (detail["changed"].clone(), detail["reason"].clone()),
        (json!(["operations"]), json!("運用担当の窓口変更"))
    );
    store.close().await;

    // An escalation mails the group's new address.
    let (number, _) = new_ticket(&app, "共有フォルダに接続できない").await;
    let escalate = app.url(&format!("/api/tickets/{number}/escalate"));
    let (status, _) =
        common::post(&operator, &escalate, json!({"group": "operations", "reason": "権限設定の確認"})).await;
    assert_eq!(status, 200);
    let h = history(&app, &number).await;
    let relay = h.iter().find(|e| e["action"] == "relay").expect("relayed");
    assert_eq!(relay["detail"]["to"], json!(["ops-desk@example.go.jp"]), "{relay}");

    // A restart keeps the saved list in force over the file.
    let core = Core::start(&settings, OpenMode::Existing).await.unwrap();
    let restarted = core.store.escalation();
    assert_eq!(restarted.contacts_version, Some(1));
    assert_eq!(restarted.contacts.group("operations").unwrap().emails(), ["ops-desk@example.go.jp"]);
    core.finish().await;
    app.stop().await;
}

on_both_backends!(admins_edit_the_contact_list_in_the_console);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_list_saved_on_one_node_is_used_by_the_other() {
    let Some(db) = TestDb::new(Db::Postgres, "contact_list_nodes").await else { return };
    let files = write_policies(db.dir.path());
    let mut settings = db.settings();
    adjust(&mut settings, &files, "");
    let f = files.clone();
    let app = common::spawn_with(db, move |s| adjust(s, &f, "")).await;
    let other = common::spawn_node(&settings).await;
    let source = app.get_json("/api/contact-list").await.1["source"].as_str().unwrap().to_owned();
    let body = json!({"source": source.replace("ops@example.go.jp", "ops-b@example.go.jp"), "reason": "異動", "base_version": null});
    assert_eq!(put(&app.client, &app.url("/api/contact-list"), body).await.0, 200);
    let groups = format!("{}/api/groups", other.base);
    let fetch = || async { app.client.get(&groups).send().await.unwrap().json::<Value>().await.unwrap() };
    eventually("the other node reads the saved list", fetch, |g| ops_email(g) == "ops-b@example.go.jp").await;
    other.stop().await;
    app.stop().await;
}

/// JST wall-clock time as epoch milliseconds.
fn jst(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    use chrono::TimeZone;
    chrono::FixedOffset::east_opt(9 * 3600).unwrap().with_ymd_and_hms(y, m, d, h, min, 0).unwrap().timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_outside_the_groups_hours_waits_for_its_opening_unless_urgent() {
    let Some(db) = TestDb::new(Db::Sqlite, "sla_group_hours").await else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut sink = common::smtp::sink(listener).await;
    let files = write_policies(db.dir.path());
    // The groups keep their office hours (the SLA still counts around the clock).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("contacts.toml"), &files.1).unwrap();
    let mut settings = db.settings();
    adjust(&mut settings, &files, &relay);
    let (f, r) = (files.clone(), relay.clone());
    let app = common::spawn_with(db, move |s| adjust(s, &f, &r)).await;
    let core = Core::start(&settings, OpenMode::Existing).await.unwrap();
    let (waiting, _) = new_ticket(&app, "プリンタが動かない").await;
    let (urgent, _) = new_ticket(&app, "基幹システムに全員ログインできない").await;
    assert_eq!(app.patch(&urgent, json!({"priority": "urgent"})).await.0, 200);

    // Saturday 03:00 JST: every clock of both tickets is past due.
    let fired = tick(&core.intake, jst(2027, 2, 6, 3, 0)).await;
    assert!(fired.iter().any(|f| matches!(f, Fired::Breached { .. })), "{fired:?}");
    let relays = |h: Vec<Value>| h.into_iter().filter(|e| e["action"] == "relay").collect::<Vec<_>>();
    let held = relays(history(&app, &waiting).await);
    let groups = app.get_json("/api/groups").await.1;
    let hours = |id: &Value| {
        let g = groups["groups"].as_array().unwrap().iter().find(|g| g["id"] == *id).unwrap();
        g["hours"].as_str().unwrap().to_owned()
    };
    assert!(!held.is_empty(), "{fired:?}");
    for r in &held {
        let opens = hours(&r["detail"]["group"]);
        assert_ne!(opens, "24x7", "this ticket's tiers keep office hours: {r}");
        let monday = format!("2027-02-08T{}:00+09:00", &opens[..5]);
        assert_eq!(r["detail"]["send_at"], monday.as_str(), "held for Monday's opening: {r}");
        assert_eq!(r["detail"]["waits_for_hours"], true);
    }
    let sent = relays(history(&app, &urgent).await);
    assert!(!sent.is_empty() && sent.iter().all(|r| r["detail"]["waits_for_hours"] == false), "{sent:?}");

    // The urgent ticket's mails arrive now; the other's are held until Monday.
    let mails = received(&mut sink, sent.len()).await;
    assert!(mails.iter().all(|m| m.contains(&urgent) && !m.contains(&waiting)), "{mails:?}");
    let to = sent[0]["detail"]["to"][0].as_str().unwrap();
    assert!(mails.iter().any(|m| m.contains(&format!("To: {to}"))), "{mails:?}");
    assert!(sink.try_recv().is_err(), "nothing of the held ticket was sent");
    core.finish().await;
    app.stop().await;
}
