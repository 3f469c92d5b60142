//! SMTP load benchmark (not a test): concurrent connections each send messages over a real
//! socket; prints messages/s and the time from the end of DATA to the 250 (p50/p99), for 5 KB
//! and 1 MB messages, on SQLite and (with `MADOGUCHI_TEST_POSTGRES_URL`) PostgreSQL.
//!
//! `cargo bench --bench mail_load [-- --connections N --small N --large N --backend sqlite|postgres]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::smtp::Smtp;
use common::stats::{gather, ms, percentile};
use common::{Db, TestDb, spawn_with};
use std::time::Instant;

struct Options {
    connections: usize,
    small: usize,
    large: usize,
    backend: Option<String>,
}

fn options() -> Options {
    let mut o = Options { connections: 32, small: 10_000, large: 200, backend: None };
    let args: Vec<String> = std::env::args().collect();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--connections" => o.connections = pair[1].parse().expect("--connections N"),
            "--small" => o.small = pair[1].parse().expect("--small N"),
            "--large" => o.large = pair[1].parse().expect("--large N"),
            "--backend" => o.backend = Some(pair[1].clone()),
            _ => {}
        }
    }
    o
}

fn message(id: &str, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Yamada <yamada@example.go.jp>\r\nTo: helpdesk@example.jp\r\nSubject: =?UTF-8?B?44K344K544OG44Og6Zqc5a6z44Gu5aCx5ZGK?=\r\n\
Message-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    );
    let line = "帳票画面でエラーが表示され、処理を続行できません。再起動しても同じです。\r\n";
    while m.len() < size {
        m.push_str(line);
    }
    m.into_bytes()
}

async fn run(db: Db, name: &str, o: &Options, size: usize, count: usize) {
    let Some(test_db) = TestDb::new(db, "bench mail").await else { return };
    let app = spawn_with(test_db, |s| s.log.level = "warn".into()).await;
    let per = count / o.connections;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.connections {
        let addr = app.mail;
        tasks.push(tokio::spawn(async move {
            let (mut s, _) = Smtp::connect(addr).await;
            assert_eq!(s.cmd("EHLO bench").await.0, 250);
            let mut latencies = Vec::with_capacity(per);
            let mut failed = 0;
            for i in 0..per {
                let m = message(&format!("bench-{c}-{i}@example.go.jp"), size);
                let ok = s.cmd("MAIL FROM:<yamada@example.go.jp>").await.0 == 250
                    && s.cmd("RCPT TO:<helpdesk@example.jp>").await.0 == 250
                    && s.cmd("DATA").await.0 == 354;
                if !ok {
                    failed += 1;
                    continue;
                }
                let mut data = m;
                data.extend_from_slice(b".\r\n");
                let t = Instant::now();
                s.send_raw(&data).await;
                if s.reply().await.0 == 250 {
                    latencies.push(t.elapsed());
                } else {
                    failed += 1;
                }
            }
            s.cmd("QUIT").await;
            (latencies, failed)
        }));
    }
    let (all, failed) = gather(tasks).await;
    let elapsed = started.elapsed();
    println!(
        "[{name}] {} KB messages: {} over {} connections in {:.2} s = {:.0} messages/s ({:.1} MB/s); end of DATA → 250: p50 {}, p99 {}; failed {}",
        size / 1024,
        all.len(),
        o.connections,
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        (all.len() * size) as f64 / elapsed.as_secs_f64() / 1e6,
        ms(percentile(&all, 0.5)),
        ms(percentile(&all, 0.99)),
        failed
    );
    app.stop().await;
}

fn main() {
    let o = options();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for (db, name) in [(Db::Sqlite, "sqlite"), (Db::Postgres, "postgres")] {
            if o.backend.as_deref().is_some_and(|b| b != name) {
                continue;
            }
            run(db, name, &o, 5 * 1024, o.small).await;
            run(db, name, &o, 1024 * 1024, o.large).await;
        }
    });
}
