//! Several-node benchmark (not a test), on PostgreSQL (`MADOGUCHI_TEST_POSTGRES_URL`): the release
//! binary as one node, then as two nodes on one new database, both on this machine. For each:
//! calls/s (short calls, INVITE → 200 → ACK → BYE, K at a time, spread over the nodes), mails/s
//! (5 KB messages over C connections spread over the nodes), and the screen-pop delay: a console
//! on every node follows `call.ringing`; the delay is its arrival − the instant the INVITE was
//! sent, at the console on the node that took the call and, with two nodes, on the other one.
//!
//! `cargo bench --bench cluster [-- --calls 400 --concurrent 20 --mails 2000 --connections 16]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::arg;
use common::sip::{Phone, tag_of, write_line};
use common::smtp::Smtp;
use common::sse::EventStream;
use common::stats::{ms, percentile};
use common::{Db, Process, TestDb, authorised, grant, spawn_binary};
use madoguchi::domain::user::Role;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

struct Args {
    calls: usize,
    concurrent: usize,
    mails: usize,
    connections: usize,
}

/// Call `i` comes from this number + i, so a console can tell which call rang.
const FIRST_NUMBER: u64 = 360_000_000;

async fn node(db: &TestDb, dir: &std::path::Path, n: usize) -> Process {
    let data = dir.join(format!("data{n}"));
    let rtp = format!("{}-{}", 20000 + n * 5000, 24999 + n * 5000);
    let name = format!("node{n}");
    spawn_binary(
        dir,
        &[
            ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
            ("MADOGUCHI_DATABASE_URL", db.url.as_str()),
            ("MADOGUCHI_NODE_NAME", name.as_str()),
            ("MADOGUCHI_SIP_DIALPLANS", dir.join("dialplans").to_str().unwrap()),
            ("MADOGUCHI_SIP_PROMPTS", dir.join("prompts").to_str().unwrap()),
            ("MADOGUCHI_SIP_RTP_PORTS", rtp.as_str()),
            ("MADOGUCHI_MAIL_ACKNOWLEDGE", "false"),
            ("RUST_LOG", "warn,madoguchi=info"),
        ],
    )
    .await
}

/// One short call to `sip`: the INVITE's instant, and INVITE → 200 OK if it was answered.
async fn call(sip: std::net::SocketAddr, i: usize, sent: Arc<Mutex<HashMap<usize, Instant>>>) -> Option<Duration> {
    let mut phone = Phone::udp(sip, &format!("cluster-{i}")).await;
    let identity = format!("P-Asserted-Identity: <sip:0{}@trunk.test>\r\n", FIRST_NUMBER + i as u64);
    let t0 = Instant::now();
    sent.lock().unwrap().insert(i, t0);
    let ok = phone.invite(&identity).await.0.filter(|m| m.code() == 200)?;
    let setup = t0.elapsed();
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    let bye = phone.request("BYE", &format!("z9hG4bKbye{i}"), Some(&tag), "", "");
    for _ in 0..10 {
        phone.send(&bye).await;
        if phone.recv(Duration::from_millis(500)).await.is_some_and(|m| m.code() >= 200) {
            break;
        }
    }
    Some(setup)
}

/// A console on one node: when each call's `call.ringing` arrived.
async fn console(mut stream: EventStream, stop: CancellationToken) -> HashMap<usize, Instant> {
    let mut heard = HashMap::new();
    loop {
        let e = tokio::select! {
            _ = stop.cancelled() => break,
            e = stream.next_event() => e,
        };
        let Some(e) = e else { break };
        let number = e.data["caller"]["number"].as_str().and_then(|n| n.strip_prefix('0')?.parse::<u64>().ok());
        if let Some(i) = number.and_then(|n| n.checked_sub(FIRST_NUMBER)) {
            heard.entry(i as usize).or_insert(e.arrived);
        }
    }
    heard
}

