//! The JSON API as an integration would use it: real HTTP against the whole service, on SQLite
//! and on PostgreSQL.

mod common;

use base64::Engine;
use common::{Db, TestDb, spawn_app, spawn_with};
use serde_json::{Value, json};
use std::collections::HashSet;

on_both_backends!(
    logged_contact_becomes_a_routed_ticket_with_history,
    contacts_join_tickets_and_closed_tickets_refuse,
    bad_requests_get_clear_errors,
    list_filters_search_and_pages,
    attachments_are_kept_and_served,
    concurrent_contacts_get_unique_consecutive_numbers,
    operators_change_tickets_and_every_change_is_history,
    hostile_searches_are_refused_at_once_and_the_intake_keeps_working,
    a_nul_in_one_contact_fails_nothing,
    every_error_is_json_and_never_repeats_what_was_sent,
    a_contact_with_more_attachments_than_the_limit_is_refused_and_nothing_is_stored,
    a_ticket_with_many_contacts_and_attachments_reads_in_bounded_pages,
    reads_past_their_time_limit_answer_503_and_leave_the_pool_and_the_intake_free,
);

/// The ticket's history without the SLA clocks' entries (tests/sla.rs looks at those).
fn work(ticket: &Value) -> Vec<&Value> {
    ticket["history"].as_array().unwrap().iter().filter(|h| h["actor"] != "sla").collect()
}

fn actions(ticket: &Value) -> Vec<String> {
    work(ticket).iter().map(|h| h["action"].as_str().unwrap().to_owned()).collect()
}

async fn logged_contact_becomes_a_routed_ticket_with_history(db: Db) {
    let Some(app) = spawn_app(db, "logged_contact_becomes_a_routed_ticket_with_history").await else { return };
    let (status, health) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");

    let r = app
        .post_contact(json!({
            "channel": "phone",
            "subject": "アカウントがロックされました",
            "body": "朝からログインできません。至急ロック解除をお願いします。",
            "caller": {"number": "03-1234-5678", "name": "山田 太郎", "email": "Taro.Yamada@mhlw.go.jp", "organisation": "労災保険業務課"},
            "dialed_number": "0120-000-111",
            "received_at": "2026-11-21T09:15:00+09:00"
        }))
        .await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = r.json().await.unwrap();
    let number = created["ticket"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/tickets/{number}"));
    assert!(number.len() == 13 && number.as_bytes()[8] == b'-', "{number}");
    assert_eq!(created["routing"]["rule"], "account-unlock");

    let (status, t) = app.get_json(&location).await;
    assert_eq!(status, 200);
    assert_eq!(t["subject"], "アカウントがロックされました");
    assert_eq!(t["channel"], "phone");
    assert_eq!(t["category"], "account_unlock");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["tier"], 1);
    assert_eq!(t["status"], "new");
    assert!(t["created_at"].as_str().unwrap().ends_with("+09:00"), "times are shown in JST");
    let c = &t["contacts"][0];
    assert_eq!(c["caller_number"], "03-1234-5678");
    assert_eq!(c["display_name"], "山田 太郎");
    assert_eq!(c["email"], "Taro.Yamada@mhlw.go.jp");
    assert_eq!(c["organisation"], "労災保険業務課");
    assert_eq!(c["dialed_number"], "0120-000-111");
    assert_eq!(c["received_at"], "2026-11-21T09:15:00+09:00");
    assert!(c["raw"].as_str().unwrap().contains("ロック解除"), "the source is kept");
    assert_eq!(actions(&t), ["created", "routed"]);
    assert_eq!(work(&t)[1]["detail"]["rule"], "account-unlock");
    assert_eq!(work(&t)[1]["detail"]["applied"], true);
    app.stop().await;
}

