//! Settings: one TOML file (every key optional, defaults documented in `madoguchi.example.toml`),
//! overlaid by environment variables `MADOGUCHI_<SECTION>_<KEY>` (`MADOGUCHI_HTTP_LISTEN`,
//! `MADOGUCHI_DATA_DIR`). Problems are reported as `file:line: what is wrong`, all at once.

mod types;

pub use types::{ClockTime, LogFormat, Pattern, PortRange, RelaySecurity, Secret};

use crate::diagnostic::{Problem, Problems, TomlLines};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// Looked for in the working directory when no `--config` is given.
pub const DEFAULT_FILE: &str = "madoguchi.toml";
/// Looked for next, where a packaged install keeps its configuration.
pub const SYSTEM_FILE: &str = "/etc/madoguchi/madoguchi.toml";
const ENV_PREFIX: &str = "MADOGUCHI_";
/// Environment variables with the prefix that are not settings.
const ENV_NOT_SETTINGS: &[&str] = &["MADOGUCHI_CONFIG", "MADOGUCHI_LOG"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the SQLite database, attachments and recordings live.
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub sip: SipSettings,
    pub mail: MailSettings,
    pub routing: RoutingSettings,
    pub escalation: EscalationSettings,
    pub suggest: SuggestSettings,
    pub interviews: InterviewSettings,
    pub intake: IntakeSettings,
    pub notify: NotifySettings,
    pub fax: FaxSettings,
    pub prompts: PromptSettings,
    pub faq: FaqSettings,
    pub reports: ReportSettings,
    /// `[[status_sources]]`: systems whose state is fetched onto fault tickets (see `facts`).
    pub status_sources: Vec<StatusSourceSettings>,
    pub survey: SurveySettings,
    pub node: NodeSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user@host:port/db`; empty means
    /// `sqlite://<data_dir>/madoguchi.db`.
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// Largest request body accepted (attachments are sent inside the JSON, base64).
    pub max_body_bytes: u64,
    /// A read (a ticket, a page of a list, a search) that takes longer is stopped and answered
    /// 503 with Retry-After; the database stops working on it too.
    pub query_timeout_ms: u64,
    /// Host names the API and console are reached by (`helpdesk.example.go.jp`). A request whose
    /// Host header is another name is refused (421), so a page on another site cannot reach the
    /// service by rebinding its own name to this address; IP addresses and `localhost` always work.
    pub hostnames: Vec<String>,
    /// A client must send a whole request head (and finish the TLS handshake) within this many
    /// milliseconds of starting one, or the connection is closed; responses are never limited.
    pub header_timeout_ms: u64,
    /// Connections served at once; beyond them new connections wait in the listen queue.
    pub max_connections: u32,
    /// PEM certificate chain and key; both set serves HTTPS only, both empty plain HTTP.
    pub tls_cert: String,
    pub tls_key: String,
    /// Requests per minute one credential (an API token) may make, with a burst of as many;
    /// beyond it 429 with Retry-After. 0: unlimited.
    pub requests_per_minute: u32,
    /// Mark the console's cookies `Secure` (sent over HTTPS only) although madoguchi itself
    /// serves plain HTTP: for a site behind a TLS proxy.
    pub secure_cookies: bool,
    /// A console session unused for this many minutes ends.
    pub session_idle_minutes: u32,
    /// A console session ends this many hours after sign-in, however much it is used.
    pub session_max_hours: u32,
    /// The address people reach the service at (`https://helpdesk.example.go.jp`), for links
    /// in the notices feed; empty: the scheme and Host of each request.
    pub public_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipSettings {
    /// UDP and TCP on the same port.
    pub listen: SocketAddr,
    /// The address put in Contact, Via and SDP; empty: the listen address, or the machine's
    /// outward address when listening on all interfaces.
    #[serde(with = "types::optional_ip")]
    pub public_address: Option<IpAddr>,
    /// RTP ports, `first-last`.
    pub rtp_ports: PortRange,
    /// Addresses the PBX or trunk sends from; others get 403. Empty: anyone.
    pub allowed_sources: Vec<IpAddr>,
    /// A call whose caller sends no RTP for this long is ended with BYE.
    pub media_timeout_secs: u64,
    pub dialplans: String,
    pub prompts: String,
    /// Calls in progress at most; more get 503 (or 486 when a `max_calls` busy is wanted).
    pub max_calls: u32,
    /// New INVITEs per second from one source address (a burst of as many is allowed); more get
    /// 503 with Retry-After, and no ticket.
    pub invite_rate_per_source: u32,
    /// A source outside `allowed_sources` that calls more distinct numbers than this in one
    /// minute is a scanner: its INVITEs are dropped without an answer or a ticket.
    pub scanner_numbers_per_minute: u32,
    /// User-Agent values (case-insensitive substrings) of known scanners, dropped silently.
    pub scanner_user_agents: Vec<String>,
    /// TCP connections to the SIP port at most, overall and from one address.
    pub tcp_max_connections: u32,
    pub tcp_max_per_source: u32,
    /// A TCP connection that sends nothing for this long is closed.
    pub tcp_idle_secs: u64,
    /// A message begun on TCP (headers, or a body its Content-Length announced) must be complete
    /// within this many seconds, or the connection is closed.
    pub tcp_message_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// SMTP/LMTP listener the site's MTA relays to.
    pub listen: SocketAddr,
    /// The name this server gives in its greeting and in acknowledgements' Message-IDs.
    pub hostname: String,
    /// Accepted recipients: `helpdesk@example.go.jp` or `@example.go.jp`; others get 550.
    /// Empty accepts every recipient.
    pub recipients: Vec<String>,
    pub max_message_bytes: u64,
    pub max_recipients: u32,
    /// Connections served at once; beyond them a client is told 421 at once.
    pub max_connections: u32,
    /// Connections from one address at once; beyond them 421.
    pub max_connections_per_source: u32,
    /// Seconds a client may stay silent, between commands or inside DATA.
    pub timeout_secs: u64,
    /// PEM certificate chain and key for STARTTLS; both empty disables STARTTLS.
    pub tls_cert: String,
    pub tls_key: String,
    /// Send an acknowledgement with the ticket number to people who write.
    pub acknowledge: bool,
    /// Acknowledgements to one address in one hour at most.
    pub ack_limit_per_hour: u32,
    /// Acknowledgements to all addresses together, in one minute and in one hour, at most.
    pub ack_limit_global_per_minute: u32,
    pub ack_limit_global_per_hour: u32,
    /// Domains whose envelope senders are acknowledged even when `From:` names another domain.
    /// Empty: the domains of `recipients`.
    pub ack_domains: Vec<String>,
    /// Domains whose senders may join any ticket they refer to (by the number in the subject or
    /// by In-Reply-To/References). Empty: only the ticket's participants may.
    pub trusted_domains: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// SMTP relay for outgoing mail, `host:port`; empty keeps mail queued (nothing is sent).
    pub relay: String,
    /// `none`, `starttls` or `tls`.
    pub relay_security: RelaySecurity,
    pub username: String,
    /// Never logged; sent only over TLS.
    pub password: Secret,
    pub from: String,
    pub from_name: String,
    /// Acknowledgement template (see templates/ack.txt); empty uses the built-in one.
    pub ack_template: String,
    /// Signature under an operator's reply by e-mail: `{name}` (the operator's display name),
    /// `{helpdesk}` (`from_name`), `{ticket}`.
    pub reply_signature: String,
    /// First retry after this many seconds, doubling up to `retry_max_secs`.
    pub retry_initial_secs: u64,
    pub retry_max_secs: u64,
    pub max_attempts: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaxSettings {
    /// Extra fax gateway profiles, tried before the built-in ones (hylafax, freepbx, mfp-forward).
    pub profiles: Vec<FaxProfileSettings>,
    /// When no profile matches, recognise other gateways' mail by its shape (a TIFF or PDF,
    /// fax words, the sender's number); see `mail::fax`.
    pub generic: bool,
}

impl Default for FaxSettings {
    fn default() -> Self {
        FaxSettings { profiles: Vec::new(), generic: true }
    }
}

/// A fax gateway's mail, recognised by regular expressions (all set ones must match).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaxProfileSettings {
    pub name: String,
    /// Matched against the sender's address.
    pub from: Pattern,
    pub subject: Pattern,
    pub body: Pattern,
    /// Matched against the header block as received (e.g. `(?m)^X-Fax-Gateway: `).
    pub headers: Pattern,
    /// Patterns whose first group (or group `number`) is the sending fax number; subject, then body.
    pub number: Vec<Pattern>,
    /// Pattern for the page count in the body; without it the PDF/TIFF pages are counted.
    pub pages: Pattern,
    /// Pattern for the receive time in the body.
    pub received: Pattern,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingSettings {
    /// The routing rules file, reloaded on SIGHUP or when it changes. Left at the default and
    /// not there, the copy of the shipped `routing.toml` built into the binary routes.
    pub rules: String,
}

impl Default for RoutingSettings {
    fn default() -> Self {
        RoutingSettings { rules: "routing.toml".into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationSettings {
    /// The contact list (連絡先一覧). Left at the default and not there, the shipped
    /// `contacts.toml` built into the binary serves; a list edited in the console replaces either.
    pub contacts: String,
    /// The SLA policies and their calendar; the same fallback to the shipped `sla.toml`.
    pub sla: String,
    /// Whether the scheduler in this service warns and escalates on SLA deadlines. Several
    /// services on one database may all run it: each deadline is claimed by exactly one.
    pub scheduler: bool,
}

impl Default for EscalationSettings {
    fn default() -> Self {
        EscalationSettings { contacts: "contacts.toml".into(), sla: "sla.toml".into(), scheduler: true }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SuggestSettings {
    /// Groups of words that mean the same, for suggestions (ロック解除 / アンロック). Left at the
    /// default and not there, the shipped `synonyms.toml` built into the binary serves.
    pub synonyms: String,
}

impl Default for SuggestSettings {
    fn default() -> Self {
        SuggestSettings { synonyms: "synonyms.toml".into() }
    }
}

/// The periodic reports mailed out (定期報告): the daily one for the day before, each morning;
/// the monthly one for the month before, on the month's first business day.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSettings {
    /// Who gets the daily report; empty: none is sent.
    pub daily_to: Vec<String>,
    /// Who gets the monthly report; empty: none is sent.
    pub monthly_to: Vec<String>,
    /// When (JST) the reports go out; a service started later that morning sends them then.
    pub send_at: ClockTime,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings { daily_to: Vec::new(), monthly_to: Vec::new(), send_at: ClockTime::new(7, 30) }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InterviewSettings {
    /// The interview templates (問診). Left at the default and not there, the shipped
    /// `interviews.toml` built into the binary serves.
    pub file: String,
}

impl Default for InterviewSettings {
    fn default() -> Self {
        InterviewSettings { file: "interviews.toml".into() }
    }
}

/// One `[[status_sources]]` table: a monitoring system's health API, a Prometheus instant query,
/// any HTTP(S) GET whose answer an operator wants on a fault ticket (障害情報収集). Checked (and
/// turned into [`crate::facts`]'s typed sources) when the configuration is read.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatusSourceSettings {
    /// Shown to operators (Japanese is fine); unique.
    pub name: String,
    /// `http://` or `https://`; fetched with GET.
    pub url: String,
    /// The whole fetch (connecting, the answer, its body) must finish within this (at most 30000).
    #[serde(default = "StatusSourceSettings::default_timeout_ms")]
    pub timeout_ms: u64,
    /// At most this much of the answer is read and kept (at most 1 MiB); the rest is cut off.
    #[serde(default = "StatusSourceSettings::default_max_bytes")]
    pub max_bytes: u64,
    /// Ticket categories (routing.toml's ids) whose new tickets get this source's answer by
    /// themselves; an operator can ask for it on any ticket.
    #[serde(default = "StatusSourceSettings::default_categories")]
    pub categories: Vec<String>,
}

impl StatusSourceSettings {
    pub const DEFAULT_TIMEOUT_MS: u64 = 3000;
    pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024;

    fn default_timeout_ms() -> u64 {
        Self::DEFAULT_TIMEOUT_MS
    }

    fn default_max_bytes() -> u64 {
        Self::DEFAULT_MAX_BYTES
    }

    fn default_categories() -> Vec<String> {
        vec!["fault_report".into()]
    }
}

/// The URL may carry a token: `Debug` shows it without userinfo and secret-looking query values.
impl std::fmt::Debug for StatusSourceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusSourceSettings")
            .field("name", &self.name)
            .field("url", &crate::facts::redact_url(&self.url))
            .field("timeout_ms", &self.timeout_ms)
            .field("max_bytes", &self.max_bytes)
            .field("categories", &self.categories)
            .finish()
    }
}

/// The satisfaction survey (ユーザ満足度調査) mailed when a ticket is first resolved.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SurveySettings {
    /// Whether resolved tickets' requesters are asked at all.
    pub enabled: bool,
    /// How many days a survey's link takes an answer.
    pub valid_days: u32,
    /// Categories whose requesters are never asked (a security incident is no service to rate).
    pub exclude_categories: Vec<String>,
    /// The longest comment an answer may carry, in characters.
    pub max_comment_chars: u32,
}

impl Default for SurveySettings {
    fn default() -> Self {
        SurveySettings {
            enabled: true,
            valid_days: 14,
            exclude_categories: vec!["security_incident".into()],
            max_comment_chars: 1000,
        }
    }
}

impl SurveySettings {
    /// What the store asks by: these and the address the links point at.
    pub fn policy(&self, public_url: &str) -> crate::store::SurveyPolicy {
        crate::store::SurveyPolicy {
            enabled: self.enabled,
            valid_days: self.valid_days,
            exclude_categories: self.exclude_categories.iter().map(|c| c.trim().to_owned()).collect(),
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }
}

impl Settings {
    /// The interview templates file in use; `None` when the built-in copy serves.
    pub fn interviews_path(&self) -> Option<PathBuf> {
        configured_file(&self.interviews.file, &InterviewSettings::default().file)
    }

    /// Why no satisfaction survey can be sent although the survey is on, if so: its link needs
    /// the address people reach the service at.
    pub fn survey_problem(&self) -> Option<String> {
        (self.survey.enabled && self.http.public_url.trim().is_empty()).then(|| {
            "[survey] is enabled but [http] public_url is not set: no satisfaction survey is sent, since its link \
needs the address people reach the service at"
                .to_owned()
        })
    }

    /// The synonyms file in use; `None` when the built-in copy serves.
    pub fn synonyms_path(&self) -> Option<PathBuf> {
        configured_file(&self.suggest.synonyms, &SuggestSettings::default().synonyms)
    }

    /// The contact list file in use; `None` when the built-in copy serves.
    pub fn contacts_path(&self) -> Option<PathBuf> {
        configured_file(&self.escalation.contacts, &EscalationSettings::default().contacts)
    }

    /// The SLA file in use; `None` when the built-in copy serves.
    pub fn sla_path(&self) -> Option<PathBuf> {
        configured_file(&self.escalation.sla, &EscalationSettings::default().sla)
    }
}

/// A file setting: `None` when left empty, or at its default and not there (the built-in serves).
fn configured_file(value: &str, default: &str) -> Option<PathBuf> {
    let builtin = value.is_empty() || (value == default && !Path::new(value).exists());
    (!builtin).then(|| PathBuf::from(value))
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IntakeSettings {
    /// Contacts written to the store in one transaction at most (group commit).
    pub batch_max: u32,
    /// Contacts waiting for the writer; beyond this, intake answers "busy" (503).
    pub queue_depth: u32,
    /// Attachments one contact may have. The API refuses a contact with more; a mail with more
    /// keeps the original message and the first ones, and its history says how many were left out.
    pub max_attachments_per_contact: u32,
}

/// Announcements uploaded or synthesised in the console (`media::upload`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PromptSettings {
    /// An uploaded WAV or MP3 larger than this is refused before it is decoded.
    pub max_upload_bytes: u64,
    /// An announcement longer than this, once its leading and trailing silence is trimmed, is refused.
    pub max_seconds: u32,
    /// The speech synthesiser: program and arguments, run without a shell; it reads the text on
    /// standard input and writes a WAV to standard output.
    pub tts_command: Vec<String>,
}

impl Default for PromptSettings {
    fn default() -> Self {
        PromptSettings {
            max_upload_bytes: 10 * 1024 * 1024,
            max_seconds: 120,
            tts_command: ["espeak-ng", "-v", "ja", "--stdout"].map(String::from).to_vec(),
        }
    }
}

/// FAQ upkeep (`domain::faq`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaqSettings {
    /// The approval steps every entry goes through before it may be published, in order; each
    /// is recorded by a supervisor who did not write the entry. `general_manager` (統括責任者)
    /// and `business_division` (業務課) have Japanese labels; any other name is shown as written.
    pub approvals: Vec<String>,
}

impl Default for FaqSettings {
    fn default() -> Self {
        FaqSettings { approvals: crate::domain::faq::DEFAULT_STEPS.map(String::from).to_vec() }
    }
}

/// This process among several on one database (see the README's "Several nodes").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSettings {
    /// The node's name in logs, metrics and the events it publishes; empty: the host name and
    /// the SIP port (`helpdesk1:5060`).
    pub name: String,
    /// On SIGTERM, how long calls in progress may go on (new calls get 503 with Retry-After,
    /// new SMTP sessions 421) before they are ended and the process exits.
    pub drain_seconds: u32,
}

impl NodeSettings {
    /// The node's name: `name`, or when it is empty this machine's host name and `sip_port`
    /// (`helpdesk1:5060`). Resolved once, at start.
    pub fn resolved_name(&self, sip_port: u16) -> String {
        match self.name.trim() {
            "" => format!("{}:{sip_port}", crate::os::host_name().unwrap_or_else(|| "localhost".into())),
            name => name.to_owned(),
        }
    }
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings { name: String::new(), drain_seconds: 30 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// A tracing filter: `info`, `madoguchi=debug`, … (`RUST_LOG` wins when set).
    pub level: String,
    /// `text` (for people) or `json` (one object per line, for a log collector).
    pub format: LogFormat,
    /// One line per HTTP request (target `access`, at info): method, route, status, duration,
    /// bytes, the signed-in login and the client's address; never a query string.
    pub access: bool,
}

/// `/metrics` in the Prometheus text format (see README, Metrics).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// A second listener serving only `GET /metrics`, without authentication (bind it where only
    /// Prometheus reaches: 127.0.0.1, a management network); empty: none.
    #[serde(with = "types::optional_addr")]
    pub listen: Option<SocketAddr>,
    /// A bearer token that may read `/metrics` on `[http] listen` (besides supervisors' and
    /// admins' own tokens and sessions); empty: none.
    pub token: Secret,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("data"),
            database: DatabaseSettings::default(),
            http: HttpSettings::default(),
            sip: SipSettings::default(),
            mail: MailSettings::default(),
            routing: RoutingSettings::default(),
            escalation: EscalationSettings::default(),
            suggest: SuggestSettings::default(),
            interviews: InterviewSettings::default(),
            intake: IntakeSettings::default(),
            notify: NotifySettings::default(),
            fax: FaxSettings::default(),
            prompts: PromptSettings::default(),
            faq: FaqSettings::default(),
            reports: ReportSettings::default(),
            status_sources: Vec::new(),
            survey: SurveySettings::default(),
            node: NodeSettings::default(),
            log: LogSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings { url: String::new(), max_connections: 8 }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: ([127, 0, 0, 1], 8080).into(),
            max_body_bytes: 10 * 1024 * 1024,
            query_timeout_ms: 5000,
            hostnames: Vec::new(),
            header_timeout_ms: 10_000,
            max_connections: 1024,
            tls_cert: String::new(),
            tls_key: String::new(),
            requests_per_minute: 600,
            secure_cookies: false,
            session_idle_minutes: 60,
            public_url: String::new(),
            session_max_hours: 12,
        }
    }
}

