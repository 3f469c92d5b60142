//! Logging with tracing: one line per request, contact and ticket change. Personal data
//! (numbers, addresses, bodies) is logged only at debug.

use tracing_subscriber::EnvFilter;

/// `RUST_LOG` (or `MADOGUCHI_LOG`) wins over the configured level.
pub fn init(level: &str) {
    let filter = std::env::var("RUST_LOG")
        .or_else(|_| std::env::var("MADOGUCHI_LOG"))
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info")));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_ansi(ansi).try_init();
}
