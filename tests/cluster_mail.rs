//! A site's MTA (Postfix, from Debian) with two nodes on one PostgreSQL database as its relays:
//! a node killed in the middle of DATA, or after it stored a message but before its 250 reached
//! the MTA, loses nothing and duplicates nothing: Postfix hands the message to the other node,
//! which recognises one it already has. It reconfigures the machine's Postfix, so it runs under
//! CI (which installs Postfix) or when MADOGUCHI_TEST_POSTFIX=1.

mod common;

use common::{Db, Process, TestDb, spawn_binary};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Where a relay in front of a node kills it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kill {
    /// When the first bytes of the message itself arrive (after the 354).
    MidData,
    /// When the node answers the message's end (it has stored it), before the MTA hears it.
    BeforeTheReply,
}

async fn node(db: &TestDb, name: &str) -> Process {
    let data = db.dir.path().join(name);
    let env = [
        ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
        ("MADOGUCHI_DATABASE_URL", db.url.as_str()),
        ("MADOGUCHI_NODE_NAME", name),
        ("MADOGUCHI_MAIL_ACKNOWLEDGE", "false"),
    ];
    spawn_binary(db.dir.path(), &env).await
}

/// Relays one SMTP connection at a time from `listener` to `node`'s SMTP port, and kills the
/// node's process at `kill`; then refuses connections, as a dead host would. Says when it killed.
async fn killing_relay(listener: TcpListener, mut node: Process, kill: Kill) -> tokio::sync::oneshot::Receiver<()> {
    let (killed, told) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut mta, _) = listener.accept().await.unwrap();
        let mut server = TcpStream::connect(node.mail).await.unwrap();
        let (mut in_data, mut ended) = (false, false);
        let (mut from_mta, mut from_node) = (vec![0u8; 65536], vec![0u8; 65536]);
        loop {
            tokio::select! {
                n = mta.read(&mut from_mta) => {
                    let n = n.unwrap_or(0);
                    if n == 0 { break }
                    let chunk = &from_mta[..n];
                    if in_data && kill == Kill::MidData {
                        // Part of the message reaches the node, then it dies.
                        server.write_all(&chunk[..n.min(16)]).await.unwrap();
                        break;
                    }
                    // The end of the message (Postfix may pipeline its QUIT after it).
                    if in_data && chunk.windows(5).any(|w| w == b"\r\n.\r\n") {
                        ended = true;
                    }
                    server.write_all(chunk).await.unwrap();
                }
                n = server.read(&mut from_node) => {
                    let n = n.unwrap_or(0);
                    if n == 0 { break }
                    let reply = &from_node[..n];
                    // Pipelined: the 354 may follow the envelope's replies in one read.
                    if reply.starts_with(b"354") || reply.windows(5).any(|w| w == b"\n354 ") {
                        in_data = true;
                    }
                    if ended && kill == Kill::BeforeTheReply {
                        assert!(reply.starts_with(b"250"), "the node stored it: {}", String::from_utf8_lossy(reply));
                        break;
                    }
                    mta.write_all(reply).await.unwrap();
                }
            }
        }
        node.child.start_kill().unwrap();
        let _ = node.child.wait().await;
        drop((mta, server, listener));
        let _ = killed.send(());
    });
    told
}

fn queue_empty() -> bool {
    let out = Command::new("postqueue").arg("-p").output().expect("postqueue runs");
    String::from_utf8_lossy(&out.stdout).contains("Mail queue is empty")
}

async fn tickets_with(app: &Process, token: &str) -> Vec<Value> {
    let page: Value =
        app.client.get(format!("{}/api/tickets?q={token}", app.base)).send().await.unwrap().json().await.unwrap();
    page["tickets"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_during_a_delivery_loses_nothing_and_duplicates_nothing() {
    let test = "cluster_mail::a_node_killed_during_a_delivery";
    if !common::postfix::wanted(test) {
        return;
    }
    let Some(db) = TestDb::new(Db::Postgres, "cluster_mail").await else { return };
    let survivor = node(&db, "node-b").await;
    let inbound = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();

    for (round, kill) in [Kill::MidData, Kill::BeforeTheReply].into_iter().enumerate() {
        let doomed = node(&db, &format!("node-a{round}")).await;
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_port = front.local_addr().unwrap().port();
        let killed = killing_relay(front, doomed, kill).await;
        // The MTA's relay is the doomed node (through the killing relay); the survivor is its
        // fallback, as a site lists its nodes.
        common::postfix::start(
            inbound,
            &[
                format!("relayhost=[127.0.0.1]:{front_port}"),
                format!("smtp_fallback_relay=[127.0.0.1]:{}", survivor.mail.port()),
            ],
        );

        let token = format!("failover{round}x{inbound}");
        let message = format!(
            "From: Sato <sato@example.go.jp>\r\nTo: helpdesk@example.jp\r\nSubject: 障害の連絡 {token}\r\nMessage-ID: <{token}@example.go.jp>\r\n\r\n{}\r\n",
            "画面が固まります。\r\n".repeat(200)
        );
        let accepted = common::postfix::submit(inbound, message.as_bytes()).await;
        assert_eq!(accepted.0, 250, "Postfix took the message: {}", accepted.1);
        tokio::time::timeout(Duration::from_secs(60), killed).await.expect("the relay killed the node").unwrap();
        // Postfix hands it to the survivor; then its queue is empty.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            if queue_empty() && !tickets_with(&survivor, &token).await.is_empty() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{kill:?}: Postfix never delivered to the other node");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let tickets = tickets_with(&survivor, &token).await;
        assert_eq!(tickets.len(), 1, "{kill:?}: one ticket: {tickets:?}");
        let number = tickets[0]["number"].as_str().unwrap();
        let t: Value = survivor
            .client
            .get(format!("{}/api/tickets/{number}", survivor.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(t["contact_count"], 1, "{kill:?}: the message once: {t}");
        let body = t["contacts"][0]["body"].as_str().unwrap();
        assert!(body.contains("画面が固まります。"), "{kill:?}: {body}");
    }
    common::postfix::stop(inbound);
    db.cleanup().await;
}
