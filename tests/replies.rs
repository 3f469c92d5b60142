//! An operator answers the requester by e-mail from the ticket: the mail leaves through the relay
//! with the threading headers and the operator's signature, the requester's answer joins the same
//! ticket, and a reply to nobody, to a stranger, without text or on a closed ticket is refused.

mod common;

use common::smtp::{send_mail, sink, ticket_of};
use common::{Db, TestApp, TestDb, authorised, spawn_with};
use madoguchi::domain::user::Role;
use serde_json::{Value, json};
use std::time::Duration;

on_both_backends!(
    a_reply_reaches_the_requester_and_their_answer_joins_the_ticket,
    replies_to_nobody_to_strangers_without_text_or_on_closed_tickets_are_refused,
);

/// The service with its outgoing mail going to a local relay whose messages arrive on the
/// receiver; acknowledgements are off, so every message there is a reply.
async fn app_with_relay(db: Db, test: &str) -> Option<(TestApp, tokio::sync::mpsc::UnboundedReceiver<String>)> {
    let db = TestDb::new(db, test).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let outgoing = sink(listener).await;
    let app = spawn_with(db, move |s| {
        s.notify.relay = relay;
        s.mail.acknowledge = false;
        s.mail.hostname = "madoguchi.test".into();
    })
    .await;
    Some((app, outgoing))
}

/// An operator with a display name, and a client sending their token.
async fn operator(app: &TestApp, login: &str, name: &str) -> reqwest::Client {
    let store = madoguchi::store::Store::connect(&app.db.settings().database_url(), 1).await.unwrap();
    let hash = madoguchi::auth::hash_password("a password for tests").unwrap();
    store.add_user(login, name, Role::Operator, &hash).await.unwrap().expect("a new login");
    let (token, token_hash) = madoguchi::auth::new_token();
    store.add_token(login, "tests", &token_hash).await.unwrap().expect("the user exists");
    store.close().await;
    authorised(&token)
}

fn mail(message_id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: 山田 太郎 <yamada@example.go.jp>\r\nTo: helpdesk@example.jp\r\nSubject: =?UTF-8?B?{}?=\r\n\
         Message-ID: <{message_id}>\r\n{extra_headers}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        common::mime::b64(subject.as_bytes()),
        common::mime::b64(body.as_bytes()),
    )
    .into_bytes()
}

async fn reply(client: &reqwest::Client, app: &TestApp, number: &str, body: Value) -> (u16, Value) {
    let r = client.post(app.url(&format!("/api/tickets/{number}/replies"))).json(&body).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn history<'a>(t: &'a Value, action: &str) -> Vec<&'a Value> {
    t["history"].as_array().unwrap().iter().filter(|h| h["action"] == action).collect()
}

async fn a_reply_reaches_the_requester_and_their_answer_joins_the_ticket(db: Db) {
    let Some((app, mut outgoing)) = app_with_relay(db, "reply_reaches_the_requester").await else { return };
    let sato = operator(&app, "sato", "佐藤 花子").await;
    let question = mail("q1@example.go.jp", "VPNにつながらない", "", "昨日から VPN に接続できません。\r\n");
    let number = ticket_of(&send_mail(app.mail, "yamada@example.go.jp", "helpdesk@example.jp", &question).await);

    let text = "お問い合わせありがとうございます。\nVPN の証明書を更新しましたので、もう一度お試しください。";
    let (status, queued) = reply(&sato, &app, &number, json!({"body": text})).await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!(queued["to"], "yamada@example.go.jp", "the last e-mail contact's address");
    let subject = format!("Re: VPNにつながらない [{number}]");
    assert_eq!(queued["subject"], subject);
    let message_id = queued["message_id"].as_str().unwrap().to_owned();
    assert!(message_id.ends_with("@madoguchi.test"), "{message_id}");

    let sent = tokio::time::timeout(Duration::from_secs(20), outgoing.recv())
        .await
        .expect("the reply reaches the relay")
        .unwrap();
    let parsed = madoguchi::mail::parse::parse(sent.as_bytes(), "helpdesk@madoguchi.localdomain");
    assert_eq!(parsed.subject.as_deref(), Some(subject.as_str()));
    assert_eq!(parsed.message_id.as_deref(), Some(message_id.as_str()));
    assert_eq!(parsed.in_reply_to, ["q1@example.go.jp"], "threads under the requester's mail");
    assert_eq!(parsed.references, ["q1@example.go.jp"]);
    assert!(sent.contains("To: yamada@example.go.jp"), "{sent}");
    assert!(sent.contains("From: "), "{sent}");
    assert!(!sent.contains("Auto-Submitted"), "a person's reply is not automatic: {sent}");
    let body = parsed.body.replace("\r\n", "\n");
    assert!(body.starts_with(text), "{body}");
    let signature = format!("--\n佐藤 花子\nヘルプデスク / Helpdesk\n受付番号 / Ticket: {number}");
    assert!(body.contains(&signature), "the signature names the operator: {body}");

    let t = app.ticket(&number).await;
    let sent_entries = history(&t, "reply_sent");
    assert_eq!(sent_entries.len(), 1, "{t}");
    let entry = sent_entries[0];
    assert_eq!(entry["actor"], "sato", "the token's owner");
    assert_eq!(entry["detail"]["to"], "yamada@example.go.jp");
    assert_eq!(entry["detail"]["subject"], subject);
    assert_eq!(entry["detail"]["message_id"], message_id.as_str());
    assert_eq!(entry["detail"]["by"], "佐藤 花子");
    assert!(entry["detail"]["body"].as_str().unwrap().starts_with(text));

    // The requester answers the reply from a client that drops the number from the subject.
    let answer = mail(
        "q2@example.go.jp",
        "Re: お返事ありがとうございます",
        &format!("In-Reply-To: <{message_id}>\r\nReferences: <q1@example.go.jp> <{message_id}>\r\n"),
        "つながりました。ありがとうございました。\r\n",
    );
    let joined = ticket_of(&send_mail(app.mail, "yamada@example.go.jp", "helpdesk@example.jp", &answer).await);
    assert_eq!(joined, number, "the answer joins the ticket it answers");
    let t = app.ticket(&number).await;
    assert_eq!(t["contact_count"], 2);
    assert!(t["contacts"][1]["body"].as_str().unwrap().contains("つながりました"));

    // Named explicitly, an address that wrote to the ticket is fine too, and threads by subject.
    let (status, again) =
        reply(&sato, &app, &number, json!({"body": "解決とさせていただきます。", "to": "Yamada@Example.go.jp"})).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["to"], "yamada@example.go.jp");
    assert_eq!(again["in_reply_to"], "q2@example.go.jp", "their latest message");
    assert_eq!(again["subject"], format!("Re: お返事ありがとうございます [{number}]"));
    let second = tokio::time::timeout(Duration::from_secs(20), outgoing.recv()).await.expect("a second reply").unwrap();
    assert!(second.contains("In-Reply-To: <q2@example.go.jp>"), "{second}");
    app.stop().await;
}