impl Default for SipSettings {
    fn default() -> Self {
        SipSettings {
            listen: ([0, 0, 0, 0], 5060).into(),
            public_address: None,
            rtp_ports: PortRange { first: 20000, last: 29999 },
            allowed_sources: Vec::new(),
            media_timeout_secs: 60,
            dialplans: "dialplans".into(),
            prompts: "prompts".into(),
            max_calls: 3000,
            invite_rate_per_source: 400,
            scanner_numbers_per_minute: 30,
            scanner_user_agents: [
                "friendly-scanner",
                "sipvicious",
                "sipcli",
                "sip-scan",
                "sundayddr",
                "iwar",
                "vaxsip",
                "pplsip",
                "sipscan",
            ]
            .map(String::from)
            .to_vec(),
            tcp_max_connections: 1024,
            tcp_max_per_source: 64,
            tcp_idle_secs: 180,
            tcp_message_secs: 10,
        }
    }
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            listen: ([0, 0, 0, 0], 2525).into(),
            hostname: "madoguchi.localdomain".into(),
            recipients: Vec::new(),
            max_message_bytes: 25 * 1024 * 1024,
            max_recipients: 100,
            max_connections: 200,
            max_connections_per_source: 64,
            timeout_secs: 300,
            tls_cert: String::new(),
            tls_key: String::new(),
            acknowledge: true,
            ack_limit_per_hour: 5,
            ack_limit_global_per_minute: 30,
            ack_limit_global_per_hour: 300,
            ack_domains: Vec::new(),
            trusted_domains: Vec::new(),
        }
    }
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            relay: String::new(),
            relay_security: RelaySecurity::None,
            username: String::new(),
            password: Secret::default(),
            from: "helpdesk@madoguchi.localdomain".into(),
            from_name: "ヘルプデスク / Helpdesk".into(),
            ack_template: String::new(),
            reply_signature: crate::domain::reply::DEFAULT_SIGNATURE.into(),
            retry_initial_secs: 30,
            retry_max_secs: 3600,
            max_attempts: 12,
        }
    }
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings { batch_max: 256, queue_depth: 4096, max_attachments_per_contact: 50 }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings { level: "info".into(), format: LogFormat::Text, access: true }
    }
}

