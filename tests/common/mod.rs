//! Test helpers: the whole service started in-process on port 0 with a fresh database: a new
//! SQLite file, or a new database on the PostgreSQL server named by
//! `MADOGUCHI_TEST_POSTGRES_URL`, else the local server at `postgres://postgres@127.0.0.1:5432/test`
//! if it answers. Without either, PostgreSQL tests say they are skipped (on standard error, past
//! the test harness's capture); under CI they fail instead.
#![allow(dead_code)]

pub mod audio;
pub mod bench;
pub mod browser;
pub mod cli;
pub mod mime;
pub mod postfix;
pub mod sip;
pub mod smtp;
pub mod sse;
pub mod stats;

use madoguchi::app::App;
use madoguchi::config::Settings;
use madoguchi::domain::user::Role;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OnceCell, oneshot};

pub const PG_ENV: &str = "MADOGUCHI_TEST_POSTGRES_URL";
/// Tried when [`PG_ENV`] is unset.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates `mod name { sqlite, postgres }` tests that run `name(Db)` on each backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::common::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::common::Db::Postgres).await
            }
        }
    )+};
}

pub fn skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
    // For the summary `tests/zz_skipped.rs` prints at the end of the same `cargo test` run.
    let log = skip_log();
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(f, "{test}: {why}");
    }
}

/// Where this `cargo test` run (every test binary is a child of the same cargo process) notes
/// the tests it skipped.
pub fn skip_log() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("skipped-{}.log", std::os::unix::process::parent_id()))
}

static SWEPT: OnceCell<()> = OnceCell::const_new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty PostgreSQL database, dropped by [`PgDatabase::drop_now`].
pub struct PgDatabase {
    pub url: String,
    base: String,
    name: String,
}

impl PgDatabase {
    pub async fn create(test: &str) -> Option<PgDatabase> {
        let (base, mut conn) = match std::env::var(PG_ENV) {
            Ok(url) if !url.is_empty() => {
                let conn = PgConnection::connect(&url).await.expect("connect to the test PostgreSQL server");
                (url, conn)
            }
            // Unset: the local server of a developer's machine, if one answers.
            _ => {
                let local = tokio::time::timeout(
                    std::time::Duration::from_secs(3),
                    PgConnection::connect(DEFAULT_POSTGRES_URL),
                )
                .await;
                match local {
                    Ok(Ok(conn)) => (DEFAULT_POSTGRES_URL.to_owned(), conn),
                    Ok(Err(e)) => {
                        return Self::skipped(
                            test,
                            &format!("{PG_ENV} is not set and {DEFAULT_POSTGRES_URL} does not answer ({e})"),
                        );
                    }
                    Err(_) => {
                        return Self::skipped(
                            test,
                            &format!("{PG_ENV} is not set and {DEFAULT_POSTGRES_URL} did not answer in 3 s"),
                        );
                    }
                }
            }
        };
        SWEPT
            .get_or_init(|| async {
                let stale: Vec<(String,)> =
                    sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'madoguchi\\_t\\_%'")
                        .fetch_all(&mut conn)
                        .await
                        .unwrap_or_default();
                // Only the leftovers of test processes that are gone: another cargo test or a
                // bench running now has its databases in use.
                let gone = |name: &str| {
                    let pid = name.trim_start_matches("madoguchi_t_").split('_').next().unwrap_or_default();
                    pid.parse::<u32>().is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
                };
                for (name,) in stale.into_iter().filter(|(n,)| gone(n)) {
                    let _ =
                        conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))).await;
                }
            })
            .await;
        let name = format!("madoguchi_t_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
        conn.execute(AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).await.expect("create test database");
        let url = with_database(&base, &name);
        Some(PgDatabase { url, base, name })
    }

    fn skipped(test: &str, why: &str) -> Option<PgDatabase> {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("PostgreSQL tests may not be skipped under CI: {why}");
        }
        skip(test, &format!("{why}, so PostgreSQL is not tested"));
        None
    }

    pub async fn drop_now(&self) {
        if let Ok(mut conn) = PgConnection::connect(&self.base).await {
            let _ =
                conn.execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name))).await;
        }
    }
}

fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = head[scheme_end..].find('/').map(|i| scheme_end + i).unwrap_or(head.len());
    let mut out = format!("{}/{}", &head[..host_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A database for one test: the URL to give the service, and what to clean up.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    pg: Option<PgDatabase>,
}

impl TestDb {
    pub async fn new(db: Db, test: &str) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        match db {
            Db::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("madoguchi.db").display());
                Some(TestDb { url, dir, pg: None })
            }
            Db::Postgres => {
                let pg = PgDatabase::create(test).await?;
                Some(TestDb { url: pg.url.clone(), dir, pg: Some(pg) })
            }
        }
    }

    pub fn settings(&self) -> Settings {
        let mut s = Settings { data_dir: self.dir.path().join("data"), ..Default::default() };
        s.database.url = self.url.clone();
        s.database.max_connections = 4;
        s.http.listen = "127.0.0.1:0".parse().unwrap();
        s.mail.listen = "127.0.0.1:0".parse().unwrap();
        s.sip.listen = "127.0.0.1:0".parse().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        s.sip.dialplans = root.join("dialplans").display().to_string();
        s.sip.prompts = root.join("prompts").display().to_string();
        // A test's service stops at once: calls still up are ended (BYE) without waiting for
        // them (tests/drain.rs runs the real binary's drain).
        s.node.drain_seconds = 0;
        s
    }

    pub async fn cleanup(&self) {
        if let Some(pg) = &self.pg {
            pg.drop_now().await;
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub mail: std::net::SocketAddr,
    pub sip: std::net::SocketAddr,
    pub client: reqwest::Client,
    /// The admin token `client` sends.
    pub token: String,
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

pub async fn spawn_app(db: Db, test: &str) -> Option<TestApp> {
    let db = TestDb::new(db, test).await?;
    Some(spawn_with(db, |_| {}).await)
}

pub async fn spawn_with(db: TestDb, adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = db.settings();
    adjust(&mut settings);
    let node = spawn_node(&settings).await;
    let token = grant(&settings.database_url(), "tester", Role::Admin).await;
    let Node { base, mail, sip, stop, task } = node;
    TestApp { base, mail, sip, client: authorised(&token), token, db, stop: Some(stop), task }
}

/// One more service on a database another test service already set up (a second node).
pub struct Node {
    pub base: String,
    pub mail: std::net::SocketAddr,
    pub sip: std::net::SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

pub async fn spawn_node(settings: &Settings) -> Node {
    let app = App::build(settings).await.expect("service starts");
    let base = format!("http://{}", app.http_addr());
    let (mail, sip) = (app.mail_addr(), app.sip_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until_stopped(async {
            let _ = stopped.await;
        })
        .await
        .expect("service runs");
    });
    Node { base, mail, sip, stop, task }
}

impl Node {
    /// Stops the node the way SIGTERM does; the database stays.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The password of every user [`grant`] makes.
pub const PASSWORD: &str = "a password for tests";

/// A user `login` with `role` in the database at `url` (migrated), and a new API token of theirs.
pub async fn grant(url: &str, login: &str, role: Role) -> String {
    let store = madoguchi::store::Store::connect(url, 1).await.expect("the test database opens");
    let hash = madoguchi::auth::hash_password(PASSWORD).unwrap();
    store.add_user(login, login, role, &hash).await.expect("user stored");
    let (token, token_hash) = madoguchi::auth::new_token();
    store.add_token(login, "tests", &token_hash).await.expect("token stored").expect("the user exists");
    store.close().await;
    token
}

/// POSTs `body` as JSON and reads the JSON answer, whatever its status.
pub async fn post_json(client: &reqwest::Client, url: &str, body: &serde_json::Value) -> serde_json::Value {
    client.post(url).json(body).send().await.expect("request sent").json().await.expect("a JSON answer")
}

/// PATCHes `body` as JSON with `client`; the status and the JSON answer.
pub async fn patch_with(client: &reqwest::Client, url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = client.patch(url).json(&body).send().await.expect("request sent");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

/// An HTTP client that sends `Authorization: Bearer <token>` with every request.
/// POSTs `body` as JSON: the status and the JSON answer (null if there is none).
pub async fn post(client: &reqwest::Client, url: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = client.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

pub fn authorised(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

impl TestApp {
    /// The ticket as the API shows it; it must exist.
    pub async fn ticket(&self, number: &str) -> serde_json::Value {
        let (status, t) = self.get_json(&format!("/api/tickets/{number}")).await;
        assert_eq!(status, 200, "{t}");
        t
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_contact(&self, body: serde_json::Value) -> reqwest::Response {
        self.client.post(self.url("/api/contacts")).json(&body).send().await.expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let r = self.client.get(self.url(path)).send().await.expect("request sent");
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON body"))
    }

    pub async fn patch(&self, number: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = self
            .client
            .patch(self.url(&format!("/api/tickets/{number}")))
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = r.status().as_u16();
        (status, r.json().await.expect("JSON body"))
    }

    /// Stops the service the way SIGTERM does and removes its database.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.db.cleanup().await;
    }
}

/// The real `madoguchi` binary, started as a user would, its HTTP port read from its log.
pub struct Process {
    pub child: tokio::process::Child,
    pub base: String,
    pub mail: std::net::SocketAddr,
    pub sip: std::net::SocketAddr,
    /// What the service logs after its serving line.
    pub log: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// Sends an admin's token.
    pub client: reqwest::Client,
    /// The database the service opened (for [`grant`]).
    pub database_url: String,
}

pub async fn start_binary(db: &TestDb, workdir: &std::path::Path) -> Process {
    let data = db.dir.path().join("data");
    spawn_binary(workdir, &[("MADOGUCHI_DATA_DIR", data.to_str().unwrap()), ("MADOGUCHI_DATABASE_URL", &db.url)]).await
}

/// `madoguchi serve` in `workdir` on ports 0, with `env` on top; its addresses are read from
/// the line it logs when serving.
pub async fn spawn_binary(workdir: &std::path::Path, env: &[(&str, &str)]) -> Process {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    cmd.arg("serve")
        .current_dir(workdir)
        .env_remove("MADOGUCHI_CONFIG")
        .env("MADOGUCHI_HTTP_LISTEN", "127.0.0.1:0")
        .env("MADOGUCHI_SIP_LISTEN", "127.0.0.1:0")
        .env("MADOGUCHI_MAIL_LISTEN", "127.0.0.1:0")
        .env("MADOGUCHI_SIP_DIALPLANS", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dialplans"))
        .env("MADOGUCHI_SIP_PROMPTS", std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts"))
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("madoguchi starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let field = |line: &str, name: &str| {
        line.split(&format!("{name}=")).nth(1).map(|r| r.split_whitespace().next().unwrap().to_owned())
    };
    let (base, mail, sip) = loop {
        let line = lines.next_line().await.unwrap().expect("madoguchi logged that it is serving");
        if let (Some(http), Some(mail), Some(sip)) = (field(&line, "http"), field(&line, "mail"), field(&line, "sip")) {
            break (format!("http://{http}"), mail.parse().unwrap(), sip.parse().unwrap());
        }
    };
    let (log_tx, log) = tokio::sync::mpsc::unbounded_channel();
    // Keep reading, so a full pipe never blocks the service; the lines are there for tests.
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = log_tx.send(line);
        }
    });
    // The database the service opened: the one the environment names, else under its data dir.
    let named = |key: &str| env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string());
    let url = named("MADOGUCHI_DATABASE_URL").unwrap_or_else(|| {
        let data = named("MADOGUCHI_DATA_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| workdir.join("data"));
        format!("sqlite://{}", data.join("madoguchi.db").display())
    });
    let login = format!("admin{}", COUNTER.fetch_add(1, Ordering::Relaxed));
    let client = authorised(&grant(&url, &login, Role::Admin).await);
    Process { child, base, mail, sip, log, client, database_url: url }
}

/// Whether the program `name` is installed; a test that needs it and finds none says it is
/// skipped (and fails under CI).
pub fn tool(name: &str, test: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{name} must be installed under CI (see .ci/run)");
        }
        skip(test, &format!("{name} is not installed"));
    }
    found
}

/// A self-signed certificate for `madoguchi.test` made by openssl in `dir`: (cert, key) paths.
pub fn self_signed(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=madoguchi.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    (cert.display().to_string(), key.display().to_string())
}