async fn replies_to_nobody_to_strangers_without_text_or_on_closed_tickets_are_refused(db: Db) {
    let Some((app, _outgoing)) = app_with_relay(db, "replies_refused").await else { return };
    let sato = operator(&app, "sato", "佐藤 花子").await;
    let question = mail("r1@example.go.jp", "プリンタが動かない", "", "印刷できません。\r\n");
    let number = ticket_of(&send_mail(app.mail, "yamada@example.go.jp", "helpdesk@example.jp", &question).await);
    let phoned: Value = app
        .post_contact(
            json!({"channel": "phone", "subject": "電話での問い合わせ", "caller": {"number": "03-1234-5678"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let phoned = phoned["ticket"].as_str().unwrap().to_owned();

    let refused = [
        (&phoned, json!({"body": "ご連絡します。"}), 422, "返信先のメールアドレスがありません"),
        (
            &number,
            json!({"body": "ご連絡します。", "to": "boss@example.go.jp"}),
            422,
            "メールを送ったアドレスではありません",
        ),
        (
            &number,
            json!({"body": "x", "to": "yamada@example.go.jp\r\nBcc: all@example.go.jp"}),
            422,
            "メールアドレスではありません",
        ),
        (&number, json!({"body": " \n "}), 422, "本文が空です"),
        (&number, json!({"body": "字".repeat(20_001)}), 422, "20000 文字まで"),
        (&number, json!({"text": "ご連絡します。"}), 422, "body"),
        (&"20991231-0001".to_owned(), json!({"body": "ご連絡します。"}), 404, "does not exist"),
    ];
    for (ticket, body, want, says) in &refused {
        let (status, answer) = reply(&sato, &app, ticket, body.clone()).await;
        assert_eq!(status, *want, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
        assert!(!message.contains("boss@") && !message.contains("all@"), "no address repeated: {message}");
    }
    let (status, _) = reply(&sato, &app, &number, json!({"body": "字".repeat(20_000)})).await;
    assert_eq!(status, 202, "20,000 characters are allowed");

    let (status, _) = app.patch(&number, json!({"status": "in_progress"})).await;
    assert_eq!(status, 200);
    let (status, _) = app.patch(&number, json!({"status": "closed", "resolution": "回答済み"})).await;
    assert_eq!(status, 200);
    let (status, answer) = reply(&sato, &app, &number, json!({"body": "ご連絡します。"})).await;
    assert_eq!(status, 409, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("お問い合わせ {number} は完了")), "Japanese first: {message}");

    let t = app.ticket(&number).await;
    assert_eq!(history(&t, "reply_sent").len(), 1, "only the accepted reply is recorded");
    assert!(history(&app.ticket(&phoned).await, "reply_sent").is_empty());
    let store = madoguchi::store::Store::connect(&app.db.settings().database_url(), 1).await.unwrap();
    let outbox = store.outbox_of(&number.parse().unwrap()).await.unwrap();
    store.close().await;
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    app.stop().await;
}