impl Settings {
    /// Doors open to any host: listening on all interfaces with nothing that limits who may
    /// call or send mail. One line each, for `check` and `serve` to say.
    pub fn open_doors(&self) -> Vec<String> {
        let mut doors = Vec::new();
        if self.sip.listen.ip().is_unspecified() && self.sip.allowed_sources.is_empty() {
            doors.push(format!(
                "[sip] listens on all interfaces ({}) and allowed_sources is empty: any host can place calls; \
list the PBX's addresses in allowed_sources",
                self.sip.listen
            ));
        }
        if self.mail.listen.ip().is_unspecified() && self.mail.recipients.is_empty() {
            doors.push(format!(
                "[mail] listens on all interfaces ({}) and recipients is empty: any host can send mail into tickets; \
list the helpdesk's addresses in recipients",
                self.mail.listen
            ));
        }
        doors
    }

    /// The database to use. An SQLite file that does not exist yet is created (`mode=rwc`)
    /// unless the URL says otherwise.
    pub fn database_url(&self) -> String {
        self.database_url_opening(OpenMode::Create)
    }

    /// The database URL for `mode`: only `serve` and `migrate` create an SQLite file; the other
    /// commands open an existing one (`mode=rw`) and say so when there is none.
    pub fn database_url_opening(&self, mode: OpenMode) -> String {
        let flag = match mode {
            OpenMode::Create => "mode=rwc",
            OpenMode::Existing => "mode=rw",
        };
        if self.database.url.is_empty() {
            return format!("sqlite://{}?{flag}", self.data_dir.join("madoguchi.db").display());
        }
        let url = &self.database.url;
        if url.starts_with("sqlite:") && !url.contains("mode=") && !url.contains(":memory:") {
            let joiner = if url.contains('?') { '&' } else { '?' };
            return format!("{url}{joiner}{flag}");
        }
        url.clone()
    }