async fn contacts_join_tickets_and_closed_tickets_refuse(db: Db) {
    let Some(app) = spawn_app(db, "contacts_join_tickets_and_closed_tickets_refuse").await else { return };
    let first: Value = app
        .post_contact(json!({"subject": "VPNにつながらない", "caller": {"number": "0312345678"}}))
        .await
        .json()
        .await
        .unwrap();
    let number = first["ticket"].as_str().unwrap().to_owned();

    let r = app
        .post_contact(
            json!({"ticket": number, "body": "再起動しても同じです", "caller": {"number": "+81 3 1234 5678"}}),
        )
        .await;
    assert_eq!(r.status(), 200, "joining answers 200, not 201");
    let joined: Value = r.json().await.unwrap();
    assert_eq!(joined["created"], false);
    assert_eq!(joined["ticket"], number.as_str());

    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    assert_eq!(t["contact_count"], 2);
    assert_eq!(t["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(actions(&t), ["created", "routed", "contact_added", "routed"]);
    assert_eq!(work(&t)[3]["detail"]["applied"], false);
    // Found by a two-character word that only the joining contact has.
    let (_, found) = app.get_json("/api/tickets?q=%E5%86%8D%E8%B5%B7").await; // 再起
    assert_eq!(found["tickets"][0]["number"], number.as_str());

    // A resolved ticket that hears from the caller again is reopened.
    assert_eq!(app.patch(&number, json!({"status": "in_progress"})).await.0, 200);
    assert_eq!(app.patch(&number, json!({"status": "resolved", "resolution": "VPN設定を更新"})).await.0, 200);
    assert_eq!(app.post_contact(json!({"ticket": number, "body": "まだ直りません"})).await.status(), 200);
    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    assert_eq!(t["status"], "in_progress");

    assert_eq!(app.patch(&number, json!({"status": "closed"})).await.0, 200);
    let r = app.post_contact(json!({"ticket": number, "body": "追伸"})).await;
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("closed"), "{e}");

    let r = app.post_contact(json!({"ticket": "20200101-9999", "body": "x"})).await;
    assert_eq!(r.status(), 404);
    app.stop().await;
}

async fn bad_requests_get_clear_errors(db: Db) {
    let Some(test_db) = TestDb::new(db, "bad_requests_get_clear_errors").await else { return };
    let app = spawn_with(test_db, |s| s.http.max_body_bytes = 4096).await;
    let post_raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/contacts")).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    let message = |v: &Value| v["error"]["message"].as_str().unwrap_or_default().to_owned();

    let r = post_raw("{\"subject\": ", Some("application/json")).await.unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "bad_request");
    assert!(message(&v).contains("not valid JSON"), "{v}");

    let r = app.post_contact(json!({"subject": "x", "colour": "red"})).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(message(&v).contains("unknown field `colour`"), "{v}");

    let r = app.post_contact(json!({"subject": "x", "caller": {"number": 312345678}})).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert!(!message(&v).contains("312345678"), "personal data is not echoed: {v}");

    let r = app.post_contact(json!({"subject": "x", "channel": "pigeon"})).await;
    assert_eq!(r.status(), 422);

    let r = app.post_contact(json!({"body": "  "})).await;
    assert_eq!(r.status(), 422);

    let r = app.post_contact(json!({"subject": "x", "caller": {"email": "not-an-address"}})).await;
    assert_eq!(r.status(), 422);

    let r = app
        .post_contact(json!({"subject": "x", "attachments": [{"filename": "a.pdf", "content_base64": "!!!"}]}))
        .await;
    assert_eq!(r.status(), 422);
    assert!(message(&r.json().await.unwrap()).contains("attachments[0]"));

    let big = "あ".repeat(5000);
    let r = app.post_contact(json!({"subject": "x", "body": big})).await;
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "too_large");
    assert!(message(&v).contains("4096"), "{v}");

    let r = post_raw("{\"subject\": \"x\"}", None).await.unwrap();
    assert_eq!(r.status(), 415);

    let (status, v) = app.get_json("/api/tickets/20261121-9999").await;
    assert_eq!(status, 404);
    assert_eq!(message(&v), "ticket 20261121-9999 does not exist");
    let (status, _) = app.get_json("/api/tickets/not-a-number").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/api/tickets?tier=9").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/api/tickets?status=lost").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/api/tickets?limit=100000").await;
    assert_eq!(status, 400);
    let (status, _) = app.get_json("/api/tickets?sort=asc").await;
    assert_eq!(status, 400);
    let (status, v) = app.get_json("/api/nothing-here").await;
    assert_eq!((status, v["error"]["code"].as_str()), (404, Some("not_found")));
    let r = app.client.delete(app.url("/api/tickets/20261121-0001")).send().await.unwrap();
    assert_eq!(r.status(), 405);

    let created: Value = app.post_contact(json!({"subject": "パスワードを忘れました"})).await.json().await.unwrap();
    let number = created["ticket"].as_str().unwrap().to_owned();
    assert_eq!(app.patch(&number, json!({})).await.0, 422);
    assert_eq!(app.patch(&number, json!({"category": "astrology"})).await.0, 422);
    assert_eq!(app.patch(&number, json!({"tier": 4})).await.0, 422);
    assert_eq!(app.patch(&number, json!({"status": "new"})).await.0, 200, "staying put is no error");
    assert_eq!(app.patch(&number, json!({"status": "in_progress"})).await.0, 200);
    assert_eq!(app.patch(&number, json!({"status": "resolved", "resolution": "再設定済み"})).await.0, 200);
    let (status, v) = app.patch(&number, json!({"status": "escalated"})).await;
    assert_eq!(status, 409);
    assert_eq!(message(&v), "a ticket cannot go from resolved to escalated");
    assert_eq!(app.patch("20200101-0001", json!({"status": "closed"})).await.0, 404);
    app.stop().await;
}

