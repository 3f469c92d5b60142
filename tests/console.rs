//! The console in a real browser: the service binary as an admin starts it, a user made with
//! `madoguchi user add`, and the scenarios in `tests/e2e/` driving Debian's headless Chromium
//! through playwright-core (`npm ci` installs it; `.ci/run` does both). Screenshots go to
//! `target/e2e/`. Without Chromium or playwright-core the scenarios say they are skipped.

mod common;

use common::audio::{as_heard, tone_frequency, tone_wav};
use common::sip::{Phone, first_words, hang_up, start_line_binary, tag_of};
use common::{Db, TestDb, start_binary};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A scenario taking longer than this has hung (each step waits 15 s at most).
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `<target>/e2e`: beside the test binaries' temporary directory.
fn shots() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("e2e")
}

/// Why the browser scenarios cannot run here, if they cannot.
fn missing() -> Option<String> {
    if !Path::new(CHROMIUM).exists() {
        return Some(format!("{CHROMIUM} is not installed (apt-get install chromium)"));
    }
    if !root().join("node_modules/playwright-core").exists() {
        return Some("node_modules/playwright-core is not installed (npm ci)".into());
    }
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Some("node is not installed".into());
    }
    None
}

/// `node tests/e2e/<script>` against the service, with `env` besides the URL, the user and the
/// screenshot directory.
fn node(script: &str, base: &str, (login, password): (&str, &str), env: &[(&str, &str)]) -> tokio::process::Command {
    let mut node = tokio::process::Command::new("node");
    node.arg(root().join("tests/e2e").join(script))
        .current_dir(root())
        .env("MADOGUCHI_URL", base)
        .env("MADOGUCHI_LOGIN", login)
        .env("MADOGUCHI_PASSWORD", password)
        .env("MADOGUCHI_SHOTS", shots())
        .envs(env.iter().copied())
        .kill_on_drop(true);
    node
}

