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
    // A call is answered with an announcement built into the binary (which one depends on the
    // hour: welcome, closed or holiday).
    let mut phone = common::sip::Phone::udp(service.sip, "cli-call").await;
    let (ok, _) = phone.call("").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let tag = common::sip::tag_of(&ok);
    phone.ack(&tag).await;
    let mut heard = Vec::new();
    let mut packet = [0u8; 2048];
    while heard.len() < 1600 {
        let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(10), phone.rtp.recv_from(&mut packet))
            .await
            .expect("RTP arrives")
            .unwrap();
        heard.extend(madoguchi::media::g711::Codec::Pcmu.decode(&packet[12..n]));
    }
    let pcmu = madoguchi::media::g711::Codec::Pcmu;
    let known = madoguchi::ivr::builtin::PROMPTS.iter().any(|(_, wav)| {
        let prompt = madoguchi::media::audio::load_wav_bytes("built-in", wav).unwrap();
        pcmu.decode(&pcmu.encode(&prompt[..1600]))[..] == heard[..1600]
    });
    assert!(known, "the caller hears a built-in announcement");
    let health: serde_json::Value =
        reqwest::get(format!("{}/healthz", service.base)).await.unwrap().json().await.unwrap();
    assert_eq!(health["store"], "sqlite");
    assert!(dir.path().join("data/madoguchi.db").exists(), "SQLite under ./data is created on first start");

    // The caller hangs up: with no call in progress the drain is over at once (tests/drain.rs
    // has SIGTERM during a call).
    common::sip::hang_up(&mut phone, &tag).await;
    phone.expect("200 to the BYE", |m| m.code() == 200 && m.header("CSeq").is_some_and(|c| c.ends_with("BYE"))).await;
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
fn check_names_file_line_and_problem_for_the_contact_list_and_sla_policies() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("madoguchi.toml"), "[escalation]\ncontacts = \"c.toml\"\nsla = \"s.toml\"\n")
        .unwrap();
    let contacts = std::fs::read_to_string(root.join("contacts.toml")).unwrap();
    let bad = contacts.replacen("hours = \"08:30-17:15\"", "hours = \"朝から\"", 1);
    std::fs::write(dir.path().join("c.toml"), &bad).unwrap();
    let sla = std::fs::read_to_string(root.join("sla.toml")).unwrap();
    std::fs::write(dir.path().join("s.toml"), sla.replace("resolution = \"4h\"", "resolution = \"four hours\""))
        .unwrap();
    let out = madoguchi(dir.path(), &["check"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    let line = |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(err.contains(&format!("c.toml:{}: hours '朝から'", line(&bad, "朝から"))), "{err}");
    assert!(err.contains("s.toml:") && err.contains("resolution: 'four hours' is not a duration"), "{err}");

    std::fs::write(dir.path().join("c.toml"), &contacts).unwrap();
    std::fs::write(dir.path().join("s.toml"), &sla).unwrap();
    let out = madoguchi(dir.path(), &["check"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok: contact list c.toml (6 groups)") && stdout.contains("ok: SLA policies s.toml (4"),
        "{stdout}"
    );
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
    let out = madoguchi(dir, &["migrate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
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
    let number: madoguchi::domain::TicketNumber =
        stdout.split("stored as ticket ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(stdout.contains(&format!("in sqlite {}", dir.join("madoguchi.db").display())), "{stdout}");

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

/// A directory holding the shipped dialplans and a copy of the shipped announcements, to spoil.
fn line_files(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let prompts = dir.join("prompts");
    std::fs::create_dir_all(&prompts).unwrap();
    for e in std::fs::read_dir(root.join("prompts")).unwrap().flatten() {
        std::fs::copy(e.path(), prompts.join(e.file_name())).unwrap();
    }
    prompts
}

/// `madoguchi serve` with `config`, on ports 0; its exit status and what it said, or `None`
/// when it was still running after 20 s (it started).
async fn serve_outcome(dir: &Path, config: &Path, env: &[(&str, &str)]) -> Option<(bool, String)> {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    cmd.args(["serve", "--config", config.to_str().unwrap()])
        .current_dir(dir)
        .env("MADOGUCHI_HTTP_LISTEN", "127.0.0.1:0")
        .env("MADOGUCHI_SIP_LISTEN", "127.0.0.1:0")
        .env("MADOGUCHI_MAIL_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait_with_output()).await.ok()?.unwrap();
    Some((out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out))))
}

#[tokio::test]
async fn check_fails_on_each_configuration_that_would_stop_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(d.join("a-file"), "not a directory").unwrap();
    let broken_prompts = line_files(&d.join("broken"));
    std::fs::write(broken_prompts.join("welcome.wav"), b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk").unwrap();
    std::fs::write(broken_prompts.join("menu.wav"), b"ID3\x03 an mp3 renamed").unwrap();
    let db = format!("sqlite://{}", d.join("db/madoguchi.db").display());
    let dialplans = root.join("dialplans").display().to_string();
    // Each: the configuration, the line check must name (0: none), words its complaint must have.
    let cases: Vec<(String, usize, Vec<String>)> = vec![
        (
            format!("[sip]\ndialplans = \"{dialplans}\"\nprompts = \"{}\"\n", broken_prompts.display()),
            0,
            vec!["welcome.wav".into(), "menu.wav".into()],
        ),
        ("[log]\nlevel = \"verbose\"\n".into(), 2, vec!["'verbose' is not a log level".into()]),
        // Refused at once, or (on a loaded machine) not answering in time: either way named.
        (
            "[database]\nurl = \"postgres://nobody@127.0.0.1:1/none\"\n".into(),
            2,
            vec!["database postgres://nobody@".into()],
        ),
        (format!("data_dir = \"{}/sub\"\n", d.join("a-file").display()), 1, vec!["not a directory".into()]),
        (
            "[notify]\nrelay = \"127.0.0.1:25\"\nusername = \"u\"\npassword = \"p\"\n".into(),
            4,
            vec!["never sent unencrypted".into()],
        ),
        ("[notify]\nfrom = \"helpdesk@@example.go.jp\"\n".into(), 2, vec!["from address".into()]),
    ];
    for (i, (text, line, words)) in cases.iter().enumerate() {
        let config = d.join(format!("case{i}.toml"));
        let text = if text.contains("[database]") || text.starts_with("data_dir") {
            text.clone()
        } else {
            format!("{text}\n[database]\nurl = \"{db}\"\n")
        };
        std::fs::write(&config, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
            .args(["check", "--config", config.to_str().unwrap()])
            .current_dir(d)
            .env_remove("MADOGUCHI_CONFIG")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(!out.status.success(), "case {i}: check must fail: {text}");
        let place = if *line > 0 { format!("{}:{line}: ", config.display()) } else { String::new() };
        for w in words {
            assert!(err.lines().any(|l| l.contains(&place) && l.contains(w.as_str())), "case {i}: {w} in {err}");
        }
        assert!(!err.contains("panicked"), "{err}");
        assert!(!d.join("db").exists(), "check creates no database");
    }
    for i in 0..cases.len() {
        let config = d.join(format!("case{i}.toml"));
        let (started_ok, said) = serve_outcome(d, &config, &[]).await.expect("serve stops on what check refused");
        assert!(!started_ok, "case {i}: serve refuses it too: {said}");
    }
    assert!(!d.join("db").exists(), "serve refused the broken announcements before creating a database");
}

#[tokio::test]
async fn telephony_wavs_in_mu_law_and_a_law_pass_check_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = line_files(dir.path());
    // The welcome announcement as Asterisk ships its sounds: 8 kHz μ-law; the menu in A-law.
    let g711 = |tag: u16, data: &[u8]| {
        let mut w = b"RIFF".to_vec();
        w.extend_from_slice(&(4 + 26 + 8 + data.len() as u32).to_le_bytes());
        w.extend_from_slice(b"WAVEfmt \x12\x00\x00\x00");
        w.extend_from_slice(&tag.to_le_bytes());
        w.extend_from_slice(&[1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0, 0, 0]);
        w.extend_from_slice(b"data");
        w.extend_from_slice(&(data.len() as u32).to_le_bytes());
        w.extend_from_slice(data);
        w
    };
    let tone: Vec<i16> = (0..8000).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16).collect();
    std::fs::write(prompts.join("welcome.wav"), g711(7, &madoguchi::media::g711::Codec::Pcmu.encode(&tone))).unwrap();
    std::fs::write(prompts.join("menu.wav"), g711(6, &madoguchi::media::g711::Codec::Pcma.encode(&tone))).unwrap();
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    let env = [("MADOGUCHI_SIP_PROMPTS", prompts.to_str().unwrap()), ("MADOGUCHI_DATABASE_URL", db.as_str())];
    let out = madoguchi(dir.path(), &["check"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("ok: announcements {} (8 files)", prompts.display())), "{said}");
    let mut service = spawn_binary(dir.path(), &env).await;
    let health = reqwest::get(format!("{}/healthz", service.base)).await.unwrap();
    assert_eq!(health.status(), 200);
    service.child.kill().await.unwrap();
}

#[test]
fn check_piped_into_head_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_madoguchi");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("'{bin}' check | head -1"))
        .current_dir(dir.path())
        .env_remove("MADOGUCHI_CONFIG")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.starts_with("ok: configuration (defaults)"), "{said}");
    assert_eq!(said.lines().count(), 1, "one line through head: {said}");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[tokio::test]
async fn commands_other_than_serve_and_migrate_never_create_a_database() {
    let elsewhere = tempfile::tempdir().unwrap();
    let d = elsewhere.path();
    std::fs::write(
        d.join("staff.csv"),
        "氏名,部署,電話番号,メールアドレス\n山田 太郎,総務課,03-1111-2222,y@example.go.jp\n",
    )
    .unwrap();
    let out = madoguchi(d, &["import-directory", "staff.csv"], &[]);
    assert!(!out.status.success(), "no database here: refused");
    let err = stderr(&out);
    let expected = d.join("data/madoguchi.db");
    assert!(err.contains(&format!("no madoguchi database at sqlite {}", expected.display())), "{err}");
    assert!(err.contains("madoguchi migrate") && err.contains("--config"), "says what to do: {err}");
    let mail = madoguchi_stdin(d, &["import-mail"], &[], b"From: a@example.go.jp\r\nSubject: x\r\n\r\nbody\r\n");
    assert_eq!(mail.status.code(), Some(75), "the MTA keeps the message and tries again: {}", stderr(&mail));
    assert!(stderr(&mail).contains("no madoguchi database at"), "{}", stderr(&mail));
    assert!(!d.join("data").exists(), "nothing was created: {:?}", std::fs::read_dir(d).unwrap().count());

    // The service's configuration, found through MADOGUCHI_CONFIG from any directory: the
    // commands use its database and say which.
    let service = tempfile::tempdir().unwrap();
    let config = service.path().join("madoguchi.toml");
    let data = service.path().join("var");
    std::fs::write(&config, format!("data_dir = \"{}\"\n", data.display())).unwrap();
    let with_config = [("MADOGUCHI_CONFIG", config.to_str().unwrap())];
    let out = madoguchi(d, &["migrate"], &with_config);
    assert!(out.status.success(), "{}", stderr(&out));
    let db = data.join("madoguchi.db");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&db.display().to_string()), "names the database");
    let out = madoguchi(d, &["import-directory", "staff.csv"], &with_config);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("sqlite {}", db.display())), "names the database");
    let mail = madoguchi_stdin(d, &["import-mail"], &with_config, b"From: y@example.go.jp\r\nSubject: x\r\n\r\nb\r\n");
    assert!(mail.status.success(), "{}", stderr(&mail));
    assert!(String::from_utf8_lossy(&mail.stdout).contains(&db.display().to_string()));
    assert!(!d.join("data").exists(), "still nothing in the working directory");
}

