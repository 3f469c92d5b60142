//! Crash safety: the real binary is killed with SIGKILL while clients post contacts. After a
//! restart, every contact that was answered 2xx is there, and the store opens cleanly.

mod common;

use common::{Db, TestDb, start_binary};
use madoguchi::store::Store;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

on_both_backends!(acknowledged_contacts_survive_sigkill, mail_answered_250_survives_sigkill_and_is_never_stored_twice);

/// What the clients were answered 2xx/250 for, as (ticket, marker); wakes the test when
/// `kill_after` answers have come.
#[derive(Clone)]
struct Acks {
    list: Arc<Mutex<Vec<(String, String)>>>,
    count: Arc<AtomicUsize>,
    enough: Arc<Notify>,
    kill_after: usize,
}

impl Acks {
    fn new(kill_after: usize) -> Acks {
        Acks { list: Arc::default(), count: Arc::default(), enough: Arc::default(), kill_after }
    }

    fn record(&self, ticket: String, marker: String) {
        self.list.lock().unwrap().push((ticket, marker));
        if self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.kill_after {
            self.enough.notify_one();
        }
    }

    fn taken(&self) -> Vec<(String, String)> {
        self.list.lock().unwrap().clone()
    }
}

const CLIENTS: usize = 8;
const KILL_AFTER: usize = 300;

async fn acknowledged_contacts_survive_sigkill(db: Db) {
    let Some(db) = TestDb::new(db, "acknowledged_contacts_survive_sigkill").await else { return };
    let workdir = tempfile::tempdir().unwrap();
    let mut service = start_binary(&db, workdir.path()).await;

    let acks = Acks::new(KILL_AFTER);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let acks = acks.clone();
        let url = format!("{}/api/contacts", service.base);
        let http = service.client.clone();
        clients.push(tokio::spawn(async move {
            for i in 0.. {
                let marker = format!("crash-{client}-{i}");
                let body = json!({"channel": "phone", "subject": "障害の連絡", "source_ref": marker, "caller": {"number": "03-0000-0000"}});
                let Ok(r) = http.post(&url).json(&body).send().await else { break };
                if !r.status().is_success() {
                    continue;
                }
                let Ok(v) = r.json::<Value>().await else { break };
                acks.record(v["ticket"].as_str().unwrap().to_owned(), marker);
            }
        }));
    }
    acks.enough.notified().await;
    service.child.start_kill().expect("SIGKILL sent");
    let status = service.child.wait().await.unwrap();
    assert!(!status.success(), "the service was killed, not stopped");
    for c in clients {
        c.await.unwrap();
    }
    let acked = acks.taken();
    assert!(acked.len() >= KILL_AFTER);

    let store = Store::connect(&db.url, 1).await.expect("the store opens after the crash");
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    store.close().await;

    let service = start_binary(&db, workdir.path()).await;
    let http = service.client.clone();
    let health: Value = http.get(format!("{}/healthz", service.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let mut missing = Vec::new();
    for (number, marker) in &acked {
        let r = http.get(format!("{}/api/tickets/{number}", service.base)).send().await.unwrap();
        let found = r.status() == 200 && {
            let t: Value = r.json().await.unwrap();
            t["contacts"].as_array().unwrap().iter().any(|c| c["source_ref"] == marker.as_str())
        };
        if !found {
            missing.push(number.clone());
        }
    }
    assert!(missing.is_empty(), "{} of {} acknowledged contacts were lost: {missing:?}", missing.len(), acked.len());
    drop(service);
    db.cleanup().await;
}

const MAIL_KILL_AFTER: usize = 150;

fn message(id: &str) -> Vec<u8> {
    format!("From: sender@example.go.jp\r\nTo: helpdesk@example.jp\r\nSubject: =?UTF-8?B?6Zqc5a6z5aCx5ZGK?=\r\nMessage-ID: <{id}>\r\n\r\nサーバが応答しません。\r\n").into_bytes()
}

async fn mail_answered_250_survives_sigkill_and_is_never_stored_twice(db: Db) {
    use common::smtp::Smtp;
    let Some(db) = TestDb::new(db, "mail_answered_250_survives_sigkill").await else { return };
    let workdir = tempfile::tempdir().unwrap();
    let mut service = start_binary(&db, workdir.path()).await;

    let acks = Acks::new(MAIL_KILL_AFTER);
    let mut clients = Vec::new();
    for client in 0..6 {
        let (acks, addr) = (acks.clone(), service.mail);
        clients.push(tokio::spawn(async move {
            let (mut s, _) = Smtp::connect(addr).await;
            if s.cmd("EHLO crash").await.0 != 250 {
                return;
            }
            for i in 0.. {
                let id = format!("crash-{client}-{i}@example.go.jp");
                if s.cmd("MAIL FROM:<sender@example.go.jp>").await.0 != 250
                    || s.cmd("RCPT TO:<helpdesk@example.jp>").await.0 != 250
                    || s.cmd("DATA").await.0 != 354
                {
                    return;
                }
                let reply = s.data(&message(&id)).await;
                if reply.0 != 250 {
                    return;
                }
                let ticket = reply.1.trim().rsplit(' ').next().unwrap().to_owned();
                acks.record(ticket, id);
            }
        }));
    }
    acks.enough.notified().await;
    service.child.start_kill().expect("SIGKILL sent");
    service.child.wait().await.unwrap();
    for c in clients {
        c.await.unwrap();
    }
    let acked = acks.taken();
    assert!(acked.len() >= MAIL_KILL_AFTER);

    let service = start_binary(&db, workdir.path()).await;
    // The sending MTAs retry what they sent; some of it was stored before they heard 250.
    for (_, id) in acked.iter().step_by(3) {
        let reply =
            common::smtp::send_mail(service.mail, "sender@example.go.jp", "helpdesk@example.jp", &message(id)).await;
        assert_eq!(reply.0, 250, "{}", reply.1);
    }
    let http = service.client.clone();
    let mut problems = Vec::new();
    for (number, id) in &acked {
        let r = http.get(format!("{}/api/tickets/{number}", service.base)).send().await.unwrap();
        if r.status() != 200 {
            problems.push(format!("{number}: missing"));
            continue;
        }
        let t: Value = r.json().await.unwrap();
        let copies = t["contacts"].as_array().unwrap().iter().filter(|c| c["source_ref"] == id.as_str()).count();
        if copies != 1 {
            problems.push(format!("{number}: {copies} copies of {id}"));
        }
    }
    assert!(problems.is_empty(), "{} of {} messages answered 250: {problems:?}", problems.len(), acked.len());
    drop(service);
    db.cleanup().await;
}
