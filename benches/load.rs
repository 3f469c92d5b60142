//! Load benchmark (not a test): prints numbers, asserts nothing about speed.
//!
//! `cargo bench --bench load` runs, on SQLite and (when `MADOGUCHI_TEST_POSTGRES_URL` is set)
//! on PostgreSQL:
//! 1. contacts created through the HTTP API by concurrent clients: contacts/s, p50/p99 latency;
//! 2. a store seeded with `--tickets` tickets (default 1,000,000), then list and search queries
//!    through the HTTP API: p50/p99 latency of each.
//!
//! Options: `--contacts N` (20000), `--clients N` (64), `--tickets N`, `--only api|search`,
//! `--backend sqlite|postgres`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::stats::{gather, ms, percentile};
use common::{Db, TestDb, spawn_with};
use madoguchi::domain::text::bigrams;
use serde_json::json;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor};
use std::time::{Duration, Instant};

struct Options {
    contacts: usize,
    clients: usize,
    tickets: usize,
    only: Option<String>,
    backend: Option<String>,
}

fn options() -> Options {
    let mut o = Options { contacts: 20_000, clients: 64, tickets: 1_000_000, only: None, backend: None };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--contacts" => o.contacts = value.parse().expect("--contacts N"),
            "--clients" => o.clients = value.parse().expect("--clients N"),
            "--tickets" => o.tickets = value.parse().expect("--tickets N"),
            "--only" => o.only = Some(value),
            "--backend" => o.backend = Some(value),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

fn main() {
    let o = options();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        for (db, name) in [(Db::Sqlite, "sqlite"), (Db::Postgres, "postgres")] {
            if o.backend.as_deref().is_some_and(|b| b != name) {
                continue;
            }
            if o.only.as_deref() != Some("search") {
                api_load(db, name, &o).await;
            }
            if o.only.as_deref() != Some("api") {
                search_load(db, name, &o).await;
            }
        }
    });
}

async fn api_load(db: Db, name: &str, o: &Options) {
    let Some(test_db) = TestDb::new(db, "bench api").await else { return };
    // One token sends everything: its rate limit would be what is measured.
    let app = spawn_with(test_db, |s| s.http.requests_per_minute = 0).await;
    let url = app.url("/api/contacts");
    let per_client = o.contacts / o.clients;
    let subjects = [
        "アカウントがロックされました",
        "パスワードを忘れました",
        "強制サインアウトをお願いします",
        "システム障害の報告",
        "操作方法を教えてください",
    ];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let client = common::authorised(&app.token);
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            let mut failed = 0usize;
            for i in 0..per_client {
                let body = json!({
                    "channel": "phone",
                    "subject": subjects[(c + i) % subjects.len()],
                    "body": "ヘルプデスク宛の問い合わせ本文。".repeat(8),
                    "caller": {"number": format!("03-{:04}-{:04}", c, i % 10_000), "name": "山田 太郎", "organisation": "労災保険業務課"},
                    "dialed_number": "0120-000-111",
                });
                let t = Instant::now();
                match client.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        latencies.push(t.elapsed());
                    }
                    _ => failed += 1,
                }
            }
            (latencies, failed)
        }));
    }
    let (all, failed) = gather(tasks).await;
    let elapsed = started.elapsed();
    println!(
        "[{name}] POST /api/contacts: {} contacts from {} clients in {:.2} s = {:.0} contacts/s; p50 {}, p99 {}, max {}; failed {}",
        all.len(),
        o.clients,
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
        ms(*all.last().unwrap_or(&Duration::ZERO)),
        failed
    );
    app.stop().await;
}

/// Folded subjects as the store keeps them; one ticket in 10,000 mentions 指静脈.
const PHRASES: [&str; 8] = [
    "アカウントがロックされました",
    "パスワードを忘れました 初期化をお願いします",
    "強制サインアウトをお願いします",
    "システム障害 帳票画面でエラーが表示される",
    "ユーザid追加申請",
    "操作方法を教えてください",
    "vpnにつながらない",
    "一時パスワードの発行依頼",
];

/// SQL for the seeded tickets' folded text (`var` is the row number) or its character pairs.
fn text_sql(var: &str, pairs: bool) -> String {
    let prep = |t: &str| if pairs { bigrams(t) } else { t.to_owned() };
    let cases =
        PHRASES.iter().enumerate().map(|(i, p)| format!("WHEN {i} THEN '{}'", prep(p))).collect::<Vec<_>>().join(" ");
    format!(
        "(CASE {var} % 8 {cases} END) || (CASE WHEN {var} % 10000 = 0 THEN ' {}' ELSE '' END) || ' {}'{}",
        prep("指静脈認証"),
        prep("山田 労災保険業務課"),
        if pairs { String::new() } else { format!(" || ' 03' || ({var} % 100000)") }
    )
}

