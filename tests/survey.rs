//! The satisfaction survey (ユーザ満足度調査), on SQLite and PostgreSQL: a ticket opened by a real
//! mail to the service's SMTP port and resolved over the API sends its requester one survey,
//! received by a real SMTP socket; its link takes one answer (the second is refused and changes
//! nothing), refuses bad ratings, over-long comments and expired links with nothing stored;
//! machines, auto-submitted mail and excluded categories are never asked; resolving again asks
//! nobody twice; operators read the answer, the comment as the requester wrote it.

mod common;

use common::mime::{encoded_word, history};
use common::smtp::{send_mail, ticket_of};
use common::{Db, TestApp, TestDb};
use serde_json::{Value, json};
use sqlx::AnyPool;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

const PUBLIC_URL: &str = "https://helpdesk.example.go.jp";
const MAX_COMMENT: u32 = 200;

on_both_backends!(
    a_resolved_mail_ticket_sends_one_survey_whose_link_takes_one_answer,
    machines_excluded_categories_and_expired_links_are_not_asked_or_refused,
);

/// The service with its outbox sent to a sink, links under [`PUBLIC_URL`], and a pool on its
/// database for looking at the tables.
async fn start(db: Db, test: &str) -> Option<(TestApp, UnboundedReceiver<String>, AnyPool)> {
    let db = TestDb::new(db, test).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let sink = common::smtp::sink(listener).await;
    let app = common::spawn_with(db, move |s| {
        s.notify.relay = relay;
        s.escalation.scheduler = false;
        s.http.public_url = format!("{PUBLIC_URL}/");
        s.survey.max_comment_chars = MAX_COMMENT;
    })
    .await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(2).connect(&app.db.url).await.unwrap();
    Some((app, sink, pool))
}

/// A plain mail from `from` (`extra`: more header lines).
fn mail(from: &str, subject: &str, id: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: helpdesk@example.go.jp\r\nSubject: {}\r\nMessage-ID: <{id}@example.go.jp>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n{extra}\r\n\
         お世話になっております。よろしくお願いします。\r\n",
        encoded_word(subject, "UTF-8")
    )
    .into_bytes()
}

/// Sends the mail to the service's SMTP port: the ticket it opened.
async fn mailed(app: &TestApp, envelope: &str, message: Vec<u8>) -> String {
    ticket_of(&send_mail(app.mail, envelope, "helpdesk@example.go.jp", &message).await)
}

/// Works on the ticket, then resolves it, over the API.
async fn resolve(app: &TestApp, number: &str) {
    let (status, t) = app.patch(number, json!({"status": "in_progress"})).await;
    assert!(status == 200, "{t}");
    let (status, t) =
        app.patch(number, json!({"status": "resolved", "resolution": "パスワードを初期化しました"})).await;
    assert_eq!(status, 200, "{t}");
}

/// The next survey mail the sink receives (acknowledgements pass by), at most 20 s away.
async fn survey_mail(sink: &mut UnboundedReceiver<String>) -> (String, String, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let raw = match tokio::time::timeout_at(deadline, sink.recv()).await {
            Ok(Some(m)) => m,
            _ => panic!("no survey mail arrived"),
        };
        let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes()).unwrap();
        let subject = parsed.subject().unwrap_or_default().to_owned();
        if subject.starts_with("【満足度調査】") {
            let body = parsed.body_text(0).unwrap().into_owned();
            return (raw, subject, body);
        }
    }
}

/// The link's path on the test service (the link names [`PUBLIC_URL`]).
fn link_path(body: &str) -> String {
    let start = body.find(&format!("{PUBLIC_URL}/survey/")).unwrap_or_else(|| panic!("a link in {body}"));
    let link: String = body[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    let path = link.strip_prefix(PUBLIC_URL).unwrap().to_owned();
    let token = path.strip_prefix("/survey/").unwrap();
    assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "256 bits as hex: {link}");
    path
}

