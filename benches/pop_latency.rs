//! Screen-pop latency benchmark (not a test): the release binary with C operators' consoles
//! following `GET /api/events?kind=call.ringing` (each its own user, token and connection) while
//! real SIP calls arrive at R calls/s for S seconds. Every call has its own caller number, so each
//! console can tell which call a `call.ringing` is for; the delay is the event's arrival at the
//! console − the instant the INVITE was sent (one machine, one monotonic clock). Each caller
//! acknowledges the 200 OK, stays on for `--hold` seconds and hangs up.
//!
//! Prints the deliveries (every console must get every answered call's ringing: missing ones are
//! counted), the INVITE → `call.ringing` delay over all (console, call) pairs (p50/p99/max), and
//! for each call at its first and its last console; INVITE → 200 OK for comparison; madoguchi's
//! CPU, peak RSS, time waiting for a CPU and datagrams dropped at its SIP socket, and the bench
//! process's own CPU (it shares the cores). Callers resend an unanswered INVITE on timer A, as
//! UDP phones do; how many had to is printed.
//!
//! `cargo bench --bench pop_latency [-- --clients 100 --rate 50 --seconds 20 --hold 2]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::{arg, load_average, run_queue_wait, udp_drops, usage};
use common::sip::{Phone, tag_of, write_line};
use common::sse::EventStream;
use common::stats::{ms, percentile};
use common::{authorised, grant, spawn_binary};
use madoguchi::domain::user::Role;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The p99 the screen-pop should stay under.
const TARGET_P99: Duration = Duration::from_millis(20);
/// How long the consoles keep listening after the last call ends.
const GRACE: Duration = Duration::from_secs(2);
/// Call `i` comes from 0{FIRST_NUMBER + i}: 03-5000-0000, 03-5000-0001, …
const FIRST_NUMBER: u64 = 350_000_000;

struct Args {
    clients: usize,
    rate: u64,
    seconds: u64,
    hold: Duration,
}

impl Args {
    fn parse() -> Args {
        Args {
            clients: arg("--clients", 100) as usize,
            rate: arg("--rate", 50).max(1),
            seconds: arg("--seconds", 20),
            hold: Duration::from_secs(arg("--hold", 2)),
        }
    }

    fn calls(&self) -> usize {
        (self.rate * self.seconds) as usize
    }
}

fn caller_number(call: usize) -> String {
    format!("0{}", FIRST_NUMBER + call as u64)
}

fn call_of(number: &str) -> Option<usize> {
    let n: u64 = number.strip_prefix('0')?.parse().ok()?;
    n.checked_sub(FIRST_NUMBER).map(|i| i as usize)
}

/// What one console heard.
struct Heard {
    /// When each call's `call.ringing` arrived, by call.
    arrivals: Vec<Option<Instant>>,
    resyncs: usize,
    /// Events of another kind, or for no call of ours, or a second time for one.
    unexpected: usize,
    /// The stream ended before the bench stopped listening.
    cut: bool,
}

/// One console: follows `stream` until `stop`.
async fn console(mut stream: EventStream, calls: usize, stop: CancellationToken) -> Heard {
    let mut heard = Heard { arrivals: vec![None; calls], resyncs: 0, unexpected: 0, cut: false };
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => break,
            e = stream.next_event() => e,
        };
        let Some(e) = event else {
            heard.cut = true;
            break;
        };
        if e.event == "resync" {
            heard.resyncs += 1;
            continue;
        }
        let call = e.data["caller"]["number"].as_str().and_then(call_of).filter(|&i| i < calls);
        match call {
            Some(i) if e.event == "call.ringing" && heard.arrivals[i].is_none() => heard.arrivals[i] = Some(e.arrived),
            _ => heard.unexpected += 1,
        }
    }
    heard
}

/// How a call went.
enum Outcome {
    /// 200 OK after `setup`, the INVITE resent `resent` times (timer A); the BYE answered or not.
    Answered { setup: Duration, resent: u32, hung_up: bool },
    /// Another final response.
    Refused(u16),
    /// No final response (timer B).
    Unanswered,
    /// The caller's task failed.
    Lost,
}

impl Outcome {
    fn setup(&self) -> Option<Duration> {
        match self {
            Outcome::Answered { setup, .. } => Some(*setup),
            _ => None,
        }
    }
}