async fn list_filters_search_and_pages(db: Db) {
    let Some(app) = spawn_app(db, "list_filters_search_and_pages").await else { return };
    let contacts = [
        json!({"channel": "phone", "subject": "アカウントロック", "caller": {"number": "03-1111-2222"}}),
        json!({"channel": "email", "subject": "パスワードを忘れました", "caller": {"email": "a@mhlw.go.jp"}}),
        json!({"channel": "email", "subject": "システム障害の報告", "body": "帳票画面でエラー", "caller": {"email": "b@example.jp"}}),
        json!({"channel": "fax", "subject": "ユーザID追加申請", "caller": {"fax": "06-1234-5678"}}),
        json!({"channel": "manual", "subject": "操作方法の質問", "body": "ﾌﾟﾘﾝﾀの設定方法を教えてください"}),
        json!({"channel": "phone", "subject": "強制サインアウト依頼", "caller": {"number": "+81 3 1111 2222"}}),
    ];
    let mut numbers = Vec::new();
    for c in contacts {
        let v: Value = app.post_contact(c).await.json().await.unwrap();
        numbers.push(v["ticket"].as_str().unwrap().to_owned());
    }
    let list = |v: &Value| -> Vec<String> {
        v["tickets"].as_array().unwrap().iter().map(|t| t["number"].as_str().unwrap().to_owned()).collect()
    };

    let (_, all) = app.get_json("/api/tickets").await;
    let mut newest_first = numbers.clone();
    newest_first.reverse();
    assert_eq!(list(&all), newest_first);

    let cases: Vec<(&str, Vec<usize>)> = vec![
        ("channel=email", vec![2, 1]),
        ("channel=phone", vec![5, 0]),
        ("tier=2", vec![2]),
        ("category=password_reset", vec![1]),
        ("q=%E3%83%91%E3%82%B9%E3%83%AF%E3%83%BC%E3%83%89", vec![1]), // パスワード
        ("q=%E9%9A%9C%E5%AE%B3", vec![2]),                            // 障害 (two characters)
        ("q=%E3%83%97%E3%83%AA%E3%83%B3%E3%82%BF", vec![4]),          // プリンタ finds half-width ﾌﾟﾘﾝﾀ
        ("q=%E5%B8%B3%E7%A5%A8+%E3%82%A8%E3%83%A9%E3%83%BC", vec![2]), // 帳票 エラー: both words, body
        ("q=%E5%B8%B3%E7%A5%A8+%E3%83%AD%E3%83%83%E3%82%AF", vec![]), // 帳票 ロック: no ticket has both
        ("q=MHLW.GO.JP", vec![1]),
        ("caller=0311112222", vec![5, 0]),
        ("caller=%2B81-3-1111-2222", vec![5, 0]),
        ("caller=06-1234-5678", vec![3]),
        ("caller=A%40MHLW.GO.JP", vec![1]),
        ("channel=phone&q=%E5%BC%B7%E5%88%B6", vec![5]), // 強制
    ];
    for (query, want) in cases {
        let (status, v) = app.get_json(&format!("/api/tickets?{query}")).await;
        assert_eq!(status, 200, "{query}");
        let want: Vec<String> = want.iter().map(|&i| numbers[i].clone()).collect();
        assert_eq!(list(&v), want, "{query}");
    }

    assert_eq!(app.patch(&numbers[0], json!({"status": "in_progress"})).await.0, 200);
    assert_eq!(app.patch(&numbers[1], json!({"status": "acknowledged"})).await.0, 200);
    assert_eq!(app.patch(&numbers[1], json!({"status": "resolved", "resolution": "回答済み"})).await.0, 200);
    let (_, v) = app.get_json("/api/tickets?status=in_progress,resolved").await;
    assert_eq!(list(&v), [numbers[1].clone(), numbers[0].clone()]);
    let (_, v) = app.get_json("/api/tickets?status=open&channel=email").await;
    assert_eq!(list(&v), [numbers[2].clone()]);

    // Paging: 4 + 2, each page newest first, no overlap, no gap.
    let (_, page1) = app.get_json("/api/tickets?limit=4").await;
    let next = page1["next"].as_str().expect("a next cursor").to_owned();
    let (_, page2) = app.get_json(&format!("/api/tickets?limit=4&before={next}")).await;
    assert!(page2["next"].is_null());
    let both: Vec<String> = list(&page1).into_iter().chain(list(&page2)).collect();
    assert_eq!(both, newest_first);
    // Paging through search results too.
    let (_, p) = app.get_json("/api/tickets?q=%E3%83%AD%E3%83%83%E3%82%AF&limit=1").await; // ロック
    assert_eq!(list(&p), [numbers[0].clone()]);
    assert!(p["next"].is_null());
    app.stop().await;
}

