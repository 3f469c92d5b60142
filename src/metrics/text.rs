//! The pieces of the Prometheus text exposition (format 0.0.4) that madoguchi needs: counters,
//! gauges and histograms with fixed buckets, each a handful of relaxed atomics, so that counting
//! on the RTP path costs no lock and no allocation. Label sets are fixed when the family is
//! made: nothing from the network ever becomes a label value.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A value that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// One counter per value of one label, the values fixed in advance; a value not among them
/// counts as the last one (`other`).
#[derive(Debug)]
pub struct LabelledCounter {
    label: &'static str,
    values: &'static [&'static str],
    counts: Box<[Counter]>,
}

impl LabelledCounter {
    pub fn new(label: &'static str, values: &'static [&'static str]) -> LabelledCounter {
        assert!(!values.is_empty());
        LabelledCounter { label, values, counts: values.iter().map(|_| Counter::default()).collect() }
    }

    pub fn inc(&self, value: &str) {
        let i = self.values.iter().position(|v| *v == value).unwrap_or(self.values.len() - 1);
        self.counts[i].inc();
    }

    pub fn add_at(&self, index: usize, n: u64) {
        self.counts[index.min(self.counts.len() - 1)].add(n);
    }

    pub fn get(&self, value: &str) -> u64 {
        self.values.iter().position(|v| *v == value).map(|i| self.counts[i].get()).unwrap_or(0)
    }
}

/// Counts of observations in fixed buckets, their number and their sum. Values are integers in
/// a unit of the histogram's choosing (nanoseconds for durations), so observing is integer work;
/// `scale` turns them into the exposed unit (seconds) when rendered.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds, ascending, in the histogram's integer unit.
    bounds: &'static [u64],
    /// Per bucket (not cumulative); the last is `+Inf`.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    /// Integer units per exposed unit (1e9 for nanoseconds shown as seconds).
    scale: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [u64], scale: f64) -> Histogram {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            scale,
        }
    }

    /// Durations, bounds in nanoseconds, shown in seconds.
    pub fn seconds(bounds_ns: &'static [u64]) -> Histogram {
        Histogram::new(bounds_ns, 1e9)
    }

    pub fn observe(&self, value: u64) {
        let i = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Writes families into one exposition.
#[derive(Default)]
pub struct Exposition(String);

impl Exposition {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    pub fn counter(&mut self, name: &str, help: &str, c: &Counter) {
        self.header(name, "counter", help);
        let _ = writeln!(self.0, "{name} {}", c.get());
    }

    pub fn gauge(&mut self, name: &str, help: &str, value: i64) {
        self.header(name, "gauge", help);
        let _ = writeln!(self.0, "{name} {value}");
    }

    pub fn labelled_counter(&mut self, name: &str, help: &str, c: &LabelledCounter) {
        self.header(name, "counter", help);
        for (value, count) in c.values.iter().zip(c.counts.iter()) {
            let _ = writeln!(self.0, "{name}{{{}=\"{}\"}} {}", c.label, escape_label(value), count.get());
        }
    }

    /// A gauge of value 1 whose labels carry the information (`…_info`).
    pub fn info(&mut self, name: &str, help: &str, labels: &[(&str, &str)]) {
        self.header(name, "gauge", help);
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
        let _ = writeln!(self.0, "{name}{{{}}} 1", labels.join(","));
    }

    pub fn histogram(&mut self, name: &str, help: &str, h: &Histogram) {
        self.header(name, "histogram", help);
        self.histogram_series(name, None, h);
    }

    /// One histogram family with a series per value of `label`.
    pub fn labelled_histograms(&mut self, name: &str, help: &str, label: &str, series: &[(&str, &Histogram)]) {
        self.header(name, "histogram", help);
        for (value, h) in series {
            self.histogram_series(name, Some((label, value)), h);
        }
    }

    fn histogram_series(&mut self, name: &str, label: Option<(&str, &str)>, h: &Histogram) {
        let extra = label.map(|(k, v)| format!("{k}=\"{}\",", escape_label(v))).unwrap_or_default();
        let plain = label.map(|(k, v)| format!("{{{k}=\"{}\"}}", escape_label(v))).unwrap_or_default();
        // Read the buckets first: a concurrent observation then shows in `count` at worst, and
        // `+Inf` is written as the count so the series stays consistent (le="+Inf" == _count).
        let mut cumulative = 0u64;
        for (bound, bucket) in h.bounds.iter().zip(h.buckets.iter()) {
            cumulative += bucket.load(Ordering::Relaxed);
            let le = format_float(*bound as f64 / h.scale);
            let _ = writeln!(self.0, "{name}_bucket{{{extra}le=\"{le}\"}} {cumulative}");
        }
        cumulative += h.buckets[h.bounds.len()].load(Ordering::Relaxed);
        let count = cumulative;
        let sum = h.sum.load(Ordering::Relaxed) as f64 / h.scale;
        let _ = writeln!(self.0, "{name}_bucket{{{extra}le=\"+Inf\"}} {count}");
        let _ = writeln!(self.0, "{name}_sum{plain} {}", format_float(sum));
        let _ = writeln!(self.0, "{name}_count{plain} {count}");
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// A float as Prometheus reads it, without exponent noise for the bucket bounds used here.
fn format_float(v: f64) -> String {
    let s = format!("{v}");
    if s.contains('.') || s.contains('e') || s.contains("inf") || s.contains("NaN") { s } else { format!("{s}.0") }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    static BOUNDS: [u64; 3] = [1_000_000, 10_000_000, 100_000_000];

    #[test]
    fn histograms_are_cumulative_with_sum_and_count_in_seconds() {
        let h = Histogram::seconds(&BOUNDS);
        for ms in [0, 1, 5, 50, 500] {
            h.observe_duration(Duration::from_millis(ms));
        }
        let mut out = Exposition::default();
        out.histogram("t_seconds", "A test.", &h);
        let text = out.finish();
        let want = "# HELP t_seconds A test.\n# TYPE t_seconds histogram\n\
t_seconds_bucket{le=\"0.001\"} 2\nt_seconds_bucket{le=\"0.01\"} 3\nt_seconds_bucket{le=\"0.1\"} 4\n\
t_seconds_bucket{le=\"+Inf\"} 5\nt_seconds_sum 0.556\nt_seconds_count 5\n";
        assert_eq!(text, want);
    }

    #[test]
    fn labelled_counters_keep_their_fixed_values_and_escape() {
        let c = LabelledCounter::new("outcome", &["a\"b", "other"]);
        c.inc("a\"b");
        c.inc("not known");
        c.inc("not known");
        let mut out = Exposition::default();
        out.labelled_counter("x_total", "Line one\nline two.", &c);
        out.info("x_info", "Who.", &[("node", "h:5060"), ("version", "1")]);
        assert_eq!(
            out.finish(),
            "# HELP x_total Line one\\nline two.\n# TYPE x_total counter\nx_total{outcome=\"a\\\"b\"} 1\n\
x_total{outcome=\"other\"} 2\n# HELP x_info Who.\n# TYPE x_info gauge\nx_info{node=\"h:5060\",version=\"1\"} 1\n"
        );
    }
}