    /// The SQLite file the settings name (absolute), if the database is SQLite on a file.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let url = self.database_url();
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Some(std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path)))
    }

    /// The database as commands print it: an SQLite file's absolute path, or a PostgreSQL URL
    /// without its password.
    pub fn database_label(&self) -> String {
        if let Some(file) = self.sqlite_file() {
            return format!("sqlite {}", file.display());
        }
        let url = self.database_url();
        match (url.find("://"), url.find('@')) {
            (Some(scheme), Some(at)) if scheme < at => {
                let credentials = &url[scheme + 3..at];
                let user = credentials.split(':').next().unwrap_or_default();
                let hidden = if credentials.contains(':') { ":***" } else { "" };
                format!("{}{user}{hidden}{}", &url[..scheme + 3], &url[at..])
            }
            _ => url,
        }
    }

    /// The routing rules file in use; `None` when the built-in copy routes (the setting left at
    /// its default, or empty, and no such file where madoguchi runs).
    pub fn rules_path(&self) -> Option<PathBuf> {
        configured_file(&self.routing.rules, &RoutingSettings::default().rules)
    }
}

/// Whether a command may create the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// `serve` and `migrate`.
    Create,
    /// Every other command: a database that is not there is an error, not a new empty one.
    Existing,
}

/// Settings and the file they came from (none when running on the defaults).
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub file: Option<PathBuf>,
    /// The file's text, for placing problems found later on its lines.
    pub source: String,
}

/// Reads the configuration: `explicit` if given (`--config` or `MADOGUCHI_CONFIG`), else
/// `./madoguchi.toml`, else `/etc/madoguchi/madoguchi.toml`, else the defaults; then the
/// `MADOGUCHI_*` variables in `env` on top; then checks the values. Every command finds it so.
pub fn load(explicit: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, Problems> {
    load_first_of(explicit, &[Path::new(DEFAULT_FILE), Path::new(SYSTEM_FILE)], env)
}

fn load_first_of(
    explicit: Option<&Path>,
    candidates: &[&Path],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, Problems> {
    let file = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => candidates.iter().find(|p| p.exists()).map(|p| p.to_path_buf()),
    };
    let (name, source) = match &file {
        Some(path) => {
            let name = path.display().to_string();
            match std::fs::read_to_string(path) {
                Ok(s) => (name, s),
                Err(e) => return Err(Problems(vec![Problem::new(name, None, format!("cannot read: {e}"))])),
            }
        }
        None => ("(defaults)".to_owned(), String::new()),
    };

    // Parse the file alone first, so type errors point at its lines.
    if let Err(e) = toml::from_str::<Settings>(&source) {
        return Err(Problems(vec![Problem::from_toml(&name, &source, &e)]));
    }
    let mut table: toml::Table =
        toml::from_str(&source).map_err(|e| Problems(vec![Problem::from_toml(&name, &source, &e)]))?;
    let mut problems = overlay_env(&mut table, env);
    let settings = match Settings::deserialize(toml::Value::Table(table)) {
        Ok(s) => s,
        Err(e) => {
            problems.push(Problem::new("environment", None, e.message().trim().to_owned()));
            return Err(Problems(problems));
        }
    };
    problems.extend(validate(&settings, &name, &source));
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let mut settings = settings;
    settings.http.public_url = settings.http.public_url.trim_end_matches('/').to_owned();
    for name in &mut settings.http.hostnames {
        *name = crate::domain::host::fold_hostname(name);
    }
    Ok(Loaded { settings, file, source })
}

/// Applies `MADOGUCHI_<SECTION>_<KEY>=value`, converting the value to the type the setting has.
fn overlay_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Vec<Problem> {
    let defaults = toml::Table::try_from(Settings::default()).expect("defaults serialise");
    let mut problems = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| {
            k.starts_with(ENV_PREFIX) && !ENV_NOT_SETTINGS.contains(&k.as_str()) && !k.starts_with("MADOGUCHI_TEST_")
        })
        .collect();
    vars.sort();
    for (var, value) in vars {
        let path = var[ENV_PREFIX.len()..].to_ascii_lowercase();
        let located = match defaults.get(&path) {
            Some(v) if !v.is_table() => Some((None, path.clone(), v)),
            _ => path.split_once('_').and_then(|(section, key)| {
                defaults.get(section)?.as_table()?.get(key).map(|v| (Some(section.to_owned()), key.to_owned(), v))
            }),
        };
        let Some((section, key, default)) = located else {
            problems.push(Problem::new("environment", None, format!("{var}: no such setting")));
            continue;
        };
        let converted = match default {
            toml::Value::String(_) => Ok(toml::Value::String(value)),
            toml::Value::Integer(_) => value.trim().parse::<i64>().map(toml::Value::Integer).map_err(|_| "an integer"),
            toml::Value::Boolean(_) => {
                value.trim().parse::<bool>().map(toml::Value::Boolean).map_err(|_| "true or false")
            }
            toml::Value::Float(_) => value.trim().parse::<f64>().map(toml::Value::Float).map_err(|_| "a number"),
            _ => toml::from_str::<toml::Table>(&format!("v = {value}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .ok_or("a TOML value"),
        };
        let target = match &section {
            None => &mut *table,
            Some(s) => match table.entry(s.clone()).or_insert_with(|| toml::Value::Table(Default::default())) {
                toml::Value::Table(t) => t,
                _ => {
                    problems.push(Problem::new(
                        "environment",
                        None,
                        format!("{var}: [{s}] is not a table in the file"),
                    ));
                    continue;
                }
            },
        };
        match converted {
            Ok(v) => {
                // Checked alone against the defaults, so that a bad value names its variable.
                let mut alone = defaults.clone();
                let slot = match &section {
                    None => Some(&mut alone),
                    Some(s) => alone.get_mut(s).and_then(toml::Value::as_table_mut),
                };
                if let Some(slot) = slot {
                    slot.insert(key.clone(), v.clone());
                }
                if let Err(e) = Settings::deserialize(toml::Value::Table(alone)) {
                    problems.push(Problem::new("environment", None, format!("{var}: {}", e.message().trim())));
                    continue;
                }
                target.insert(key, v);
            }
            Err(expected) => problems.push(Problem::new("environment", None, format!("{var}: expected {expected}"))),
        }
    }
    problems
}

/// `[http] public_url`: empty, or `http(s)://host[:port][/path]` without query or fragment.
fn public_url_problem(url: &str) -> Option<&'static str> {
    if url.is_empty() {
        return None;
    }
    let Some(rest) = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")) else {
        return Some("must start with https:// or http://");
    };
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    if host.is_empty() || url.contains(['?', '#', ' ', '"', '<', '>']) {
        return Some("must be a plain address like https://helpdesk.example.go.jp");
    }
    None
}

