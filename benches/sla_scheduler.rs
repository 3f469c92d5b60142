//! SLA scheduler benchmark (not a test): N open tickets whose clocks run (due hours ahead), the
//! scheduler's cost of looking for due deadlines (one look a second, so 60 looks a minute), then
//! M tickets whose first response is due 20 s after they open, arriving at R a second while the
//! scheduler runs as in `serve`: the delay from each deadline to its escalation (recorded as the
//! breach's time in the store), p50/p99/max, and that each escalated exactly once.
//!
//! `cargo bench --bench sla_scheduler [-- --tickets 100000 --breaches 1000 --rate 100 --postgres 0]`
//! (`--postgres 1` uses MADOGUCHI_TEST_POSTGRES_URL).

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::arg;
use common::stats::{ms, percentile};
use common::{Db, TestDb};
use madoguchi::app::Core;
use madoguchi::config::OpenMode;
use madoguchi::domain::{Channel, NewContact, TicketNumber};
use madoguchi::escalation::scheduler::{run, tick};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const TARGET_P99: Duration = Duration::from_secs(1);

fn contact(subject: String) -> NewContact {
    NewContact { channel: Channel::Manual, subject: Some(subject), actor: "bench".into(), ..Default::default() }
}

/// Opens `n` tickets with `subject(i)`, `parallel` at a time; their numbers.
async fn open(core: &Core, n: usize, parallel: usize, subject: impl Fn(usize) -> String) -> Vec<TicketNumber> {
    let mut numbers = Vec::with_capacity(n);
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + parallel).min(n))
            .map(|k| {
                let intake = core.intake.clone();
                let c = contact(subject(k));
                tokio::spawn(async move { intake.submit(c).await })
            })
            .collect();
        for b in batch {
            numbers.push(b.await.unwrap().expect("contact recorded").0.ticket);
        }
        i += parallel;
    }
    numbers
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tickets = arg("--tickets", 100_000) as usize;
    let breaches = arg("--breaches", 1_000) as usize;
    let rate = arg("--rate", 100).max(1);
    let backend = if arg("--postgres", 0) == 1 { Db::Postgres } else { Db::Sqlite };
    let Some(db) = TestDb::new(backend, "sla_scheduler_bench").await else {
        println!("SKIPPED: no PostgreSQL (MADOGUCHI_TEST_POSTGRES_URL)");
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let sla = std::fs::read_to_string(root.join("sla.toml")).unwrap().replace(
        "name = \"security-incident\"\ncategory = \"security_incident\"\n# Counted around the clock, holidays and nights included.\naround_the_clock = true\nfirst_response = \"15m\"",
        "name = \"security-incident\"\ncategory = \"security_incident\"\naround_the_clock = true\nfirst_response = \"20s\"",
    );
    assert!(sla.contains("first_response = \"20s\""), "the bench's policy is in place");
    let sla_file = db.dir.path().join("sla-bench.toml");
    std::fs::write(&sla_file, sla).unwrap();
    let mut settings = db.settings();
    settings.escalation.sla = sla_file.display().to_string();
    settings.database.max_connections = 8;
    let core = Core::start(&settings, OpenMode::Create).await.expect("store opens");

    let started = Instant::now();
    open(&core, tickets, 64, |i| format!("操作方法の問い合わせ {i}")).await;
    let opened = started.elapsed();
    println!(
        "{tickets} open tickets with running clocks in {:.1} s ({:.0}/s), {}",
        opened.as_secs_f64(),
        tickets as f64 / opened.as_secs_f64(),
        if backend == Db::Postgres { "PostgreSQL" } else { "SQLite" }
    );

    // The look for due deadlines, as the scheduler makes it every second, with nothing due.
    let mut looks = Vec::new();
    for _ in 0..60 {
        let t = Instant::now();
        let fired = tick(&core.intake, madoguchi::domain::time::now_millis()).await;
        looks.push(t.elapsed());
        assert!(fired.is_empty(), "nothing is due yet");
    }
    looks.sort();
    let minute: Duration = looks.iter().sum();
    println!(
        "idle look: p50 {} p99 {} max {}; a minute's 60 looks take {} in all",
        ms(percentile(&looks, 0.5)),
        ms(percentile(&looks, 0.99)),
        ms(*looks.last().unwrap()),
        ms(minute)
    );

    let stop = CancellationToken::new();
    let scheduler = tokio::spawn(run(core.intake.clone(), stop.clone()));
    let gap = Duration::from_secs_f64(1.0 / rate as f64);
    let mut numbers = Vec::with_capacity(breaches);
    let mut next = tokio::time::Instant::now();
    for i in 0..breaches {
        tokio::time::sleep_until(next).await;
        next += gap;
        let c = contact(format!("不正アクセスの疑い {i}"));
        numbers.push(core.intake.submit(c).await.expect("recorded").0.ticket);
    }
    // Every first response is due 20 s after its ticket opened; wait for the last and a margin.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut delays = Vec::with_capacity(breaches);
    let mut missing = 0;
    for number in &numbers {
        let clock = loop {
            let clocks = core.store.sla_clocks(number, madoguchi::domain::time::now_millis()).await.unwrap();
            let first = clocks.into_iter().find(|c| c.kind == "first_response").expect("a first-response clock");
            if first.state == "breached" || Instant::now() > deadline {
                break first;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        match (clock.due_at, clock.breached_at) {
            (Some(due), Some(breached)) if clock.state == "breached" => {
                delays.push(Duration::from_millis((breached - due).max(0) as u64));
            }
            _ => missing += 1,
        }
    }
    stop.cancel();
    let _ = scheduler.await;
    let mut twice = 0;
    for number in numbers.iter().take(100) {
        let history = core.store.history(number, None, 500).await.unwrap().unwrap();
        if history.items.iter().filter(|h| h.action == "sla_breached").count() != 1 {
            twice += 1;
        }
    }
    delays.sort();
    let p99 = percentile(&delays, 0.99);
    println!(
        "{} of {breaches} breaches escalated ({missing} not), deadline → escalation: p50 {} p99 {} max {} (aim: p99 under {})",
        delays.len(),
        ms(percentile(&delays, 0.5)),
        ms(p99),
        ms(*delays.last().unwrap_or(&Duration::ZERO)),
        ms(TARGET_P99)
    );
    println!("tickets among the first 100 with other than one breach entry: {twice}");
    core.finish().await;
    db.cleanup().await;
}
