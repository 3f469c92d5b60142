use anyhow::Context;
use clap::{Parser, Subcommand};
use madoguchi::app::{App, load_rules};
use madoguchi::config::{self, Loaded};
use madoguchi::store::Store;
use std::path::PathBuf;
use std::process::ExitCode;

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
}

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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("madoguchi: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")
}

fn check(loaded: &Loaded) -> ExitCode {
    let name = loaded.file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "(defaults)".into());
    println!("ok: configuration {name}");
    match load_rules(&loaded.settings) {
        Ok(rules) => {
            let source =
                loaded.settings.rules_path().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in".into());
            println!("ok: routing rules {source} ({} rules, {} categories)", rules.rules.len(), rules.categories.len());
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{problems}");
            ExitCode::FAILURE
        }
    }
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