async fn attachments_are_kept_and_served(db: Db) {
    let Some(app) = spawn_app(db, "attachments_are_kept_and_served").await else { return };
    let pdf = b"%PDF-1.4 fake fax page".to_vec();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let r = app
        .post_contact(json!({
            "channel": "fax", "subject": "申請書", "caller": {"fax": "03-5555-6666"},
            "attachments": [
                {"filename": "申請書.pdf", "content_type": "application/pdf", "content_base64": b64},
                {"filename": "../../etc/copy.pdf", "content_type": "application/pdf", "content_base64": b64}
            ]
        }))
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let (_, t) = app.get_json(&format!("/api/tickets/{}", v["ticket"].as_str().unwrap())).await;
    let atts = t["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0]["filename"], "申請書.pdf");
    assert_eq!(atts[1]["filename"], "copy.pdf", "paths are stripped from file names");
    assert_eq!(atts[0]["size"], pdf.len());
    assert_eq!(atts[0]["sha256"], atts[1]["sha256"]);
    assert!(!t["contacts"][0]["raw"].as_str().unwrap().contains(&b64), "content is kept as a file, not in raw");
    assert_eq!(actions(&t).iter().filter(|a| *a == "attachment_added").count(), 2);

    let id = atts[0]["id"].as_i64().unwrap();
    let r = app.client.get(app.url(&format!("/api/attachments/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("UTF-8''"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), pdf);
    // Small files live in the database; a large scan becomes a file, stored once (SQLite), or
    // stays in the database too (PostgreSQL, which several nodes may share).
    assert!(!app.db.dir.path().join("data").join("attachments").exists());
    let scan: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
    let scan_b64 = base64::engine::general_purpose::STANDARD.encode(&scan);
    for _ in 0..2 {
        let body = json!({"channel": "fax", "subject": "大きなスキャン", "attachments": [{"filename": "scan.tif", "content_type": "image/tiff", "content_base64": scan_b64}]});
        assert_eq!(app.post_contact(body).await.status(), 201);
    }
    let dir = app.db.dir.path().join("data").join("attachments");
    if db == Db::Postgres {
        assert!(!dir.exists(), "no file on a database nodes share");
    } else {
        let files: Vec<_> = walk(&dir);
        assert_eq!(files.len(), 1, "the same content is stored once: {files:?}");
    }
    let (_, page) = app.get_json("/api/tickets?channel=fax&limit=1").await;
    let (_, t) = app.get_json(&format!("/api/tickets/{}", page["tickets"][0]["number"].as_str().unwrap())).await;
    let big_id = t["attachments"][0]["id"].as_i64().unwrap();
    let r = app.client.get(app.url(&format!("/api/attachments/{big_id}"))).send().await.unwrap();
    assert_eq!(r.bytes().await.unwrap().to_vec(), scan);
    let (status, _) = app.get_json("/api/attachments/999999").await;
    assert_eq!(status, 404);
    app.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

async fn concurrent_contacts_get_unique_consecutive_numbers(db: Db) {
    let Some(app) = spawn_app(db, "concurrent_contacts_get_unique_consecutive_numbers").await else { return };
    let mut tasks = Vec::new();
    for i in 0..100 {
        let client = app.client.clone();
        let url = app.url("/api/contacts");
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).json(&json!({"subject": format!("問い合わせ {i}")})).send().await.unwrap();
            assert_eq!(r.status(), 201);
            r.json::<Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned()
        }));
    }
    let mut numbers = HashSet::new();
    for t in tasks {
        numbers.insert(t.await.unwrap());
    }
    assert_eq!(numbers.len(), 100);
    let mut seqs: Vec<u32> = numbers.iter().map(|n| n[9..].parse().unwrap()).collect();
    seqs.sort();
    // Unless the JST day turned over during the test, the day's sequence has no gaps.
    let days: HashSet<&str> = numbers.iter().map(|n| &n[..8]).collect();
    if days.len() == 1 {
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>());
    }
    app.stop().await;
}

