//! The command line as an admin uses it: `serve` on the embedded defaults, `check` naming file,
//! line and problem, `migrate`.

mod common;

use common::{Db, TestDb, spawn_binary, start_binary};
use std::path::Path;
use std::process::{Command, Output};

fn madoguchi(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    cmd.args(args).current_dir(dir).env_remove("MADOGUCHI_CONFIG");
    // The shipped dialplans and prompts, wherever the test runs.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    cmd.env("MADOGUCHI_SIP_DIALPLANS", root.join("dialplans")).env("MADOGUCHI_SIP_PROMPTS", root.join("prompts"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("madoguchi runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn serve_runs_on_embedded_defaults_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // An empty directory and the default settings: the built-in dialplan and announcements.
    let defaults = [("MADOGUCHI_SIP_DIALPLANS", "dialplans"), ("MADOGUCHI_SIP_PROMPTS", "prompts")];
    let checked = madoguchi(dir.path(), &["check"], &defaults);
    assert!(checked.status.success(), "{}", stderr(&checked));
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(said.contains("ok: dialplans (built-in) dialplans/helpdesk.toml"), "{said}");
    // The defaults listen on all interfaces with no limit on who calls or mails: said once each.
    assert_eq!(said.lines().filter(|l| l.starts_with("warning: [sip] listens on all interfaces")).count(), 1, "{said}");
    assert_eq!(
        said.lines().filter(|l| l.starts_with("warning: [mail] listens on all interfaces")).count(),
        1,
        "{said}"
    );
    let mut service = spawn_binary(dir.path(), &defaults).await;
    let options = "OPTIONS sip:0120@madoguchi SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKcli\r\n\
From: <sip:t@test>;tag=1\r\nTo: <sip:0120@madoguchi>\r\nCall-ID: cli\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let sip = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let options = options.replace("127.0.0.1:9", &sip.local_addr().unwrap().to_string());
    sip.send_to(options.as_bytes(), service.sip).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, _) =
        tokio::time::timeout(std::time::Duration::from_secs(5), sip.recv_from(&mut buf)).await.unwrap().unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200"), "the telephone line answers");
    let health: serde_json::Value =
        reqwest::get(format!("{}/healthz", service.base)).await.unwrap().json().await.unwrap();
    assert_eq!(health["store"], "sqlite");
    assert!(dir.path().join("data/madoguchi.db").exists(), "SQLite under ./data is created on first start");

    let pid = service.child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = service.child.wait().await.unwrap();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?}");
    let mut rest = Vec::new();
    while let Some(line) = service.log.recv().await {
        rest.push(line);
    }
    assert!(rest.iter().any(|l| l.contains("madoguchi stopped")), "{rest:?}");
}

