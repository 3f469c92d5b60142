//! Logging with tracing: one line per request, contact and ticket change, as text or as one JSON
//! object per line (`[log] format`). Personal data (numbers, addresses, bodies, search words) is
//! logged only at debug; the access log (target `access`, see `http::access`) names routes,
//! never query strings.

use crate::config::{LogFormat, LogSettings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// `RUST_LOG` (or `MADOGUCHI_LOG`) wins over the configured level.
pub fn init(log: &LogSettings) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let subscriber = subscriber(log.format, filter(&log.level), ansi, std::io::stdout);
    // Also takes the `log` crate's records (as `fmt().try_init()` did).
    let _ = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber);
}

fn filter(level: &str) -> EnvFilter {
    std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("MADOGUCHI_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info")))
}

/// The subscriber for `format`, writing to `writer`. JSON lines carry the target (`access` for
/// the access log), so a collector can tell the access log from the rest.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_target(false).with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(builder.json().with_current_span(false).with_span_list(false).finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_are_each_one_json_object() {
        let buffer = Buffer::default();
        let subscriber = subscriber(LogFormat::Json, EnvFilter::new("info"), false, buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(ticket = "20261121-0001", created = true, "contact recorded");
            tracing::info!(target: "access", method = "GET", route = "/api/tickets", status = 200u16, "access");
            tracing::warn!(error = "a \"quoted\"\nline", "something odd");
            tracing::debug!(number = "03-1234-5678", "not at info");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[0]["fields"]["message"], "contact recorded");
        assert_eq!(lines[0]["level"], "INFO");
        assert_eq!(lines[1]["target"], "access");
        assert_eq!(lines[1]["fields"]["route"], "/api/tickets");
        assert_eq!(lines[2]["fields"]["error"], "a \"quoted\"\nline");
        assert!(!text.contains("03-1234-5678"));
    }
}