async fn operators_change_tickets_and_every_change_is_history(db: Db) {
    let Some(app) = spawn_app(db, "operators_change_tickets_and_every_change_is_history").await else { return };
    let v: Value = app.post_contact(json!({"subject": "印刷できない"})).await.json().await.unwrap();
    let number = v["ticket"].as_str().unwrap().to_owned();
    let (status, t) = app.patch(&number, json!({"status": "acknowledged", "priority": "high", "category": "fault_report", "note": "問診済み: プリンタ型番 ABC-123"})).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!((t["status"].as_str(), t["priority"].as_str()), (Some("acknowledged"), Some("high")));

    // Raising the tier escalates.
    let (_, t) = app.patch(&number, json!({"tier": 3})).await;
    assert_eq!((t["tier"].as_i64(), t["status"].as_str()), (Some(3), Some("escalated")));
    let (_, t) = app.patch(&number, json!({"status": "resolved", "resolution": "ドライバ更新で解決"})).await;
    assert_eq!(t["status"], "resolved");

    let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    let history: Vec<(String, String)> = work(&t)
        .iter()
        .map(|h| (h["actor"].as_str().unwrap().to_owned(), h["action"].as_str().unwrap().to_owned()))
        .collect();
    let tester = |a: &str| ("tester".to_owned(), a.to_owned());
    assert_eq!(
        history[2..],
        [
            tester("status_changed"),
            tester("category_changed"),
            tester("priority_changed"),
            tester("note_added"),
            tester("status_changed"),
            tester("tier_changed"),
            tester("resolution_set"),
            tester("status_changed"),
        ]
    );
    assert_eq!(work(&t)[8]["detail"], json!({"from": null, "to": "ドライバ更新で解決"}));
    // Notes are searchable.
    let (_, found) = app.get_json("/api/tickets?q=abc-123").await;
    assert_eq!(found["tickets"][0]["number"], number.as_str());
    app.stop().await;
}

