//! Putting the service together: open and migrate the store, load the routing rules, start the
//! intake writer, bind the sockets (first, so tests can ask for port 0 and read the real one),
//! then serve until told to stop. Told to stop (SIGTERM), the node first drains (see
//! [`crate::drain`]): new calls get 503 and new SMTP sessions 421 while the calls and mail
//! transactions in progress go on, up to `[node] drain_seconds`; then everything stops, requests
//! in flight finish and every queued write is committed before the process exits.

use crate::config::{OpenMode, Settings};
use crate::diagnostic::Problems;
use crate::http::{AppState, router};
use crate::intake::Intake;
use crate::ivr::call::Prompts;
use crate::ivr::dialplan;
use crate::ivr::dialplan::Dialplan;
use crate::ivr::line::{Line, LineConfig, Reload};
use crate::mail::deliver::MailIntake;
use crate::mail::listener::MailServer;
use crate::notify::Notifier;
use crate::routing::{self, Rules};
use crate::sip::endpoint::{Endpoint, EndpointConfig};
use crate::sip::limits::LimitSettings;
use crate::sip::transport::{Bound, TcpLimits};
use crate::store::{AttachmentFiles, Store, StoreError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Rules(#[from] Problems),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no madoguchi database at {0}: run `madoguchi migrate` (or start `madoguchi serve` once), or give the \
service's configuration with --config or MADOGUCHI_CONFIG"
    )]
    NoDatabase(String),
    #[error("cannot create data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot listen for {what} on {addr} (change [{section}] listen, or stop what uses it): {source}")]
    Bind { what: &'static str, section: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("STARTTLS: {0}")]
    Tls(crate::tls::TlsError),
    #[error("HTTPS ([http] tls_cert, tls_key): {0}")]
    HttpTls(crate::tls::TlsError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
    #[error("cannot start the RTP sending thread: {0}")]
    Pacer(std::io::Error),
    #[error("announcements:\n{0}")]
    Prompts(Problems),
    #[error("[[status_sources]]:\n{0}")]
    StatusSources(Problems),
    #[error("system facts: the HTTP client cannot be set up: {0}")]
    FactsClient(#[source] reqwest::Error),
}

pub struct App {
    watched: Watched,
    http: TcpListener,
    /// `[metrics] listen`: `/metrics` alone, unauthenticated.
    metrics: Option<TcpListener>,
    http_server: crate::http::server::ServerConfig,
    mail: MailServer,
    sip: Sip,
    notifier: Notifier,
    state: AppState,
    max_body_bytes: usize,
    tracker: TaskTracker,
    /// `[escalation] scheduler`.
    scheduler: bool,
    /// `[reports]`: the reports mailed out, if anyone is to get them.
    reports: crate::config::ReportSettings,
    /// `[node] drain_seconds`.
    drain_limit: std::time::Duration,
}

/// The telephony side, bound and configured, not yet running.
struct Sip {
    bound: Bound,
    endpoint: EndpointConfig,
    line: LineConfig,
    plans: Vec<Dialplan>,
    prompts: Prompts,
}

/// The routing rules the settings name, or the built-in ones.
pub fn load_rules(settings: &Settings) -> Result<Rules, Problems> {
    match settings.rules_path() {
        Some(path) => routing::load_file(&path),
        None => routing::parse("(built-in routing.toml)", routing::BUILTIN_RULES),
    }
}

/// The store and the intake writer, without any listener: what `serve` builds on, and what
/// `import-mail` uses on its own.
pub struct Core {
    pub store: Store,
    pub intake: Intake,
    pub files: AttachmentFiles,
    pub tracker: TaskTracker,
}

/// Opens the store the settings name: with [`OpenMode::Create`] a new database is created and
/// migrated; with [`OpenMode::Existing`] one that `serve` or `migrate` has not set up is an error.
pub async fn open_store(settings: &Settings, mode: OpenMode, max_connections: u32) -> Result<Store, AppError> {
    let missing = || AppError::NoDatabase(settings.database_label());
    if mode == OpenMode::Existing && settings.sqlite_file().is_some_and(|f| !f.exists()) {
        return Err(missing());
    }
    let store = Store::connect(&settings.database_url_opening(mode), max_connections).await?;
    if mode == OpenMode::Existing && !store.has_schema().await {
        store.close().await;
        return Err(missing());
    }
    store.migrate().await?;
    Ok(store)
}

/// The announcement slots an existing database knows (those an admin added), without creating
/// or changing anything; none when there is no database yet.
pub async fn stored_slots(settings: &Settings) -> Vec<String> {
    if settings.sqlite_file().is_some_and(|f| !f.exists()) {
        return Vec::new();
    }
    let url = settings.database_url_opening(OpenMode::Existing);
    // A database that does not answer is reported by the start that follows.
    let read = async {
        let store = Store::connect(&url, 1).await.ok()?;
        let slots = if store.has_schema().await { store.prompt_slots().await.unwrap_or_default() } else { Vec::new() };
        store.close().await;
        Some(slots)
    };
    tokio::time::timeout(std::time::Duration::from_secs(2), read).await.ok().flatten().unwrap_or_default()
}

/// The SLA policies and the contact list in use (the configured files, or the built-in ones),
/// and the console's address for links in mails.
pub fn load_escalation(settings: &Settings) -> Result<crate::store::Escalation, Problems> {
    use crate::escalation::{ContactList, Policies, load_sla, read_contacts};
    let policies = match settings.sla_path() {
        Some(path) => load_sla(&path)?,
        None => Policies::builtin(),
    };
    let (contacts, source) = match settings.contacts_path() {
        Some(path) => read_contacts(&path)?,
        None => (ContactList::builtin(), crate::escalation::BUILTIN_CONTACTS.to_owned()),
    };
    Ok(crate::store::Escalation {
        policies: Arc::new(policies),
        contacts: Arc::new(contacts),
        contacts_version: None,
        contacts_file: settings.contacts_path().map(|p| p.display().to_string()),
        contacts_source: Arc::from(source),
        console: settings.http.public_url.trim_end_matches('/').to_owned(),
    })
}

/// The interview templates (the configured file, or the built-in ones).
pub fn load_interviews(settings: &Settings) -> Result<crate::store::InterviewSet, Problems> {
    let (templates, source) = match settings.interviews_path() {
        Some(path) => crate::interviews::read_interviews(&path)?,
        None => (crate::interviews::builtin(), crate::interviews::BUILTIN_INTERVIEWS.to_owned()),
    };
    Ok(crate::store::InterviewSet {
        templates: Arc::new(templates),
        version: None,
        file: settings.interviews_path().map(|p| p.display().to_string()),
        source: Arc::from(source),
    })
}

/// [`load_interviews`] with the templates an admin saved in the console, if any, in their place.
pub async fn load_interviews_stored(
    settings: &Settings,
    store: &Store,
) -> Result<crate::store::InterviewSet, Problems> {
    let mut set = load_interviews(settings)?;
    match store.current_document(crate::store::Document::Interviews).await {
        Ok(Some(saved)) => {
            let label = format!("interview templates v{} (saved in the console)", saved.version);
            match crate::interviews::parse_interviews(&label, &saved.source) {
                Ok(templates) => {
                    set.templates = Arc::new(templates);
                    set.version = Some(saved.version);
                    set.source = Arc::from(saved.source);
                }
                Err(problems) => {
                    tracing::error!("the interview templates saved in the console are not used:\n{problems}")
                }
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "the interview templates saved in the console were not read; the file's are used")
        }
    }
    Ok(set)
}

/// The synonyms for suggestions (the configured file, or the built-in groups).
pub fn load_synonyms(settings: &Settings) -> Result<crate::domain::suggest::Synonyms, Problems> {
    match settings.synonyms_path() {
        Some(path) => crate::suggest::load_synonyms(&path),
        None => Ok(crate::suggest::builtin()),
    }
}

/// [`load_escalation`] with the contact list an admin saved in the console, if any, in place of
/// the file's.
pub async fn load_escalation_stored(settings: &Settings, store: &Store) -> Result<crate::store::Escalation, Problems> {
    let mut escalation = load_escalation(settings)?;
    match store.current_document(crate::store::Document::ContactList).await {
        Ok(Some(saved)) => match crate::escalation::parse_contacts(&saved.label(), &saved.source) {
            Ok(list) => {
                escalation.contacts = Arc::new(list);
                escalation.contacts_version = Some(saved.version);
                escalation.contacts_source = Arc::from(saved.source);
            }
            Err(problems) => tracing::error!("the contact list saved in the console is not used:\n{problems}"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "the contact list saved in the console was not read; the file's is used"),
    }
    Ok(escalation)
}

impl Core {
    pub async fn start(settings: &Settings, mode: OpenMode) -> Result<Core, AppError> {
        let rules = Arc::new(load_rules(settings)?);
        load_escalation(settings)?;
        let synonyms = load_synonyms(settings)?;
        let interviews = load_interviews(settings)?;
        let store = open_store(settings, mode, settings.database.max_connections).await?;
        store.set_synonyms(synonyms);
        store.set_interviews(interviews);
        if let Ok(set) = load_interviews_stored(settings, &store).await {
            store.set_interviews(set);
        }
        store.set_survey(settings.survey.policy(&settings.http.public_url));
        match load_escalation_stored(settings, &store).await {
            Ok(escalation) => store.set_escalation(escalation),
            Err(problems) => {
                store.close().await;
                return Err(problems.into());
            }
        }
        if let Err(source) = std::fs::create_dir_all(&settings.data_dir) {
            store.close().await;
            return Err(AppError::DataDir { path: settings.data_dir.display().to_string(), source });
        }
        let mut files = AttachmentFiles::new(&settings.data_dir);
        if store.backend() == crate::store::Backend::Postgres {
            files = files.all_in_database();
        }
        let tracker = TaskTracker::new();
        let mut intake = Intake::start(
            store.clone(),
            rules,
            files.clone(),
            settings.intake.batch_max as usize,
            settings.intake.queue_depth as usize,
            &tracker,
        );
        // Several nodes may serve one PostgreSQL database: their events go through it.
        if store.backend() == crate::store::Backend::Postgres {
            let shared = crate::events::bus::shared(
                &store,
                &settings.node.resolved_name(settings.sip.listen.port()),
                crate::events::RETAINED,
            )
            .await;
            let (events, bus) = match shared {
                Ok(shared) => shared,
                Err(e) => {
                    drop(intake);
                    tracker.close();
                    tracker.wait().await;
                    store.close().await;
                    return Err(e.into());
                }
            };
            bus.run(store.clone(), settings.database_url(), &tracker);
            intake.use_events(events);
        }
        Ok(Core { store, intake, files, tracker })
    }

    /// Waits for queued writes after every `Intake` handle is dropped.
    pub async fn finish(self) {
        let Core { store, intake, tracker, .. } = self;
        drop(intake);
        tracker.close();
        tracker.wait().await;
        store.close().await;
    }
}

impl App {
    pub async fn build(settings: &Settings) -> Result<App, AppError> {
        let sip_settings = &settings.sip;
        let (dialplans, prompts) = (sip_settings.dialplans.clone(), sip_settings.prompts.clone());
        let outgoing = crate::notify::Outgoing::prepare(&settings.notify)?;
        let tls = tls_files(&settings.mail.tls_cert, &settings.mail.tls_key).map_err(AppError::Tls)?;
        let https = tls_files(&settings.http.tls_cert, &settings.http.tls_key).map_err(AppError::HttpTls)?;
        load_escalation(settings)?;
        load_synonyms(settings)?;
        load_interviews(settings)?;
        let facts = crate::facts::Collector::new(status_sources(settings)?).map_err(AppError::FactsClient)?;
        // Everything that can be wrong is found before a database is created.
        let slots = stored_slots(settings).await;
        let (plans, prompts) = tokio::task::spawn_blocking(move || {
            let plans = dialplan::load(&dialplans, &prompts, &slots)?;
            let prompts = Prompts::load_configured(&prompts).map_err(AppError::Prompts)?;
            Ok::<_, AppError>((plans, prompts))
        })
        .await
        .map_err(|e| {
            AppError::Prompts(Problems(vec![crate::diagnostic::Problem::new("announcements", None, e.to_string())]))
        })??;
        let Core { store, intake, files, tracker } = Core::start(settings, OpenMode::Create).await?;
        for door in settings.open_doors() {
            tracing::warn!("{door}");
        }
        if let Some(why) = settings.survey_problem() {
            tracing::warn!("{why}");
        }
        let addr = settings.http.listen;
        let http = bind_tcp("HTTP", "http", addr).await?;

        let outbox = store.outbox_ready();
        let notifier = Notifier::new(store.clone(), &settings.notify, outgoing, outbox.clone());
        let mail_intake = MailIntake::new(settings, intake.clone(), store.clone(), outbox.clone());
        let addr = settings.mail.listen;
        let mail_listener = bind_tcp("SMTP/LMTP", "mail", addr).await?;
        let mail = MailServer::new(mail_listener, &settings.mail, tls, mail_intake);

        let addr = sip_settings.listen;
        let bound =
            Bound::bind(addr).await.map_err(|source| AppError::Bind { what: "SIP", section: "sip", addr, source })?;
        let sip = Sip {
            bound,
            endpoint: endpoint_config(settings, store.metrics()),
            line: line_config(settings),
            plans,
            prompts,
        };
        let metrics = match settings.metrics.listen {
            Some(addr) => Some(bind_tcp("metrics", "metrics", addr).await?),
            None => None,
        };
        store.metrics().set_node(&settings.node.resolved_name(sip.bound.local_addr().map(|a| a.port()).unwrap_or(0)));
        Ok(App {
            watched: Watched { sip: settings.sip.clone(), rules: settings.rules_path(), settings: settings.clone() },
            http,
            metrics,
            http_server: crate::http::server::ServerConfig::of(&settings.http, https),
            mail,
            sip,
            notifier,
            state: AppState {
                store,
                intake,
                files,
                limits: crate::http::Limits::of(settings),
                replies: crate::http::ReplySetup::of(settings, outbox),
                announcements: Default::default(),
                facts,
            },
            max_body_bytes: settings.http.max_body_bytes as usize,
            scheduler: settings.escalation.scheduler,
            reports: settings.reports.clone(),
            drain_limit: std::time::Duration::from_secs(settings.node.drain_seconds.into()),
            tracker,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr().expect("a bound listener has an address")
    }

    pub fn sip_addr(&self) -> SocketAddr {
        self.sip.bound.local_addr().expect("a bound socket has an address")
    }

    /// `[metrics] listen`'s address, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn mail_addr(&self) -> SocketAddr {
        self.mail.local_addr().expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then drains (at most `[node] drain_seconds`) and stops.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), AppError> {
        let App {
            watched,
            http,
            metrics,
            http_server,
            mail,
            sip,
            notifier,
            state,
            max_body_bytes,
            tracker,
            scheduler,
            reports,
            drain_limit,
        } = self;
        let store = state.store.clone();
        let stop = CancellationToken::new();
        let drain = crate::drain::Drain::new();
        tracing::info!(
            http = %http.local_addr().map_err(AppError::Serve)?,
            scheme = if state.limits.secure { "https" } else { "http" },
            mail = %mail.local_addr().map_err(AppError::Serve)?,
            sip = %sip.bound.local_addr().map_err(AppError::Serve)?,
            store = store.backend().name(),
            node = store.metrics().node(),
            "madoguchi serving"
        );
        if let Some(listener) = metrics {
            let addr = listener.local_addr().map_err(AppError::Serve)?;
            tracing::info!(metrics = %addr, "serving /metrics without authentication");
            let server = crate::http::server::ServerConfig { tls: None, max_connections: 16, ..http_server.clone() };
            let app = crate::http::metrics_router(state.clone());
            tracker.spawn(crate::http::server::serve(listener, app, server, stop.clone()));
        }
        // Before any intake opens a ticket: each fault ticket queues its system facts.
        if !state.facts.sources().is_empty() {
            let trigger = crate::facts::start(state.facts.clone(), state.intake.clone(), stop.clone(), &tracker);
            state.intake.when_opened(trigger);
        }
        tracker.spawn(mail.run(drain.clone(), stop.clone(), tracker.clone()));
        let (reload, reloads) = tokio::sync::mpsc::channel(4);
        tracker.spawn(watch_files(watched, state.intake.clone(), reload, stop.clone()));
        let Sip { bound, endpoint, line, plans, prompts } = sip;
        let handle = Endpoint::start(bound, endpoint, drain.clone(), stop.clone(), &tracker);
        let pacer = crate::media::pacer::Pacer::start(store.metrics().clone()).map_err(AppError::Pacer)?;
        let (versions, playing) = tokio::sync::watch::channel(Default::default());
        tracker.spawn(crate::ivr::announcer::run(
            store.clone(),
            prompts.names(),
            versions,
            state.announcements.clone(),
            stop.clone(),
        ));
        tracker.spawn(Line::run(
            line,
            pacer,
            plans,
            prompts,
            state.intake.clone(),
            handle.events,
            handle.commands,
            reloads,
            playing,
            drain.clone(),
            stop.clone(),
            tracker.clone(),
        ));
        tracker.spawn(notifier.run(stop.clone()));
        if scheduler {
            tracker.spawn(crate::escalation::scheduler::run(state.intake.clone(), stop.clone()));
        }
        tracker.spawn(backfill_suggestions(state.store.clone(), stop.clone()));
        if !reports.daily_to.is_empty() || !reports.monthly_to.is_empty() {
            tracker.spawn(crate::reports::schedule::run(store.clone(), reports, stop.clone()));
        }
        let signal = stop.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(
                in_progress = drain.in_progress(),
                limit_secs = drain_limit.as_secs(),
                "draining: new calls get 503, new SMTP sessions 421; calls in progress go on"
            );
            match drain.run(drain_limit, DRAIN_GRACE).await {
                crate::drain::Drained::Idle => tracing::info!("drained: nothing left in progress"),
                crate::drain::Drained::Limit { left } => {
                    tracing::info!(left, "drain limit reached: what was left in progress was ended")
                }
            }
            signal.cancel();
        });
        let events = state.intake.events().clone();
        let closing = stop.clone();
        tokio::spawn(async move {
            closing.cancelled().await;
            events.close();
        });
        let app = router(state, max_body_bytes);
        crate::http::server::serve(http, app, http_server, stop.clone()).await;
        stop.cancel();
        // The router and the mail server (and with them every Intake handle) are gone: the
        // writer drains what is queued and stops.
        tracker.close();
        tracker.wait().await;
        store.close().await;
        tracing::info!("madoguchi stopped");
        Ok(())
    }
}

/// After a drain's limit, how long the calls it ends may take to finish (our BYE's answer, the
/// ticket's last write) before everything stops.
/// UDP resends a BYE at 0.5 s and 1.5 s: three tries.
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// `[[status_sources]]` as typed sources (settings made in code are checked here too).
fn status_sources(settings: &Settings) -> Result<crate::facts::Sources, AppError> {
    crate::facts::Sources::from_settings(&settings.status_sources).map_err(|problems| {
        let problems = problems.iter().map(|p| crate::diagnostic::Problem::new("configuration", None, p.to_string()));
        AppError::StatusSources(Problems(problems.collect()))
    })
}

/// The TLS acceptor for a `tls_cert` and `tls_key` pair; none when they are empty.
fn tls_files(cert: &str, key: &str) -> Result<Option<tokio_rustls::TlsAcceptor>, crate::tls::TlsError> {
    match (cert, key) {
        ("", _) | (_, "") => Ok(None),
        (cert, key) => crate::tls::tls_acceptor(cert.as_ref(), key.as_ref()).map(Some),
    }
}

/// A listener on `addr`; failing, the error names `[section] listen`.
async fn bind_tcp(what: &'static str, section: &'static str, addr: SocketAddr) -> Result<TcpListener, AppError> {
    TcpListener::bind(addr).await.map_err(|source| AppError::Bind { what, section, addr, source })
}

fn endpoint_config(settings: &Settings, metrics: &Arc<crate::metrics::Metrics>) -> EndpointConfig {
    let sip = &settings.sip;
    let allowed = sip.allowed_sources.clone();
    // The descriptors TCP may take: what the others need is kept back, whatever the setting says.
    let mut tcp_max = sip.tcp_max_connections as usize;
    if let Some(limit) = crate::os::open_file_limit() {
        let others = 2 * u64::from(sip.max_calls)
            + u64::from(settings.mail.max_connections)
            + u64::from(settings.http.max_connections)
            + crate::os::RESERVED_FILES;
        let room = limit.saturating_sub(others).max(16) as usize;
        if room < tcp_max {
            tracing::warn!(configured = tcp_max, allowed = room, "SIP/TCP connections capped by the open-file limit");
            tcp_max = room;
        }
    }
    EndpointConfig {
        public_ip: public_ip(settings),
        allowed_sources: allowed.clone(),
        max_calls: sip.max_calls as usize,
        limits: LimitSettings {
            invites_per_second: sip.invite_rate_per_source,
            scanner_numbers_per_minute: sip.scanner_numbers_per_minute,
            scanner_user_agents: sip.scanner_user_agents.clone(),
            trusted: allowed,
        },
        tcp: TcpLimits {
            max_connections: tcp_max,
            max_per_source: (sip.tcp_max_per_source as usize).min(tcp_max),
            idle: std::time::Duration::from_secs(sip.tcp_idle_secs),
            message: std::time::Duration::from_secs(sip.tcp_message_secs),
        },
        metrics: metrics.clone(),
    }
}

fn line_config(settings: &Settings) -> LineConfig {
    LineConfig {
        public_ip: public_ip(settings),
        rtp_ip: settings.sip.listen.ip(),
        rtp_ports: (settings.sip.rtp_ports.first, settings.sip.rtp_ports.last),
        media_timeout: std::time::Duration::from_secs(settings.sip.media_timeout_secs),
    }
}

/// The address callers' equipment should send to: configured, or the listen address, or when
/// listening on every interface the one this machine would use outward (no packet is sent).
fn public_ip(settings: &Settings) -> std::net::IpAddr {
    if let Some(ip) = settings.sip.public_address {
        return ip;
    }
    let listen = settings.sip.listen.ip();
    if !listen.is_unspecified() {
        return listen;
    }
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("192.0.2.1:9")?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]))
}