/// One caller at `due`: INVITE (noting when it went in `sent`), ACK, `hold`, BYE.
async fn call(
    sip: std::net::SocketAddr,
    i: usize,
    due: Instant,
    hold: Duration,
    sent: Arc<Vec<OnceLock<Instant>>>,
) -> Outcome {
    tokio::time::sleep_until(due.into()).await;
    let mut phone = Phone::udp(sip, &format!("pop-{i}")).await;
    let identity = format!("P-Asserted-Identity: <sip:{}@trunk.test>\r\n", caller_number(i));
    let t0 = Instant::now();
    let _ = sent[i].set(t0);
    let (ok, resent) = match phone.invite(&identity).await {
        (Some(m), resent) if m.code() == 200 => (m, resent),
        (Some(m), _) => return Outcome::Refused(m.code()),
        (None, _) => return Outcome::Unanswered,
    };
    let setup = t0.elapsed();
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    tokio::time::sleep(hold).await;
    let bye = phone.request("BYE", &format!("z9hG4bKbye{i}"), Some(&tag), "", "");
    let mut hung_up = false;
    for _ in 0..10 {
        phone.send(&bye).await;
        if let Some(m) = phone.recv(Duration::from_millis(500)).await
            && m.code() >= 200
        {
            hung_up = true;
            break;
        }
    }
    Outcome::Answered { setup, resent, hung_up }
}

fn print_latency(what: &str, sorted: &[Duration]) {
    println!(
        "{what}: p50 {}, p99 {}, max {} (over {})",
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99)),
        ms(*sorted.last().unwrap_or(&Duration::ZERO)),
        sorted.len()
    );
}

