//! Suggestions from history: a new inquiry is matched against resolved tickets by Japanese
//! terms (no word spaces), best first, with the words that matched. A mail about アカウントロック
//! finds the ticket about アカウントのロック解除 at rank 1 among look-alikes; a synonym (アンロック)
//! finds ロック解除; a voicemail's text counts; reopening or merging a ticket takes it out; tickets
//! resolved before the index existed are added at start-up; bad requests are refused.

mod common;

use common::smtp::{send_mail, ticket_of};
use common::{Db, TestApp, TestDb, authorised, grant};
use madoguchi::domain::user::Role;
use serde_json::{Value, json};

/// Resolved tickets: (subject, body, resolution). The first is the one the lock inquiries want;
/// the others share some of its words (ログイン, アカウント, ロック) or none.
const HISTORY: &[(&str, &str, &str)] = &[
    (
        "アカウントのロック解除をお願いします",
        "パスワードを何度か間違えてアカウントがロックされました。",
        "本人確認のうえロックを解除しました。",
    ),
    ("ログインできない", "朝から業務システムにログインできません。", "ブラウザのキャッシュ削除で解消しました。"),
    ("アカウントの新規発行", "4月から配属の職員のアカウントを発行してください。", "利用者IDを発行しました。"),
    ("プリンタで印刷できない", "3階の複合機で印刷できません。", "プリンタドライバを入れ直しました。"),
    (
        "画面ロックの時間を変えたい",
        "スクリーンのロックまでの時間を延ばしたいです。",
        "ポリシー上変更できないと回答しました。",
    ),
    ("VPNにつながらない", "在宅勤務でVPNに接続できません。", "証明書を再発行しました。"),
    ("共有フォルダにアクセスできない", "共有フォルダが開けません。", "アクセス権を付与しました。"),
    ("メールが送信できない", "添付ファイル付きのメールが送れません。", "容量制限を説明しました。"),
    ("パスワードの有効期限", "パスワードの期限切れの案内が来ました。", "変更手順を案内しました。"),
    ("帳票が出力されない", "月次帳票がエラーE1234で止まります。", "保守業者に連絡し修正されました。"),
];

async fn contact(app: &TestApp, subject: &str, body: &str, channel: &str) -> String {
    let r = app.post_contact(json!({"subject": subject, "body": body, "channel": channel})).await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned()
}

async fn resolve(app: &TestApp, number: &str, resolution: &str) {
    let (status, t) = app.patch(number, json!({"status": "in_progress"})).await;
    assert!(status == 200 || status == 409, "{t}");
    let (status, t) = app.patch(number, json!({"status": "resolved", "resolution": resolution})).await;
    assert_eq!(status, 200, "{t}");
}

async fn suggestions(app: &TestApp, number: &str) -> Vec<Value> {
    let (status, s) = app.get_json(&format!("/api/tickets/{number}/suggestions?limit=10")).await;
    assert_eq!(status, 200, "{s}");
    s["suggestions"].as_array().unwrap().clone()
}

fn rank_of(found: &[Value], number: &str) -> Option<usize> {
    found.iter().position(|s| s["ticket"] == number).map(|i| i + 1)
}

async fn history(app: &TestApp) -> Vec<String> {
    let mut numbers = Vec::new();
    for (subject, body, resolution) in HISTORY {
        let n = contact(app, subject, body, "manual").await;
        resolve(app, &n, resolution).await;
        numbers.push(n);
    }
    numbers
}