/// Runs a scenario to its end; its output is shown if it fails, and returned.
async fn scenario(script: &str, base: &str, login: &str, password: &str, env: &[(&str, &str)]) -> String {
    let mut node = node(script, base, (login, password), env);
    let out = tokio::time::timeout(SCENARIO_LIMIT, node.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish in {SCENARIO_LIMIT:?}"))
        .expect("node runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed (screenshots in {}):\n{text}", shots().display());
    text
}

/// A scenario that talks with the test as it goes: it prints READY when it waits for the test
/// to act, reads what the test says on its standard input, and prints DONE at the end.
struct Interactive {
    script: &'static str,
    node: tokio::process::Child,
    stdin: Option<tokio::process::ChildStdin>,
    out: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    said: Vec<String>,
}

impl Interactive {
    fn start(script: &'static str, base: &str, user: (&str, &str), env: &[(&str, &str)]) -> Interactive {
        let mut node = node(script, base, user, env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("node starts");
        let stdin = node.stdin.take();
        let out = BufReader::new(node.stdout.take().unwrap()).lines();
        Interactive { script, node, stdin, out, said: Vec::new() }
    }

    /// Waits for READY; fails with what the scenario said if it ends first.
    async fn ready(&mut self) {
        let ready = tokio::time::timeout(SCENARIO_LIMIT, async {
            while let Some(line) = self.out.next_line().await.unwrap() {
                self.said.push(line.clone());
                if line == "READY" {
                    return true;
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        if !ready {
            let _ = self.node.start_kill();
            let mut err = String::new();
            if let Some(mut stderr) = self.node.stderr.take() {
                let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut err).await;
            }
            panic!("{} never got ready: {:?}\n{err}", self.script, self.said);
        }
    }

    async fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Closes its input and waits for it to end, having said DONE.
    async fn done(mut self) {
        drop(self.stdin.take());
        let rest = tokio::time::timeout(SCENARIO_LIMIT, async {
            while let Some(line) = self.out.next_line().await.unwrap() {
                self.said.push(line);
            }
            self.node.wait_with_output().await.unwrap()
        })
        .await
        .unwrap_or_else(|_| panic!("{} finishes", self.script));
        assert!(
            rest.status.success() && self.said.iter().any(|l| l == "DONE"),
            "{} failed (screenshots in {}):\n{}\n{}",
            self.script,
            shots().display(),
            self.said.join("\n"),
            String::from_utf8_lossy(&rest.stderr)
        );
    }
}

/// The real binary on a fresh SQLite database with one operator `(login, name, password)`;
/// `None`, said SKIPPED, without a browser to drive.
async fn with_operator(
    test: &str,
    db_name: &str,
    user: (&str, &str, &str),
    line: Option<&str>,
) -> Option<(TestDb, common::Process)> {
    with_user(test, db_name, user, "operator", line).await
}

async fn with_user(
    test: &str,
    db_name: &str,
    (login, name, password): (&str, &str, &str),
    role: &str,
    line: Option<&str>,
) -> Option<(TestDb, common::Process)> {
    if let Some(why) = missing() {
        common::skip(test, &why);
        return None;
    }
    let db = TestDb::new(Db::Sqlite, db_name).await?;
    let service = match line {
        Some(ports) => start_line_binary(&db, ports).await,
        None => start_binary(&db, db.dir.path()).await,
    };
    common::cli::run(&db, &["user", "add", login, "--role", role, "--name", name], &format!("{password}\n")).await;
    Some((db, service))
}

/// Stops the service and removes its database.
async fn finish(mut service: common::Process, db: TestDb) {
    let _ = service.child.start_kill();
    let _ = service.child.wait().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_and_out_in_a_real_browser() {
    let password = "山田さんの長いパスワード 2026";
    let test = "console::an_operator_signs_in_and_out_in_a_real_browser";
    let Some((db, service)) = with_operator(test, "console_signin", ("yamada", "山田 太郎", password), None).await
    else {
        return;
    };

    scenario("signin.mjs", &service.base, "yamada", password, &[("MADOGUCHI_NAME", "山田 太郎")]).await;

    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ringing_call_pops_on_two_operators_screens_and_an_escalation_shows_on_both() {
    if let Some(why) = missing() {
        common::skip("console::a_ringing_call_pops_on_two_operators_screens", &why);
        return;
    }
    let Some(db) = TestDb::new(Db::Sqlite, "console_screenpop").await else { return };
    let service = start_binary(&db, db.dir.path()).await;
    let (first, second) = ("颯太さんの長いパスワード 2026", "美咲さんの長いパスワード 2026");
    for (login, name, password) in [("sota", "佐藤 颯太", first), ("misaki", "鈴木 美咲", second)] {
        let args = ["user", "add", login, "--role", "operator", "--name", name];
        common::cli::run(&db, &args, &format!("{password}\n")).await;
    }
    // The caller wrote in before, with the number written another way.
    let earlier =
        serde_json::json!({"subject": "VPNにつながらない", "caller": {"number": "03-1234-5678", "name": "山田"}});
    let r = service.client.post(format!("{}/api/contacts", service.base)).json(&earlier).send().await.unwrap();
    assert_eq!(r.status(), 201);
    // And someone sent markup: it must show as text, and run nowhere.
    let hostile = serde_json::json!({
        "subject": "<img src=x onerror=alert(1)>", "body": "<script>alert(2)</script><b>太字</b>",
        "caller": {"name": "<svg onload=alert(3)>", "email": "x@example.jp"},
    });
    let r = service.client.post(format!("{}/api/contacts", service.base)).json(&hostile).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let hostile: serde_json::Value = r.json().await.unwrap();

    let mut node = Interactive::start(
        "screenpop.mjs",
        &service.base,
        ("sota", first),
        &[
            ("MADOGUCHI_LOGIN2", "misaki"),
            ("MADOGUCHI_PASSWORD2", second),
            ("MADOGUCHI_HOSTILE_TICKET", hostile["ticket"].as_str().unwrap()),
        ],
    );
    node.ready().await;

    let mut phone = Phone::udp(service.sip, "e2e-screenpop").await;
    let (ok, _) = phone.call("P-Asserted-Identity: \"山田\" <sip:+81312345678@trunk>\r\n").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let ticket = ok.header("X-Madoguchi-Ticket").expect("the ticket rides on the 200 OK");
    phone.ack(&tag_of(&ok)).await;
    node.say(&format!("CALL {ticket}")).await;
    node.done().await;
    let bye = phone.request("BYE", "z9hG4bKbye-e2e", Some(&tag_of(&ok)), "", "");
    phone.send(&bye).await;
    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_uploads_an_announcement_a_supervisor_approves_it_and_the_next_call_hears_it() {
    if let Some(why) = missing() {
        common::skip("console::an_operator_uploads_an_announcement_a_supervisor_approves_it", &why);
        return;
    }
    let Some(db) = TestDb::new(Db::Sqlite, "console_announce").await else { return };
    let service = start_line_binary(&db, "56300-56349").await;
    let (operator, supervisor) = ("颯太さんの長いパスワード 2026", "鈴木さんの長いパスワード 2026");
    for (login, role, name, password) in
        [("sota", "operator", "佐藤 颯太", operator), ("suzuki", "supervisor", "鈴木 一郎", supervisor)]
    {
        let args = ["user", "add", login, "--role", role, "--name", name];
        common::cli::run(&db, &args, &format!("{password}\n")).await;
    }
    // A tone no shipped announcement has, and a file that only claims to be audio.
    const TONE_HZ: f32 = 1234.0;
    let wav = db.dir.path().join("nenmatsu.wav");
    std::fs::write(&wav, tone_wav(TONE_HZ, 1.5, 10000.0)).unwrap();
    let fake = db.dir.path().join("not-audio.wav");
    std::fs::write(&fake, "<html>not audio</html>").unwrap();
    let shipped = madoguchi::media::audio::load_wav(&db.dir.path().join("prompts/welcome.wav")).unwrap();

    let said = scenario(
        "announce.mjs",
        &service.base,
        "sota",
        operator,
        &[
            ("MADOGUCHI_LOGIN2", "suzuki"),
            ("MADOGUCHI_PASSWORD2", supervisor),
            ("MADOGUCHI_WAV", wav.to_str().unwrap()),
            ("MADOGUCHI_NOT_AUDIO", fake.to_str().unwrap()),
        ],
    )
    .await;

    // What the page did is what the API holds.
    let list: serde_json::Value =
        service.client.get(format!("{}/api/prompts", service.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["playing"]["welcome"], 2, "{list}");
    let welcome = list["slots"]["welcome"].as_array().unwrap();
    assert_eq!(welcome.len(), 2, "the refused file added nothing: {list}");
    let v2 = &welcome[1];
    assert_eq!(
        (v2["state"].as_str(), v2["requested_by"].as_str(), v2["decided_by"].as_str(), v2["comment"].as_str()),
        (Some("approved"), Some("sota"), Some("suzuki"), Some("確認しました")),
        "{v2}"
    );
    assert_eq!(v2["reason"], "年末年始の案内（画面から）");
    let goodbye = &list["slots"]["goodbye"][1];
    assert_eq!(
        (goodbye["state"].as_str(), goodbye["requested_by"].as_str()),
        (Some("pending"), Some("suzuki")),
        "{goodbye}"
    );
    assert_eq!(
        (goodbye["valid_from"].as_str(), goodbye["valid_until"].as_str()),
        (Some("2031-12-28T09:00:00+09:00"), Some("2032-01-04T08:30:00+09:00")),
        "the form's times are Japan time"
    );
    // The browser's player read the stored version's length.
    let duration: f64 = said
        .lines()
        .find_map(|l| l.strip_prefix("DURATION "))
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or_else(|| panic!("announce.mjs said the preview's duration: {said}"));
    let stored_ms = v2["duration_ms"].as_f64().unwrap();
    assert!((duration * 1000.0 - stored_ms).abs() < 50.0, "the preview plays {duration} s of {stored_ms} ms");

    // The notice drafted and published in the browser is public, and was audited with who did it.
    let public: serde_json::Value =
        reqwest::get(format!("{}/notices.json", service.base)).await.unwrap().json().await.unwrap();
    let notice = &public["notices"][0];
    assert_eq!(notice["title"], "年末年始の停止 <img src=x onerror=alert(1)>", "{public}");
    let store = madoguchi::store::Store::connect(&db.url, 1).await.unwrap();
    let audit: Vec<(String, String)> =
        store.audit_entries(100).await.unwrap().into_iter().map(|a| (a.actor, a.action)).collect();
    for step in [("sota", "notice_drafted"), ("suzuki", "notice_published")] {
        assert!(audit.contains(&(step.0.into(), step.1.into())), "{step:?} in {audit:?}");
    }
    store.close().await;

    // The next call hears the uploaded tone, as stored.
    let stored = service.client.get(format!("{}/api/prompts/welcome/versions/2/audio", service.base)).send().await;
    let stored = stored.unwrap().bytes().await.unwrap();
    let stored = madoguchi::media::audio::load_wav_bytes("v2", &stored).unwrap();
    let (mut phone, heard, tag) = first_words(service.sip, "console-announce").await;
    assert_eq!(heard, as_heard(&stored[..1600]), "the call hears the approved version");
    assert_ne!(heard, as_heard(&shipped[..1600]), "not the shipped welcome");
    let hz = tone_frequency(&heard);
    assert!((hz - TONE_HZ).abs() < TONE_HZ * 0.05, "the caller hears the uploaded {TONE_HZ} Hz tone, not {hz} Hz");
    hang_up(&mut phone, &tag).await;

    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_hung_up_in_the_menu_is_called_back_from_the_work_list() {
    let password = "颯太さんの長いパスワード 2026";
    let test = "console::a_call_hung_up_in_the_menu_is_called_back_from_the_work_list";
    let operator = ("sota", "佐藤 颯太", password);
    let Some((db, service)) = with_operator(test, "console_callbacks", operator, Some("56400-56424")).await else {
        return;
    };

    let mut node = Interactive::start("callbacks.mjs", &service.base, ("sota", password), &[]);
    node.ready().await;
    let mut phone = Phone::udp(service.sip, "e2e-callback").await;
    let (ok, _) = phone.call("P-Asserted-Identity: \"山田 &lt;b&gt;\" <sip:+81312345678@trunk>\r\n").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let ticket = ok.header("X-Madoguchi-Ticket").expect("the ticket rides on the 200 OK");
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    common::sip::hear(&phone, 20).await;
    let bye = phone.request("BYE", "z9hG4bKbye-e2e-cb", Some(&tag), "", "");
    assert_eq!(phone.transact(&bye).await.code(), 200);
    node.say(&format!("CALL {ticket}")).await;
    node.done().await;

    // What the page did is what the API holds.
    let done: serde_json::Value = service
        .client
        .get(format!("{}/api/callbacks?state=done", service.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let task = &done["callbacks"][0];
    assert_eq!((task["ticket"].as_str(), task["attempts"].as_i64()), (Some(ticket.as_str()), Some(2)), "{done}");
    assert_eq!((task["closed_by"].as_str(), task["last_result"].as_str()), (Some("sota"), Some("reached")));

    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_escalates_a_ticket_to_a_group_and_logs_a_phone_relay() {
    let password = "颯太さんの長いパスワード 2026";
    let test = "console::an_operator_escalates_a_ticket_to_a_group";
    let Some((db, service)) = with_operator(test, "console_escalate", ("sota", "佐藤 颯太", password), None).await
    else {
        return;
    };
    let body = serde_json::json!({"subject": "共有フォルダに接続できない", "caller": {"name": "山田"}});
    let r = service.client.post(format!("{}/api/contacts", service.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let created: serde_json::Value = r.json().await.unwrap();
    let number = created["ticket"].as_str().unwrap().to_owned();
    scenario("escalate.mjs", &service.base, "sota", password, &[("MADOGUCHI_TICKET", &number)]).await;
    let history: serde_json::Value = service
        .client
        .get(format!("{}/api/tickets/{number}/history", service.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let relays: Vec<&serde_json::Value> =
        history["history"].as_array().unwrap().iter().filter(|e| e["action"] == "relay").collect();
    assert_eq!(relays.len(), 2, "{history}");
    assert_eq!(
        (relays[0]["actor"].as_str(), relays[0]["detail"]["group"].as_str()),
        (Some("sota"), Some("operations"))
    );
    assert_eq!(relays[1]["detail"]["at"], "2026-11-20T10:15:00+09:00");
    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_edits_the_contact_list_and_a_wrong_line_is_named() {
    let password = "管理者の長いパスワード 2026";
    let test = "console::an_admin_edits_the_contact_list";
    let user = ("kanri", "管理 花子", password);
    let Some((db, service)) = with_user(test, "console_contact_list", user, "admin", None).await else {
        return;
    };
    scenario("contact_list.mjs", &service.base, "kanri", password, &[]).await;
    let groups: serde_json::Value =
        service.client.get(format!("{}/api/groups", service.base)).send().await.unwrap().json().await.unwrap();
    let ops = groups["groups"].as_array().unwrap().iter().find(|g| g["id"] == "operations").unwrap();
    assert_eq!(ops["contacts"][0]["email"], "ops-desk@example.go.jp", "{ops}");
    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_drafts_an_faq_from_candidates_and_another_approves_and_publishes_it() {
    let password = "鈴木さんの長いパスワード 2026";
    let test = "console::a_supervisor_drafts_an_faq_from_candidates";
    let Some((db, service)) =
        with_user(test, "console_faq", ("suzuki", "鈴木 一郎", password), "supervisor", None).await
    else {
        return;
    };
    let second = "田中さんの長いパスワード 2026";
    let args = ["user", "add", "tanaka", "--role", "supervisor", "--name", "田中 花子"];
    common::cli::run(&db, &args, &format!("{second}\n")).await;
    // Resolved tickets: three asked the same thing, one something else; an open one is no candidate.
    let api = |path: &str| format!("{}{path}", service.base);
    let mut cluster = Vec::new();
    for (subject, resolution) in [
        ("アカウントがロックされました", "ロックを解除しました"),
        ("アカウントロックの解除をお願いします", "解除しました"),
        ("ｱｶｳﾝﾄがロックされた", "本人確認のうえロック解除"),
        ("VPNに接続できない", "VPN クライアントを再起動して解決"),
        ("アカウントがロックされました（未対応）", ""),
    ] {
        let r = service.client.post(api("/api/contacts")).json(&serde_json::json!({"subject": subject})).send().await;
        let made: serde_json::Value = r.unwrap().json().await.unwrap();
        let number = made["ticket"].as_str().unwrap().to_owned();
        if resolution.is_empty() {
            continue;
        }
        for change in [
            serde_json::json!({"status": "in_progress"}),
            serde_json::json!({"status": "resolved", "resolution": resolution}),
        ] {
            let r = service.client.patch(api(&format!("/api/tickets/{number}"))).json(&change).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        if subject.contains("ロック") {
            cluster.push(number);
        }
    }

    let said = scenario(
        "faq.mjs",
        &service.base,
        "suzuki",
        password,
        &[("MADOGUCHI_LOGIN2", "tanaka"), ("MADOGUCHI_PASSWORD2", second), ("MADOGUCHI_CLUSTER", &cluster.join(" "))],
    )
    .await;
    let id: i64 = said
        .lines()
        .find_map(|l| l.strip_prefix("FAQ "))
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("faq.mjs said the entry's id: {said}"));

    // What the page did is what the API holds.
    let entry: serde_json::Value =
        service.client.get(api(&format!("/api/faq/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((entry["state"].as_str(), entry["audience"].as_str()), (Some("published"), Some("public")), "{entry}");
    assert_eq!((entry["author"].as_str(), entry["published_by"].as_str()), (Some("suzuki"), Some("tanaka")));
    let mut linked: Vec<String> =
        entry["tickets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
    linked.sort();
    cluster.sort();
    assert_eq!(linked, cluster, "drafted from the cluster's tickets");
    let steps: Vec<(&str, &str)> = entry["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["step"].as_str().unwrap(), s["decided_by"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(steps, [("general_manager", "tanaka"), ("business_division", "tanaka")]);
    assert_eq!(entry["steps"][0]["comment"], "統括責任者 了承（11/20 打合せ）");
    let public: serde_json::Value = reqwest::get(api("/faq.json")).await.unwrap().json().await.unwrap();
    assert_eq!(public["entries"][0]["question"], "アカウントがロックされたときは？ <img src=x onerror=alert(1)>");
    let store = madoguchi::store::Store::connect(&db.url, 1).await.unwrap();
    let audit: Vec<(String, String)> =
        store.audit_entries(100).await.unwrap().into_iter().map(|a| (a.actor, a.action)).collect();
    for step in [
        ("suzuki", "faq_drafted"),
        ("suzuki", "faq_submitted"),
        ("tanaka", "faq_step_approved"),
        ("tanaka", "faq_published"),
    ] {
        assert!(audit.contains(&(step.0.into(), step.1.into())), "{step:?} in {audit:?}");
    }
    store.close().await;
    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_sees_the_monthly_report_with_its_charts_and_an_operator_is_refused() {
    let password = "課長さんの長いパスワード 2026";
    let test = "console::a_supervisor_sees_the_monthly_report";
    let Some((db, service)) =
        with_user(test, "console_reports", ("kacho", "課長 花子", password), "supervisor", None).await
    else {
        return;
    };
    let operator_password = "佐藤さんの長いパスワード 2026";
    common::cli::run(&db, &["user", "add", "sato", "--role", "operator"], &format!("{operator_password}\n")).await;
    // Three contacts in October 2026 (JST), on three channels.
    for (channel, at) in [
        ("phone", "2026-10-15T09:15:00+09:00"),
        ("email", "2026-10-15T09:40:00+09:00"),
        ("fax", "2026-10-20T14:05:00+09:00"),
    ] {
        let body =
            serde_json::json!({"channel": channel, "subject": "アカウントがロックされました", "received_at": at});
        let r = service.client.post(format!("{}/api/contacts", service.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    let env = [("MADOGUCHI_OPERATOR_LOGIN", "sato"), ("MADOGUCHI_OPERATOR_PASSWORD", operator_password)];
    scenario("reports.mjs", &service.base, "kacho", password, &env).await;
    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_a_past_answer_suggested_and_records_using_it() {
    let password = "伊藤さんの長いパスワード 2026";
    let test = "console::an_operator_sees_a_past_answer_suggested";
    let Some((db, service)) = with_operator(test, "console_suggest", ("ito", "伊藤 健", password), None).await
    else {
        return;
    };
    let api = |path: &str| format!("{}{path}", service.base);
    let post = |body: serde_json::Value| {
        let request = service.client.post(api("/api/contacts")).json(&body).send();
        async move {
            request.await.unwrap().json::<serde_json::Value>().await.unwrap()["ticket"].as_str().unwrap().to_owned()
        }
    };
    let answer = post(serde_json::json!({"subject": "アカウントのロック解除", "body": "ロックされました"})).await;
    for change in [
        serde_json::json!({"status": "in_progress"}),
        serde_json::json!({"status": "resolved", "resolution": "本人確認のうえロックを解除しました <b>済</b>"}),
    ] {
        let r = service.client.patch(api(&format!("/api/tickets/{answer}"))).json(&change).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let asked =
        post(serde_json::json!({"subject": "アカウントロック", "body": "朝からアカウントロックで入れません"})).await;
    scenario(
        "suggest.mjs",
        &service.base,
        "ito",
        password,
        &[("MADOGUCHI_TICKET", &asked), ("MADOGUCHI_ANSWER", &answer)],
    )
    .await;
    let ticket: serde_json::Value =
        service.client.get(api(&format!("/api/tickets/{asked}"))).send().await.unwrap().json().await.unwrap();
    let used = common::mime::history(&ticket, "answered_from");
    assert_eq!(used.len(), 1, "{ticket}");
    assert_eq!((used[0]["actor"].as_str(), used[0]["detail"]["ticket"].as_str()), (Some("ito"), Some(answer.as_str())));
    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_interviews_a_fault_reporter_and_the_answers_survive_a_reload() {
    let password = "高橋さんの長いパスワード 2026";
    let test = "console::an_operator_interviews_a_fault_reporter";
    let Some((db, service)) = with_operator(test, "console_interview", ("takahashi", "高橋 誠", password), None).await
    else {
        return;
    };
    let api = |path: &str| format!("{}{path}", service.base);
    let body = serde_json::json!({"subject": "帳票が出力されない"});
    let made: serde_json::Value =
        service.client.post(api("/api/contacts")).json(&body).send().await.unwrap().json().await.unwrap();
    let number = made["ticket"].as_str().unwrap().to_owned();
    let change = serde_json::json!({"category": "fault_report"});
    let r = service.client.patch(api(&format!("/api/tickets/{number}"))).json(&change).send().await.unwrap();
    assert_eq!(r.status(), 200);
    scenario("interview.mjs", &service.base, "takahashi", password, &[("MADOGUCHI_TICKET", &number)]).await;
    let interview: serde_json::Value = service
        .client
        .get(api(&format!("/api/tickets/{number}/interview")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(interview["complete"], true, "{interview}");
    assert_eq!(interview["answers"]["steps"], "月次帳票の出力ボタンを押す");
    assert_eq!(interview["updated_by"], "takahashi");
    finish(service, db).await;
}

/// A monitoring system on a real socket that answers every GET with JSON holding markup.
async fn monitor() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"status":"<b>degraded</b>","note":"<img src=x onerror=alert(1)>","checks":[{"name":"db","ok":false}]}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_sees_a_faults_system_facts_and_fetches_them_again() {
    let test = "console::an_operator_sees_a_faults_system_facts";
    if let Some(why) = missing() {
        common::skip(test, &why);
        return;
    }
    let password = "加藤さんの長いパスワード 2026";
    let Some(db) = TestDb::new(Db::Sqlite, "console_facts").await else { return };
    let sources = format!(r#"[{{name = "統合監視", url = "http://{}/api/health"}}]"#, monitor().await);
    let data = db.dir.path().join("data");
    let env = [
        ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
        ("MADOGUCHI_DATABASE_URL", db.url.as_str()),
        ("MADOGUCHI_STATUS_SOURCES", sources.as_str()),
    ];
    let service = common::spawn_binary(db.dir.path(), &env).await;
    common::cli::run(
        &db,
        &["user", "add", "kato", "--role", "operator", "--name", "加藤 恵"],
        &format!("{password}\n"),
    )
    .await;
    let created: serde_json::Value = service
        .client
        .post(format!("{}/api/contacts", service.base))
        .json(&serde_json::json!({"subject": "人事給与システムが起動しない障害", "caller": {"name": "山田 太郎"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let number = created["ticket"].as_str().unwrap().to_owned();
    let facts_url = format!("{}/api/tickets/{number}/system-facts", service.base);
    let facts = || async {
        let v: serde_json::Value = service.client.get(&facts_url).send().await.unwrap().json().await.unwrap();
        v["facts"].as_array().cloned().unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while facts().await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the fault ticket's answer is stored");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    scenario("facts.mjs", &service.base, "kato", password, &[("MADOGUCHI_TICKET", &number)]).await;

    let stored = facts().await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert_eq!((stored[0]["requested_by"].as_str(), stored[1]["requested_by"].as_str()), (Some("kato"), None));
    finish(service, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requester_answers_the_survey_and_the_operator_sees_the_comment_as_text() {
    let password = "小野さんの長いパスワード 2026";
    let test = "console::a_requester_answers_the_survey";
    if let Some(why) = missing() {
        common::skip(test, &why);
        return;
    }
    let Some(db) = TestDb::new(Db::Sqlite, "console_survey").await else { return };
    let data = db.dir.path().join("data");
    let env = [
        ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
        ("MADOGUCHI_DATABASE_URL", db.url.as_str()),
        ("MADOGUCHI_HTTP_PUBLIC_URL", "https://helpdesk.example.go.jp"),
    ];
    let service = common::spawn_binary(db.dir.path(), &env).await;
    common::cli::run(
        &db,
        &["user", "add", "ono", "--role", "operator", "--name", "小野 洋子"],
        &format!("{password}\n"),
    )
    .await;
    let api = |path: &str| format!("{}{path}", service.base);
    let body = serde_json::json!({"channel": "email", "subject": "メールが届かない",
        "caller": {"name": "山田 太郎", "email": "yamada@example.go.jp"}});
    let created: serde_json::Value =
        service.client.post(api("/api/contacts")).json(&body).send().await.unwrap().json().await.unwrap();
    let number = created["ticket"].as_str().unwrap().to_owned();
    for change in [
        serde_json::json!({"status": "in_progress"}),
        serde_json::json!({"status": "resolved", "resolution": "受信設定を直しました"}),
    ] {
        let r = service.client.patch(api(&format!("/api/tickets/{number}"))).json(&change).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // No relay is set: the survey mail waits in the outbox, where its link is read.
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&db.url).await.unwrap();
    let mail: String =
        sqlx::query_scalar("SELECT body FROM outbox WHERE kind = 'survey'").fetch_one(&pool).await.unwrap();
    pool.close().await;
    let at = mail.find("https://helpdesk.example.go.jp/survey/").expect("a link in the survey mail");
    let path: String =
        mail[at + "https://helpdesk.example.go.jp".len()..].chars().take_while(|c| !c.is_whitespace()).collect();
    let comment = "<script>document.title='pwned'</script><b>返信が遅い</b> & <img src=x>";
    let env = [
        ("MADOGUCHI_TICKET", number.as_str()),
        ("MADOGUCHI_SURVEY_PATH", path.as_str()),
        ("MADOGUCHI_COMMENT", comment),
    ];
    scenario("survey.mjs", &service.base, "ono", password, &env).await;
    let survey: serde_json::Value =
        service.client.get(api(&format!("/api/tickets/{number}/survey"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((survey["rating"].as_i64(), survey["comment"].as_str()), (Some(2), Some(comment)), "{survey}");
    finish(service, db).await;
}