async fn seed(url: &str, sqlite: bool, n: usize) {
    let mut conn = AnyConnection::connect(url).await.unwrap();
    let text = text_sql("i", false);
    let columns = format!(
        "INSERT INTO tickets (number, subject, channel, category, priority, tier, status, contact_count, created_at, updated_at, search_text{})",
        if sqlite { "" } else { ", search_grams" }
    );
    let grams = if sqlite { String::new() } else { format!(", to_tsvector('simple', {})", text_sql("i", true)) };
    let values = format!(
        "SELECT '20260101-' || i, {text}, \
         (CASE i % 4 WHEN 0 THEN 'phone' WHEN 1 THEN 'email' WHEN 2 THEN 'fax' ELSE 'manual' END), \
         (CASE i % 8 WHEN 0 THEN 'account_unlock' WHEN 1 THEN 'password_reset' WHEN 2 THEN 'forced_signout' WHEN 3 THEN 'fault_report' \
               WHEN 4 THEN 'user_id_change' WHEN 5 THEN 'howto' WHEN 6 THEN 'general' ELSE 'temporary_password' END), \
         'normal', 1 + (i % 3), \
         (CASE i % 6 WHEN 0 THEN 'new' WHEN 1 THEN 'acknowledged' WHEN 2 THEN 'in_progress' WHEN 3 THEN 'escalated' WHEN 4 THEN 'resolved' ELSE 'closed' END), \
         1, 1700000000000 + i * 1000, 1700000000000 + i * 1000, {text}{grams}"
    );
    let sql = if sqlite {
        format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) {columns} {values} FROM n"
        )
    } else {
        format!("{columns} {values} FROM generate_series(1, {n}) AS i")
    };
    conn.execute(AssertSqlSafe(sql)).await.unwrap();
    if sqlite {
        conn.execute("INSERT INTO ticket_fts (rowid, search_text) SELECT id, search_text FROM tickets").await.unwrap();
        let grams = format!("INSERT INTO ticket_grams (rowid, grams) SELECT id, {} FROM tickets", text_sql("id", true));
        conn.execute(AssertSqlSafe(grams)).await.unwrap();
    }
    conn.execute("ANALYZE").await.unwrap();
    conn.close().await.unwrap();
}

async fn search_load(db: Db, name: &str, o: &Options) {
    let Some(test_db) = TestDb::new(db, "bench search").await else { return };
    let store = madoguchi::store::Store::connect(&test_db.url, 1).await.unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let t = Instant::now();
    seed(&test_db.url, db == Db::Sqlite, o.tickets).await;
    println!("[{name}] seeded {} tickets (with search index) in {:.1} s", o.tickets, t.elapsed().as_secs_f64());
    // One token sends everything: its rate limit would be what is measured.
    let app = spawn_with(test_db, |s| s.http.requests_per_minute = 0).await;
    let queries = [
        ("newest 50", "/api/tickets"),
        ("status=open", "/api/tickets?status=open"),
        ("channel=fax&tier=2", "/api/tickets?channel=fax&tier=2"),
        ("category=howto", "/api/tickets?category=howto"),
        ("page 2 (before=500000)", "/api/tickets?before=500000"),
        ("q=パスワード (1 in 4)", "/api/tickets?q=%E3%83%91%E3%82%B9%E3%83%AF%E3%83%BC%E3%83%89"),
        ("q=指静脈 (1 in 10,000)", "/api/tickets?q=%E6%8C%87%E9%9D%99%E8%84%88"),
        ("q=障害 (2 chars, 1 in 8)", "/api/tickets?q=%E9%9A%9C%E5%AE%B3"),
        ("q=帳票 エラー&status=open", "/api/tickets?q=%E5%B8%B3%E7%A5%A8+%E3%82%A8%E3%83%A9%E3%83%BC&status=open"),
        ("q=静脈 (2 chars, 1 in 10,000)", "/api/tickets?q=%E9%9D%99%E8%84%88"),
        ("q=vpn&channel=fax", "/api/tickets?q=vpn&channel=fax"),
        ("q=vpn&channel=email (no match, worst case)", "/api/tickets?q=vpn&channel=email"),
        ("q=指静脈&status=closed", "/api/tickets?q=%E6%8C%87%E9%9D%99%E8%84%88&status=closed"),
    ];
    for (label, path) in queries {
        let mut latencies = Vec::new();
        let mut found = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let r = app.client.get(app.url(path)).send().await.unwrap();
            assert!(r.status().is_success(), "{label}: {}", r.status());
            let v: serde_json::Value = r.json().await.unwrap();
            latencies.push(t.elapsed());
            found = v["tickets"].as_array().map(Vec::len).unwrap_or(0);
        }
        latencies.sort();
        println!(
            "[{name}] {} tickets, GET {label}: {found} on the page; p50 {}, p99 {}",
            o.tickets,
            ms(percentile(&latencies, 0.5)),
            ms(percentile(&latencies, 0.99))
        );
    }
    if std::env::var("BENCH_KEEP_DB").is_ok() {
        println!("[{name}] kept database {}", app.db.url);
        std::mem::forget(app);
        return;
    }
    app.stop().await;
}