#[test]
fn check_names_file_line_and_problem_for_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "data_dir = \"d\"\n\n[http]\nlisten = \"127.0.0.1:99999\"\n[sip]\nlisten = \"0.0.0.0:5060\"\nrealm = \"x\"\n",
    )
    .unwrap();
    let out = madoguchi(dir.path(), &["check", "--config", "bad.toml"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("bad.toml:4: "), "{err}");

    std::fs::write(
        dir.path().join("bad.toml"),
        "[database]\nurl = \"mysql://x\"\n[mail]\nlisten = \"127.0.0.1:8080\"\n",
    )
    .unwrap();
    let out = madoguchi(dir.path(), &["check", "--config", "bad.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad.toml:2: database url must start with sqlite:// or postgres://"), "{err}");
    assert!(err.contains("bad.toml:4: [mail] listen 127.0.0.1:8080 uses the same TCP port as [http]"), "{err}");

    let out = madoguchi(dir.path(), &["check"], &[("MADOGUCHI_HTTP_PORT", "80")]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("MADOGUCHI_HTTP_PORT: no such setting"), "{}", stderr(&out));

    // The SIP limits: each refused with its line, and what serve would need of the system.
    std::fs::write(
        dir.path().join("bad.toml"),
        "[sip]\nrtp_ports = \"20000-20099\"\nmax_calls = 500\ntcp_max_per_source = 0\ntcp_max_connections = 900000\n",
    )
    .unwrap();
    let out = madoguchi(dir.path(), &["check", "--config", "bad.toml"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("bad.toml:3: max_calls 500 needs as many RTP ports, but rtp_ports has 100"), "{err}");
    assert!(err.contains("bad.toml:4: tcp_max_per_source must be at least 1"), "{err}");
    assert!(err.contains("bad.toml:5: ") && err.contains("open files"), "{err}");

    let out = madoguchi(dir.path(), &["check"], &[("MADOGUCHI_SIP_MAX_CALLS", "100")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("ok: SIP limits: 100 calls at once (10000 RTP ports), 400 new INVITEs/s per source"),
        "{said}"
    );
}

#[test]
fn check_names_file_line_and_problem_for_fax_profiles_and_the_ack_template() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("madoguchi.toml"),
        "[notify]\nack_template = \"ack.txt\"\n\n[[fax.profiles]]\nname = \"office\"\nsubject = \"^FAX(\"\n\n[[fax.profiles]]\nname = \"blind\"\nnumber = [\"(\\\\d+)\"]\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ack.txt"), "no subject line here\n").unwrap();
    let out = madoguchi(dir.path(), &["check"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("madoguchi.toml:6: fax profile 'office': subject is not a valid regular expression"), "{err}");
    assert!(err.contains("madoguchi.toml:9: fax profile 'blind' needs from, subject, body or headers"), "{err}");

    std::fs::write(dir.path().join("madoguchi.toml"), "[notify]\nack_template = \"ack.txt\"\n").unwrap();
    let out = madoguchi(dir.path(), &["check"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("ack.txt: the template must start with a 'Subject: …' line"), "{}", stderr(&out));
}

#[test]
fn check_names_file_line_and_problem_for_routing_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("madoguchi.toml"), "[routing]\nrules = \"rules.toml\"\n").unwrap();
    std::fs::write(
        dir.path().join("rules.toml"),
        "[default]\ncategory = \"general\"\npriority = \"normal\"\ntier = 1\n\n[[rule]]\nname = \"vip\"\npriority = \"sky-high\"\n",
    )
    .unwrap();
    let out = madoguchi(dir.path(), &["check"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.starts_with("rules.toml:8: "), "{err}");
    assert!(err.contains("sky-high"), "{err}");

    std::fs::write(
        dir.path().join("rules.toml"),
        "[default]\ncategory = \"general\"\npriority = \"normal\"\ntier = 1\n\n[[rule]]\nname = \"vip\"\npriority = \"high\"\n[rule.when]\nsender = [\"@mhlw.go.jp\"]\n",
    )
    .unwrap();
    let out = madoguchi(dir.path(), &["check"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok: routing rules rules.toml (1 rules"), "{stdout}");
}

#[test]
fn the_shipped_example_configuration_and_rules_pass_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let example = root.join("madoguchi.example.toml");
    let out = madoguchi(dir.path(), &["check", "--config", example.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out =
        madoguchi(dir.path(), &["check"], &[("MADOGUCHI_ROUTING_RULES", root.join("routing.toml").to_str().unwrap())]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn migrate_creates_the_database_and_is_repeatable() {
    let Some(db) = TestDb::new(Db::Sqlite, "migrate").await else { return };
    for _ in 0..2 {
        let out = madoguchi(db.dir.path(), &["migrate"], &[("MADOGUCHI_DATABASE_URL", &db.url)]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("ok: sqlite database is up to date"));
    }
    assert!(db.dir.path().join("madoguchi.db").exists());
    // A migrated store serves.
    let service = start_binary(&db, db.dir.path()).await;
    let health: serde_json::Value =
        reqwest::get(format!("{}/healthz", service.base)).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
}

fn madoguchi_stdin(dir: &Path, args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    cmd.args(args).current_dir(dir).env_remove("MADOGUCHI_CONFIG").env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn import_mail_from_a_pipe_with_the_directory_and_mta_exit_codes() {
    let Some(db) = TestDb::new(Db::Sqlite, "import-mail").await else { return };
    let env = [("MADOGUCHI_DATABASE_URL", db.url.as_str())];
    let dir = db.dir.path();
    std::fs::write(
        dir.join("staff.csv"),
        "氏名,部署,電話番号,メールアドレス\n山田 太郎,労災保険業務課,03-1111-2222,yamada@mhlw.go.jp\n",
    )
    .unwrap();
    let out = madoguchi(dir, &["import-directory", "staff.csv"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 entries"));

    let message = "Return-Path: <yamada@mhlw.go.jp>\r\nFrom: yamada@mhlw.go.jp\r\nSubject: =?UTF-8?B?44Ki44Kr44Km44Oz44OI44Ot44OD44Kv?=\r\nMessage-ID: <pipe1@mhlw.go.jp>\r\n\r\nお願いします\r\n";
    let out = madoguchi_stdin(dir, &["import-mail"], &env, message.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let number: madoguchi::domain::TicketNumber = stdout.trim().rsplit(' ').next().unwrap().parse().unwrap();

    let store = madoguchi::store::Store::connect(&db.url, 1).await.unwrap();
    let t = store.ticket(&number, Default::default()).await.unwrap().expect("the piped message is a ticket");
    assert_eq!(t.ticket.subject, "アカウントロック");
    assert_eq!(
        t.contacts[0].contact.organisation.as_deref(),
        Some("労災保険業務課"),
        "organisation from the directory"
    );
    assert_eq!(t.contacts[0].contact.display_name.as_deref(), Some("山田 太郎"), "name from the directory");
    store.close().await;

    let again = madoguchi_stdin(dir, &["import-mail"], &env, message.as_bytes());
    assert!(again.status.success());
    assert_eq!(String::from_utf8_lossy(&again.stdout), stdout, "a re-delivered message answers with the same ticket");

    let empty = madoguchi_stdin(dir, &["import-mail"], &env, b"");
    assert_eq!(empty.status.code(), Some(65));
    let down = madoguchi_stdin(
        dir,
        &["import-mail"],
        &[("MADOGUCHI_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")],
        message.as_bytes(),
    );
    assert_eq!(down.status.code(), Some(75), "a store that cannot be reached means try again later: {}", stderr(&down));
}

#[test]
fn an_sqlite_url_creates_its_file_and_a_failure_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("any/path/x.db");
    let url = format!("sqlite://{}", db.display());
    let out = madoguchi(dir.path(), &["migrate"], &[("MADOGUCHI_DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(db.exists(), "the database file is created");

    std::fs::create_dir(dir.path().join("a-directory.db")).unwrap();
    let url = format!("sqlite://{}", dir.path().join("a-directory.db").display());
    let out = madoguchi(dir.path(), &["migrate"], &[("MADOGUCHI_DATABASE_URL", &url)]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot open the database"), "{err}");
    assert_eq!(err.matches("unable to open database file").count(), 1, "each cause once: {err}");
}