/// What SIGHUP reloads: the dialplans, the announcements and the routing rules.
struct Watched {
    sip: crate::config::SipSettings,
    /// The rules file in use; `None` when the built-in copy routes.
    rules: Option<std::path::PathBuf>,
    /// The settings the SLA policies and the contact list are read with.
    settings: Settings,
}

impl Watched {
    /// Each file's path and modification time, to notice edits without a signal.
    fn stamp(&self) -> Vec<(std::path::PathBuf, Option<std::time::SystemTime>)> {
        let mut seen = Vec::new();
        for dir in [&self.sip.dialplans, &self.sip.prompts] {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    seen.push((e.path(), e.metadata().and_then(|m| m.modified()).ok()));
                }
            }
        }
        let files = [
            self.rules.clone(),
            self.settings.sla_path(),
            self.settings.contacts_path(),
            self.settings.synonyms_path(),
            self.settings.interviews_path(),
        ];
        for file in files.into_iter().flatten() {
            let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
            seen.push((file, modified));
        }
        seen.sort();
        seen
    }

    /// Loads everything again; a part with problems is reported and its running copy kept.
    fn reload(&self, slots: &[String]) -> (Option<Reload>, Option<Rules>) {
        let plans = dialplan::load(&self.sip.dialplans, &self.sip.prompts, slots);
        let prompts = Prompts::load_configured(&self.sip.prompts);
        let line = match (plans, prompts) {
            (Ok(plans), Ok(prompts)) => Some(Reload { plans, prompts }),
            (Err(problems), _) => {
                tracing::error!("dialplans not reloaded:\n{problems}");
                None
            }
            (_, Err(problems)) => {
                tracing::error!("announcements not reloaded:\n{problems}");
                None
            }
        };
        let rules = self.rules.as_deref().and_then(|path| match routing::load_file(path) {
            Ok(rules) => Some(rules),
            Err(problems) => {
                tracing::error!("routing rules not reloaded:\n{problems}");
                None
            }
        });
        (line, rules)
    }
}