async fn hostile_searches_are_refused_at_once_and_the_intake_keeps_working(db: Db) {
    let Some(app) = spawn_app(db, "hostile_searches").await else { return };
    for subject in ["パスワード再設定", "プリンタ故障", "VPN接続不可"] {
        assert_eq!(app.post_contact(json!({"channel": "email", "subject": subject})).await.status(), 201);
    }
    let huge = "a".repeat(60_000);
    let many = vec!["ab"; 40].join("+");
    let started = std::time::Instant::now();
    let searches: Vec<_> = (0..12)
        .map(|i| {
            let app_client = app.client.clone();
            let url = app.url(&format!("/api/tickets?q={}", if i % 2 == 0 { &huge } else { &many }));
            tokio::spawn(async move { app_client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    // Contacts go in while the searches are refused.
    for i in 0..20 {
        let r = app.post_contact(json!({"channel": "email", "subject": format!("同時受付 {i}")})).await;
        assert_eq!(r.status(), 201);
    }
    for s in searches {
        assert_eq!(s.await.unwrap(), 400);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());

    let (status, v) = app.get_json("/api/tickets?q=%00").await;
    assert_eq!(status, 400, "a search of only NUL does not match everything: {v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("nothing that can be searched"), "{v}");
    let (status, v) = app.get_json("/api/tickets?q=%E3%83%97%E3%83%AA%E3%83%B3%E3%82%BF%00").await; // プリンタ NUL
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["tickets"].as_array().unwrap().len(), 1, "{v}");
    let (status, _) = app.get_json("/api/tickets?caller=03%001234").await;
    assert_eq!(status, 200);
    app.stop().await;
}

async fn a_nul_in_one_contact_fails_nothing(db: Db) {
    let Some(app) = spawn_app(db, "a_nul_in_one_contact").await else { return };
    let posts: Vec<_> = (0..60)
        .map(|i| {
            let (client, url) = (app.client.clone(), app.url("/api/contacts"));
            let body = if i % 10 == 3 {
                json!({"channel": "phone", "subject": format!("NUL\u{0}件名 {i}"), "body": "本文\u{0}",
                       "caller": {"name": "山田\u{0}太郎", "number": "090-1234-5678"}})
            } else {
                json!({"channel": "email", "subject": format!("通常 {i}")})
            };
            tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap() })
        })
        .collect();
    let mut with_nul = Vec::new();
    for (i, p) in posts.into_iter().enumerate() {
        let r = p.await.unwrap();
        assert_eq!(r.status(), 201, "contact {i}");
        let v: Value = r.json().await.unwrap();
        if i % 10 == 3 {
            with_nul.push(v["ticket"].as_str().unwrap().to_owned());
        }
    }
    for number in with_nul {
        let (_, t) = app.get_json(&format!("/api/tickets/{number}")).await;
        assert!(t["subject"].as_str().unwrap().starts_with("NUL件名"), "{t}");
        assert_eq!(t["contacts"][0]["display_name"], "山田太郎", "{t}");
    }
    app.stop().await;
}

/// Every kind of refusal (axum's own included) answers `{"error": {"code", "message"}}`, and no
/// message repeats a value the caller sent.
async fn every_error_is_json_and_never_repeats_what_was_sent(db: Db) {
    let Some(test_db) = TestDb::new(db, "every_error_is_json").await else { return };
    let app = spawn_with(test_db, |s| s.http.max_body_bytes = 4096).await;
    let secret = "山田太郎 090-1234-5678";
    let ascii_secret = "Yamada Taro 09012345678";
    let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let check = |what: &str, r: reqwest::Response, want: u16| {
        let what = what.to_owned();
        async move {
            assert_eq!(r.status().as_u16(), want, "{what}");
            let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            assert_eq!(ct.as_deref(), Some("application/json"), "{what}");
            let text = r.text().await.unwrap();
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
            assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{what}: {v}");
            for leak in ["山田", "090", "1234", "5678", "Yamada", "Taro"] {
                assert!(!text.contains(leak), "{what}: the answer repeats `{leak}`: {text}");
            }
            v
        }
    };
    let get = |path: String| app.client.get(app.url(&path)).send();

    // Path parameters.
    check("bad percent-encoding", get("/api/tickets/%ZZ".into()).await.unwrap(), 400).await;
    check("not UTF-8", get("/api/tickets/%FF%FE".into()).await.unwrap(), 400).await;
    check("personal data as a number", get(format!("/api/tickets/{}", enc(secret))).await.unwrap(), 400).await;
    let v = check("non-numeric id", get("/api/attachments/abc".into()).await.unwrap(), 400).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("whole number"), "{v}");
    check("id with personal data", get(format!("/api/attachments/{}", enc(secret))).await.unwrap(), 400).await;
    // Query strings.
    check("limit not a number", get("/api/tickets?limit=abc".into()).await.unwrap(), 400).await;
    for key in ["channel", "status", "tier", "before", "colour"] {
        for value in [secret, ascii_secret] {
            let r = get(format!("/api/tickets?{key}={}", enc(value))).await.unwrap();
            check(&format!("query {key}"), r, 400).await;
        }
    }
    // JSON bodies.
    let post = |body: String, ct: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/contacts")).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        req.send()
    };
    check("bad JSON", post(format!("{{\"subject\": \"{secret}"), Some("application/json")).await.unwrap(), 400).await;
    check("no content type", post(json!({"subject": secret}).to_string(), None).await.unwrap(), 415).await;
    check("wrong content type", post(json!({"subject": secret}).to_string(), Some("text/plain")).await.unwrap(), 415)
        .await;
    let big = json!({"subject": secret, "body": "あ".repeat(5000)}).to_string();
    check("too large", post(big, Some("application/json")).await.unwrap(), 413).await;
    for value in [secret, ascii_secret] {
        let r = app.post_contact(json!({"subject": "x", "channel": value})).await;
        let v = check("channel", r, 422).await;
        assert!(v["error"]["message"].as_str().unwrap().contains("channel"), "names the field: {v}");
        let r = app.post_contact(json!({"subject": "x", "ticket": value})).await;
        check("ticket", r, 422).await;
        let r = app.post_contact(json!({"subject": "x", value: "x"})).await;
        check("unknown field", r, 422).await;
        let r = app.post_contact(json!({"subject": "x", "caller": {"email": value}})).await;
        check("email", r, 422).await;
        let r = app.post_contact(json!({"subject": "x", "caller": {"number": 9012345678u64}})).await;
        check("number as a number", r, 422).await;
        let r = app.post_contact(json!({"subject": "x", "received_at": value})).await;
        check("received_at", r, 422).await;
        let r = app
            .post_contact(json!({"subject": "x", "attachments": [{"filename": value, "content_base64": value}]}))
            .await;
        check("attachment content", r, 422).await;
    }
    let created: Value = app.post_contact(json!({"subject": "x"})).await.json().await.unwrap();
    let number = created["ticket"].as_str().unwrap();
    for body in [
        json!({"status": secret}),
        json!({"priority": ascii_secret}),
        json!({"tier": 9012345678u64}),
        json!({"category": secret}),
    ] {
        let r = app.client.patch(app.url(&format!("/api/tickets/{number}"))).json(&body).send().await.unwrap();
        check("patch", r, 422).await;
    }
    // Unknown routes and methods.
    check("unknown route", get(format!("/api/{}", enc(secret))).await.unwrap(), 404).await;
    check("wrong method", app.client.delete(app.url("/api/tickets/20261121-0001")).send().await.unwrap(), 405).await;
    check("wrong method on a list", app.client.put(app.url("/api/tickets")).send().await.unwrap(), 405).await;
    app.stop().await;
}

