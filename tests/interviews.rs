//! 問診 over the API: the templates with their question ids and types; answers saved as they are
//! entered (PATCH) and as a whole (PUT); a condition (steps only when it can be reproduced); a PUT
//! missing a required answer or with a wrong type refused naming the question, storing nothing;
//! each save in the history; the answers searchable and in the escalation mail a real SMTP socket
//! receives.

mod common;

use common::{Db, TestApp, TestDb, authorised, grant};
use madoguchi::domain::user::Role;
use serde_json::{Value, json};
use std::time::Duration;

async fn send(client: &reqwest::Client, method: reqwest::Method, url: String, body: Value) -> (u16, Value) {
    let r = client.request(method, url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn ticket_of(app: &TestApp, subject: &str, category: &str) -> String {
    let r = app.post_contact(json!({"subject": subject})).await;
    assert_eq!(r.status(), 201);
    let number = r.json::<Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned();
    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    if t["category"] != category {
        assert_eq!(app.patch(&number, json!({"category": category})).await.0, 200);
    }
    number
}

async fn fault_ticket(app: &TestApp) -> String {
    ticket_of(app, "システム障害: 画面が固まる", "fault_report").await
}

async fn an_interview_is_saved_as_entered_and_checked_when_complete(db: Db) {
    let Some(db) = TestDb::new(db, "interviews_api").await else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut sink = common::smtp::sink(listener).await;
    let app = common::spawn_with(db, move |s| {
        s.notify.relay = relay;
        s.http.public_url = "https://helpdesk.example.go.jp".into();
    })
    .await;
    let sato = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);

    let (_, all) = app.get_json("/api/interviews").await;
    let fault = all["templates"].as_array().unwrap().iter().find(|t| t["id"] == "fault_report").unwrap().clone();
    let kinds: Vec<(&str, &str)> = fault["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| (q["id"].as_str().unwrap(), q["type"].as_str().unwrap()))
        .collect();
    assert!(kinds.contains(&("started_at", "datetime")) && kinds.contains(&("screen_id", "code")), "{kinds:?}");
    assert_eq!(
        fault["questions"].as_array().unwrap().iter().find(|q| q["id"] == "steps").unwrap()["when"]["question"],
        "reproducible"
    );

    let number = fault_ticket(&app).await;
    let url = app.url(&format!("/api/tickets/{number}/interview"));
    let (_, fresh) = app.get_json(&format!("/api/tickets/{number}/interview")).await;
    assert_eq!((fresh["template"].as_str(), fresh["answers"].clone()), (Some("fault_report"), json!({})), "{fresh}");

    // As the operator types: partial answers are kept, checked by type.
    let (status, saved) = send(
        &sato,
        reqwest::Method::PATCH,
        url.clone(),
        json!({"answers": {"started_at": "2026-11-20 09:30", "reproducible": "yes"}}),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["interview"]["complete"], false);
    let (status, bad) =
        send(&sato, reqwest::Method::PATCH, url.clone(), json!({"answers": {"users_affected": "たくさん"}})).await;
    assert_eq!(status, 422, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().starts_with("users_affected:"), "{bad}");

    // A whole interview missing the steps its condition asks for is refused, naming them.
    let whole = json!({"started_at": "2026-11-20T09:30", "system": "労災保険業務システム", "screen_id": "a-12",
        "error_message": "E1234 帳票出力でタイムアウトしました", "users_affected": "３", "reproducible": "yes"});
    let (status, refused) = send(&sato, reqwest::Method::PUT, url.clone(), json!({"answers": whole.clone()})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["message"].as_str().unwrap().split(':').next(), Some("steps"), "{refused}");
    let (_, kept) = app.get_json(&format!("/api/tickets/{number}/interview")).await;
    assert_eq!(
        kept["answers"],
        json!({"started_at": "2026-11-20T09:30", "reproducible": "yes"}),
        "nothing stored: {kept}"
    );
    let mut wrong = whole.clone();
    wrong["started_at"] = json!("きのう");
    wrong["steps"] = json!("出力ボタンを押す");
    let (status, refused) = send(&sato, reqwest::Method::PUT, url.clone(), json!({"answers": wrong})).await;
    assert_eq!((status, refused["error"]["message"].as_str().unwrap().split(':').next()), (422, Some("started_at")));

    // Not reproducible: the steps are not asked, and an answer to them is not kept.
    let mut no = whole.clone();
    no["reproducible"] = json!("no");
    no["steps"] = json!("x");
    let (status, done) = send(&sato, reqwest::Method::PUT, url.clone(), json!({"answers": no})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["interview"]["complete"], true);
    assert!(done["interview"]["answers"].get("steps").is_none(), "{done}");
    assert_eq!(done["interview"]["answers"]["screen_id"], "A-12");
    assert_eq!(done["interview"]["answers"]["users_affected"], 3);

    // Each save is in the history, by whom; the answers are searchable.
    let ticket = app.ticket(&number).await;
    let saves = common::mime::history(&ticket, "interview_saved");
    assert_eq!(saves.len(), 2, "the PATCH and the complete PUT: {ticket}");
    assert!(saves.iter().all(|h| h["actor"] == "sato"));
    let (_, found) = app.get_json("/api/tickets?q=%E5%B8%B3%E7%A5%A8%E5%87%BA%E5%8A%9B").await;
    let numbers: Vec<&str> = found["tickets"].as_array().unwrap().iter().filter_map(|t| t["number"].as_str()).collect();
    assert!(numbers.contains(&number.as_str()), "帳票出力 finds it: {found}");

    // Escalated to the vendor: the mail carries the fault's answers.
    let escalate = app.url(&format!("/api/tickets/{number}/escalate"));
    let (status, _) = common::post(&sato, &escalate, json!({"group": "hardware-vendor", "reason": "サーバ調査"})).await;
    assert_eq!(status, 200);
    let mail = tokio::time::timeout(Duration::from_secs(20), sink.recv()).await.expect("a relay mail").unwrap();
    let parsed = mail_parser::MessageParser::default().parse(mail.as_bytes()).unwrap();
    let body = parsed.body_text(0).unwrap().into_owned();
    assert!(body.contains("問診:") && body.contains("画面ID: A-12"), "{body}");
    assert!(body.contains("表示されたエラーメッセージ（そのまま）: E1234 帳票出力でタイムアウトしました"), "{body}");

    // Unknown template, unknown ticket.
    let (status, _) = send(&sato, reqwest::Method::PUT, url, json!({"template": "nothing", "answers": {}})).await;
    assert_eq!(status, 422);
    assert_eq!(app.get_json("/api/tickets/20990101-9999/interview").await.0, 404);
    app.stop().await;
}

on_both_backends!(an_interview_is_saved_as_entered_and_checked_when_complete);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_gets_no_personal_answers() {
    let Some(db) = TestDb::new(Db::Sqlite, "interviews_personal").await else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut sink = common::smtp::sink(listener).await;
    let app = common::spawn_with(db, move |s| s.notify.relay = relay).await;
    let number = ticket_of(&app, "アカウントロック", "account_unlock").await;
    // Urgent, so each group is mailed at once whatever its hours.
    assert_eq!(app.patch(&number, json!({"priority": "urgent"})).await.0, 200);
    let url = app.url(&format!("/api/tickets/{number}/interview"));
    let answers = json!({"template": "account_unlock", "answers": {"staff_number": "K12345", "full_name": "山田 太郎",
        "department": "労災補償課", "extension": "03-5253-1234", "identity_confirmed": "yes"}});
    assert_eq!(send(&app.client, reqwest::Method::PUT, url, answers).await.0, 200);
    for (group, personal) in [("operations", true), ("application-vendor", false)] {
        let escalate = app.url(&format!("/api/tickets/{number}/escalate"));
        assert_eq!(common::post(&app.client, &escalate, json!({"group": group, "reason": "確認"})).await.0, 200);
        let mail = tokio::time::timeout(Duration::from_secs(20), sink.recv()).await.expect("a relay mail").unwrap();
        let parsed = mail_parser::MessageParser::default().parse(mail.as_bytes()).unwrap();
        let body = parsed.body_text(0).unwrap().into_owned();
        assert!(body.contains("所属: 労災補償課"), "{group}: {body}");
        assert_eq!(body.contains("K12345") || body.contains("山田"), personal, "{group}: {body}");
    }
    app.stop().await;
}

async fn admins_edit_the_templates_in_the_console_and_answers_follow_them(db: Db) {
    let Some(db) = TestDb::new(db, "interviews_edit").await else { return };
    let app = common::spawn_with(db, |_| {}).await;
    let url = app.db.settings().database_url();
    let sato = authorised(&grant(&url, "sato", Role::Operator).await);
    let docs = app.url("/api/interview-templates");
    let (_, shown) = send(&sato, reqwest::Method::GET, docs.clone(), Value::Null).await;
    // The shipped file (tests run where interviews.toml is), not yet edited in the console.
    assert_eq!((shown["from"].as_str(), shown["editable"].as_bool()), (Some("file"), Some(false)), "{}", shown["from"]);
    let source = shown["source"].as_str().unwrap().to_owned();
    let added = source.replace(
        "[[template.question]]\nid = \"just_before\"",
        "[[template.question]]\nid = \"terminal\"\ntext = \"端末番号\"\ntype = \"code\"\nrequired = true\n\n[[template.question]]\nid = \"just_before\"",
    );
    let body = json!({"source": added, "reason": "端末番号を聞く", "base_version": null});
    assert_eq!(send(&sato, reqwest::Method::PUT, docs.clone(), body.clone()).await.0, 403, "only admins");
    let broken = json!({"source": added.replace("type = \"code\"\nrequired = true", "type = \"serial\"\nrequired = true"),
        "reason": "x", "base_version": null});
    let (status, refused) = send(&app.client, reqwest::Method::PUT, docs.clone(), broken).await;
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("question 'terminal': type 'serial'"), "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().starts_with("interviews.toml:"), "{refused}");
    let (status, saved) = send(&app.client, reqwest::Method::PUT, docs.clone(), body).await;
    assert_eq!((status, saved["version"].as_i64()), (200, Some(1)), "{saved}");

    // In force at once: a whole interview now needs the terminal number.
    let number = fault_ticket(&app).await;
    let whole = json!({"started_at": "2026-11-20T09:30", "system": "人事給与システム", "error_message": "E1",
        "reproducible": "no"});
    let interview = app.url(&format!("/api/tickets/{number}/interview"));
    let (status, refused) = send(&sato, reqwest::Method::PUT, interview.clone(), json!({"answers": whole})).await;
    assert_eq!((status, refused["error"]["message"].as_str().unwrap().split(':').next()), (422, Some("terminal")));
    let store = madoguchi::store::Store::connect(&url, 1).await.unwrap();
    let audit = store.audit_entries(20).await.unwrap();
    let line = audit.iter().find(|a| a.action == "interviews_saved").expect("audited");
    assert_eq!((line.actor.as_str(), line.subject.as_str()), ("tester", "interviews v1"));
    assert!(line.detail.contains("\"changed\":[\"fault_report\"]"), "{}", line.detail);
    store.close().await;
    app.stop().await;
}

on_both_backends!(admins_edit_the_templates_in_the_console_and_answers_follow_them);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_saved_at_the_same_moment_are_all_kept() {
    let Some(db) = TestDb::new(Db::Sqlite, "interviews_concurrent").await else { return };
    let app = common::spawn_with(db, |_| {}).await;
    let number = fault_ticket(&app).await;
    let url = app.url(&format!("/api/tickets/{number}/interview"));
    let fields =
        [("system", "人事給与システム"), ("error_message", "E9"), ("screen_id", "B-7"), ("just_before", "保存")];
    let saves = fields.map(|(k, v)| send(&app.client, reqwest::Method::PATCH, url.clone(), json!({"answers": {k: v}})));
    for (status, body) in futures_util::future::join_all(saves).await {
        assert_eq!(status, 200, "{body}");
    }
    let (_, kept) = app.get_json(&format!("/api/tickets/{number}/interview")).await;
    for (k, _) in fields {
        assert!(kept["answers"].get(k).is_some(), "{k} was lost: {kept}");
    }
    app.stop().await;
}
