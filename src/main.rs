use anyhow::Context;
use clap::{Parser, Subcommand};
use madoguchi::app::{App, Core, load_rules};
use madoguchi::config::{self, Loaded};
use madoguchi::mail::deliver::MailIntake;
use madoguchi::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::Notify;

/// madoguchi — the helpdesk's single window (窓口): phone, e-mail and FAX intake into routed tickets.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Configuration file (default: ./madoguchi.toml if it exists, else built-in defaults).
    #[arg(long, global = true, env = "MADOGUCHI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (creates and migrates the database on first start).
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
            eprintln!("{problems}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Check => return check(&loaded),
        Command::Serve => runtime().and_then(|rt| rt.block_on(serve(loaded))),
        Command::Migrate => runtime().and_then(|rt| rt.block_on(migrate(loaded))),
        Command::ImportMail { sender } => {
            return match runtime() {
                Ok(rt) => rt.block_on(import_mail(loaded, sender)),
                Err(e) => {
                    eprintln!("madoguchi: {}", each_cause_once(&e));
                    ExitCode::from(EX_TEMPFAIL)
                }
            };
        }
        Command::ImportDirectory { file } => runtime().and_then(|rt| rt.block_on(import_directory(loaded, file))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("madoguchi: {}", each_cause_once(&e));
            ExitCode::FAILURE
        }
    }
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

fn check(loaded: &Loaded) -> ExitCode {
    let name = loaded.file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "(defaults)".into());
    println!("ok: configuration {name}");
    let mut ok = true;
    match load_rules(&loaded.settings) {
        Ok(rules) => {
            let source =
                loaded.settings.rules_path().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in".into());
            println!("ok: routing rules {source} ({} rules, {} categories)", rules.rules.len(), rules.categories.len());
        }
        Err(problems) => {
            eprintln!("{problems}");
            ok = false;
        }
    }
    let sip = &loaded.settings.sip;
    match madoguchi::ivr::dialplan::load(&sip.dialplans, &sip.prompts) {
        Ok(plans) => {
            let files: Vec<&str> = plans.iter().map(|p| p.file.as_str()).collect();
            println!("ok: dialplans {} ({} lines)", files.join(", "), plans.len())
        }
        Err(problems) => {
            eprintln!("{problems}");
            ok = false;
        }
    }
    println!("ok: SIP limits: {}", sip_limits(&loaded.settings));
    for door in loaded.settings.open_doors() {
        println!("warning: {door}");
    }
    match madoguchi::notify::AckTemplate::load(&loaded.settings.notify.ack_template) {
        Ok(_) => println!("ok: acknowledgement template"),
        Err(e) => {
            eprintln!("{e}");
            ok = false;
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The limits `serve` will apply to SIP, in one line (configuration problems were reported
/// when the settings were loaded).
fn sip_limits(settings: &madoguchi::config::Settings) -> String {
    let sip = &settings.sip;
    let ports = sip.rtp_range().map(|(a, b)| u32::from(b - a) + 1).unwrap_or(0);
    let files = match madoguchi::os::open_file_limit() {
        Some(n) => format!("{n} open files allowed"),
        None => "open-file limit unknown".into(),
    };
    format!(
        "{} calls at once ({ports} RTP ports), {} new INVITEs/s per source, scanners dropped after {} numbers a \
minute, SIP/TCP {} connections ({} per source, idle {} s, a message within {} s), media timeout {} s, {files}",
        sip.max_calls,
        sip.invite_rate_per_source,
        sip.scanner_numbers_per_minute,
        sip.tcp_max_connections,
        sip.tcp_max_per_source,
        sip.tcp_idle_secs,
        sip.tcp_message_secs,
        sip.media_timeout_secs,
    )
}

async fn serve(loaded: Loaded) -> anyhow::Result<()> {
    madoguchi::telemetry::init(&loaded.settings.log.level);
    if let Some(file) = &loaded.file {
        tracing::info!(config = %file.display(), "configuration loaded");
    }
    let app = App::build(&loaded.settings).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

async fn migrate(loaded: Loaded) -> anyhow::Result<()> {
    std::fs::create_dir_all(&loaded.settings.data_dir).context("cannot create the data directory")?;
    let store = Store::connect(&loaded.settings.database_url(), 1).await?;
    store.migrate().await?;
    println!("ok: {} database is up to date", store.backend().name());
    store.close().await;
    Ok(())
}

async fn import_mail(loaded: Loaded, sender: Option<String>) -> ExitCode {
    madoguchi::telemetry::init(&loaded.settings.log.level);
    let mut raw = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut raw) {
        eprintln!("madoguchi: cannot read the message: {e}");
        return ExitCode::from(EX_TEMPFAIL);
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        eprintln!("madoguchi: no message on standard input");
        return ExitCode::from(EX_DATAERR);
    }
    if raw.len() as u64 > loaded.settings.mail.max_message_bytes {
        eprintln!("madoguchi: the message is larger than [mail] max_message_bytes");
        return ExitCode::from(EX_DATAERR);
    }
    let sender = sender.unwrap_or_else(|| madoguchi::mail::deliver::sender_from_headers(&raw));
    let core = match Core::start(&loaded.settings).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("madoguchi: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let result =
        match MailIntake::new(&loaded.settings, core.intake.clone(), core.store.clone(), Arc::new(Notify::new())) {
            Ok(mail) => mail.deliver(&sender, raw).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
    core.finish().await;
    match result {
        Ok(recorded) => {
            println!("stored as ticket {}", recorded.ticket);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("madoguchi: not stored, try again later: {e}");
            ExitCode::from(EX_TEMPFAIL)
        }
    }
}

async fn import_directory(loaded: Loaded, file: PathBuf) -> anyhow::Result<()> {
    let data = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let entries = madoguchi::directory::parse_csv(&file.display().to_string(), &data)?;
    std::fs::create_dir_all(&loaded.settings.data_dir).context("cannot create the data directory")?;
    let store = Store::connect(&loaded.settings.database_url(), 1).await?;
    store.migrate().await?;
    let count = store.replace_directory(&entries).await?;
    store.close().await;
    println!("ok: the directory now has {count} entries");
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
