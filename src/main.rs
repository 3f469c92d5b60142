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
    /// Manage the people who sign in (the first admin: `madoguchi user add admin --role admin`).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API tokens (`Authorization: Bearer <token>`).
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Announcement versions: list, request, approve, reject, roll back, export. A running
    /// service plays the outcome within 10 s.
    Prompt {
        #[command(subcommand)]
        action: PromptAction,
    },
    /// System operation notices: draft, approve (publish), reject, withdraw, list. Published
    /// notices show on /notices within their window; their audio plays to callers.
    Notice {
        #[command(subcommand)]
        action: NoticeAction,
    },
    /// Periodic reports (定期報告) on standard output: daily, weekly, monthly, and the week's FAQ
    /// additions for the operations meeting.
    Report {
        #[command(subcommand)]
        which: ReportCommand,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// The daily report (日次報告): one JST day; default yesterday.
    Daily(ReportArgs),
    /// The weekly report (週次報告): Monday to Sunday; default last week.
    Weekly(ReportArgs),
    /// The monthly report (月次報告): default last month.
    Monthly(ReportArgs),
    /// The FAQ entries published in one JST week (Monday to Sunday).
    Faq {
        /// The week (the only period there is for now).
        #[arg(long, required = true)]
        week: bool,
        /// A day of the week to report (YYYY-MM-DD, Japan time); default: today.
        #[arg(long)]
        date: Option<chrono::NaiveDate>,
        #[arg(long, value_enum, default_value = "text")]
        format: FaqReportFormat,
    },
}

