//! `madoguchi check`: loads everything `serve` loads (settings, database, data directory, routing
//! rules, dialplans, announcements, templates, TLS files) without listening or writing, and
//! reports every problem found, each naming its file and line where it has one.

use crate::app::load_rules;
use crate::config::{Loaded, Settings};
use crate::diagnostic::{Problem, Problems, TomlLines};
use crate::ivr::call::Prompts;
use crate::store::Store;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long `check` waits for the database to answer.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Ok(String),
    Warning(String),
    Problem(String),
}

/// Everything `check` found, in the order it looked.
#[derive(Debug, Default)]
pub struct Report(pub Vec<Finding>);

impl Report {
    pub fn passed(&self) -> bool {
        !self.0.iter().any(|f| matches!(f, Finding::Problem(_)))
    }

    fn ok(&mut self, line: String) {
        self.0.push(Finding::Ok(line));
    }

    fn problems(&mut self, problems: Problems) {
        self.0.extend(problems.0.into_iter().map(|p| Finding::Problem(p.to_string())));
    }

    fn problem(&mut self, problem: Problem) {
        self.0.push(Finding::Problem(problem.to_string()));
    }
}

pub async fn run(loaded: &Loaded) -> Report {
    let settings = &loaded.settings;
    let file = loaded.file.as_ref().map(|f| f.display().to_string()).unwrap_or_else(|| "(defaults)".into());
    let lines = TomlLines::scan(&loaded.source);
    let at = |section: &str, key: &str| lines.find(section, None, Some(key));
    let mut report = Report::default();
    report.ok(format!("configuration {file}"));

    match data_dir_problem(&settings.data_dir) {
        None => report.ok(format!("data directory {}", absolute(&settings.data_dir).display())),
        Some(why) => report.problem(Problem::new(&file, at("", "data_dir"), why)),
    }
    // The announcement slots admins added, which dialplans may name.
    let mut stored = Stored::default();
    match database(settings).await {
        Ok((state, found)) => {
            stored = found;
            report.ok(format!("database {} ({state})", settings.database_label()))
        }
        Err(why) => report.problem(Problem::new(&file, at("database", "url"), why)),
    }
    let categories = match load_rules(settings) {
        Ok(rules) => {
            let source = settings.rules_path().map(|p| p.display().to_string()).unwrap_or_else(|| "built-in".into());
            report.ok(format!(
                "routing rules {source} ({} rules, {} categories)",
                rules.rules.len(),
                rules.categories.len()
            ));
            Some(rules.categories)
        }
        Err(problems) => {
            report.problems(problems);
            None
        }
    };
    // Loading the configuration refused sources with problems; what remains is what they fetch.
    if let Ok(sources) = crate::facts::Sources::from_settings(&settings.status_sources) {
        report.ok(status_sources_line(&sources));
        for (i, source) in sources.all().iter().enumerate() {
            for c in &source.categories {
                if categories.as_ref().is_some_and(|known| !known.contains_key(c)) {
                    let line = lines.find("status_sources", Some(i), Some("categories"));
                    let why = format!(
                        "[[status_sources]] 「{}」: 分類 '{c}' はルーティング規則にありません / category '{c}' is not one the \
routing rules give, so no new ticket gets this source's answer by itself",
                        source.name
                    );
                    report.0.push(Finding::Warning(Problem::new(&file, line, why).to_string()));
                }
            }
        }
    }
    match settings.sla_path() {
        Some(path) => match crate::escalation::load_sla(&path) {
            Ok(p) => report.ok(format!("SLA policies {} ({} policies)", path.display(), p.policies.len())),
            Err(problems) => report.problems(problems),
        },
        None => report.ok("SLA policies built-in".into()),
    }
    match settings.contacts_path() {
        Some(path) => match crate::escalation::load_contacts(&path) {
            Ok(list) => report.ok(format!("contact list {} ({} groups)", path.display(), list.groups.len())),
            Err(problems) => report.problems(problems),
        },
        None => report.ok("contact list built-in".into()),
    }
    match settings.synonyms_path() {
        Some(path) => match crate::suggest::load_synonyms(&path) {
            Ok(s) => report.ok(format!("synonyms {} ({} groups)", path.display(), s.groups.len())),
            Err(problems) => report.problems(problems),
        },
        None => report.ok("synonyms built-in".into()),
    }
    match settings.interviews_path() {
        Some(path) => match crate::interviews::read_interviews(&path) {
            Ok((t, _)) => {
                report.ok(format!("interview templates {} ({} templates)", path.display(), t.templates.len()))
            }
            Err(problems) => report.problems(problems),
        },
        None => report.ok("interview templates built-in".into()),
    }
    if let Some(saved) = &stored.contact_list {
        match crate::escalation::parse_contacts(&saved.label(), &saved.source) {
            Ok(list) => report.ok(format!(
                "contact list saved in the console by {} (version {}, {} groups), used instead of the file",
                saved.edited_by,
                saved.version,
                list.groups.len()
            )),
            Err(problems) => report.problems(problems),
        }
    }
    let slots = stored.slots;
    let sip = &settings.sip;
    match crate::ivr::dialplan::load(&sip.dialplans, &sip.prompts, &slots) {
        Ok(plans) => {
            let files: Vec<&str> = plans.iter().map(|p| p.file.as_str()).collect();
            report.ok(format!("dialplans {} ({} lines)", files.join(", "), plans.len()));
        }
        Err(problems) => report.problems(problems),
    }
    let prompts = sip.prompts.clone();
    match tokio::task::spawn_blocking(move || Prompts::load_configured(&prompts)).await {
        Ok(Ok(loaded)) => report.ok(format!("announcements {} ({} files)", describe_prompts(sip), loaded.len())),
        Ok(Err(problems)) => report.problems(problems),
        Err(e) => report.problem(Problem::new(&sip.prompts, None, format!("reading the announcements failed: {e}"))),
    }
    match crate::notify::Outgoing::prepare(&settings.notify) {
        Ok(_) => report.ok("acknowledgement template and sender".into()),
        Err(e) => report.problem(Problem::new(&file, at("notify", e.setting()), e.to_string())),
    }
    report.ok(reports_line(&settings.reports));
    report.ok(survey_line(&settings.survey));
    if let Some(why) = settings.survey_problem() {
        report.0.push(Finding::Warning(why));
    }
    let mail = &settings.mail;
    if !mail.tls_cert.is_empty() && !mail.tls_key.is_empty() {
        match crate::tls::tls_acceptor(mail.tls_cert.as_ref(), mail.tls_key.as_ref()) {
            Ok(_) => report.ok(format!("STARTTLS certificate {}", mail.tls_cert)),
            Err(e) => report.problem(Problem::new(&file, at("mail", "tls_cert"), e.to_string())),
        }
    }
    let http = &settings.http;
    if !http.tls_cert.is_empty() && !http.tls_key.is_empty() {
        match crate::tls::tls_acceptor(http.tls_cert.as_ref(), http.tls_key.as_ref()) {
            Ok(_) => report.ok(format!("HTTPS certificate {}", http.tls_cert)),
            Err(e) => report.problem(Problem::new(&file, at("http", "tls_cert"), format!("HTTPS: {e}"))),
        }
    }
    report.ok(format!("HTTP limits: {}", http_limits(http)));
    report.ok(format!("SIP limits: {}", sip_limits(settings)));
    report.ok(node_and_metrics(settings));
    for door in settings.open_doors() {
        report.0.push(Finding::Warning(door));
    }
    report
}