fn validate(s: &Settings, file: &str, source: &str) -> Vec<Problem> {
    let lines = TomlLines::scan(source);
    let mut problems = Vec::new();
    let mut report = |section: &str, key: &str, message: String| {
        problems.push(Problem::new(file, lines.find(section, None, Some(key)), message));
    };
    let url = s.database_url();
    if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        report("database", "url", "database url must start with sqlite:// or postgres://".into());
    }
    if s.database.max_connections == 0 {
        report("database", "max_connections", "max_connections must be at least 1".into());
    }
    if s.http.max_body_bytes < 1024 {
        report("http", "max_body_bytes", "max_body_bytes must be at least 1024".into());
    }
    let token = s.metrics.token.expose();
    if !token.is_empty() && (token.len() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control())) {
        report("metrics", "token", "token must be at least 16 characters, without spaces".into());
    }
    if s.intake.batch_max == 0 {
        report("intake", "batch_max", "batch_max must be at least 1".into());
    }
    if s.intake.queue_depth == 0 {
        report("intake", "queue_depth", "queue_depth must be at least 1".into());
    }
    if s.intake.max_attachments_per_contact == 0 {
        report("intake", "max_attachments_per_contact", "max_attachments_per_contact must be at least 1".into());
    }
    if !(10..=600_000).contains(&s.http.query_timeout_ms) {
        report("http", "query_timeout_ms", "query_timeout_ms must be between 10 and 600000".into());
    }
    if !(100..=600_000).contains(&s.http.header_timeout_ms) {
        report("http", "header_timeout_ms", "header_timeout_ms must be between 100 and 600000".into());
    }
    if s.http.max_connections == 0 {
        report("http", "max_connections", "max_connections must be at least 1".into());
    }
    for (i, name) in s.http.hostnames.iter().enumerate() {
        if let Some(why) = crate::domain::host::hostname_problem(name) {
            report("http", "hostnames", format!("hostnames[{i}] '{name}' is not a host name: {why}"));
        }
    }
    if let Some(why) = public_url_problem(&s.http.public_url) {
        report("http", "public_url", format!("public_url '{}' {why}", s.http.public_url));
    }
    if !(1..=7 * 24 * 60).contains(&s.http.session_idle_minutes) {
        report("http", "session_idle_minutes", "session_idle_minutes must be between 1 and 10080 (a week)".into());
    }
    if !(1..=24 * 31).contains(&s.http.session_max_hours) {
        report("http", "session_max_hours", "session_max_hours must be between 1 and 744 (31 days)".into());
    }
    let tcp = [("http", s.http.listen), ("sip", s.sip.listen), ("mail", s.mail.listen)];
    for (i, (a, addr_a)) in tcp.iter().enumerate() {
        for (b, addr_b) in &tcp[i + 1..] {
            let overlap = addr_a.port() == addr_b.port()
                && addr_a.port() != 0
                && (addr_a.ip() == addr_b.ip() || addr_a.ip().is_unspecified() || addr_b.ip().is_unspecified());
            if overlap {
                report(b, "listen", format!("[{b}] listen {addr_b} uses the same TCP port as [{a}] listen {addr_a}"));
            }
        }
    }
    for (key, value) in [
        ("max_calls", s.sip.max_calls),
        ("invite_rate_per_source", s.sip.invite_rate_per_source),
        ("scanner_numbers_per_minute", s.sip.scanner_numbers_per_minute),
        ("tcp_max_connections", s.sip.tcp_max_connections),
        ("tcp_max_per_source", s.sip.tcp_max_per_source),
    ] {
        if value == 0 {
            report("sip", key, format!("{key} must be at least 1"));
        }
    }
    for (key, value) in [("tcp_idle_secs", s.sip.tcp_idle_secs), ("tcp_message_secs", s.sip.tcp_message_secs)] {
        if value == 0 {
            report("sip", key, format!("{key} must be at least 1"));
        }
    }
    if s.sip.tcp_max_per_source > s.sip.tcp_max_connections {
        report("sip", "tcp_max_per_source", "tcp_max_per_source must not exceed tcp_max_connections".into());
    }
    if s.sip.rtp_ports.len() < s.sip.max_calls {
        report(
            "sip",
            "max_calls",
            format!(
                "max_calls {} needs as many RTP ports, but rtp_ports has {}",
                s.sip.max_calls,
                s.sip.rtp_ports.len()
            ),
        );
    }
    if let Some(limit) = crate::os::open_file_limit() {
        let needed = u64::from(s.sip.tcp_max_connections)
            + 2 * u64::from(s.sip.max_calls)
            + u64::from(s.mail.max_connections)
            + u64::from(s.http.max_connections)
            + crate::os::RESERVED_FILES;
        if needed > limit {
            report(
                "sip",
                "tcp_max_connections",
                format!(
                    "tcp_max_connections + 2 × max_calls (RTP) + [mail] max_connections + [http] max_connections + {} reserved need {needed} open files, \
but this process may open {limit} (raise `ulimit -n` or lower them)",
                    crate::os::RESERVED_FILES
                ),
            );
        }
    }
    if s.mail.max_message_bytes < 1024 {
        report("mail", "max_message_bytes", "max_message_bytes must be at least 1024".into());
    }
    if s.mail.max_connections_per_source > s.mail.max_connections {
        report(
            "mail",
            "max_connections_per_source",
            "max_connections_per_source must not exceed max_connections".into(),
        );
    }
    for (key, value) in [
        ("max_recipients", s.mail.max_recipients),
        ("max_connections", s.mail.max_connections),
        ("max_connections_per_source", s.mail.max_connections_per_source),
    ] {
        if value == 0 {
            report("mail", key, format!("{key} must be at least 1"));
        }
    }
    if s.mail.timeout_secs == 0 {
        report("mail", "timeout_secs", "timeout_secs must be at least 1".into());
    }
    for r in &s.mail.recipients {
        if !r.contains('@') || r.contains(char::is_whitespace) {
            report("mail", "recipients", format!("'{r}' is not an address or @domain"));
        }
    }
    for (key, domains) in [("trusted_domains", &s.mail.trusted_domains), ("ack_domains", &s.mail.ack_domains)] {
        for d in domains {
            let domain = d.trim_start_matches('@');
            if domain.is_empty() || domain.contains(['@', ' ']) || !domain.contains('.') {
                report("mail", key, format!("'{d}' is not a domain (e.g. example.go.jp)"));
            }
        }
    }
    for (section, cert, key) in
        [("mail", &s.mail.tls_cert, &s.mail.tls_key), ("http", &s.http.tls_cert, &s.http.tls_key)]
    {
        if cert.is_empty() != key.is_empty() {
            report(section, "tls_cert", "tls_cert and tls_key are set together or not at all".into());
        }
        for (key, path) in [("tls_cert", cert), ("tls_key", key)] {
            if !path.is_empty() && !Path::new(path).exists() {
                report(section, key, format!("{path}: no such file"));
            }
        }
    }
    if !s.notify.relay.is_empty() && s.notify.relay.rsplit_once(':').is_none_or(|(_, p)| p.parse::<u16>().is_err()) {
        report("notify", "relay", format!("relay '{}' must be host:port", s.notify.relay));
    }
    if !s.notify.from.contains('@') {
        report("notify", "from", "from must be an e-mail address".into());
    }
    if !s.notify.ack_template.is_empty() && !Path::new(&s.notify.ack_template).exists() {
        report("notify", "ack_template", format!("{}: no such file", s.notify.ack_template));
    }
    if let Some(unknown) = crate::domain::reply::unknown_placeholder(&s.notify.reply_signature) {
        let known = crate::domain::reply::PLACEHOLDERS.join(", ");
        report("notify", "reply_signature", format!("reply_signature: {unknown} is not one of {known}"));
    }
    if s.notify.max_attempts == 0 || s.notify.retry_initial_secs == 0 {
        report("notify", "max_attempts", "max_attempts and retry_initial_secs must be at least 1".into());
    }
    if !(1024..=1024 * 1024 * 1024).contains(&s.prompts.max_upload_bytes) {
        report("prompts", "max_upload_bytes", "max_upload_bytes must be between 1024 and 1073741824 (1 GiB)".into());
    }
    if !(1..=3600).contains(&s.prompts.max_seconds) {
        report("prompts", "max_seconds", "max_seconds must be between 1 and 3600".into());
    }
    if s.prompts.tts_command.first().is_none_or(|program| program.trim().is_empty()) {
        report(
            "prompts",
            "tts_command",
            "tts_command must name a program, e.g. [\"espeak-ng\", \"-v\", \"ja\", \"--stdout\"]".into(),
        );
    }
    for problem in crate::domain::faq::steps_problems(&s.faq.approvals) {
        report("faq", "approvals", problem);
    }
    for (key, addresses) in [("daily_to", &s.reports.daily_to), ("monthly_to", &s.reports.monthly_to)] {
        for (i, a) in addresses.iter().enumerate() {
            if a.parse::<lettre::Address>().is_err() {
                report("reports", key, format!("{key}[{i}] '{a}' is not an e-mail address"));
            }
        }
    }
    if !(1..=365).contains(&s.survey.valid_days) {
        report("survey", "valid_days", "valid_days must be between 1 and 365".into());
    }
    if !(1..=10_000).contains(&s.survey.max_comment_chars) {
        report("survey", "max_comment_chars", "max_comment_chars must be between 1 and 10000".into());
    }
    for (i, category) in s.survey.exclude_categories.iter().enumerate() {
        let c = category.trim();
        if c.is_empty() || c.contains(char::is_whitespace) {
            report(
                "survey",
                "exclude_categories",
                format!("exclude_categories[{i}] '{category}' is not a category name (e.g. security_incident)"),
            );
        } else if s.survey.exclude_categories[..i].iter().any(|earlier| earlier.trim() == c) {
            report("survey", "exclude_categories", format!("exclude_categories names '{c}' twice"));
        }
    }
    for problem in crate::facts::Sources::from_settings(&s.status_sources).err().unwrap_or_default() {
        let line = lines.find("status_sources", Some(problem.index), Some(problem.key()));
        problems.push(Problem::new(file, line, problem.to_string()));
    }
    for (i, p) in s.fax.profiles.iter().enumerate() {
        let patterns = [("from", &p.from), ("subject", &p.subject), ("body", &p.body), ("headers", &p.headers)]
            .into_iter()
            .chain([("pages", &p.pages), ("received", &p.received)])
            .chain(p.number.iter().map(|n| ("number", n)));
        for (field, pattern) in patterns {
            if let Some(error) = pattern.error() {
                problems.push(Problem::new(
                    file,
                    lines.find("fax.profiles", Some(i), Some(field)),
                    format!("fax profile '{}': {field} is not a valid regular expression: {error}", p.name),
                ));
            }
        }
        if p.from.is_empty() && p.subject.is_empty() && p.body.is_empty() && p.headers.is_empty() {
            let line = lines.find("fax.profiles", Some(i), Some("name"));
            problems.push(Problem::new(
                file,
                line,
                format!("fax profile '{}' needs from, subject, body or headers to recognise its mail", p.name),
            ));
        }
    }
    if let Some(why) = log_filter_problem(&s.log.level) {
        let line = lines.find("log", None, Some("level"));
        problems.push(Problem::new(file, line, why));
    }
    if !s.notify.password.is_empty() && s.notify.relay_security == RelaySecurity::None {
        let line = lines.find("notify", None, Some("password"));
        problems.push(Problem::new(
            file,
            line,
            "a relay password is never sent unencrypted: set relay_security to starttls or tls, or remove the password",
        ));
    }
    problems
}