/// Reloads dialplans, announcements and routing rules on SIGHUP, or when one of their files
/// changes (checked every two seconds). Reading and decoding run off the async threads.
async fn watch_files(
    watched: Watched,
    intake: Intake,
    reload: tokio::sync::mpsc::Sender<Reload>,
    stop: CancellationToken,
) {
    let watched = Arc::new(watched);
    let stamp =
        |w: Arc<Watched>| async move { tokio::task::spawn_blocking(move || w.stamp()).await.unwrap_or_default() };
    let mut seen = stamp(watched.clone()).await;
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        let signalled = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = signalled => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {
                if stamp(watched.clone()).await == seen {
                    // An admin may have saved the contact list on this node or another.
                    let store = intake.store();
                    if let Ok(saved) = store.document_version(crate::store::Document::ContactList).await
                        && saved != store.escalation().contacts_version
                    {
                        reload_escalation(&watched.settings, store).await;
                    }
                    if let Ok(saved) = store.document_version(crate::store::Document::Interviews).await
                        && saved != store.interview_set().version
                    {
                        reload_interviews(&watched.settings, store).await;
                    }
                    continue;
                }
            }
        }
        seen = stamp(watched.clone()).await;
        let w = watched.clone();
        let slots = match intake.store().prompt_slots().await {
            Ok(slots) => slots,
            Err(e) => {
                tracing::warn!(error = %e, "announcement slots not read; dialplans checked against the files only");
                Vec::new()
            }
        };
        let Ok((line, rules)) = tokio::task::spawn_blocking(move || w.reload(&slots)).await else { continue };
        if let Some(rules) = rules {
            tracing::info!(rules = rules.rules.len(), "routing rules reloaded");
            intake.replace_rules(rules);
        }
        if let Some(line) = line {
            let _ = reload.send(line).await;
        }
        reload_escalation(&watched.settings, intake.store()).await;
        match load_synonyms(&watched.settings) {
            Ok(synonyms) => intake.store().set_synonyms(synonyms),
            Err(problems) => tracing::error!("synonyms not reloaded:\n{problems}"),
        }
        reload_interviews(&watched.settings, intake.store()).await;
    }
}

