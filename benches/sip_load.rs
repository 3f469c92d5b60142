//! Telephony load benchmark (not a test): the release binary answers N concurrent calls set up
//! at R calls/s; every caller hears a long announcement for D seconds and hangs up. Prints calls
//! set up per second, failed calls, RTP pacing error measured at each receiver (|gap − 20 ms|,
//! p50/p99/max), and madoguchi's CPU and peak memory; then, over a steady window while every call
//! is up, madoguchi's CPU per RTP packet and per call-second.
//!
//! Then, in the same run, the bare minimum for the same load: one thread with one UDP socket
//! sending, every 20 ms, one RTP packet to each of N fresh receivers with `sendmmsg`. Its CPU per
//! packet and its pacing are the floor madoguchi's figures are compared against.
//!
//! `cargo bench --bench sip_load [-- --calls 2000 --rate 200 --hold 30]`

#[path = "../tests/common/mod.rs"]
mod common;

use common::bench::{arg, usage};
use common::sip::{Phone, tag_of, write_line};
use common::spawn_binary;
use common::stats::{ms, percentile};
use std::net::{SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const PTIME: Duration = Duration::from_millis(20);
/// A 12-byte RTP header and 20 ms of PCMU at 8 kHz.
const RTP_PACKET: usize = 12 + 160;

/// RTP packets heard by madoguchi's callers, and by the minimum's receivers.
static MADOGUCHI_RTP: AtomicU64 = AtomicU64::new(0);
static MINIMUM_RTP: AtomicU64 = AtomicU64::new(0);
/// madoguchi's calls answered and not yet hung up.
static CALLS_UP: AtomicUsize = AtomicUsize::new(0);

struct Args {
    calls: usize,
    rate: u64,
    hold: Duration,
}

impl Args {
    fn parse() -> Args {
        Args {
            calls: arg("--calls", 2000) as usize,
            rate: arg("--rate", 200),
            hold: Duration::from_secs(arg("--hold", 30)),
        }
    }

    fn setup(&self) -> Duration {
        Duration::from_secs_f64(self.calls as f64 / self.rate as f64)
    }

    /// When every call is up, as offsets from the first call: from 2 s after the last call is
    /// placed to 2 s before the first hangs up.
    fn steady(&self) -> Range<Duration> {
        let window = self.setup() + Duration::from_secs(2)..self.hold.saturating_sub(Duration::from_secs(2));
        assert!(window.start < window.end, "--hold must exceed the set-up time (--calls / --rate) by more than 4 s");
        window
    }
}

/// |gap − 20 ms| between consecutive packets at the receivers: all of them, and those that
/// arrived within the steady window.
#[derive(Default)]
struct Pacing {
    all: Vec<Duration>,
    steady: Vec<Duration>,
}

impl Pacing {
    fn extend(&mut self, other: Pacing) {
        self.all.extend(other.all);
        self.steady.extend(other.steady);
    }

    fn sort(&mut self) {
        self.all.sort();
        self.steady.sort();
    }
}

fn print_pacing(what: &str, sorted: &[Duration]) {
    println!(
        "{what} over {} packet gaps: p50 {}, p99 {}, max {}",
        sorted.len(),
        ms(percentile(sorted, 0.5)),
        ms(percentile(sorted, 0.99)),
        ms(*sorted.last().unwrap_or(&Duration::ZERO))
    );
}

/// Hears RTP on `socket` until `end`, counting every packet in `heard`.
async fn receive(socket: &UdpSocket, end: Instant, steady: &Range<Instant>, heard: &AtomicU64) -> Pacing {
    let mut pacing = Pacing::default();
    let mut last: Option<Instant> = None;
    let mut buf = [0u8; 1500];
    while let Ok(Ok(_)) = tokio::time::timeout_at(end.into(), socket.recv_from(&mut buf)).await {
        let now = Instant::now();
        heard.fetch_add(1, Relaxed);
        if let Some(prev) = last {
            let error = (now - prev).abs_diff(PTIME);
            pacing.all.push(error);
            if steady.contains(&now) {
                pacing.steady.push(error);
            }
        }
        last = Some(now);
    }
    pacing
}

/// What madoguchi and the minimum are compared on.
struct Figures {
    cpu_per_packet: Duration,
    steady_p99: Duration,
}

/// One caller at `due`: INVITE, ACK, the announcement for `hold`, BYE. Its set-up time and
/// pacing, or None if the call was refused.
async fn call(
    sip: SocketAddr,
    i: usize,
    due: Instant,
    hold: Duration,
    steady: Range<Instant>,
) -> Option<(Duration, Pacing)> {
    tokio::time::sleep_until(due.into()).await;
    let mut phone = Phone::udp(sip, &format!("load-{i}")).await;
    let t0 = Instant::now();
    let (ok, _) = phone.call("").await;
    if ok.code() != 200 {
        return None;
    }
    let setup = t0.elapsed();
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    CALLS_UP.fetch_add(1, Relaxed);
    let pacing = receive(&phone.rtp, Instant::now() + hold, &steady, &MADOGUCHI_RTP).await;
    CALLS_UP.fetch_sub(1, Relaxed);
    let bye = phone.request("BYE", &format!("z9hG4bKbye{i}"), Some(&tag), "", "");
    let _ = phone.transact(&bye).await;
    Some((setup, pacing))
}

#[derive(Default)]
struct Calls {
    setups: Vec<Duration>,
    pacing: Pacing,
    failed: usize,
    quiet: usize,
}

async fn gather_calls(tasks: Vec<tokio::task::JoinHandle<Option<(Duration, Pacing)>>>) -> Calls {
    let mut calls = Calls::default();
    for t in tasks {
        match t.await {
            Ok(Some((setup, pacing))) => {
                if pacing.all.is_empty() {
                    calls.quiet += 1;
                }
                calls.setups.push(setup);
                calls.pacing.extend(pacing);
            }
            _ => calls.failed += 1,
        }
    }
    calls.setups.sort();
    calls.pacing.sort();
    calls
}

/// madoguchi's CPU seconds, the RTP packets its callers heard, and its calls up, at one instant.
struct Sample {
    at: Instant,
    cpu: f64,
    packets: u64,
    calls_up: usize,
}

impl Sample {
    fn take(pid: u32) -> Sample {
        Sample {
            at: Instant::now(),
            cpu: usage(pid).0,
            packets: MADOGUCHI_RTP.load(Relaxed),
            calls_up: CALLS_UP.load(Relaxed),
        }
    }
}

async fn sample_window(pid: u32, window: Range<Instant>) -> (Sample, Sample) {
    tokio::time::sleep_until(window.start.into()).await;
    let first = Sample::take(pid);
    tokio::time::sleep_until(window.end.into()).await;
    (first, Sample::take(pid))
}

/// A welcome longer than the hold, so that every caller hears announcement the whole time.
fn write_prompts(dir: &std::path::Path, hold: Duration) {
    write_line(dir, true);
    let spec =
        hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(dir.join("prompts/welcome.wav"), spec).unwrap();
    for n in 0..8000 * (hold.as_secs() as usize + 10) {
        w.write_sample(((n as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
}

async fn start_service(dir: &std::path::Path) -> common::Process {
    let data = dir.join("data");
    spawn_binary(
        dir,
        &[
            ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
            ("MADOGUCHI_SIP_LISTEN", "127.0.0.1:0"),
            ("MADOGUCHI_SIP_DIALPLANS", dir.join("dialplans").to_str().unwrap()),
            ("MADOGUCHI_SIP_PROMPTS", dir.join("prompts").to_str().unwrap()),
            ("MADOGUCHI_SIP_RTP_PORTS", "20000-29999"),
            ("RUST_LOG", "warn,madoguchi=info"),
        ],
    )
    .await
}

/// The calls against the release binary; prints their figures.
async fn run_madoguchi(args: &Args) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    write_prompts(dir.path(), args.hold);
    let service = start_service(dir.path()).await;
    let pid = service.child.id().unwrap();
    let (cpu0, _) = usage(pid);
    let started = Instant::now();
    let steady = started + args.steady().start..started + args.steady().end;
    let window = tokio::spawn(sample_window(pid, steady.clone()));
    let tasks = (0..args.calls)
        .map(|i| {
            let due = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
            tokio::spawn(call(service.sip, i, due, args.hold, steady.clone()))
        })
        .collect();
    let calls = gather_calls(tasks).await;
    let elapsed = started.elapsed();
    let (cpu1, rss) = usage(pid);
    drop(service);
    let (first, last) = window.await.unwrap();

    println!(
        "{} calls offered at {}/s ({} s of set-up), each holding {} s of announcement: {} answered, {} failed, {} heard nothing",
        args.calls,
        args.rate,
        args.setup().as_secs_f64(),
        args.hold.as_secs(),
        calls.setups.len(),
        calls.failed,
        calls.quiet
    );
    let setups = &calls.setups;
    println!(
        "call set-up (INVITE → 200 OK): p50 {}, p99 {}, max {}",
        ms(percentile(setups, 0.5)),
        ms(percentile(setups, 0.99)),
        ms(*setups.last().unwrap_or(&Duration::ZERO))
    );
    print_pacing("RTP pacing error at the receivers", &calls.pacing.all);
    println!(
        "madoguchi: {:.1} CPU-seconds over {:.1} s ({:.0}% of one core), peak RSS {:.1} MB",
        cpu1 - cpu0,
        elapsed.as_secs_f64(),
        (cpu1 - cpu0) / elapsed.as_secs_f64() * 100.0,
        rss
    );
    print_steady(&args.steady(), &first, &last, &calls.pacing.steady)
}

/// The figures over the steady window, from the samples at its ends.
fn print_steady(offsets: &Range<Duration>, first: &Sample, last: &Sample, pacing: &[Duration]) -> Figures {
    let seconds = (last.at - first.at).as_secs_f64();
    let cpu = last.cpu - first.cpu;
    let packets = last.packets - first.packets;
    let call_seconds = (first.calls_up + last.calls_up) as f64 / 2.0 * seconds;
    let cpu_per_packet = Duration::from_secs_f64(cpu / packets.max(1) as f64);
    println!(
        "steady window {:.1}–{:.1} s after the first call ({seconds:.1} s): {} calls up at its start, {} at its end; {packets} RTP packets heard ({:.1}% of 50/s per call up)",
        offsets.start.as_secs_f64(),
        offsets.end.as_secs_f64(),
        first.calls_up,
        last.calls_up,
        packets as f64 / (call_seconds * 50.0) * 100.0
    );
    print_pacing("RTP pacing error in the steady window", pacing);
    println!(
        "madoguchi in the steady window: {cpu:.2} CPU-seconds ({:.0}% of one core), {:.2} µs per RTP packet, {:.3} ms per call-second",
        cpu / seconds * 100.0,
        cpu_per_packet.as_secs_f64() * 1e6,
        cpu * 1e3 / call_seconds
    );
    Figures { cpu_per_packet, steady_p99: percentile(pacing, 0.99) }
}

/// The CPU (user+system) the calling thread has used.
fn thread_cpu() -> Duration {
    // SAFETY: all-zero is a valid rusage, and getrusage only writes into it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn sockaddr(addr: &SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*addr.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

/// A message of the one packet in `iov` to `name`.
fn message(name: &mut libc::sockaddr_in, iov: &mut libc::iovec) -> libc::mmsghdr {
    // SAFETY: all-zero is a valid mmsghdr: no name, no data, no control messages.
    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
    m.msg_hdr.msg_name = (name as *mut libc::sockaddr_in).cast();
    m.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    m.msg_hdr.msg_iov = iov;
    m.msg_hdr.msg_iovlen = 1;
    m
}

/// Sends every message; how many went.
fn send_all(socket: &std::net::UdpSocket, msgs: &mut [libc::mmsghdr]) -> u64 {
    use std::os::fd::AsRawFd;
    let mut sent = 0;
    // The kernel takes at most UIO_MAXIOV (1024) messages per sendmmsg, so more receivers than
    // that need a second call in the same tick.
    while sent < msgs.len() {
        let rest = &mut msgs[sent..];
        // SAFETY: every message points at a live address and the live iovec of the packet.
        let n = unsafe { libc::sendmmsg(socket.as_raw_fd(), rest.as_mut_ptr(), rest.len() as libc::c_uint, 0) };
        if n <= 0 {
            break;
        }
        sent += n as usize;
    }
    sent as u64
}

/// The paced sender at its barest: from `start` for `length`, every 20 ms by the monotonic
/// clock, one RTP packet to each target. Its own CPU time, and the packets it sent.
fn pace_minimum(targets: &[SocketAddrV4], start: Instant, length: Duration) -> (Duration, u64) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut packet = [0xffu8; RTP_PACKET]; // PCMU silence
    packet[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0x6d, 0x61, 0x64, 0x6f]); // v2, PCMU, SSRC
    let mut names: Vec<libc::sockaddr_in> = targets.iter().map(sockaddr).collect();
    let mut iov = libc::iovec { iov_base: packet.as_mut_ptr().cast(), iov_len: packet.len() };
    let mut msgs: Vec<libc::mmsghdr> = names.iter_mut().map(|name| message(name, &mut iov)).collect();
    let cpu0 = thread_cpu();
    let mut sent = 0;
    for tick in 0..(length.as_millis() / PTIME.as_millis()) as u32 {
        std::thread::sleep((start + PTIME * tick).saturating_duration_since(Instant::now()));
        // Every message's iovec points at `packet`: the new sequence number and timestamp go to all.
        packet[2..4].copy_from_slice(&(tick as u16).to_be_bytes());
        packet[4..8].copy_from_slice(&(tick * 160).to_be_bytes());
        sent += send_all(&socket, &mut msgs);
    }
    (thread_cpu() - cpu0, sent)
}

/// The minimum against `n` fresh receivers for `length`; prints its figures.
async fn run_minimum(n: usize, length: Duration) -> Figures {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        sockets.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    }
    let targets: Vec<SocketAddrV4> = sockets
        .iter()
        .map(|s| match s.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("bound to 127.0.0.1"),
        })
        .collect();
    // Every receiver is waiting before the first packet, so none reads two at once.
    let start = Instant::now() + Duration::from_millis(200);
    let steady = start..start + length;
    let end = steady.end + Duration::from_millis(500);
    let receivers: Vec<_> = sockets
        .into_iter()
        .map(|s| {
            let steady = steady.clone();
            tokio::spawn(async move { receive(&s, end, &steady, &MINIMUM_RTP).await })
        })
        .collect();
    let sender = std::thread::spawn(move || pace_minimum(&targets, start, length));
    let mut pacing = Pacing::default();
    for r in receivers {
        pacing.extend(r.await.unwrap());
    }
    pacing.sort();
    let (cpu, sent) = sender.join().unwrap();
    let cpu_per_packet = cpu / sent.max(1) as u32;
    println!(
        "minimum (one thread, sendmmsg every 20 ms to {n} receivers) over {:.1} s: {sent} RTP packets sent, {} heard; {:.2} CPU-seconds ({:.1}% of one core), {:.2} µs per RTP packet",
        length.as_secs_f64(),
        MINIMUM_RTP.load(Relaxed),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / length.as_secs_f64() * 100.0,
        cpu_per_packet.as_secs_f64() * 1e6
    );
    print_pacing("minimum's RTP pacing error at its receivers", &pacing.all);
    Figures { cpu_per_packet, steady_p99: percentile(&pacing.all, 0.99) }
}

fn main() {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let madoguchi = run_madoguchi(&args).await;
        let minimum = run_minimum(args.calls, args.steady().end - args.steady().start).await;
        println!(
            "madoguchi against the minimum: {:.1}× the CPU per RTP packet; pacing error p99 {} against {}",
            madoguchi.cpu_per_packet.as_secs_f64() / minimum.cpu_per_packet.as_secs_f64(),
            ms(madoguchi.steady_p99),
            ms(minimum.steady_p99)
        );
    });
}