async fn a_contact_with_more_attachments_than_the_limit_is_refused_and_nothing_is_stored(db: Db) {
    let Some(test_db) = TestDb::new(db, "too_many_attachments").await else { return };
    let app = spawn_with(test_db, |s| s.intake.max_attachments_per_contact = 3).await;
    let attachment = |i: usize| json!({"filename": format!("{i}.txt"), "content_base64": "eA=="});
    let r = app
        .post_contact(json!({"subject": "多すぎる添付", "attachments": (0..4).map(attachment).collect::<Vec<_>>()}))
        .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("at most 3 attachments") && message.contains("max_attachments_per_contact"), "{v}");
    let (_, list) = app.get_json("/api/tickets").await;
    assert_eq!(list["tickets"].as_array().unwrap().len(), 0, "nothing was stored: {list}");

    let r = app
        .post_contact(json!({"subject": "ちょうど", "attachments": (0..3).map(attachment).collect::<Vec<_>>()}))
        .await;
    assert_eq!(r.status(), 201);
    app.stop().await;
}

/// Pages through one of a ticket's lists; every page has at most `limit` items.
async fn all_pages(app: &common::TestApp, path: &str, list: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after = String::new();
    loop {
        let (status, page) = app.get_json(&format!("{path}?limit={limit}{after}")).await;
        assert_eq!(status, 200, "{page}");
        let got = page[list].as_array().unwrap();
        assert!(!got.is_empty() && got.len() <= limit, "{path}: {} items", got.len());
        items.extend(got.iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => return items,
        }
    }
}

