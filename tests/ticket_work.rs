//! Working a ticket as helpdesk staff do, over real HTTP on both backends: an owner (and "my
//! tickets"), a resolution before resolving or closing, only a supervisor reopening a closed
//! ticket, and merging a ticket into another, after which whatever would have joined the
//! merged ticket joins the one it went into.

mod common;

use common::mime::{actions, history};
use common::smtp::{send_mail, ticket_of};
use common::{Db, TestApp, authorised, grant, spawn_app};
use madoguchi::domain::user::Role;
use madoguchi::store::Store;
use serde_json::{Value, json};

on_both_backends!(
    owners_are_assigned_listed_and_shown,
    resolving_and_closing_need_a_resolution,
    only_a_supervisor_reopens_a_closed_ticket,
    merging_moves_contacts_and_attachments_and_later_contacts_follow,
    mail_for_a_merged_ticket_lands_on_the_one_it_went_into,
    merges_that_make_no_sense_are_refused,
);

async fn new_ticket(app: &TestApp, body: Value) -> String {
    let r = app.post_contact(body).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["ticket"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, client: &reqwest::Client, number: &str, body: Value) -> (u16, Value) {
    let r = client.patch(app.url(&format!("/api/tickets/{number}"))).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> (u16, Value) {
    let r = client.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn merge(app: &TestApp, client: &reqwest::Client, source: &str, into: Value) -> (u16, Value) {
    let url = app.url(&format!("/api/tickets/{source}/merge"));
    let r = client.post(url).json(&into).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn numbers(page: &Value) -> Vec<String> {
    page["tickets"].as_array().unwrap().iter().map(|t| t["number"].as_str().unwrap().to_owned()).collect()
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_else(|| panic!("an error: {v}"))
}

async fn store_of(app: &TestApp) -> Store {
    Store::connect(&app.db.settings().database_url(), 1).await.unwrap()
}

async fn owners_are_assigned_listed_and_shown(db: Db) {
    let Some(app) = spawn_app(db, "owners_are_assigned_listed_and_shown").await else { return };
    let sato = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    let store = store_of(&app).await;
    store.add_user("suzuki", "鈴木 花子", Role::Operator, "-").await.unwrap();
    store.add_user("tanaka", "田中 一郎", Role::Operator, "-").await.unwrap();
    assert!(store.disable_user("tanaka").await.unwrap());
    let a = new_ticket(&app, json!({"subject": "VPNにつながらない"})).await;
    let b = new_ticket(&app, json!({"subject": "プリンタが動かない"})).await;
    let c = new_ticket(&app, json!({"subject": "パスワードを忘れました"})).await;

    let (status, t) = patch(&app, &sato, &a, json!({"owner": "sato"})).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!((t["owner"].as_str(), t["owner_name"].as_str()), (Some("sato"), Some("sato")));
    let (status, t) = patch(&app, &sato, &b, json!({"owner": "suzuki"})).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!((t["owner"].as_str(), t["owner_name"].as_str()), (Some("suzuki"), Some("鈴木 花子")));
    assert_eq!(app.ticket(&b).await["owner_name"], "鈴木 花子", "the detail shows the owner too");

    for nobody in ["yamada.taro", "tanaka", "me"] {
        let (status, v) = patch(&app, &sato, &c, json!({"owner": nobody})).await;
        assert_eq!(status, 422, "{nobody}: {v}");
        assert!(message(&v).starts_with("担当者に指定できるのは"), "{v}");
        assert!(!message(&v).contains(nobody), "the login is not repeated: {v}");
    }
    let (status, v) = patch(&app, &sato, &c, json!({"owner": "山田 太郎"})).await;
    assert_eq!(status, 422, "{v}");
    assert!(!message(&v).contains("山田"), "{v}");
    assert!(app.ticket(&c).await["owner"].is_null(), "a refused owner changes nothing");

    let (_, page) = get(&app, &sato, "/api/tickets?owner=sato").await;
    assert_eq!(numbers(&page), [a.as_str()]);
    let (_, page) = get(&app, &sato, "/api/tickets?owner=suzuki").await;
    assert_eq!(numbers(&page), [b.as_str()]);
    let (_, page) = get(&app, &sato, "/api/tickets?owner=none").await;
    assert_eq!(numbers(&page), [c.as_str()]);
    let (status, _) = get(&app, &sato, "/api/tickets?owner=%E5%B1%B1%E7%94%B0").await;
    assert_eq!(status, 400, "an owner filter that cannot be a login");

    // My tickets: the open ones I own.
    assert_eq!(patch(&app, &sato, &c, json!({"owner": "sato", "status": "in_progress"})).await.0, 200);
    let (_, page) = get(&app, &sato, "/api/me/tickets").await;
    assert_eq!(numbers(&page), [c.as_str(), a.as_str()]);
    let done = json!({"status": "resolved", "resolution": "初期化して連絡済み"});
    assert_eq!(patch(&app, &sato, &c, done).await.0, 200);
    let (status, page) = get(&app, &sato, "/api/me/tickets").await;
    assert_eq!(status, 200);
    assert_eq!(numbers(&page), [a.as_str()], "a resolved ticket is not open");
    let (_, page) = get(&app, &app.client, "/api/me/tickets").await;
    assert!(numbers(&page).is_empty(), "the admin owns none");

    let (status, t) = patch(&app, &sato, &a, json!({"owner": null})).await;
    assert_eq!((status, t["owner"].clone(), t["owner_name"].clone()), (200, Value::Null, Value::Null));
    let (_, page) = get(&app, &sato, "/api/tickets?owner=none").await;
    assert_eq!(numbers(&page), [a.as_str()]);

    let t = app.ticket(&a).await;
    let owners: Vec<(&Value, &Value)> =
        history(&t, "owner_changed").iter().map(|h| (&h["actor"], &h["detail"])).collect();
    assert_eq!(
        owners,
        [
            (&json!("sato"), &json!({"from": null, "to": "sato"})),
            (&json!("sato"), &json!({"from": "sato", "to": null})),
        ]
    );
    let t = app.ticket(&b).await;
    assert_eq!(history(&t, "owner_changed")[0]["detail"], json!({"from": null, "to": "suzuki"}));
    store.close().await;
    app.stop().await;
}

async fn resolving_and_closing_need_a_resolution(db: Db) {
    let Some(app) = spawn_app(db, "resolving_and_closing_need_a_resolution").await else { return };
    let n = new_ticket(&app, json!({"subject": "ICカードが読めない"})).await;
    let client = &app.client;

    for skip in ["resolved", "closed"] {
        let (status, v) = patch(&app, client, &n, json!({"status": skip, "resolution": "対応済み"})).await;
        assert_eq!(status, 409, "new → {skip} skips the work: {v}");
        assert_eq!(message(&v), format!("a ticket cannot go from new to {skip}"));
    }
    assert_eq!(patch(&app, client, &n, json!({"status": "in_progress"})).await.0, 200);
    for body in [json!({"status": "resolved"}), json!({"status": "closed", "resolution": "   "})] {
        let (status, v) = patch(&app, client, &n, body.clone()).await;
        assert_eq!(status, 422, "{body}: {v}");
        assert_eq!(message(&v), "解決内容を入力してください / a resolution is required to resolve or close");
    }
    let (status, v) = patch(&app, client, &n, json!({"resolution": "あ".repeat(20_001)})).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(app.ticket(&n).await["status"], "in_progress", "nothing changed");

    let (status, t) =
        patch(&app, client, &n, json!({"status": "resolved", "resolution": "カードリーダーのドライバを再導入"})).await;
    assert_eq!((status, t["status"].as_str()), (200, Some("resolved")), "{t}");
    let t = app.ticket(&n).await;
    assert_eq!(t["resolution"], "カードリーダーのドライバを再導入");
    assert_eq!(actions(&t)[2..], ["status_changed", "resolution_set", "status_changed"]);
    assert_eq!(
        history(&t, "resolution_set")[0]["detail"],
        json!({"from": null, "to": "カードリーダーのドライバを再導入"})
    );
    let (_, found) = app.get_json("/api/tickets?q=%E3%83%89%E3%83%A9%E3%82%A4%E3%83%90").await; // ドライバ
    assert_eq!(numbers(&found), [n.as_str()], "the resolution is searchable");

    let (status, t) = patch(&app, client, &n, json!({"status": "closed"})).await;
    assert_eq!((status, t["status"].as_str()), (200, Some("closed")), "the resolution on the ticket suffices: {t}");
    app.stop().await;
}

async fn only_a_supervisor_reopens_a_closed_ticket(db: Db) {
    let Some(app) = spawn_app(db, "only_a_supervisor_reopens_a_closed_ticket").await else { return };
    let url = app.db.settings().database_url();
    let operator = authorised(&grant(&url, "sato", Role::Operator).await);
    let supervisor = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    let n = new_ticket(&app, json!({"subject": "メールが送れない"})).await;
    assert_eq!(patch(&app, &app.client, &n, json!({"status": "in_progress"})).await.0, 200);
    let body = json!({"status": "closed", "resolution": "送信サーバ設定を修正"});
    assert_eq!(patch(&app, &app.client, &n, body).await.0, 200);

    let (status, v) = patch(&app, &operator, &n, json!({"status": "in_progress"})).await;
    assert_eq!((status, v["error"]["code"].as_str()), (403, Some("forbidden")), "{v}");
    assert!(message(&v).contains("supervisor"), "{v}");
    assert_eq!(app.ticket(&n).await["status"], "closed");
    let (status, v) = patch(&app, &supervisor, &n, json!({"status": "escalated"})).await;
    assert_eq!(status, 409, "a closed ticket reopens to in_progress only: {v}");

    let (status, t) = patch(&app, &supervisor, &n, json!({"status": "in_progress"})).await;
    assert_eq!((status, t["status"].as_str()), (200, Some("in_progress")), "{t}");
    let store = store_of(&app).await;
    let audit = store.audit_entries(50).await.unwrap();
    let reopened: Vec<(&str, &str)> = audit
        .iter()
        .filter(|a| a.action == "ticket_reopened")
        .map(|a| (a.actor.as_str(), a.subject.as_str()))
        .collect();
    assert_eq!(reopened, [("suzuki", n.as_str())]);
    let t = app.ticket(&n).await;
    let last = history(&t, "status_changed").last().cloned().cloned().unwrap();
    assert_eq!(
        (last["actor"].as_str(), &last["detail"]),
        (Some("suzuki"), &json!({"from": "closed", "to": "in_progress"}))
    );

    // An admin may too.
    let body = json!({"status": "closed"});
    assert_eq!(patch(&app, &operator, &n, body).await.0, 200, "the resolution is still on the ticket");
    assert_eq!(patch(&app, &app.client, &n, json!({"status": "in_progress"})).await.0, 200);
    let audit = store.audit_entries(50).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.action == "ticket_reopened").count(), 2);
    store.close().await;
    app.stop().await;
}

async fn merging_moves_contacts_and_attachments_and_later_contacts_follow(db: Db) {
    let Some(app) = spawn_app(db, "merging_moves_contacts_and_attachments").await else { return };
    let sato = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    let b64 = |s: &str| common::mime::b64(s.as_bytes());
    let source = new_ticket(
        &app,
        json!({"subject": "共有フォルダが見えない", "body": "経理課の共有フォルダが見えません",
               "attachments": [{"filename": "画面.png", "content_type": "image/png", "content_base64": b64("png")}]}),
    )
    .await;
    let joined = app
        .post_contact(json!({"ticket": source, "body": "再起動しても同じです",
                             "attachments": [{"filename": "ログ.txt", "content_base64": b64("error 0x80070035")}]}))
        .await;
    assert_eq!(joined.status(), 200);
    let target = new_ticket(&app, json!({"subject": "ファイルサーバに接続できない"})).await;

    let (status, v) = merge(&app, &sato, &source, json!({"into": target})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["contacts_moved"], 2);
    assert_eq!(
        (v["source"]["status"].as_str(), v["source"]["merged_into"].as_str()),
        (Some("closed"), Some(target.as_str()))
    );
    assert_eq!((v["target"]["contact_count"].as_i64(), v["target"]["status"].as_str()), (Some(3), Some("new")));

    let (_, contacts) = app.get_json(&format!("/api/tickets/{target}/contacts")).await;
    let contacts = contacts["contacts"].as_array().unwrap();
    let bodies: Vec<&str> = contacts.iter().map(|c| c["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["経理課の共有フォルダが見えません", "再起動しても同じです", ""]);
    assert_eq!(contacts[0]["attachments"][0]["filename"], "画面.png");
    let (status, page) =
        app.get_json(&format!("/api/tickets/{target}/contacts/{}/attachments", contacts[1]["id"])).await;
    assert_eq!((status, page["attachments"][0]["filename"].as_str()), (200, Some("ログ.txt")));
    let (_, page) = app.get_json(&format!("/api/tickets/{target}/attachments")).await;
    let files: Vec<&str> =
        page["attachments"].as_array().unwrap().iter().map(|a| a["filename"].as_str().unwrap()).collect();
    assert_eq!(files, ["画面.png", "ログ.txt"]);
    let served = app.client.get(app.url(&format!("/api/attachments/{}", page["attachments"][1]["id"]))).send().await;
    assert_eq!(served.unwrap().text().await.unwrap(), "error 0x80070035");

    let s = app.ticket(&source).await;
    assert_eq!((s["status"].as_str(), s["merged_into"].as_str()), (Some("closed"), Some(target.as_str())));
    assert_eq!((s["contact_count"].as_i64(), s["contacts"].as_array().unwrap().len()), (Some(0), 0));
    assert_eq!(s["resolution"], format!("チケット {target} に統合 / merged into {target}"));
    let into = history(&s, "merged_into");
    assert_eq!(
        (into[0]["actor"].as_str(), &into[0]["detail"]),
        (Some("sato"), &json!({"ticket": target, "contacts": 2}))
    );
    let t = app.ticket(&target).await;
    let from = history(&t, "merged_from");
    assert_eq!(
        (from[0]["actor"].as_str(), &from[0]["detail"]),
        (Some("sato"), &json!({"ticket": source, "contacts": 2}))
    );
    assert!(from[0]["at"].is_string(), "when: {}", from[0]);

    let (_, found) = app.get_json("/api/tickets?q=%E7%B5%8C%E7%90%86%E8%AA%B2").await; // 経理課
    assert!(numbers(&found).contains(&target), "the target is found by the moved contacts' words: {found}");

    // A contact that names the merged ticket joins the one it went into.
    let r = app.post_contact(json!({"ticket": source, "body": "まだ見えません"})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["ticket"].as_str(), v["created"].as_bool()), (Some(target.as_str()), Some(false)));
    assert_eq!(app.ticket(&target).await["contact_count"], 4);
    app.stop().await;
}

async fn mail_for_a_merged_ticket_lands_on_the_one_it_went_into(db: Db) {
    let Some(app) = spawn_app(db, "mail_for_a_merged_ticket").await else { return };
    let mail = |id: &str, subject: &str, extra: &str| {
        format!(
            "From: Sato <sato@example.go.jp>\r\nTo: helpdesk@example.jp\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{extra}Content-Type: text/plain; charset=UTF-8\r\n\r\nbody\r\n"
        )
        .into_bytes()
    };
    let send = |raw: Vec<u8>| async move {
        ticket_of(&send_mail(app.mail, "sato@example.go.jp", "helpdesk@example.jp", &raw).await)
    };
    let source = send(mail("m1@example.go.jp", "VPN", "")).await;
    let s = app.ticket(&source).await;
    assert_eq!(history(&s, "ack_queued").len(), 1, "{:?}", actions(&s));
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.db.settings().database_url()).await.unwrap();
    let (ack,): (String,) = sqlx::query_as("SELECT message_id FROM outbox").fetch_one(&mut conn).await.unwrap();
    let target = new_ticket(&app, json!({"subject": "VPN", "caller": {"email": "suzuki@example.go.jp"}})).await;
    assert_eq!(merge(&app, &app.client, &source, json!({"into": target})).await.0, 200);

    let to_ack = send(mail("m2@example.go.jp", "Re: VPN", &format!("In-Reply-To: {ack}\r\n"))).await;
    assert_eq!(to_ack, target, "a reply to the merged ticket's acknowledgement");
    let to_mail = send(mail("m3@example.go.jp", "Re: VPN", "References: <m1@example.go.jp>\r\n")).await;
    assert_eq!(to_mail, target, "a reply to a mail of the merged ticket");
    let by_number = send(mail("m4@example.go.jp", &format!("Re: [{source}] VPN"), "")).await;
    assert_eq!(by_number, target, "the merged ticket's number in the subject");
    assert_eq!(app.ticket(&target).await["contact_count"], 5);
    app.stop().await;
}

async fn merges_that_make_no_sense_are_refused(db: Db) {
    let Some(app) = spawn_app(db, "merges_that_make_no_sense_are_refused").await else { return };
    let c = &app.client;
    let a = new_ticket(&app, json!({"subject": "一件目"})).await;
    let b = new_ticket(&app, json!({"subject": "二件目"})).await;
    let d = new_ticket(&app, json!({"subject": "三件目"})).await;

    let (status, v) = merge(&app, c, &a, json!({"into": a})).await;
    assert_eq!(
        (status, message(&v)),
        (422, "チケットをそれ自身に統合することはできません / a ticket cannot be merged into itself")
    );
    let (status, v) = merge(&app, c, "20200101-0042", json!({"into": a})).await;
    assert_eq!((status, message(&v)), (404, "ticket 20200101-0042 does not exist"));
    let (status, v) = merge(&app, c, &a, json!({"into": "20200101-0042"})).await;
    assert_eq!((status, message(&v)), (404, "ticket 20200101-0042 does not exist"));
    let (status, v) = merge(&app, c, &a, json!({"into": "山田さんの件"})).await;
    assert_eq!(status, 422, "{v}");
    assert!(!message(&v).contains("山田"), "{v}");
    assert_eq!(merge(&app, c, &a, json!({"into": b, "when": "now"})).await.0, 422);

    assert_eq!(patch(&app, c, &d, json!({"status": "in_progress"})).await.0, 200);
    assert_eq!(patch(&app, c, &d, json!({"status": "closed", "resolution": "済"})).await.0, 200);
    let (status, v) = merge(&app, c, &a, json!({"into": d})).await;
    assert_eq!(status, 409, "{v}");
    assert!(message(&v).contains(&format!("ticket {d} is closed")), "{v}");

    assert_eq!(merge(&app, c, &a, json!({"into": b})).await.0, 200);
    let (status, v) = merge(&app, c, &a, json!({"into": b})).await;
    assert_eq!((status, message(&v).ends_with(&format!("ticket {a} is already merged into {b}"))), (409, true), "{v}");
    let (status, v) = merge(&app, c, &b, json!({"into": a})).await;
    assert_eq!(status, 409, "into a merged (closed) ticket: {v}");
    let (status, v) = patch(&app, c, &a, json!({"status": "in_progress"})).await;
    assert_eq!(status, 409, "a merged ticket stays closed, even for an admin: {v}");
    assert_eq!(patch(&app, c, &a, json!({"note": "統合済み"})).await.0, 200, "notes still go on it");
    app.stop().await;
}
