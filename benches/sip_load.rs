//! Telephony load benchmark (not a test): the release binary answers N concurrent calls set up
//! at R calls/s; every caller hears a long announcement for D seconds and hangs up. Prints calls
//! set up per second, failed calls, RTP pacing error measured at each receiver (|gap − 20 ms|,
//! p50/p99/max), and madoguchi's CPU and peak memory.
//!
//! `cargo bench --bench sip_load [-- --calls 1000 --rate 200 --hold 30]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::sip::{Phone, tag_of, write_line};
use common::spawn_binary;
use common::stats::{ms, percentile};
use std::time::{Duration, Instant};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

/// (user+system CPU seconds, peak RSS in MB) of a process.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = 100.0;
    let cpu = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (cpu / ticks, hwm / 1024.0)
}

fn main() {
    let calls = arg("--calls", 1000) as usize;
    let rate = arg("--rate", 200);
    let hold = Duration::from_secs(arg("--hold", 30));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        write_line(dir.path(), true);
        // A welcome longer than the hold: every caller hears announcement the whole time.
        let spec = hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(dir.path().join("prompts/welcome.wav"), spec).unwrap();
        for n in 0..8000 * (hold.as_secs() as usize + 10) {
            w.write_sample(((n as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16).unwrap();
        }
        w.finalize().unwrap();
        let data = dir.path().join("data");
        let service = spawn_binary(
            dir.path(),
            &[
                ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
                ("MADOGUCHI_SIP_LISTEN", "127.0.0.1:0"),
                ("MADOGUCHI_SIP_DIALPLANS", dir.path().join("dialplans").to_str().unwrap()),
                ("MADOGUCHI_SIP_PROMPTS", dir.path().join("prompts").to_str().unwrap()),
                ("MADOGUCHI_SIP_RTP_PORTS", "20000-29999"),
                ("RUST_LOG", "warn,madoguchi=info"),
            ],
        )
        .await;
        let pid = service.child.id().unwrap();
        let sip = service.sip;
        let (cpu0, _) = usage(pid);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..calls {
            let due = started + Duration::from_secs_f64(i as f64 / rate as f64);
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep_until(due.into()).await;
                let mut phone = Phone::udp(sip, &format!("load-{i}")).await;
                let t0 = Instant::now();
                let (ok, _) = phone.call("").await;
                if ok.code() != 200 {
                    return (None, Vec::new());
                }
                let setup = t0.elapsed();
                let tag = tag_of(&ok);
                phone.ack(&tag).await;
                let mut gaps = Vec::new();
                let mut last: Option<Instant> = None;
                let mut buf = [0u8; 1500];
                let end = Instant::now() + hold;
                while let Ok(Ok((_, _))) = tokio::time::timeout_at(end.into(), phone.rtp.recv_from(&mut buf)).await {
                    let now = Instant::now();
                    if let Some(prev) = last {
                        let gap = now - prev;
                        gaps.push(if gap > Duration::from_millis(20) { gap - Duration::from_millis(20) } else { Duration::from_millis(20) - gap });
                    }
                    last = Some(now);
                }
                let bye = phone.request("BYE", &format!("z9hG4bKbye{i}"), Some(&tag), "", "");
                let _ = phone.transact(&bye).await;
                (Some(setup), gaps)
            }));
        }
        let mut setups = Vec::new();
        let mut gaps = Vec::new();
        let mut failed = 0;
        let mut quiet = 0;
        for t in tasks {
            match t.await {
                Ok((Some(s), g)) => {
                    if g.is_empty() {
                        quiet += 1;
                    }
                    setups.push(s);
                    gaps.extend(g);
                }
                _ => failed += 1,
            }
        }
        let elapsed = started.elapsed();
        let (cpu1, rss) = usage(pid);
        setups.sort();
        gaps.sort();
        let setup_window = Duration::from_secs_f64(calls as f64 / rate as f64);
        println!(
            "{calls} calls offered at {rate}/s ({} s of set-up), each holding {} s of announcement: {} answered, {failed} failed, {quiet} heard nothing",
            setup_window.as_secs_f64(),
            hold.as_secs(),
            setups.len()
        );
        println!("call set-up (INVITE → 200 OK): p50 {}, p99 {}, max {}", ms(percentile(&setups, 0.5)), ms(percentile(&setups, 0.99)), ms(*setups.last().unwrap_or(&Duration::ZERO)));
        println!(
            "RTP pacing error at the receivers over {} packet gaps: p50 {}, p99 {}, max {}",
            gaps.len(),
            ms(percentile(&gaps, 0.5)),
            ms(percentile(&gaps, 0.99)),
            ms(*gaps.last().unwrap_or(&Duration::ZERO))
        );
        println!(
            "madoguchi: {:.1} CPU-seconds over {:.1} s ({:.0}% of one core), peak RSS {:.1} MB",
            cpu1 - cpu0,
            elapsed.as_secs_f64(),
            (cpu1 - cpu0) / elapsed.as_secs_f64() * 100.0,
            rss
        );
        drop(service);
    });
}