#[derive(clap::Args)]
struct ReportArgs {
    /// A day in the period, YYYY-MM-DD (JST).
    #[arg(long, conflicts_with = "month")]
    date: Option<String>,
    /// The month, YYYY-MM (the monthly report only).
    #[arg(long)]
    month: Option<String>,
    /// text (default), csv, json or html.
    #[arg(long, default_value = "text")]
    format: String,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FaqReportFormat {
    Text,
    Csv,
    Json,
}

#[derive(clap::Args)]
struct NoticeDecision {
    id: i64,
    #[arg(long = "as")]
    acting: String,
    #[arg(long)]
    comment: Option<String>,
}

#[derive(Subcommand)]
enum NoticeAction {
    /// Every notice, newest first.
    List,
    /// Draft a notice; prints its id. A supervisor who did not draft it approves it.
    Draft {
        /// The user drafting it (an operator or above).
        #[arg(long = "as")]
        acting: String,
        /// failure (障害) or maintenance (メンテナンス).
        #[arg(long, default_value = "failure")]
        kind: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        body: String,
        #[arg(long, default_value = "")]
        title_en: String,
        #[arg(long, default_value = "")]
        body_en: String,
        /// Public from this time (RFC 3339, or "YYYY-MM-DD HH:MM" in JST); default: on approval.
        #[arg(long)]
        from: Option<String>,
        /// Public until this time; default: until withdrawn.
        #[arg(long)]
        until: Option<String>,
        /// Audio callers hear while it is public (WAV, MP3).
        #[arg(long)]
        audio: Option<PathBuf>,
        /// Japanese text spoken to callers by [prompts] tts_command, instead of --audio.
        #[arg(long, conflicts_with = "audio")]
        text: Option<String>,
    },
    /// Approve a draft: it is published (a supervisor who did not draft it).
    Approve(NoticeDecision),
    /// Reject a draft.
    Reject(NoticeDecision),
    /// Take a published notice down now.
    Withdraw {
        id: i64,
        #[arg(long = "as")]
        acting: String,
    },
}

#[derive(clap::Args)]
struct PromptDecision {
    slot: String,
    version: i64,
    #[arg(long = "as")]
    acting: String,
    #[arg(long)]
    comment: Option<String>,
}

#[derive(Subcommand)]
enum PromptAction {
    /// Every slot's versions, and which one plays.
    List,
    /// Request a new version from an audio file (WAV, MP3) or --text; prints its number.
    Request {
        slot: String,
        file: Option<PathBuf>,
        /// Japanese text to be spoken by [prompts] tts_command, instead of a file.
        #[arg(long, conflicts_with = "file")]
        text: Option<String>,
        /// The user acting (their role decides what they may do).
        #[arg(long = "as")]
        acting: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Plays from this time (RFC 3339, or "YYYY-MM-DD HH:MM" in JST).
        #[arg(long)]
        from: Option<String>,
        /// Plays until this time.
        #[arg(long)]
        until: Option<String>,
    },
    /// Approve a pending version (a supervisor who did not request it).
    Approve(PromptDecision),
    /// Reject a pending version.
    Reject(PromptDecision),
    /// Make an earlier approved version play again.
    Rollback {
        slot: String,
        version: i64,
        #[arg(long = "as")]
        acting: String,
    },
    /// Write a version's audio (8 kHz WAV) to a file.
    Export { slot: String, version: i64, file: PathBuf },
}

#[derive(Subcommand)]
enum UserAction {
    /// Add a user; the password is read from standard input, or asked for on a terminal.
    Add {
        login: String,
        /// operator, supervisor or admin.
        #[arg(long)]
        role: String,
        /// The name shown in the console (default: the login).
        #[arg(long)]
        name: Option<String>,
    },
    /// Set a new password (and enable the user again).
    Passwd {
        login: String,
    },
    /// Stop a user signing in and every token of theirs working, at once.
    Disable {
        login: String,
    },
    List,
}

#[derive(Subcommand)]
enum TokenAction {
    /// Print a new token for `login`, once (only its hash is kept).
    Add {
        login: String,
        #[arg(long)]
        label: String,
    },
    List {
        login: Option<String>,
    },
    /// Stop a token working, at once.
    Revoke {
        id: i64,
    },
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
        Command::User { action } => rt.block_on(user(loaded, action)),
        Command::Token { action } => rt.block_on(token(loaded, action)),
        Command::Prompt { action } => rt.block_on(prompt(loaded, action)),
        Command::Notice { action } => rt.block_on(notice(loaded, action)),
        Command::Report { which } => rt.block_on(report(loaded, which)),
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

/// An error and its causes on one line, each text once.
fn each_cause_once(e: &anyhow::Error) -> String {
    madoguchi::diagnostic::each_cause_once(e.as_ref())
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
    madoguchi::telemetry::init(&loaded.settings.log);
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
    madoguchi::telemetry::init(&loaded.settings.log);
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

async fn user(loaded: Loaded, action: UserAction) -> anyhow::Result<()> {
    use madoguchi::domain::user::{Role, login_problem};
    let store = open_store(&loaded.settings, OpenMode::Existing, 1).await?;
    let result = async {
        match action {
            UserAction::Add { login, role, name } => {
                if let Some(why) = login_problem(&login) {
                    anyhow::bail!("{why}");
                }
                let role: Role = role.parse().map_err(anyhow::Error::msg)?;
                let hash = madoguchi::auth::hash_password(&read_password()?)?;
                let name = name.unwrap_or_else(|| login.clone());
                match store.add_user(&login, &name, role, &hash).await? {
                    Some(_) => say(&format!("ok: {login} ({role}) added to {}", loaded.settings.database_label())),
                    None => anyhow::bail!("{login} exists already (madoguchi user passwd {login} sets a new password)"),
                }
            }
            UserAction::Passwd { login } => {
                let hash = madoguchi::auth::hash_password(&read_password()?)?;
                if !store.set_password(&login, &hash).await? {
                    anyhow::bail!("no user {login}");
                }
                say(&format!("ok: new password for {login}"));
            }
            UserAction::Disable { login } => {
                if !store.disable_user(&login).await? {
                    anyhow::bail!("no user {login}");
                }
                say(&format!("ok: {login} can no longer sign in, and none of their tokens works"));
            }
            UserAction::List => {
                for u in store.users().await? {
                    let state = if u.disabled.0 { " (disabled)" } else { "" };
                    say(&format!("{}\t{}\t{}{state}", u.login, u.role, u.name));
                }
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn report(loaded: Loaded, which: ReportCommand) -> anyhow::Result<()> {
    use madoguchi::reports::{Format, Period, PeriodKind};
    let (kind, args) = match which {
        ReportCommand::Daily(a) => (PeriodKind::Daily, a),
        ReportCommand::Weekly(a) => (PeriodKind::Weekly, a),
        ReportCommand::Monthly(a) => (PeriodKind::Monthly, a),
        ReportCommand::Faq { week: _, date, format } => return faq_report(loaded, date, format).await,
    };
    let format: Format = args.format.parse()?;
    let now = madoguchi::domain::time::now_millis();
    let today = madoguchi::domain::time::to_jst(now).date_naive();
    let period = Period::chosen(kind, args.date.as_deref(), args.month.as_deref(), today)?;
    let store = open_store(&loaded.settings, OpenMode::Existing, 2).await?;
    let report = madoguchi::reports::compute(&store, &period, now).await;
    store.close().await;
    say(madoguchi::reports::write(&report?, format).trim_end());
    Ok(())
}

async fn token(loaded: Loaded, action: TokenAction) -> anyhow::Result<()> {
    let store = open_store(&loaded.settings, OpenMode::Existing, 1).await?;
    let result = async {
        match action {
            TokenAction::Add { login, label } => {
                let (token, hash) = madoguchi::auth::new_token();
                let Some(id) = store.add_token(&login, label.trim(), &hash).await? else {
                    anyhow::bail!("no enabled user {login}");
                };
                say(&token);
                say_err(&format!("token {id} for {login}: shown once, keep it secret (madoguchi token revoke {id})"));
            }
            TokenAction::List { login } => {
                for t in store.tokens(login.as_deref()).await? {
                    let state = if t.revoked_at.is_some() { " (revoked)" } else { "" };
                    say(&format!("{}\t{}\t{}{state}", t.id, t.login, t.label));
                }
            }
            TokenAction::Revoke { id } => {
                if !store.revoke_token(id).await? {
                    anyhow::bail!("no token {id}, or it was revoked already");
                }
                say(&format!("ok: token {id} no longer works"));
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

async fn prompt(loaded: Loaded, action: PromptAction) -> anyhow::Result<()> {
    use madoguchi::domain::prompt::{check_window, slot_problem};
    use madoguchi::domain::time::now_millis;
    use madoguchi::store::{PromptChange, PromptRequest};
    let settings = &loaded.settings;
    let store = open_store(settings, OpenMode::Existing, 1).await?;
    let acting_user = |login: String| {
        let store = store.clone();
        async move {
            match store.user_credentials(&login).await? {
                Some((identity, _)) => Ok(identity),
                None => anyhow::bail!("no enabled user {login}"),
            }
        }
    };
    let audit = |login: String, action: &'static str, slot: String, version: i64| {
        let store = store.clone();
        async move {
            let detail = serde_json::json!({"slot": slot, "version": version, "via": "cli"});
            store.audit(&login, action, &format!("{slot}#{version}"), &detail).await
        }
    };
    let decided = |change: PromptChange, slot: &str, version: i64| match change {
        PromptChange::Done(_) => Ok(()),
        PromptChange::Missing => anyhow::bail!("{slot} has no version {version}"),
        PromptChange::Refused(why) => anyhow::bail!("{why}"),
    };
    let result = async {
        match action {
            PromptAction::List => {
                for v in store.prompt_versions(None).await? {
                    let window = match (v.valid_from, v.valid_until) {
                        (None, None) => String::new(),
                        (f, u) => format!(
                            "\t{} – {}",
                            f.map(madoguchi::domain::time::jst_rfc3339).unwrap_or_default(),
                            u.map(madoguchi::domain::time::jst_rfc3339).unwrap_or_default()
                        ),
                    };
                    let origin = if v.shipped { "shipped".to_owned() } else { v.requested_by.clone() };
                    say(&format!("{}\t{}\t{}\t{origin}{window}", v.slot, v.version, v.state));
                }
            }
            PromptAction::Request { slot, file, text, acting, reason, from, until } => {
                let who = acting_user(acting).await?;
                if let Some(problem) = slot_problem(&slot) {
                    anyhow::bail!("{slot}: {problem}");
                }
                if store.prompt_versions(Some(&slot)).await?.is_empty()
                    && !who.role.allows(madoguchi::domain::user::Role::Admin)
                {
                    anyhow::bail!("there is no slot {slot}; only an admin adds one");
                }
                let (from, until) =
                    (from.as_deref().map(parse_time).transpose()?, until.as_deref().map(parse_time).transpose()?);
                check_window(from, until)?;
                let Some(samples) = audio_from(settings, file, text.as_deref()).await? else {
                    anyhow::bail!("give an audio file or --text")
                };
                let request = PromptRequest {
                    slot: slot.clone(),
                    wav: madoguchi::media::upload::wav_bytes(&samples),
                    duration_ms: samples.len() as i64 * 1000 / i64::from(madoguchi::media::audio::RATE),
                    requested_by: who.login.clone(),
                    reason,
                    valid_from: from,
                    valid_until: until,
                };
                let version = store.request_prompt(&request, now_millis()).await?;
                audit(who.login, "prompt_requested", slot, version).await?;
                say(&version.to_string());
            }
            PromptAction::Approve(decision) => decide_prompt(&store, &decision, true).await?,
            PromptAction::Reject(decision) => decide_prompt(&store, &decision, false).await?,
            PromptAction::Rollback { slot, version, acting } => {
                let who = acting_user(acting).await?;
                decided(store.roll_back_prompt(&slot, version, who.role, now_millis()).await?, &slot, version)?;
                audit(who.login, "prompt_rolled_back", slot.clone(), version).await?;
                say(&format!("ok: {slot} version {version} plays again"));
            }
            PromptAction::Export { slot, version, file } => match store.prompt_audio(&slot, version).await? {
                Some(Some(wav)) => {
                    std::fs::write(&file, wav).with_context(|| format!("cannot write {}", file.display()))?;
                    say(&format!("ok: {}", file.display()));
                }
                Some(None) => anyhow::bail!("version 1 of {slot} is the shipped announcement: see [sip] prompts"),
                None => anyhow::bail!("{slot} has no version {version}"),
            },
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// An audio file prepared for the line, or `text` spoken; `None` when neither is given.
async fn audio_from(
    settings: &madoguchi::config::Settings,
    file: Option<PathBuf>,
    text: Option<&str>,
) -> anyhow::Result<Option<Vec<i16>>> {
    let limits = madoguchi::media::upload::UploadLimits {
        max_bytes: usize::try_from(settings.prompts.max_upload_bytes).unwrap_or(usize::MAX),
        max_seconds: settings.prompts.max_seconds,
    };
    Ok(match (file, text) {
        (Some(file), None) => {
            let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            Some(madoguchi::media::upload::prepare(&bytes, &limits).with_context(|| file.display().to_string())?)
        }
        (None, Some(text)) => {
            Some(madoguchi::media::upload::speak(text, &settings.prompts.tts_command, &limits).await?)
        }
        (None, None) => None,
        (Some(_), Some(_)) => anyhow::bail!("give an audio file or --text, not both"),
    })
}

async fn notice(loaded: Loaded, action: NoticeAction) -> anyhow::Result<()> {
    use madoguchi::domain::notice::{Kind, Wording, draft_problem};
    use madoguchi::domain::time::{jst_rfc3339, now_millis};
    use madoguchi::store::{NoticeChange, NoticeDraft};
    let settings = &loaded.settings;
    let store = open_store(settings, OpenMode::Existing, 1).await?;
    let user = |login: String| {
        let store = store.clone();
        async move {
            match store.user_credentials(&login).await? {
                Some((identity, _)) => Ok(identity),
                None => anyhow::bail!("no enabled user {login}"),
            }
        }
    };
    let audit = |login: String, action: &'static str, id: i64| {
        let store = store.clone();
        async move {
            let detail = serde_json::json!({"notice": id, "via": "cli"});
            store.audit(&login, action, &format!("notice#{id}"), &detail).await
        }
    };
    let changed = |change: NoticeChange, id: i64| match change {
        NoticeChange::Done(n) => Ok(n),
        NoticeChange::Missing => anyhow::bail!("no notice {id}"),
        NoticeChange::Refused(why) => anyhow::bail!("{why}"),
    };
    let decide = async |d: NoticeDecision, approve: bool| -> anyhow::Result<()> {
        let who = user(d.acting).await?;
        let change = store.decide_notice(d.id, &who.login, who.role, approve, d.comment.as_deref(), now_millis());
        changed(change.await?, d.id)?;
        let (action, done) = if approve { ("notice_published", "published") } else { ("notice_rejected", "rejected") };
        audit(who.login, action, d.id).await?;
        say(&format!("ok: notice {} {done}", d.id));
        Ok(())
    };
    let result = async {
        match action {
            NoticeAction::List => {
                let now = now_millis();
                for n in store.notices(i64::MAX).await? {
                    let public = if n.facts().public(now) { "public" } else { "-" };
                    let from = n.valid_from.map(jst_rfc3339).unwrap_or_default();
                    let until = n.valid_until.map(jst_rfc3339).unwrap_or_default();
                    let audio = if n.has_audio { "audio" } else { "-" };
                    say(&format!(
                        "{}\t{}\t{}\t{public}\t{}\t{from} – {until}\t{audio}\t{}",
                        n.id, n.kind, n.state, n.drafted_by, n.title
                    ));
                }
            }
            NoticeAction::Draft { acting, kind, title, body, title_en, body_en, from, until, audio, text } => {
                let who = user(acting).await?;
                let kind: Kind = kind.parse().map_err(anyhow::Error::msg)?;
                let (from, until) =
                    (from.as_deref().map(parse_time).transpose()?, until.as_deref().map(parse_time).transpose()?);
                let now = now_millis();
                let wording = Wording { title: &title, title_en: &title_en, body: &body, body_en: &body_en };
                if let Some(problem) = draft_problem(&wording, from, until, now) {
                    anyhow::bail!("{problem}");
                }
                let samples = audio_from(settings, audio, text.as_deref()).await?;
                let draft = NoticeDraft {
                    kind,
                    title: title.trim().to_owned(),
                    title_en: title_en.trim().to_owned(),
                    body,
                    body_en,
                    valid_from: from,
                    valid_until: until,
                    drafted_by: who.login.clone(),
                    duration_ms: samples
                        .as_ref()
                        .map_or(0, |s| s.len() as i64 * 1000 / i64::from(madoguchi::media::audio::RATE)),
                    wav: samples.as_deref().map(madoguchi::media::upload::wav_bytes),
                    audio_text: text.unwrap_or_default(),
                };
                let id = store.draft_notice(&draft, now).await?;
                audit(who.login, "notice_drafted", id).await?;
                say(&id.to_string());
            }
            NoticeAction::Approve(d) => decide(d, true).await?,
            NoticeAction::Reject(d) => decide(d, false).await?,
            NoticeAction::Withdraw { id, acting } => {
                let who = user(acting).await?;
                changed(store.withdraw_notice(id, &who.login, who.role, now_millis()).await?, id)?;
                audit(who.login, "notice_withdrawn", id).await?;
                say(&format!("ok: notice {id} withdrawn"));
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// `madoguchi report faq --week`: the entries published in the week of `date` (default today).
async fn faq_report(loaded: Loaded, date: Option<chrono::NaiveDate>, format: FaqReportFormat) -> anyhow::Result<()> {
    let store = open_store(&loaded.settings, OpenMode::Existing, 1).await?;
    let result = async {
        let today = madoguchi::domain::time::to_jst(madoguchi::domain::time::now_millis()).date_naive();
        let week = madoguchi::faq_report::weekly_faq_additions(&store, date.unwrap_or(today)).await?;
        let out = match format {
            FaqReportFormat::Text => week.text(),
            FaqReportFormat::Csv => week.csv(),
            FaqReportFormat::Json => format!("{:#}\n", week.json()),
        };
        say(out.trim_end_matches('\n'));
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// `madoguchi prompt approve|reject`, as `acting`.
async fn decide_prompt(store: &madoguchi::store::Store, d: &PromptDecision, approve: bool) -> anyhow::Result<()> {
    use madoguchi::store::PromptChange;
    let (slot, version, acting, comment) = (d.slot.as_str(), d.version, d.acting.as_str(), d.comment.as_deref());
    let Some((who, _)) = store.user_credentials(acting).await? else { anyhow::bail!("no enabled user {acting}") };
    let now = madoguchi::domain::time::now_millis();
    match store.decide_prompt(slot, version, &who.login, who.role, approve, comment, now).await? {
        PromptChange::Done(_) => {}
        PromptChange::Missing => anyhow::bail!("{slot} has no version {version}"),
        PromptChange::Refused(why) => anyhow::bail!("{why}"),
    }
    let (action, done) = if approve { ("prompt_approved", "approved") } else { ("prompt_rejected", "rejected") };
    let detail = serde_json::json!({"slot": slot, "version": version, "via": "cli"});
    store.audit(&who.login, action, &format!("{slot}#{version}"), &detail).await?;
    say(&format!("ok: {slot} version {version} {done}"));
    Ok(())
}

/// RFC 3339, or "YYYY-MM-DD HH:MM" in JST; milliseconds since the epoch.
fn parse_time(text: &str) -> anyhow::Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.timestamp_millis());
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M")
        .with_context(|| format!("'{text}' is not a time (RFC 3339, or YYYY-MM-DD HH:MM in JST)"))?;
    let jst = madoguchi::domain::time::jst();
    Ok(naive.and_local_timezone(jst).single().context("not a time in JST")?.timestamp_millis())
}

/// A new password: one line from standard input, or asked twice on a terminal without echo.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt_hidden("Password: ")?;
        if prompt_hidden("Again: ")? != first {
            anyhow::bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        stdin.lock().read_line(&mut line).context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if let Some(why) = madoguchi::domain::user::password_problem(&password) {
        anyhow::bail!("{why}");
    }
    Ok(password)
}

fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    use std::io::BufRead;
    say_err_inline(prompt);
    let fd = libc::STDIN_FILENO;
    // SAFETY: tcgetattr/tcsetattr read and write the termios struct passed to them.
    let saved = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        (libc::tcgetattr(fd, &mut t) == 0).then_some(t)
    };
    if let Some(mut quiet) = saved {
        quiet.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if let Some(t) = saved {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    say_err("");
    read.context("cannot read the password")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn say_err_inline(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
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
