//! What the benchmarks share: their `--name value` options, and a process's CPU and memory.
#![allow(dead_code)]

/// The value of `--name N` on the command line, else `default`.
pub fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok()).unwrap_or(default)
}

/// (user+system CPU seconds, peak RSS in MB) of a process.
pub fn usage(pid: u32) -> (f64, f64) {
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

/// How long the threads of a process have waited, runnable, for a CPU (the sum over its live
/// threads of `/proc/PID/task/*/schedstat`'s run-queue time): on a shared machine, the part of a
/// latency that was other processes' turn.
pub fn run_queue_wait(pid: u32) -> std::time::Duration {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).into_iter().flatten().flatten();
    let nanos = tasks
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    std::time::Duration::from_nanos(nanos)
}

/// The datagrams the kernel dropped at the UDP socket bound to `port` (its receive buffer was
/// full), from the `drops` column of `/proc/PID/net/udp` (the table of `pid`'s network namespace).
pub fn udp_drops(pid: u32, port: u16) -> Option<u64> {
    let local = format!(":{port:04X}");
    ["udp", "udp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).ok()?;
        text.lines().skip(1).find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1).filter(|a| a.ends_with(&local))?;
            fields.last()?.parse().ok()
        })
    })
}

/// The machine's load average over the last minute.
pub fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().and_then(|l| l.parse().ok()).unwrap_or(0.0)
}