async fn run(args: &Args) {
    let dir = tempfile::tempdir().unwrap();
    write_line(dir.path(), true);
    let data = dir.path().join("data");
    let mut service = spawn_binary(
        dir.path(),
        &[
            ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
            ("MADOGUCHI_SIP_DIALPLANS", dir.path().join("dialplans").to_str().unwrap()),
            ("MADOGUCHI_SIP_PROMPTS", dir.path().join("prompts").to_str().unwrap()),
            // ~rate × (hold + a second) calls are up at once: far below both.
            ("MADOGUCHI_SIP_RTP_PORTS", "20000-29999"),
            ("MADOGUCHI_SIP_MAX_CALLS", "3000"),
            ("RUST_LOG", "warn,madoguchi=info"),
        ],
    )
    .await;
    let pid = service.child.id().unwrap();
    let calls = args.calls();

    // Every console is subscribed (answered 200) before the first call.
    let url = format!("{}/api/events?kind=call.ringing", service.base);
    let stop = CancellationToken::new();
    let mut consoles = Vec::with_capacity(args.clients);
    for c in 0..args.clients {
        let token = grant(&service.database_url, &format!("operator{c}"), Role::Operator).await;
        let stream = EventStream::open(&authorised(&token), &url, None).await;
        consoles.push(tokio::spawn(console(stream, calls, stop.clone())));
    }

    // What the service logged while starting (the unset relay) is not news.
    while service.log.try_recv().is_ok() {}
    let sent: Arc<Vec<OnceLock<Instant>>> = Arc::new((0..calls).map(|_| OnceLock::new()).collect());
    let before = Sample::take(pid, service.sip.port());
    let started = Instant::now() + Duration::from_millis(200);
    let callers: Vec<_> = (0..calls)
        .map(|i| {
            let due = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
            tokio::spawn(call(service.sip, i, due, args.hold, sent.clone()))
        })
        .collect();
    let mut outcomes = Vec::with_capacity(calls);
    for c in callers {
        outcomes.push(c.await.unwrap_or(Outcome::Lost));
    }
    let elapsed = started.elapsed();
    let after = Sample::take(pid, service.sip.port());
    tokio::time::sleep(GRACE).await;
    stop.cancel();
    let mut heard = Vec::with_capacity(args.clients);
    for c in consoles {
        heard.push(c.await.unwrap());
    }
    let mut warnings = Vec::new();
    while let Ok(line) = service.log.try_recv() {
        if line.contains("WARN") || line.contains("ERROR") {
            warnings.push(line);
        }
    }
    drop(service);

    // Over the answered calls: each console's delay per call, and each call's first and last.
    let ok: Vec<usize> = (0..calls).filter(|&i| outcomes[i].setup().is_some()).collect();
    let mut delays = Vec::with_capacity(ok.len() * heard.len());
    let mut first = Vec::with_capacity(ok.len());
    let mut last = Vec::with_capacity(ok.len());
    let mut missing = 0;
    for &i in &ok {
        let t0 = *sent[i].get().unwrap();
        let at: Vec<Duration> = heard.iter().filter_map(|h| h.arrivals[i]).map(|a| a - t0).collect();
        missing += heard.len() - at.len();
        if let (Some(f), Some(l)) = (at.iter().min(), at.iter().max()) {
            first.push(*f);
            last.push(*l);
        }
        delays.extend(at);
    }
    let popped_unanswered: usize = (0..calls)
        .filter(|&i| outcomes[i].setup().is_none())
        .map(|i| heard.iter().filter(|h| h.arrivals[i].is_some()).count())
        .sum();
    let per_console: Vec<usize> =
        heard.iter().map(|h| ok.iter().filter(|&&i| h.arrivals[i].is_some()).count()).collect();
    let mut setups: Vec<Duration> = outcomes.iter().filter_map(Outcome::setup).collect();
    for v in [&mut delays, &mut first, &mut last, &mut setups] {
        v.sort();
    }
    let count = |f: fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let mut refused: Vec<u16> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Refused(code) => Some(*code),
            _ => None,
        })
        .collect();
    refused.sort();
    refused.dedup();

    println!(
        "{} consoles on GET /api/events?kind=call.ringing; {calls} calls at {}/s over {} s, each held {} s: {} answered ({} after resending the INVITE, {} whose BYE went unanswered), {} refused {refused:?}, {} without a final response, {} callers failed",
        args.clients,
        args.rate,
        args.seconds,
        args.hold.as_secs(),
        ok.len(),
        count(|o| matches!(o, Outcome::Answered { resent: 1.., .. })),
        count(|o| matches!(o, Outcome::Answered { hung_up: false, .. })),
        count(|o| matches!(o, Outcome::Refused(_))),
        count(|o| matches!(o, Outcome::Unanswered)),
        count(|o| matches!(o, Outcome::Lost)),
    );
    println!(
        "call.ringing delivered: {} of {} (consoles × answered calls), {missing} missing; per console {}–{}; {} resyncs, {} unexpected events, {} streams cut; {popped_unanswered} pops of calls not answered",
        delays.len(),
        ok.len() * heard.len(),
        per_console.iter().min().unwrap_or(&0),
        per_console.iter().max().unwrap_or(&0),
        heard.iter().map(|h| h.resyncs).sum::<usize>(),
        heard.iter().map(|h| h.unexpected).sum::<usize>(),
        heard.iter().filter(|h| h.cut).count()
    );
    print_latency("INVITE → call.ringing at the consoles", &delays);
    print_latency("  at each call's first console", &first);
    print_latency("  at each call's last console", &last);
    print_latency("INVITE → 200 OK", &setups);
    let seconds = elapsed.as_secs_f64();
    let percent = |cpu: f64| cpu / seconds * 100.0;
    println!(
        "madoguchi: {:.1} CPU-seconds over {seconds:.1} s ({:.0}% of one core), peak RSS {:.1} MB, {:.1} s waiting for a CPU; {} datagrams dropped at its SIP socket (receive buffer full)",
        after.cpu - before.cpu,
        percent(after.cpu - before.cpu),
        after.rss,
        (after.waited - before.waited).as_secs_f64(),
        after.sip_drops.saturating_sub(before.sip_drops)
    );
    println!(
        "the bench process (callers and consoles): {:.1} CPU-seconds ({:.0}% of one core), {:.1} s waiting for a CPU; load average {:.1} before, {:.1} after",
        after.own_cpu - before.own_cpu,
        percent(after.own_cpu - before.own_cpu),
        (after.own_waited - before.own_waited).as_secs_f64(),
        before.load,
        after.load
    );
    let p99 = percentile(&delays, 0.99);
    let verdict = if p99 < TARGET_P99 && missing == 0 { "met" } else { "NOT met" };
    println!("target (every pop delivered, p99 < {}): {verdict}", ms(TARGET_P99));
    if !warnings.is_empty() {
        println!("madoguchi logged {} warnings or errors, the first:", warnings.len());
        for w in warnings.iter().take(5) {
            println!("  {w}");
        }
    }
}

/// madoguchi's and the bench's use of the machine at one instant.
struct Sample {
    cpu: f64,
    rss: f64,
    waited: Duration,
    sip_drops: u64,
    own_cpu: f64,
    own_waited: Duration,
    load: f64,
}

impl Sample {
    fn take(pid: u32, sip_port: u16) -> Sample {
        let (cpu, rss) = usage(pid);
        let own = std::process::id();
        Sample {
            cpu,
            rss,
            waited: run_queue_wait(pid),
            sip_drops: udp_drops(pid, sip_port).unwrap_or(0),
            own_cpu: usage(own).0,
            own_waited: run_queue_wait(own),
            load: load_average(),
        }
    }
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run(&args));
}