#[tokio::test]
async fn the_routing_rules_in_use_are_the_file_and_sighup_reloads_them() {
    let dir = tempfile::tempdir().unwrap();
    let rules = |category: &str| {
        format!(
            "[default]\ncategory = \"other\"\npriority = \"normal\"\ntier = 1\n\n[categories]\nother = \"その他\"\n\
{category} = \"{category}\"\n\n[[rule]]\nname = \"vpn\"\ncategory = \"{category}\"\n[rule.when]\nkeywords = [\"VPN\"]\n"
        )
    };
    std::fs::write(dir.path().join("routing.toml"), rules("network")).unwrap();
    let out = madoguchi(dir.path(), &["check"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: routing rules routing.toml (1 rules"), "{out:?}");
    let empty = tempfile::tempdir().unwrap();
    let out = madoguchi(empty.path(), &["check"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: routing rules built-in"), "{out:?}");

    let mut service = spawn_binary(dir.path(), &[]).await;
    let client = service.client.clone();
    let category = |ticket: serde_json::Value| ticket["category"].as_str().unwrap_or_default().to_owned();
    let post = || async {
        let body = serde_json::json!({"subject": "VPNにつながらない", "caller": {"number": "0312345678"}});
        let reply = common::post_json(&client, &format!("{}/api/contacts", service.base), &body).await;
        let number = reply["ticket"].as_str().expect("a ticket number");
        let ticket = client.get(format!("{}/api/tickets/{number}", service.base)).send().await.unwrap();
        ticket.json::<serde_json::Value>().await.unwrap()
    };
    assert_eq!(category(post().await), "network", "the file in the working directory routes");

    std::fs::write(dir.path().join("routing.toml"), "[default]\ncategory = \"broken\"\n").unwrap();
    let pid = service.child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    while let Some(line) = service.log.recv().await {
        if line.contains("routing rules not reloaded") {
            break;
        }
    }
    assert_eq!(category(post().await), "network", "broken rules are reported and the running ones kept");

    std::fs::write(dir.path().join("routing.toml"), rules("remote_access")).unwrap();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    while let Some(line) = service.log.recv().await {
        if line.contains("routing rules reloaded") {
            break;
        }
    }
    assert_eq!(category(post().await), "remote_access", "after SIGHUP the edited file routes");
    service.child.kill().await.unwrap();
}

#[tokio::test]
async fn a_port_in_use_is_named_with_the_setting_to_change_once() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let config = dir.path().join("madoguchi.toml");
    std::fs::write(&config, "").unwrap();
    let (started, said) =
        serve_outcome(dir.path(), &config, &[("MADOGUCHI_HTTP_LISTEN", &addr)]).await.expect("serve stops");
    assert!(!started);
    let line = said.lines().find(|l| l.contains("cannot listen")).unwrap_or_else(|| panic!("{said}"));
    assert!(line.contains(&format!("HTTP on {addr}")) && line.contains("change [http] listen"), "{line}");
    assert_eq!(said.matches("in use").count(), 1, "the cause once: {said}");
}

#[tokio::test]
async fn the_first_admin_and_a_token_come_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(madoguchi(d, &["migrate"], &[]).status.success());
    let weak = madoguchi_stdin(d, &["user", "add", "admin", "--role", "admin"], &[], b"short\n");
    assert!(!weak.status.success() && stderr(&weak).contains("at least 12 characters"), "{}", stderr(&weak));
    let bad_role = madoguchi_stdin(d, &["user", "add", "admin", "--role", "root"], &[], b"a long enough password\n");
    assert!(!bad_role.status.success() && stderr(&bad_role).contains("operator, supervisor or admin"));
    let added = madoguchi_stdin(
        d,
        &["user", "add", "admin", "--role", "admin", "--name", "管理者"],
        &[],
        b"a long enough password\n",
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let again = madoguchi_stdin(d, &["user", "add", "admin", "--role", "admin"], &[], b"a long enough password\n");
    assert!(!again.status.success() && stderr(&again).contains("exists already"));
    let out = madoguchi(d, &["token", "add", "admin", "--label", "CTI"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("mdg_"), "{token}");
    let db = format!("sqlite://{}", d.join("data/madoguchi.db").display());
    let store = madoguchi::store::Store::connect(&db, 1).await.unwrap();
    let stored = store.tokens(None).await.unwrap();
    store.close().await;
    assert_eq!(stored.len(), 1);

    let service = spawn_binary(d, &[]).await;
    let client = common::authorised(&token);
    let users: serde_json::Value =
        client.get(format!("{}/api/users", service.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(users["users"][0]["login"], "admin");
    assert_eq!(users["users"][0]["name"], "管理者");
    assert!(!users.to_string().contains("argon2"), "no password hash leaves the store: {users}");
    let out = madoguchi(d, &["token", "revoke", &stored[0].id.to_string()], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(client.get(format!("{}/api/tickets", service.base)).send().await.unwrap().status(), 401);
}