async fn mails(nodes: &[Process], args: &Args) -> (f64, usize) {
    let per = args.mails / args.connections;
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.connections)
        .map(|c| {
            let addr = nodes[c % nodes.len()].mail;
            tokio::spawn(async move {
                let (mut s, _) = Smtp::connect(addr).await;
                assert_eq!(s.cmd("EHLO bench").await.0, 250);
                let mut ok = 0;
                for i in 0..per {
                    let mut m = format!(
                        "From: yamada@example.go.jp\r\nTo: helpdesk@example.jp\r\nSubject: bench\r\nMessage-ID: <cluster-{c}-{i}@example.go.jp>\r\n\r\n"
                    );
                    while m.len() < 5 * 1024 {
                        m.push_str("帳票画面でエラーが表示され、処理を続行できません。\r\n");
                    }
                    m.push_str(".\r\n");
                    let ready = s.cmd("MAIL FROM:<yamada@example.go.jp>").await.0 == 250
                        && s.cmd("RCPT TO:<helpdesk@example.jp>").await.0 == 250
                        && s.cmd("DATA").await.0 == 354;
                    if ready {
                        s.send_raw(m.as_bytes()).await;
                        ok += usize::from(s.reply().await.0 == 250);
                    }
                }
                s.cmd("QUIT").await;
                ok
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap_or(0);
    }
    (ok as f64 / started.elapsed().as_secs_f64(), ok)
}

async fn run(count: usize, args: &Args) {
    let Some(db) = TestDb::new(Db::Postgres, &format!("bench cluster {count}")).await else {
        println!("SKIPPED: set MADOGUCHI_TEST_POSTGRES_URL to a PostgreSQL server");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write_line(dir.path(), true);
    let mut nodes = Vec::new();
    for n in 0..count {
        nodes.push(node(&db, dir.path(), n).await);
    }
    eprintln!("{count} node(s) up");
    let stop = CancellationToken::new();
    let mut consoles = Vec::new();
    for (n, p) in nodes.iter().enumerate() {
        let token = grant(&p.database_url, &format!("console{n}"), Role::Operator).await;
        let url = format!("{}/api/events?kind=call.ringing", p.base);
        let stream = EventStream::open(&authorised(&token), &url, None).await;
        consoles.push(tokio::spawn(console(stream, stop.clone())));
    }

    eprintln!("consoles following");
    // Calls: K callers at a time, each call to node i % count.
    let sent = Arc::new(Mutex::new(HashMap::new()));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sips: Vec<_> = nodes.iter().map(|p| p.sip).collect();
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrent)
        .map(|_| {
            let (sent, next, sips, calls) = (sent.clone(), next.clone(), sips.clone(), args.calls);
            tokio::spawn(async move {
                let mut setups = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= calls {
                        return setups;
                    }
                    setups.extend(call(sips[i % sips.len()], i, sent.clone()).await);
                }
            })
        })
        .collect();
    let mut setups = Vec::new();
    for w in workers {
        setups.extend(w.await.unwrap_or_default());
    }
    setups.sort();
    let answered = setups.len();
    let call_rate = answered as f64 / started.elapsed().as_secs_f64();
    eprintln!("calls done");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let mut heard = Vec::new();
    for c in consoles {
        heard.push(c.await.unwrap());
    }
    let sent = sent.lock().unwrap().clone();
    let (mut local, mut remote, mut missing) = (Vec::new(), Vec::new(), 0);
    for (i, t0) in &sent {
        for (n, h) in heard.iter().enumerate() {
            match h.get(i) {
                Some(at) if i % count == n => local.push(*at - *t0),
                Some(at) => remote.push(*at - *t0),
                None => missing += 1,
            }
        }
    }
    local.sort();
    remote.sort();
    let (mail_rate, mailed) = mails(&nodes, args).await;

    println!("== {count} node(s) on one PostgreSQL database, on this machine");
    println!("calls: {answered} of {} answered, {} at a time: {call_rate:.0} calls/s", args.calls, args.concurrent);
    println!(
        "mails: {mailed} of {} stored (5 KB, {} connections): {mail_rate:.0} mails/s",
        args.mails, args.connections
    );
    let show = |what: &str, v: &[Duration]| {
        if !v.is_empty() {
            println!(
                "{what}: p50 {}, p99 {}, max {} (over {})",
                ms(percentile(v, 0.5)),
                ms(percentile(v, 0.99)),
                ms(*v.last().unwrap()),
                v.len()
            );
        }
    };
    show("INVITE → call.ringing at the console on the node that took the call", &local);
    show("INVITE → call.ringing at the console on the other node", &remote);
    show("INVITE → 200 OK (the ticket committed first)", &setups);
    println!("pops missing: {missing}");
    drop(nodes);
    db.cleanup().await;
}

fn main() {
    let args = Args {
        calls: arg("--calls", 400) as usize,
        concurrent: arg("--concurrent", 20).max(1) as usize,
        mails: arg("--mails", 2000) as usize,
        connections: arg("--connections", 16).max(1) as usize,
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        run(1, &args).await;
        run(2, &args).await;
    });
}
