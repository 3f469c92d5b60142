use anyhow::Context;
use clap::{Parser, Subcommand};
use madoguchi::app::{App, Core, open_store};
use madoguchi::check::Finding;
use madoguchi::config::{self, Loaded, OpenMode};
use madoguchi::mail::deliver::MailIntake;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::Notify;

/// madoguchi — the helpdesk's single window (窓口): phone, e-mail and FAX intake into routed tickets.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Configuration file (default: ./madoguchi.toml, else /etc/madoguchi/madoguchi.toml, else
    /// the built-in defaults). Every command finds it the same way.
    #[arg(long, global = true, env = "MADOGUCHI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (creates and migrates the database on first start; the only command
    /// besides `migrate` that creates one).
    Serve,
    /// Check the configuration and every file it names; prints `file:line: problem`.
    Check,
    /// Apply database migrations and exit.
    Migrate,
    /// Read one message on standard input and store it like the SMTP listener does (for an
    /// MTA pipe or a procmail rule). Exit 0 stored, 75 try again later, 65 no message.
    ImportMail {
        /// The envelope sender (Postfix: ${sender}); default: Return-Path, else From.
        #[arg(long)]
        sender: Option<String>,
    },
    /// Replace the staff directory with a CSV file (name, department, phone, email).
    ImportDirectory { file: PathBuf },
}

/// sysexits.h codes an MTA understands.
const EX_DATAERR: u8 = 65;
const EX_TEMPFAIL: u8 = 75;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = match config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(l) => l,
        Err(problems) => {
            say_err(&problems.to_string());
            return ExitCode::FAILURE;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            say_err(&format!("madoguchi: {}", each_cause_once(&e)));
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let result = match cli.command {
        Command::Check => return rt.block_on(check(&loaded)),
        Command::ImportMail { sender } => return rt.block_on(import_mail(loaded, sender)),
        Command::Serve => rt.block_on(serve(loaded)),
        Command::Migrate => rt.block_on(migrate(loaded)),
        Command::ImportDirectory { file } => rt.block_on(import_directory(loaded, file)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say_err(&format!("madoguchi: {}", each_cause_once(&e)));
            ExitCode::FAILURE
        }
    }
}

/// A line on standard output; a reader that went away (`check | head -1`) is not an error.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

fn say_err(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// An error and its causes on one line, leaving out a cause whose text the line already has
/// (libraries often repeat their source in their own message).
fn each_cause_once(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

async fn check(loaded: &Loaded) -> ExitCode {
    let report = madoguchi::check::run(loaded).await;
    for finding in &report.0 {
        match finding {
            Finding::Ok(line) => say(&format!("ok: {line}")),
            Finding::Warning(line) => say(&format!("warning: {line}")),
            Finding::Problem(line) => say_err(line),
        }
    }
    if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

async fn serve(loaded: Loaded) -> anyhow::Result<()> {
    madoguchi::telemetry::init(&loaded.settings.log.level);
    let config = loaded.file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "(defaults)".into());
    tracing::info!(config, database = %loaded.settings.database_label(), "configuration loaded");
    let app = App::build(&loaded.settings).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

async fn migrate(loaded: Loaded) -> anyhow::Result<()> {
    let store = open_store(&loaded.settings, OpenMode::Create, 1).await?;
    std::fs::create_dir_all(&loaded.settings.data_dir).context("cannot create the data directory")?;
    say(&format!("ok: {} database is up to date: {}", store.backend().name(), loaded.settings.database_label()));
    store.close().await;
    Ok(())
}

async fn import_mail(loaded: Loaded, sender: Option<String>) -> ExitCode {
    madoguchi::telemetry::init(&loaded.settings.log.level);
    let mut raw = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut raw) {
        say_err(&format!("madoguchi: cannot read the message: {e}"));
        return ExitCode::from(EX_TEMPFAIL);
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        say_err("madoguchi: no message on standard input");
        return ExitCode::from(EX_DATAERR);
    }
    if raw.len() as u64 > loaded.settings.mail.max_message_bytes {
        say_err("madoguchi: the message is larger than [mail] max_message_bytes");
        return ExitCode::from(EX_DATAERR);
    }
    let sender = sender.unwrap_or_else(|| madoguchi::mail::deliver::sender_from_headers(&raw));
    let core = match Core::start(&loaded.settings, OpenMode::Existing).await {
        Ok(c) => c,
        Err(e) => {
            say_err(&format!("madoguchi: not stored, try again later: {}", each_cause_once(&e.into())));
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let mail = MailIntake::new(&loaded.settings, core.intake.clone(), core.store.clone(), Arc::new(Notify::new()));
    let result = mail.deliver(&sender, raw).await.map_err(|e| e.to_string());
    // The writer stops once every handle on the intake is gone.
    drop(mail);
    core.finish().await;
    match result {
        Ok(recorded) => {
            say(&format!("stored as ticket {} in {}", recorded.ticket, loaded.settings.database_label()));
            ExitCode::SUCCESS
        }
        Err(e) => {
            say_err(&format!("madoguchi: not stored, try again later: {e}"));
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

async fn import_directory(loaded: Loaded, file: PathBuf) -> anyhow::Result<()> {
    let data = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let entries = madoguchi::directory::parse_csv(&file.display().to_string(), &data)?;
    let store = open_store(&loaded.settings, OpenMode::Existing, 1).await?;
    let count = store.replace_directory(&entries).await?;
    store.close().await;
    say(&format!("ok: the directory in {} now has {count} entries", loaded.settings.database_label()));
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("stopping");
}