/// Why `level` is not a log filter madoguchi can use, if it is not: each comma-separated part is
/// a level (`trace`, `debug`, `info`, `warn`, `error`, `off`) or `target=level`. (tracing would
/// take a bare word such as `verbose` as a target name and log nothing the admin meant.)
fn log_filter_problem(level: &str) -> Option<String> {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let is_level = |l: &str| LEVELS.iter().any(|x| x.eq_ignore_ascii_case(l.trim()));
    let bad = level.split(',').map(str::trim).find(|part| match part.rsplit_once('=') {
        Some((target, l)) => target.trim().is_empty() || !is_level(l),
        None => !is_level(part),
    });
    let bad = bad.or_else(|| tracing_subscriber::EnvFilter::try_new(level).is_err().then_some(level))?;
    Some(format!(
        "'{bad}' is not a log level: use one of trace, debug, info, warn, error, off, or target=level (madoguchi=debug)"
    ))
}

#[cfg(test)]
mod open_door_tests {
    use super::*;

    #[test]
    fn open_doors_are_named() {
        let mut s = Settings::default();
        s.sip.listen = ([0, 0, 0, 0], 5060).into();
        s.mail.listen = ([0, 0, 0, 0], 2525).into();
        let doors = s.open_doors();
        assert_eq!(doors.len(), 2, "{doors:?}");
        assert!(doors[0].contains("allowed_sources") && doors[1].contains("recipients"), "{doors:?}");
        s.sip.allowed_sources = vec!["192.0.2.10".parse().unwrap()];
        s.mail.listen = ([127, 0, 0, 1], 2525).into();
        assert!(s.open_doors().is_empty());
    }