async fn an_inquiry_finds_the_resolved_ticket_that_answers_it(db: Db) {
    let Some(db) = TestDb::new(db, "suggest_rank").await else { return };
    let app = common::spawn_with(db, |_| {}).await;
    let numbers = history(&app).await;
    let unlock = &numbers[0];

    // A mail: no word spaces, アカウントロック as one word, ロック解除 never said.
    let subject = common::mime::encoded_word("アカウントロックについて", "UTF-8");
    let body = common::mime::b64("昨日からアカウントロックがかかってしまい、業務システムに入れません。".as_bytes());
    let raw = format!(
        "From: sato@example.go.jp\r\nTo: helpdesk@example.jp\r\nSubject: {subject}\r\nMessage-ID: <lock@example.go.jp>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    );
    let mail = ticket_of(&send_mail(app.mail, "sato@example.go.jp", "helpdesk@example.jp", raw.as_bytes()).await);
    let found = suggestions(&app, &mail).await;
    assert_eq!(rank_of(&found, unlock), Some(1), "the unlock ticket first: {found:#?}");
    let why: Vec<&str> = found[0]["why"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(why.starts_with(&["アカウント", "ロック"]), "the matching words: {why:?}");
    assert_eq!(found[0]["answer"], "本人確認のうえロックを解除しました。");
    assert_eq!(found[0]["kind"], "ticket");
    assert!(rank_of(&found, &mail).is_none(), "never the inquiry itself");
    assert!(!found.iter().any(|s| s["ticket"] == numbers[3]), "the printer ticket shares nothing: {found:#?}");

    // A synonym: アンロック finds ロック解除.
    let unlock2 = contact(&app, "アンロック依頼", "端末のアンロックをしてほしい", "manual").await;
    let found = suggestions(&app, &unlock2).await;
    assert_eq!(rank_of(&found, unlock), Some(1), "{found:#?}");
    assert!(found[0]["why"].as_array().unwrap().iter().any(|w| w == "ロック解除"), "{found:#?}");

    // A voicemail's text, written down, counts like any other.
    let voicemail = contact(&app, "留守番電話", "3階の複合機で印刷ができないので折り返しください", "phone").await;
    assert_eq!(rank_of(&suggestions(&app, &voicemail).await, &numbers[3]), Some(1));
    // An error code is a word of its own.
    let code = contact(&app, "エラーE1234", "また E1234 が出ました", "manual").await;
    assert_eq!(rank_of(&suggestions(&app, &code).await, &numbers[9]), Some(1));

    // Reopened, a ticket is no longer an answer; resolved again, it is.
    assert_eq!(app.patch(unlock, json!({"status": "in_progress"})).await.0, 200);
    assert_eq!(rank_of(&suggestions(&app, &mail).await, unlock), None);
    resolve(&app, unlock, "本人確認のうえロックを解除しました。").await;
    assert_eq!(rank_of(&suggestions(&app, &mail).await, unlock), Some(1));
    app.stop().await;
}

on_both_backends!(an_inquiry_finds_the_resolved_ticket_that_answers_it);

async fn answering_from_a_suggestion_is_recorded_and_bad_requests_refused(db: Db) {
    let Some(db) = TestDb::new(db, "suggest_answer").await else { return };
    let app = common::spawn_with(db, |_| {}).await;
    let operator = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    let numbers = history(&app).await;
    let asked =
        contact(&app, "VPN接続エラー", "自宅からVPNがつながりません '; DROP TABLE tickets; -- %_", "email").await;
    assert_eq!(rank_of(&suggestions(&app, &asked).await, &numbers[5]), Some(1));

    let url = app.url(&format!("/api/tickets/{asked}/answered-from"));
    let (status, detail) = common::post(&operator, &url, json!({"ticket": numbers[5]})).await;
    assert_eq!(status, 201, "{detail}");
    let ticket = app.ticket(&asked).await;
    let used = common::mime::history(&ticket, "answered_from");
    assert_eq!(used.len(), 1, "{ticket}");
    assert_eq!(
        (used[0]["actor"].as_str(), used[0]["detail"]["ticket"].as_str()),
        (Some("sato"), Some(numbers[5].as_str()))
    );

    for bad in [
        json!({}),
        json!({"ticket": numbers[5], "faq_id": 1}),
        json!({"ticket": asked}),
        json!({"ticket": "20990101-9999"}),
    ] {
        let (status, body) = common::post(&operator, &url, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    for (query, want) in [("?limit=0", 422), ("?limit=21", 422), ("?limit=x", 400)] {
        let (status, _) = app.get_json(&format!("/api/tickets/{asked}/suggestions{query}")).await;
        assert_eq!(status, want, "{query}");
    }
    assert_eq!(app.get_json("/api/tickets/20990101-9999/suggestions").await.0, 404);
    // A ticket whose text has no terms at all gets no suggestions, not an error.
    let empty = contact(&app, "？", "!!", "manual").await;
    assert!(suggestions(&app, &empty).await.is_empty());
    app.stop().await;
}

on_both_backends!(answering_from_a_suggestion_is_recorded_and_bad_requests_refused);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_resolved_before_the_index_existed_are_added_at_start_up() {
    let Some(db) = TestDb::new(Db::Sqlite, "suggest_backfill").await else { return };
    let settings = db.settings();
    let app = common::spawn_with(db, |_| {}).await;
    let numbers = history(&app).await;
    let merged = contact(&app, "アカウントのロック解除（重複）", "ロックされました", "manual").await;
    let (status, _) =
        common::post(&app.client, &app.url(&format!("/api/tickets/{merged}/merge")), json!({"into": numbers[0]})).await;
    assert_eq!(status, 200);
    // As an older database would be: nothing in the index.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&settings.database_url()).await.unwrap();
    for sql in [
        "DELETE FROM suggest_postings",
        "DELETE FROM suggest_terms",
        "DELETE FROM suggest_docs",
        "UPDATE suggest_stats SET docs = 0, total_length = 0",
    ] {
        sqlx::Executor::execute(&mut conn, sql).await.unwrap();
    }
    sqlx::Connection::close(conn).await.unwrap();
    let store = madoguchi::store::Store::connect(&settings.database_url(), 1).await.unwrap();
    let asked = contact(&app, "アカウントロック", "ロックがかかりました", "manual").await;
    assert!(suggestions(&app, &asked).await.is_empty(), "an empty index suggests nothing");
    assert_eq!(store.suggest_backfill().await.unwrap(), HISTORY.len(), "every resolved ticket, not the merged one");
    assert_eq!(store.suggest_backfill().await.unwrap(), 0, "once");
    store.close().await;
    let found = suggestions(&app, &asked).await;
    assert_eq!(rank_of(&found, &numbers[0]), Some(1), "{found:#?}");
    assert!(rank_of(&found, &merged).is_none(), "a merged ticket is never an answer");
    app.stop().await;
}

async fn a_published_faq_entry_is_suggested_and_its_use_counted(db: Db) {
    let Some(db) = TestDb::new(db, "suggest_faq").await else { return };
    let app = common::spawn_with(db, |_| {}).await;
    let url = app.db.settings().database_url();
    let sato = authorised(&grant(&url, "sato", Role::Operator).await);
    let suzuki = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    history(&app).await;
    let draft = json!({"question": "複合機で印刷できないときは？", "answer": "プリンタドライバを入れ直してください。",
        "category": "howto", "audience": "internal"});
    let (status, made) = common::post(&sato, &app.url("/api/faq"), draft).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_i64().unwrap();
    let at = |action: &str| app.url(&format!("/api/faq/{id}/{action}"));
    let asked = contact(&app, "印刷ができない", "2階の複合機で印刷できません", "manual").await;
    let is_faq = |s: &Value| s["kind"] == "faq" && s["faq_id"] == id;
    assert!(!suggestions(&app, &asked).await.iter().any(is_faq), "a draft is never suggested");

    assert_eq!(common::post(&sato, &at("submit"), json!({})).await.0, 200);
    for step in ["general_manager", "business_division"] {
        assert_eq!(common::post(&suzuki, &at("approve"), json!({"step": step})).await.0, 200);
    }
    assert_eq!(common::post(&suzuki, &at("publish"), json!({})).await.0, 200);
    let found = suggestions(&app, &asked).await;
    let entry = found.iter().find(|s| is_faq(s)).unwrap_or_else(|| panic!("the published entry: {found:#?}"));
    assert_eq!(entry["answer"], "プリンタドライバを入れ直してください。");
    assert!(entry["why"].as_array().unwrap().iter().any(|w| w == "複合機で印刷でき"), "{entry}");

    let answered = app.url(&format!("/api/tickets/{asked}/answered-from"));
    assert_eq!(common::post(&sato, &answered, json!({"faq_id": id})).await.0, 201);
    let (_, shown) = app.get_json(&format!("/api/faq/{id}")).await;
    assert_eq!(shown["uses"], 1, "{shown}");
    assert_eq!(common::post(&sato, &answered, json!({"faq_id": id + 100})).await.0, 422, "no such entry");

    assert_eq!(common::post(&suzuki, &at("withdraw"), json!({})).await.0, 200);
    assert!(!suggestions(&app, &asked).await.iter().any(is_faq), "a withdrawn entry is no answer");
    app.stop().await;
}

on_both_backends!(a_published_faq_entry_is_suggested_and_its_use_counted);