/// Adds the tickets resolved before the suggestion index existed (an upgraded database) to it.
async fn backfill_suggestions(store: Store, stop: CancellationToken) {
    tokio::select! {
        _ = stop.cancelled() => {}
        done = store.suggest_backfill() => match done {
            Ok(0) => {}
            Ok(n) => tracing::info!(tickets = n, "resolved tickets added to the suggestion index"),
            Err(e) => tracing::warn!(error = %e, "the suggestion index was not brought up to date; it is tried again at the next start"),
        },
    }
}

/// Puts the interview templates now configured (or saved in the console) in force.
async fn reload_interviews(settings: &Settings, store: &Store) {
    match load_interviews_stored(settings, store).await {
        Ok(set) => store.set_interviews(set),
        Err(problems) => tracing::error!("interview templates not reloaded:\n{problems}"),
    }
}

/// Puts the SLA policies and contact list now configured (or saved in the console) in force.
async fn reload_escalation(settings: &Settings, store: &Store) {
    match load_escalation_stored(settings, store).await {
        Ok(escalation) => {
            let running = store.escalation();
            if running.policies != escalation.policies || running.contacts != escalation.contacts {
                tracing::info!(
                    groups = escalation.contacts.groups.len(),
                    policies = escalation.policies.policies.len(),
                    version = escalation.contacts_version,
                    "SLA policies and contact list reloaded"
                );
            }
            store.set_escalation(escalation);
        }
        Err(problems) => tracing::error!("SLA policies and contact list not reloaded:\n{problems}"),
    }
}
