//! Several nodes on one PostgreSQL database, in one process (each its own HTTP, SMTP and SIP
//! ports): a console on one node sees what happens on the other and resumes on either with its
//! `Last-Event-ID`; an attachment one node stored is served by the other; ticket numbers and the
//! outbox's mails are each taken by one node only. PostgreSQL only: a SQLite database serves one
//! node.

mod common;

use base64::Engine;
use common::smtp::{send_mail, sink, ticket_of};
use common::sse::EventStream;
use common::{Db, Node, TestApp, TestDb, spawn_node, spawn_with};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// Two nodes on one new PostgreSQL database, `adjust`ed alike; none without PostgreSQL.
async fn two_nodes(test: &str, adjust: impl Fn(&mut madoguchi::config::Settings) + Clone) -> Option<(TestApp, Node)> {
    let db = TestDb::new(Db::Postgres, test).await?;
    let mut settings = db.settings();
    adjust(&mut settings);
    settings.node.name = "node-b".into();
    let a = adjust.clone();
    let first = spawn_with(db, move |s| {
        a(s);
        s.node.name = "node-a".into();
    })
    .await;
    let second = spawn_node(&settings).await;
    Some((first, second))
}

async fn contact(app: &TestApp, base: &str, subject: &str) -> String {
    let r = app.client.post(format!("{base}/api/contacts")).json(&json!({"subject": subject})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    v["ticket"].as_str().unwrap().to_owned()
}

/// The next `ticket.created` event of `ticket`, skipping others.
async fn created(stream: &mut EventStream, ticket: &str) -> common::sse::SseEvent {
    loop {
        let e = stream.next_of("ticket.created", WAIT).await;
        if e.data["ticket"] == ticket {
            return e;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_on_one_node_follows_the_other_and_resumes_on_either() {
    let Some((a, b)) = two_nodes("cluster_events", |_| {}).await else { return };
    let mut on_b = EventStream::open(&a.client, &format!("{}/api/events?kind=ticket", b.base), None).await;
    let mut on_a = EventStream::open(&a.client, &a.url("/api/events?kind=ticket"), None).await;

    // A ticket opened on A is seen on B, with the same id as on A, and where it came from.
    let sent = Instant::now();
    let first = contact(&a, &a.base, "ノードAの問い合わせ").await;
    let seen_b = created(&mut on_b, &first).await;
    let latency = seen_b.arrived.duration_since(sent);
    let seen_a = created(&mut on_a, &first).await;
    assert_eq!(seen_a.id, seen_b.id, "one id on every node");
    assert_eq!(seen_b.data["node"], "node-a", "{:?}", seen_b.data);
    println!("cross-node ticket.created: {} ms after the request was sent", latency.as_millis());

    // And the other way.
    let second = contact(&a, &b.base, "ノードBの問い合わせ").await;
    let from_b = created(&mut on_a, &second).await;
    assert_eq!(from_b.data["node"], "node-b");
    created(&mut on_b, &second).await;

    // A console whose node went away reconnects to the other with its Last-Event-ID and misses
    // nothing in between, with no resync.
    let last = seen_b.id.clone().expect("events carry ids");
    drop(on_b);
    let third = contact(&a, &a.base, "切断中の問い合わせ").await;
    let mut resumed = EventStream::open(&a.client, &a.url("/api/events?kind=ticket"), Some(&last)).await;
    let next = resumed.next(WAIT).await;
    assert_eq!((next.event.as_str(), &next.data["ticket"]), ("ticket.created", &json!(second)), "{:?}", next.data);
    let after = resumed.next_of("ticket.created", WAIT).await;
    assert_eq!(after.data["ticket"], third.as_str());

    // An id the other node has not read yet (it was just published) is waited for, not resynced.
    let fourth = contact(&a, &a.base, "直後の問い合わせ").await;
    let id = created(&mut on_a, &fourth).await.id.unwrap();
    let fifth = contact(&a, &a.base, "さらに次の問い合わせ").await;
    let mut moved = EventStream::open(&a.client, &format!("{}/api/events?kind=ticket", b.base), Some(&id)).await;
    let next = moved.next(WAIT).await;
    assert_eq!((next.event.as_str(), &next.data["ticket"]), ("ticket.created", &json!(fifth)), "{:?}", next.data);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_one_node_stored_is_served_by_the_other() {
    let Some((a, b)) = two_nodes("cluster_files", |_| {}).await else { return };
    let scan: Vec<u8> = (0..600_000u32).map(|i| (i % 253) as u8).collect();
    let small = b"%PDF-1.4 one page".to_vec();
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let body = json!({"channel": "fax", "subject": "スキャン", "attachments": [
        {"filename": "scan.tif", "content_type": "image/tiff", "content_base64": encode(&scan)},
        {"filename": "page.pdf", "content_type": "application/pdf", "content_base64": encode(&small)},
    ]});
    let r = a.post_contact(body).await;
    assert_eq!(r.status(), 201);
    let number = r.json::<Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned();
    let t: Value = a.client.get(format!("{}/api/tickets/{number}", b.base)).send().await.unwrap().json().await.unwrap();
    for (attachment, bytes) in t["attachments"].as_array().unwrap().iter().zip([&scan, &small]) {
        let id = attachment["id"].as_i64().unwrap();
        let r = a.client.get(format!("{}/api/attachments/{id}", b.base)).send().await.unwrap();
        assert_eq!(r.status(), 200, "node B serves what node A stored");
        assert_eq!(&r.bytes().await.unwrap().to_vec(), bytes);
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_number_tickets_and_send_each_mail_once() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut outgoing = sink(listener).await;
    let adjust = move |s: &mut madoguchi::config::Settings| {
        s.notify.relay = relay.clone();
        s.mail.hostname = "madoguchi.test".into();
    };
    let Some((a, b)) = two_nodes("cluster_claims", adjust).await else { return };

    // Twenty mails at once, half to each node: twenty tickets with twenty numbers, and each an
    // acknowledgement, sent by one node or the other, once.
    let mails = (0..20).map(|i| {
        let addr = if i % 2 == 0 { a.mail } else { b.mail };
        async move {
            let from = format!("user{i}@example.go.jp");
            let message = format!(
                "From: {from}\r\nTo: helpdesk@example.jp\r\nSubject: 問い合わせ {i}\r\nMessage-ID: <cluster-{i}@example.go.jp>\r\n\r\n本文 {i}\r\n"
            );
            ticket_of(&send_mail(addr, &from, "helpdesk@example.jp", message.as_bytes()).await)
        }
    });
    let numbers: Vec<String> = futures_util::future::join_all(mails).await;
    let distinct: HashSet<&String> = numbers.iter().collect();
    assert_eq!(distinct.len(), 20, "{numbers:?}");
    let mut serials: Vec<u32> = numbers.iter().map(|n| n.rsplit('-').next().unwrap().parse().unwrap()).collect();
    serials.sort_unstable();
    assert_eq!(serials, (1..=20).collect::<Vec<u32>>(), "numbers without gaps or repeats");

    let mut received: HashMap<String, usize> = HashMap::new();
    while received.values().sum::<usize>() < 20 {
        let mail = tokio::time::timeout(Duration::from_secs(30), outgoing.recv()).await.expect("20 mails").unwrap();
        let to = mail.lines().find_map(|l| l.strip_prefix("To: ")).unwrap_or_default().to_owned();
        *received.entry(to).or_default() += 1;
    }
    // Once the outbox says every mail went, no node sends one again.
    let pool = sqlx::PgPool::connect(&a.db.settings().database_url()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'").fetch_one(&pool).await.unwrap();
        if left == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{left} mails not sent");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(&pool).await.unwrap();
    assert_eq!(sent, 20);
    while let Ok(extra) = outgoing.try_recv() {
        let to = extra.lines().find_map(|l| l.strip_prefix("To: ")).unwrap_or_default().to_owned();
        *received.entry(to).or_default() += 1;
    }
    assert_eq!(received.len(), 20, "{received:?}");
    assert!(received.values().all(|n| *n == 1), "each mail once: {received:?}");
    pool.close().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_given_to_both_nodes_at_once_is_one_contact() {
    let Some((a, b)) = two_nodes("cluster_same_message", |s| s.mail.acknowledge = false).await else { return };
    // An MTA that timed one node out and tried the other: the same message on both at once.
    let both = (0..40).map(|i| {
        let message = format!(
            "From: sato@example.go.jp\r\nTo: helpdesk@example.jp\r\nSubject: 同時配送 {i}\r\nMessage-ID: <twice-{i}@example.go.jp>\r\n\r\n本文\r\n"
        );
        let (to_a, to_b) = (a.mail, b.mail);
        async move {
            let (first, second) = tokio::join!(
                send_mail(to_a, "sato@example.go.jp", "helpdesk@example.jp", message.as_bytes()),
                send_mail(to_b, "sato@example.go.jp", "helpdesk@example.jp", message.as_bytes()),
            );
            (ticket_of(&first), ticket_of(&second))
        }
    });
    for (i, (first, second)) in futures_util::future::join_all(both).await.into_iter().enumerate() {
        assert_eq!(first, second, "message {i}: both nodes name one ticket");
        let t = a.ticket(&first).await;
        assert_eq!(t["contact_count"], 1, "message {i} stored once: {t}");
    }
    let (_, page) = a.get_json("/api/tickets?limit=100").await;
    assert_eq!(page["tickets"].as_array().unwrap().len(), 40);
    b.stop().await;
    a.stop().await;
}