    #[test]
    fn log_levels_are_levels() {
        for good in ["info", "debug", "WARN", "madoguchi=debug", "info,madoguchi::sip=trace", "off"] {
            assert_eq!(log_filter_problem(good), None, "{good}");
        }
        for bad in ["verbose", "inf", "", "madoguchi=loud", "info,", "=debug"] {
            assert!(log_filter_problem(bad).is_some(), "{bad}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(src: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(src.as_bytes()).unwrap();
        f
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let f = write("");
        let loaded = load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(loaded.settings, Settings::default());
        assert_eq!(loaded.settings.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(loaded.settings.sip.listen.to_string(), "0.0.0.0:5060");
        assert_eq!(loaded.settings.mail.listen.to_string(), "0.0.0.0:2525");
        assert_eq!(loaded.settings.database_url(), "sqlite://data/madoguchi.db?mode=rwc");
    }

    #[test]
    fn the_example_file_lists_every_default() {
        let example = include_str!("../madoguchi.example.toml");
        let parsed: Settings = toml::from_str(example).unwrap();
        assert_eq!(parsed, Settings::default());
        let table: toml::Table = toml::from_str(example).unwrap();
        let defaults = toml::Table::try_from(Settings::default()).unwrap();
        for (section, value) in &defaults {
            match value.as_table() {
                Some(keys) => {
                    for key in keys.keys() {
                        let present = table.get(section).and_then(|t| t.get(key)).is_some();
                        assert!(present, "example lacks [{section}] {key}");
                    }
                }
                None => assert!(table.contains_key(section), "example lacks {section}"),
            }
        }
    }

    #[test]
    fn environment_overrides_the_file_with_typed_values() {
        let f = write("[http]\nlisten = \"127.0.0.1:1\"\n");
        let loaded = load(
            Some(f.path()),
            env(&[
                ("MADOGUCHI_HTTP_LISTEN", "127.0.0.1:18080"),
                ("MADOGUCHI_DATA_DIR", "/tmp/x"),
                ("MADOGUCHI_INTAKE_BATCH_MAX", "16"),
                ("MADOGUCHI_DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
                ("MADOGUCHI_CONFIG", "ignored.toml"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(loaded.settings.http.listen.to_string(), "127.0.0.1:18080");
        assert_eq!(loaded.settings.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(loaded.settings.intake.batch_max, 16);
        assert_eq!(loaded.settings.database_url(), "postgres://postgres@127.0.0.1/test");
    }

    #[test]
    fn problems_name_file_line_and_what_is_wrong() {
        let f = write("data_dir = \"d\"\n\n[http]\nlisten = \"not an address\"\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:4:", f.path().display())), "{err}");
        assert!(err.contains("socket address"), "{err}");

        let f = write("[htp]\nlisten = \"127.0.0.1:1\"\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(err.contains(":1:") && err.contains("htp"), "{err}");

        let f = write("[database]\nurl = \"mysql://x\"\nmax_connections = 0\n[mail]\nlisten = \"127.0.0.1:8080\"\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(err.0.len(), 3, "{lines:?}");
        assert!(lines[0].contains(":2: database url"), "{lines:?}");
        assert!(lines[1].contains(":3: max_connections"), "{lines:?}");
        assert!(lines[2].contains(":5: [mail] listen"), "{lines:?}");
    }

    #[test]
    fn report_addresses_and_the_sending_time_are_checked_with_their_lines() {
        let f = write("[reports]\ndaily_to = [\"desk@example.go.jp\", \"not an address\"]\nmonthly_to = [\"ops@\"]\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains(":2: daily_to[1] 'not an address' is not an e-mail address"), "{lines:?}");
        assert!(lines[1].contains(":3: monthly_to[0]"), "{lines:?}");
        let f = write("[reports]\nsend_at = \"7:30am\"\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("must be a time like 07:30"), "{err}");
        let f = write("[reports]\nsend_at = \"06:45\"\ndaily_to = [\"desk@example.go.jp\"]\n");
        let loaded = load(Some(f.path()), env(&[("MADOGUCHI_REPORTS_MONTHLY_TO", "[\"ops@example.go.jp\"]")])).unwrap();
        assert_eq!(loaded.settings.reports.send_at, ClockTime::new(6, 45));
        assert_eq!(loaded.settings.reports.monthly_to, ["ops@example.go.jp"]);
        let err = load(None, env(&[("MADOGUCHI_REPORTS_SEND_AT", "25:00")])).unwrap_err().to_string();
        assert!(err.contains("MADOGUCHI_REPORTS_SEND_AT") && err.contains("07:30"), "{err}");
    }

    #[test]
    fn a_reply_signature_may_fill_in_only_what_it_knows() {
        let f = write("[notify]\nfrom = \"helpdesk@example.go.jp\"\nreply_signature = \"--\\n{name}\\n{phone}\\n\"\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(err.contains(":3:") && err.contains("{phone} is not one of {name}, {helpdesk}, {ticket}"), "{err}");
        let f = write("[notify]\nreply_signature = \"--\\n{name}\\n{helpdesk}\\n\"\n");
        assert!(load(Some(f.path()), env(&[])).is_ok());
    }

    #[test]
    fn prompt_limits_and_the_synthesiser_are_checked() {
        let f = write("[prompts]\nmax_upload_bytes = 10\nmax_seconds = 0\ntts_command = []\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].contains(":2: max_upload_bytes must be between"), "{lines:?}");
        assert!(lines[1].contains(":3: max_seconds must be between"), "{lines:?}");
        assert!(lines[2].contains(":4: tts_command must name a program"), "{lines:?}");
        let f = write("[prompts]\nmax_seconds = 30\n");
        let vars = env(&[("MADOGUCHI_PROMPTS_TTS_COMMAND", r#"["open_jtalk-wrapper", "--wav"]"#)]);
        let prompts = load(Some(f.path()), vars).unwrap().settings.prompts;
        assert_eq!(prompts.max_seconds, 30);
        assert_eq!(prompts.max_upload_bytes, 10 * 1024 * 1024);
        assert_eq!(prompts.tts_command, ["open_jtalk-wrapper", "--wav"]);
    }

    #[test]
    fn survey_settings_are_checked_with_their_lines() {
        let f = write(
            "[survey]\nvalid_days = 0\nmax_comment_chars = 20000\nexclude_categories = [\"security_incident\", \"\", \"security_incident\"]\n",
        );
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].contains(":2: valid_days must be between 1 and 365"), "{lines:?}");
        assert!(lines[1].contains(":3: max_comment_chars must be between 1 and 10000"), "{lines:?}");
        assert!(lines[2].contains(":4: exclude_categories[1] '' is not a category name"), "{lines:?}");
        assert!(lines[3].contains(":4: exclude_categories names 'security_incident' twice"), "{lines:?}");
        let f = write("[survey]\nenabled = false\nvalid_days = 7\n");
        let vars = env(&[("MADOGUCHI_SURVEY_EXCLUDE_CATEGORIES", r#"["security_incident", "fault_report"]"#)]);
        let survey = load(Some(f.path()), vars).unwrap().settings.survey;
        assert_eq!((survey.enabled, survey.valid_days, survey.max_comment_chars), (false, 7, 1000));
        assert_eq!(survey.exclude_categories, ["security_incident", "fault_report"]);
        let d = Settings::default().survey;
        assert_eq!(
            (d.enabled, d.valid_days, d.exclude_categories, d.max_comment_chars),
            (true, 14, vec!["security_incident".to_owned()], 1000)
        );
        let err = load(None, env(&[("MADOGUCHI_SURVEY_VALID_DAYS", "two weeks")])).unwrap_err().to_string();
        assert!(err.contains("MADOGUCHI_SURVEY_VALID_DAYS: expected an integer"), "{err}");
        let policy = Settings::default().survey.policy("https://helpdesk.example.go.jp/");
        assert_eq!(policy.public_url, "https://helpdesk.example.go.jp");
    }

    #[test]
    fn faq_approval_steps_are_named_once_each() {
        let f = write("[faq]\n# steps\napprovals = [\"general_manager\", \"\", \"general_manager\"]\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains(":3: approvals[1] is empty"), "{lines:?}");
        assert!(lines[1].contains(":3: approvals[2] 'general_manager' is listed twice"), "{lines:?}");
        let f = write("[faq]\napprovals = []\n");
        assert!(
            load(Some(f.path()), env(&[]))
                .unwrap_err()
                .to_string()
                .contains(":2: approvals must name at least one step")
        );
        let f = write("[faq]\napprovals = [\"課長\", \"business_division\"]\n");
        assert_eq!(load(Some(f.path()), env(&[])).unwrap().settings.faq.approvals, ["課長", "business_division"]);
        let vars = env(&[("MADOGUCHI_FAQ_APPROVALS", r#"["general_manager"]"#)]);
        assert_eq!(load(Some(write("").path()), vars).unwrap().settings.faq.approvals, ["general_manager"]);
        assert_eq!(Settings::default().faq.approvals, ["general_manager", "business_division"]);
    }

    #[test]
    fn status_sources_are_checked_with_their_lines_and_never_print_their_secrets() {
        let f = write(
            "[log]\nlevel = \"info\"\n\n[[status_sources]]\nname = \"監視\"\nurl = \"ftp://mon.example/\"\ntimeout_ms = 60000\n\n\
[[status_sources]]\nname = \"監視\"\nurl = \"https://mon.example/health?token=hunter2\"\nmax_bytes = 10\n",
        );
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        let at = |n: usize| format!("{}:{n}: [[status_sources]] ", f.path().display());
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with(&at(6)) && lines[0].contains("http:// or https://"), "{lines:?}");
        assert!(lines[1].starts_with(&at(7)) && lines[1].contains("timeout_ms must be between 100 and 30000"));
        assert!(lines[2].starts_with(&format!("{}2 「監視」: name が 1 番目の取得元と同じです", at(10))), "{lines:?}");
        assert!(lines[3].starts_with(&at(12)) && lines[3].contains("max_bytes"), "{lines:?}");
        assert!(!err.to_string().contains("hunter2"), "{err}");

        let f = write(
            "[[status_sources]]\nname = \"Prometheus\"\nurl = \"http://prom.example:9090/api/v1/query?query=up\"\n",
        );
        let sources = load(Some(f.path()), env(&[])).unwrap().settings.status_sources;
        assert_eq!(sources.len(), 1);
        let s = &sources[0];
        assert_eq!(
            (s.timeout_ms, s.max_bytes, s.categories.as_slice()),
            (3000, 65536, &["fault_report".to_owned()][..])
        );
        let vars = env(&[(
            "MADOGUCHI_STATUS_SOURCES",
            r#"[{name = "ヘルス", url = "https://ops.example/health", categories = []}]"#,
        )]);
        let sources = load(Some(f.path()), vars).unwrap().settings.status_sources;
        assert_eq!((sources[0].name.as_str(), sources[0].categories.len()), ("ヘルス", 0));
        let vars = env(&[("MADOGUCHI_STATUS_SOURCES", r#"[{name = "x", url = "mailto:a@example"}]"#)]);
        let err = load(Some(f.path()), vars).unwrap_err().to_string();
        assert!(err.contains("「x」: url は http:// か https:// で始めてください"), "{err}");
    }

    #[test]
    fn session_limits_must_be_sensible() {
        let f = write("[http]\nsecure_cookies = true\nsession_idle_minutes = 0\nsession_max_hours = 1000\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains(":3: session_idle_minutes"), "{lines:?}");
        assert!(lines[1].contains(":4: session_max_hours"), "{lines:?}");
        let f = write("[http]\nsecure_cookies = true\nsession_idle_minutes = 15\n");
        let http = load(Some(f.path()), env(&[("MADOGUCHI_HTTP_SESSION_MAX_HOURS", "8")])).unwrap().settings.http;
        assert_eq!((http.secure_cookies, http.session_idle_minutes, http.session_max_hours), (true, 15, 8));
    }

    #[test]
    fn bad_environment_values_are_reported() {
        let f = write("");
        let err = load(Some(f.path()), env(&[("MADOGUCHI_HTTP_LISTNE", "x"), ("MADOGUCHI_INTAKE_BATCH_MAX", "many")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("MADOGUCHI_HTTP_LISTNE: no such setting"), "{err}");
        assert!(err.contains("MADOGUCHI_INTAKE_BATCH_MAX: expected an integer"), "{err}");
        let err = load(
            Some(f.path()),
            env(&[
                ("MADOGUCHI_HTTP_LISTEN", "localhost"),
                ("MADOGUCHI_SIP_RTP_PORTS", "30000"),
                ("MADOGUCHI_NOTIFY_RELAY_SECURITY", "ssl"),
            ]),
        )
        .unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].starts_with("environment: MADOGUCHI_HTTP_LISTEN: ") && lines[0].contains("address"),
            "{lines:?}"
        );
        assert!(lines[1].starts_with("environment: MADOGUCHI_NOTIFY_RELAY_SECURITY: "), "{lines:?}");
        assert!(lines[2].contains("MADOGUCHI_SIP_RTP_PORTS: '30000' must be first-last"), "{lines:?}");
    }

    #[test]
    fn values_are_typed_when_read_and_a_password_never_prints() {
        let f = write(
            "[sip]\npublic_address = \"203.0.113.5\"\nallowed_sources = [\"192.0.2.10\"]\nrtp_ports = \"30000-30999\"\nmax_calls = 500\n\
[notify]\nrelay = \"smtp.example.go.jp:587\"\nrelay_security = \"starttls\"\nusername = \"u\"\npassword = \"hunter2\"\n",
        );
        let loaded = load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(loaded.settings.sip.public_address, Some("203.0.113.5".parse().unwrap()));
        assert_eq!(loaded.settings.sip.rtp_ports.len(), 1000);
        assert_eq!(loaded.settings.notify.relay_security, RelaySecurity::Starttls);
        assert_eq!(loaded.settings.notify.password.expose(), "hunter2");
        assert!(!format!("{:?}", loaded.settings).contains("hunter2"), "Debug never shows the password");
        let f = write("[sip]\nallowed_sources = [\"pbx.example\"]\n");
        let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("address"), "{err}");
    }

    #[test]
    fn the_configuration_is_found_in_order_explicit_working_directory_then_etc() {
        let here = write("[http]\nlisten = \"127.0.0.1:1\"\n");
        let etc = write("[http]\nlisten = \"127.0.0.1:2\"\n");
        let explicit = write("[http]\nlisten = \"127.0.0.1:3\"\n");
        let nowhere = Path::new("/nonexistent/madoguchi.toml");
        let port = |l: Loaded| (l.settings.http.listen.port(), l.file);
        let found = load_first_of(Some(explicit.path()), &[here.path(), etc.path()], env(&[])).unwrap();
        assert_eq!(port(found), (3, Some(explicit.path().to_path_buf())));
        let found = load_first_of(None, &[here.path(), etc.path()], env(&[])).unwrap();
        assert_eq!(port(found), (1, Some(here.path().to_path_buf())));
        let found = load_first_of(None, &[nowhere, etc.path()], env(&[])).unwrap();
        assert_eq!(port(found), (2, Some(etc.path().to_path_buf())));
        let found = load_first_of(None, &[nowhere], env(&[])).unwrap();
        assert_eq!(port(found), (8080, None));
    }

    #[test]
    fn the_database_is_printed_without_its_password() {
        let mut s = Settings::default();
        s.database.url = "postgres://helpdesk:s3cret@db.example.go.jp:5432/madoguchi".into();
        assert_eq!(s.database_label(), "postgres://helpdesk:***@db.example.go.jp:5432/madoguchi");
        s.database.url = "sqlite:///var/lib/madoguchi/x.db".into();
        assert_eq!(s.database_label(), "sqlite /var/lib/madoguchi/x.db");
        assert_eq!(s.database_url_opening(OpenMode::Existing), "sqlite:///var/lib/madoguchi/x.db?mode=rw");
    }

    #[test]
    fn the_public_url_is_a_plain_http_address() {
        let f = write("[http]\npublic_url = \"https://helpdesk.example.go.jp/\"\n");
        let loaded = load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(loaded.settings.http.public_url, "https://helpdesk.example.go.jp");
        for bad in ["helpdesk.example.go.jp", "https://", "https://x.example/?a=1", "ftp://x.example"] {
            let f = write(&format!("[http]\n\npublic_url = \"{bad}\"\n"));
            let err = load(Some(f.path()), env(&[])).unwrap_err().to_string();
            assert!(err.contains(&format!(":3: public_url '{bad}'")), "{bad}: {err}");
        }
    }

    #[test]
    fn http_hostnames_are_checked_and_folded_and_https_needs_both_files() {
        let f = write("[http]\nhostnames = [\"HelpDesk.Example.GO.JP.\", \"madoguchi\"]\n");
        let loaded = load(Some(f.path()), env(&[])).unwrap();
        assert_eq!(loaded.settings.http.hostnames, ["helpdesk.example.go.jp", "madoguchi"]);

        let f = write(
            "[http]\nlisten = \"127.0.0.1:8080\"\nhostnames = [\n  \"helpdesk.example.go.jp\",\n  \"https://x.example:8443/\",\n  \"*.example.go.jp\",\n]\n\
header_timeout_ms = 0\nmax_connections = 0\ntls_cert = \"/nonexistent/cert.pem\"\n",
        );
        let err = load(Some(f.path()), env(&[])).unwrap_err();
        let lines: Vec<String> = err.0.iter().map(|p| p.to_string()).collect();
        let at = |n: usize| format!("{}:{n}: ", f.path().display());
        assert_eq!(lines.len(), 6, "{lines:?}");
        assert!(lines[0].starts_with(&at(8)) && lines[0].contains("header_timeout_ms"), "{lines:?}");
        assert!(lines[1].starts_with(&at(9)) && lines[1].contains("max_connections"), "{lines:?}");
        assert!(lines[2].starts_with(&at(3)) && lines[2].contains("hostnames[1] "), "{lines:?}");
        assert!(lines[2].contains("without http://"), "{lines:?}");
        assert!(lines[3].starts_with(&at(3)) && lines[3].contains("hostnames[2] ") && lines[3].contains("wildcard"));
        assert!(lines[4].starts_with(&at(10)) && lines[4].contains("tls_cert and tls_key are set together"));
        assert!(lines[5].starts_with(&at(10)) && lines[5].contains("/nonexistent/cert.pem: no such file"));

        let f = write("");
        let err = load(Some(f.path()), env(&[("MADOGUCHI_HTTP_HOSTNAMES", "[\"helpdesk.example.go.jp:443\"]")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "hostnames[0] 'helpdesk.example.go.jp:443' is not a host name: give the name alone, without a port"
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_explicit_file_is_a_problem() {
        let err = load(Some(Path::new("/nonexistent/madoguchi.toml")), env(&[])).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/madoguchi.toml: cannot read"));
    }
}