/// A browser that has not signed in: the link alone authorises.
fn stranger() -> reqwest::Client {
    reqwest::Client::new()
}

async fn get_page(app: &TestApp, path: &str) -> (u16, String, reqwest::header::HeaderMap) {
    let r = stranger().get(app.url(path)).send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.text().await.unwrap(), headers)
}

async fn post_form(app: &TestApp, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let r = stranger().post(app.url(path)).form(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn survey_of(app: &TestApp, number: &str) -> (u16, Value) {
    app.get_json(&format!("/api/tickets/{number}/survey")).await
}

async fn count(pool: &AnyPool, sql: &str, number: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(number).fetch_one(pool).await.unwrap()
}

async fn surveys_of(pool: &AnyPool, number: &str) -> i64 {
    count(pool, "SELECT COUNT(*) FROM surveys s JOIN tickets t ON t.id = s.ticket_id WHERE t.number = $1", number).await
}

async fn survey_mails_of(pool: &AnyPool, number: &str) -> i64 {
    let sql =
        "SELECT COUNT(*) FROM outbox o JOIN tickets t ON t.id = o.ticket_id WHERE t.number = $1 AND o.kind = 'survey'";
    count(pool, sql, number).await
}

async fn a_resolved_mail_ticket_sends_one_survey_whose_link_takes_one_answer(db: Db) {
    let Some((app, mut sink, pool)) = start(db, "survey_once").await else { return };
    let number =
        mailed(&app, "sato@example.go.jp", mail("佐藤 花子 <sato@example.go.jp>", "VPNにつながらない", "s1", "")).await;
    assert_eq!(survey_of(&app, &number).await.0, 404, "no survey before the ticket is resolved");
    resolve(&app, &number).await;

    // The mail: to the requester, automatic, Japanese first, the ticket and the link, nothing else.
    let (raw, subject, body) = survey_mail(&mut sink).await;
    assert!(raw.contains("To: sato@example.go.jp"), "{raw}");
    assert!(raw.contains("Auto-Submitted: auto-replied") && raw.contains(&format!("X-Madoguchi-Ticket: {number}")));
    assert_eq!(subject, format!("【満足度調査】受付番号 {number} / Satisfaction survey: ticket {number}"));
    assert!(body.find(&format!("受付番号 {number}")).unwrap() < body.find(&format!("ticket {number}")).unwrap());
    assert!(body.contains("VPNにつながらない"), "{body}");
    assert!(!body.contains("佐藤") && !body.contains("sato@"), "no personal data in the mail: {body}");
    let path = link_path(&body);
    let t = app.ticket(&number).await;
    let sent = history(&t, "survey_sent");
    assert_eq!((sent.len(), sent[0]["actor"].as_str()), (1, Some("system")), "{t}");

    // The page: the question, Japanese first, a plain form, no script allowed.
    let (status, page, headers) = get_page(&app, &path).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&number) && page.find("満足度調査").unwrap() < page.find("Satisfaction survey").unwrap());
    assert_eq!(page.matches("type=\"radio\" name=\"rating\"").count(), 5, "{page}");
    assert!(page.contains("<form method=\"post\">") && !page.contains("<script"), "{page}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let (status, s) = survey_of(&app, &number).await;
    assert_eq!((status, &s["answered_at"], &s["rating"]), (200, &Value::Null, &Value::Null), "{s}");
    assert!(s["sent_at"].as_str().unwrap().ends_with("+09:00") && s["expires_at"].is_string(), "{s}");

    // Bad answers are refused with a page that says why; nothing is stored.
    let long = format!("<script>alert(1)</script>{}", "あ".repeat(MAX_COMMENT as usize));
    for (form, why) in [
        (vec![("rating", "0"), ("comment", "ゼロ")], "1 から 5"),
        (vec![("rating", "6")], "1 から 5"),
        (vec![("rating", "x")], "1 から 5"),
        (vec![("comment", "評価なし")], "満足度を選んでください"),
        (vec![("rating", "4"), ("comment", long.as_str())], "200 文字まで"),
    ] {
        let (status, page) = post_form(&app, &path, &form).await;
        assert_eq!(status, 422, "{form:?}: {page}");
        assert!(page.contains(why) && page.contains("何も保存していません"), "{form:?}: {page}");
        assert!(!page.contains("<script>alert"), "the comment comes back as text: {page}");
    }
    let (_, s) = survey_of(&app, &number).await;
    assert_eq!((&s["answered_at"], &s["rating"], &s["comment"]), (&Value::Null, &Value::Null, &Value::Null));
    assert!(history(&app.ticket(&number).await, "survey_answered").is_empty());

    // The answer is stored once.
    let comment = "<script>alert('x')</script> 早い対応でした & 助かりました";
    let (status, page) = post_form(&app, &path, &[("rating", "4"), ("comment", comment)]).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ご回答ありがとうございました") && !page.contains("<script>"), "{page}");
    let (status, page) = post_form(&app, &path, &[("rating", "1"), ("comment", "二度目")]).await;
    assert_eq!(status, 409, "the same link a second time: {page}");
    assert!(page.contains("回答済みです"), "{page}");
    assert_eq!(get_page(&app, &path).await.0, 409);
    let (_, s) = survey_of(&app, &number).await;
    assert_eq!((s["rating"].as_i64(), s["comment"].as_str()), (Some(4), Some(comment)), "as written, unchanged: {s}");
    assert!(s["answered_at"].as_str().is_some(), "{s}");
    let t = app.ticket(&number).await;
    let answered = history(&t, "survey_answered");
    assert_eq!(answered.len(), 1, "{t}");
    assert_eq!(
        answered[0]["detail"],
        json!({"rating": 4, "comment": true}),
        "the comment itself is not in the history"
    );

    // Reopened and resolved again: no second survey.
    resolve(&app, &number).await;
    assert_eq!((surveys_of(&pool, &number).await, survey_mails_of(&pool, &number).await), (1, 1));
    assert_eq!(history(&app.ticket(&number).await, "survey_sent").len(), 1);

    // Links nobody was sent.
    let unknown = [format!("/survey/{}", "0".repeat(64)), "/survey/abc".into(), format!("/survey/{}", "G".repeat(64))];
    for path in unknown.into_iter().chain(["/survey/%FF".to_owned()]) {
        let (status, page, _) = get_page(&app, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(page.contains("このアンケートは見つかりません"), "{page}");
        assert_eq!(post_form(&app, &path, &[("rating", "5")]).await.0, 404, "{path}");
    }
    // Operators only, for the answer.
    assert_eq!(stranger().get(app.url(&format!("/api/tickets/{number}/survey"))).send().await.unwrap().status(), 401);
    pool.close().await;
    app.stop().await;
}

async fn machines_excluded_categories_and_expired_links_are_not_asked_or_refused(db: Db) {
    let Some((app, mut sink, pool)) = start(db, "survey_not_asked").await else { return };
    let skipped =
        |t: &Value| history(t, "survey_skipped").iter().map(|h| h["detail"]["reason"].clone()).collect::<Vec<_>>();

    let cases = [
        (
            "noreply@example.go.jp",
            mail("System <noreply@example.go.jp>", "パスワード期限のお知らせ", "n1", ""),
            "no_reply_address",
        ),
        (
            "tanaka@example.go.jp",
            mail("田中 <tanaka@example.go.jp>", "不在のお知らせ", "n2", "Auto-Submitted: auto-replied\r\n"),
            "automatic_mail",
        ),
        // Routed to security_incident by its words: excluded by default.
        (
            "kato@example.go.jp",
            mail("加藤 <kato@example.go.jp>", "ウイルスに感染したかもしれません", "n3", ""),
            "excluded_category",
        ),
    ];
    for (envelope, message, reason) in cases {
        let number = mailed(&app, envelope, message).await;
        resolve(&app, &number).await;
        let t = app.ticket(&number).await;
        assert_eq!(skipped(&t), [json!(reason)], "{t}");
        assert_eq!((surveys_of(&pool, &number).await, survey_mails_of(&pool, &number).await), (0, 0), "{reason}");
        assert_eq!(survey_of(&app, &number).await.0, 404);
    }
    // Logged by phone without an address: nobody to ask, and nothing to say about it.
    let r = app
        .post_contact(json!({"channel": "phone", "subject": "印刷できない", "caller": {"number": "03-1234-5678"}}))
        .await;
    let phone = r.json::<Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned();
    resolve(&app, &phone).await;
    assert!(skipped(&app.ticket(&phone).await).is_empty());
    assert_eq!((surveys_of(&pool, &phone).await, survey_mails_of(&pool, &phone).await), (0, 0));

    // Four answers through one link at once: one is stored, the others are refused.
    let number =
        mailed(&app, "mori@example.go.jp", mail("森 <mori@example.go.jp>", "ログインできない", "n5", "")).await;
    resolve(&app, &number).await;
    let (_, _, body) = survey_mail(&mut sink).await;
    let path = link_path(&body);
    let answers = ["1", "2", "3", "4"].map(|rating| {
        let request = stranger().post(app.url(&path)).form(&[("rating", rating)]).send();
        async move { (rating, request.await.unwrap().status().as_u16()) }
    });
    let answers = futures_util::future::join_all(answers).await;
    let stored: Vec<&str> = answers.iter().filter(|(_, status)| *status == 200).map(|(r, _)| *r).collect();
    assert_eq!(stored.len(), 1, "{answers:?}");
    assert!(answers.iter().all(|(_, status)| [200, 409].contains(status)), "{answers:?}");
    let (_, s) = survey_of(&app, &number).await;
    assert_eq!(s["rating"].as_i64().map(|r| r.to_string()).as_deref(), Some(stored[0]), "{s}");
    assert_eq!(history(&app.ticket(&number).await, "survey_answered").len(), 1);

    // A person's mail is asked; once the link's time is over it takes no answer.
    let number =
        mailed(&app, "ito@example.go.jp", mail("伊藤 <ito@example.go.jp>", "共有フォルダが見えない", "n4", "")).await;
    resolve(&app, &number).await;
    let (_, _, body) = survey_mail(&mut sink).await;
    let path = link_path(&body);
    assert_eq!(get_page(&app, &path).await.0, 200);
    sqlx::query(
        "UPDATE surveys SET expires_at = created_at - 1 WHERE ticket_id = (SELECT id FROM tickets WHERE number = $1)",
    )
    .bind(&number)
    .execute(&pool)
    .await
    .unwrap();
    let (status, page, _) = get_page(&app, &path).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("回答の受付期間が終了しました"), "{page}");
    let (status, _) = post_form(&app, &path, &[("rating", "3"), ("comment", "遅くなりました")]).await;
    assert_eq!(status, 410);
    let (_, s) = survey_of(&app, &number).await;
    assert_eq!((&s["answered_at"], &s["rating"], &s["comment"]), (&Value::Null, &Value::Null, &Value::Null));
    assert!(history(&app.ticket(&number).await, "survey_answered").is_empty());
    pool.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survey_turned_off_asks_nobody() {
    let Some(db) = TestDb::new(Db::Sqlite, "survey_off").await else { return };
    let app = common::spawn_with(db, |s| {
        s.http.public_url = PUBLIC_URL.into();
        s.survey.enabled = false;
    })
    .await;
    let number = mailed(&app, "sato@example.go.jp", mail("佐藤 <sato@example.go.jp>", "VPN", "off1", "")).await;
    resolve(&app, &number).await;
    let t = app.ticket(&number).await;
    assert!(history(&t, "survey_sent").is_empty() && history(&t, "survey_skipped").is_empty(), "{t}");
    assert_eq!(survey_of(&app, &number).await.0, 404);
    app.stop().await;
}