/// The node's name and drain, and where `/metrics` is served.
fn node_and_metrics(settings: &Settings) -> String {
    let node = settings.node.resolved_name(settings.sip.listen.port());
    let mut metrics = match settings.metrics.listen {
        Some(addr) => format!("/metrics also on {addr} without authentication"),
        None => "/metrics on [http] listen for supervisors and admins".into(),
    };
    if !settings.metrics.token.is_empty() {
        metrics.push_str(" (and [metrics] token)");
    }
    format!("node {node}: on SIGTERM calls may go on {} s; {metrics}", settings.node.drain_seconds)
}

fn describe_prompts(sip: &crate::config::SipSettings) -> String {
    if crate::ivr::builtin::serves(&sip.prompts, &crate::config::SipSettings::default().prompts) {
        "built-in".into()
    } else {
        absolute(Path::new(&sip.prompts)).display().to_string()
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Why `serve` could not keep its files in `dir`, if it could not: it must be a directory (or
/// creatable as one) that this process can write.
fn data_dir_problem(dir: &Path) -> Option<String> {
    let shown = absolute(dir);
    let mut existing = shown.as_path();
    while !existing.exists() {
        existing = existing.parent()?;
    }
    if !existing.is_dir() {
        return Some(format!(
            "data_dir {}: {} is not a directory, so the data directory cannot be created there",
            shown.display(),
            existing.display()
        ));
    }
    let probe = existing.join(format!(".madoguchi-check-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(e) => Some(format!("data_dir {}: cannot write in {}: {e}", shown.display(), existing.display())),
    }
}

/// What an existing database holds that `serve` reads with the files.
#[derive(Default)]
struct Stored {
    /// The announcement slots admins added, which dialplans may name.
    slots: Vec<String>,
    /// The contact list as last saved in the console.
    contact_list: Option<crate::store::ContactListVersion>,
}

/// Opens the database without creating it: whether it answers, and whether `serve` will have to
/// set it up.
async fn database(settings: &Settings) -> Result<(&'static str, Stored), String> {
    if let Some(file) = settings.sqlite_file()
        && !file.exists()
    {
        return Ok(("not there yet: `serve` or `migrate` creates it", Stored::default()));
    }
    let url = settings.database_url_opening(crate::config::OpenMode::Existing);
    let opened = tokio::time::timeout(DATABASE_TIMEOUT, async {
        let store = Store::connect(&url, 1).await?;
        let answer = store.ping().await.map(|()| store.has_schema());
        let state = match answer {
            Ok(has_schema) => Ok(has_schema.await),
            Err(e) => Err(e),
        };
        let stored = match state {
            Ok(true) => Stored {
                slots: store.prompt_slots().await.unwrap_or_default(),
                // A database from before console-edited lists has no table for them: none saved.
                contact_list: store.current_document(crate::store::Document::ContactList).await.ok().flatten(),
            },
            _ => Stored::default(),
        };
        store.close().await;
        state.map(|s| (s, stored))
    })
    .await;
    match opened {
        Ok(Ok((true, stored))) => Ok(("answers, set up", stored)),
        Ok(Ok((false, _))) => Ok(("answers, empty: `serve` or `migrate` sets it up", Stored::default())),
        Ok(Err(e)) => Err(format!(
            "database {} cannot be used: {}",
            settings.database_label(),
            crate::diagnostic::each_cause_once(&e)
        )),
        Err(_) => Err(format!(
            "database {} did not answer within {} s",
            settings.database_label(),
            DATABASE_TIMEOUT.as_secs()
        )),
    }
}

/// How `serve` will serve HTTP, in one line.
fn http_limits(http: &crate::config::HttpSettings) -> String {
    let rate = match http.requests_per_minute {
        0 => "no request limit per token".to_owned(),
        n => format!("{n} requests a minute per token"),
    };
    let scheme = if http.tls_cert.is_empty() { "plain HTTP" } else { "HTTPS" };
    format!(
        "{scheme}, {} connections at once, a request head within {} ms, {rate}",
        http.max_connections, http.header_timeout_ms
    )
}

/// The limits `serve` will apply to SIP, in one line.
fn sip_limits(settings: &Settings) -> String {
    let sip = &settings.sip;
    let ports = sip.rtp_ports.len();
    let files = match crate::os::open_file_limit() {
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

/// Which sources system facts come from, and for which categories by themselves.
fn status_sources_line(sources: &crate::facts::Sources) -> String {
    if sources.is_empty() {
        return "system facts: no [[status_sources]]".into();
    }
    let each: Vec<String> = sources
        .all()
        .iter()
        .map(|s| format!("{} ({}, {} ms, {} bytes)", s.name, s.shown_url(), s.timeout.as_millis(), s.max_bytes))
        .collect();
    format!("system facts: {} sources: {}", sources.len(), each.join("; "))
}

/// What `[reports]` will mail, and when.
fn reports_line(r: &crate::config::ReportSettings) -> String {
    let to = |list: &[String]| if list.is_empty() { "not sent".to_owned() } else { format!("to {}", list.len()) };
    format!("reports: daily {}, monthly {}, at {} JST", to(&r.daily_to), to(&r.monthly_to), r.send_at)
}

fn survey_line(s: &crate::config::SurveySettings) -> String {
    if !s.enabled {
        return "satisfaction survey: off".into();
    }
    let excluded = if s.exclude_categories.is_empty() { "none".to_owned() } else { s.exclude_categories.join(", ") };
    format!(
        "satisfaction survey: on, answered within {} days, comments up to {} characters, not asked for: {excluded}",
        s.valid_days, s.max_comment_chars
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn unusable_https_files_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, "not a certificate\n").unwrap();
        std::fs::write(&key, "not a key\n").unwrap();
        let config = dir.path().join("madoguchi.toml");
        let mut f = std::fs::File::create(&config).unwrap();
        write!(
            f,
            "data_dir = \"{}\"\n[http]\nmax_connections = 50\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            dir.path().join("data").display(),
            cert.display(),
            key.display()
        )
        .unwrap();
        let loaded = crate::config::load(Some(&config), Vec::new()).unwrap();
        let report = run(&loaded).await;
        assert!(!report.passed());
        let problems: Vec<&Finding> = report.0.iter().filter(|f| matches!(f, Finding::Problem(_))).collect();
        let want = format!("{}:4: HTTPS: {} holds no usable certificate", config.display(), cert.display());
        assert_eq!(problems, [&Finding::Problem(want)]);
        let limits = Finding::Ok(
            "HTTP limits: HTTPS, 50 connections at once, a request head within 10000 ms, \
600 requests a minute per token"
                .into(),
        );
        assert!(report.0.contains(&limits), "{:?}", report.0);
    }

    #[test]
    fn the_node_and_where_metrics_are_served_are_reported() {
        let mut settings = Settings::default();
        settings.node.name = "helpdesk1".into();
        settings.node.drain_seconds = 45;
        assert_eq!(
            node_and_metrics(&settings),
            "node helpdesk1: on SIGTERM calls may go on 45 s; /metrics on [http] listen for supervisors and admins"
        );
        settings.metrics.listen = Some("127.0.0.1:9464".parse().unwrap());
        settings.metrics.token = crate::config::Secret::new("a-long-enough-token");
        assert!(
            node_and_metrics(&settings)
                .ends_with("also on 127.0.0.1:9464 without authentication (and [metrics] token)")
        );
    }
}
