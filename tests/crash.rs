//! Crash safety: the real binary is killed with SIGKILL while clients post contacts. After a
//! restart, every contact that was answered 2xx is there, and the store opens cleanly.

mod common;

use common::{Db, TestDb, start_binary};
use madoguchi::store::Store;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

on_both_backends!(acknowledged_contacts_survive_sigkill);

const CLIENTS: usize = 8;
const KILL_AFTER: usize = 300;

async fn acknowledged_contacts_survive_sigkill(db: Db) {
    let Some(db) = TestDb::new(db, "acknowledged_contacts_survive_sigkill").await else { return };
    let workdir = tempfile::tempdir().unwrap();
    let mut service = start_binary(&db, workdir.path()).await;

    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (acked, count, enough) = (acked.clone(), count.clone(), enough.clone());
        let url = format!("{}/api/contacts", service.base);
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0.. {
                let marker = format!("crash-{client}-{i}");
                let body = json!({"channel": "phone", "subject": "障害の連絡", "source_ref": marker, "caller": {"number": "03-0000-0000"}});
                let Ok(r) = http.post(&url).json(&body).send().await else { break };
                if !r.status().is_success() {
                    continue;
                }
                let Ok(v) = r.json::<Value>().await else { break };
                acked.lock().unwrap().push((v["ticket"].as_str().unwrap().to_owned(), marker));
                if count.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                    enough.notify_one();
                }
            }
        }));
    }
    enough.notified().await;
    service.child.start_kill().expect("SIGKILL sent");
    let status = service.child.wait().await.unwrap();
    assert!(!status.success(), "the service was killed, not stopped");
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= KILL_AFTER);

    let store = Store::connect(&db.url, 1).await.expect("the store opens after the crash");
    assert_eq!(store.integrity_check().await.unwrap(), "ok");
    store.close().await;

    let service = start_binary(&db, workdir.path()).await;
    let http = reqwest::Client::new();
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