async fn a_ticket_with_many_contacts_and_attachments_reads_in_bounded_pages(db: Db) {
    let Some(app) = spawn_app(db, "many_contacts_read_in_pages").await else { return };
    let attachment =
        |i: usize| json!({"filename": format!("scan{i}.pdf"), "content_base64": b64(format!("page {i}").as_bytes())});
    let first: Value = app
        .post_contact(json!({"subject": "スキャン一式", "attachments": (0..30).map(attachment).collect::<Vec<_>>()}))
        .await
        .json()
        .await
        .unwrap();
    let number = first["ticket"].as_str().unwrap().to_owned();
    for i in 1..45 {
        let r = app
            .post_contact(json!({"ticket": number, "body": format!("追伸 {i}"), "attachments": [attachment(100 + i)]}))
            .await;
        assert_eq!(r.status(), 200);
    }

    let t = app.ticket(&number).await;
    assert_eq!(t["contact_count"], 45);
    assert_eq!(t["contacts"].as_array().unwrap().len(), 20, "the first page of contacts only");
    assert!(t["contacts_next"].is_string(), "{}", t["contacts_next"]);
    let c0 = &t["contacts"][0];
    assert_eq!(c0["attachments"].as_array().unwrap().len(), 20, "the first attachments of a contact only");
    assert_eq!(c0["attachment_count"], 30);
    assert_eq!(t["contacts"][1]["attachment_count"], 1);
    assert_eq!(t["attachment_count"], 74);
    assert_eq!(t["attachments"].as_array().unwrap().len(), 74);
    assert!(t["attachments_next"].is_null());
    let history_len = t["history"].as_array().unwrap().len();
    assert!(history_len <= 200, "{history_len}");

    let base = format!("/api/tickets/{number}");
    let contacts = all_pages(&app, &format!("{base}/contacts"), "contacts", 7).await;
    let bodies: Vec<&str> = contacts.iter().map(|c| c["body"].as_str().unwrap()).collect();
    assert_eq!(bodies.len(), 45);
    assert_eq!(bodies[1], "追伸 1");
    assert_eq!(bodies[44], "追伸 44");
    let contact_id = c0["id"].as_i64().unwrap();
    let atts = all_pages(&app, &format!("{base}/contacts/{contact_id}/attachments"), "attachments", 8).await;
    let names: Vec<String> = atts.iter().map(|a| a["filename"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, (0..30).map(|i| format!("scan{i}.pdf")).collect::<Vec<_>>());
    assert_eq!(all_pages(&app, &format!("{base}/attachments"), "attachments", 50).await.len(), 74);
    let history = all_pages(&app, &format!("{base}/history"), "history", 60).await;
    assert!(history.len() > 100, "{}", history.len());
    assert_eq!(history[0]["action"], "created");

    for bad in ["limit=0", "limit=201", "after=x", "sort=asc"] {
        let (status, v) = app.get_json(&format!("{base}/contacts?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {v}");
    }
    let (status, _) = app.get_json(&format!("{base}/contacts/999999/attachments")).await;
    assert_eq!(status, 404);
    let (status, _) = app.get_json("/api/tickets/20200101-0001/history").await;
    assert_eq!(status, 404);
    app.stop().await;
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// With a time limit no read can meet, every read is stopped and answered 503 (JSON, with
/// Retry-After), while contacts keep being stored; the abandoned reads leave the pool free.
async fn reads_past_their_time_limit_answer_503_and_leave_the_pool_and_the_intake_free(db: Db) {
    let Some(test_db) = TestDb::new(db, "reads_past_their_time_limit").await else { return };
    let app = spawn_with(test_db, |s| s.http.query_timeout_ms = 0).await;
    let searches: Vec<_> = (0..60)
        .map(|i| {
            let (client, url) =
                (app.client.clone(), app.url(&format!("/api/tickets?q=%E9%9A%9C%E5%AE%B3+abc{i}&status=open")));
            tokio::spawn(async move { client.get(url).send().await.unwrap() })
        })
        .collect();
    let mut numbers = Vec::new();
    for i in 0..20 {
        let r = app.post_contact(json!({"channel": "email", "subject": format!("検索中の受付 {i}")})).await;
        assert_eq!(r.status(), 201);
        numbers.push(r.json::<Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned());
    }
    for s in searches {
        let r = s.await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "busy", "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("took longer than 0 ms"), "{v}");
    }
    let (status, _) = app.get_json(&format!("/api/tickets/{}", numbers[0])).await;
    assert_eq!(status, 503, "a ticket read is limited too");
    // The pool is not left holding the abandoned reads: every connection answers.
    for _ in 0..10 {
        let (status, health) = app.get_json("/healthz").await;
        assert_eq!(status, 200, "{health}");
    }
    app.stop().await;
}
