//! The console in a real browser: the service binary as an admin starts it, a user made with
//! `madoguchi user add`, and the scenarios in `tests/e2e/` driving Debian's headless Chromium
//! through playwright-core (`npm ci` installs it; `.ci/run` does both). Screenshots go to
//! `target/e2e/`. Without Chromium or playwright-core the scenarios say they are skipped.

mod common;

use common::sip::{Phone, tag_of};
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

/// Runs `node tests/e2e/<script>` against the service; its output is shown if it fails.
async fn scenario(script: &str, base: &str, login: &str, password: &str, name: &str) {
    let run = tokio::process::Command::new("node")
        .arg(root().join("tests/e2e").join(script))
        .current_dir(root())
        .env("MADOGUCHI_URL", base)
        .env("MADOGUCHI_LOGIN", login)
        .env("MADOGUCHI_PASSWORD", password)
        .env("MADOGUCHI_NAME", name)
        .env("MADOGUCHI_SHOTS", shots())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(SCENARIO_LIMIT, run)
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish in {SCENARIO_LIMIT:?}"))
        .expect("node runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{script} failed (screenshots in {}):\n{text}", shots().display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_and_out_in_a_real_browser() {
    if let Some(why) = missing() {
        common::skip("console::an_operator_signs_in_and_out_in_a_real_browser", &why);
        return;
    }
    let Some(db) = TestDb::new(Db::Sqlite, "console_signin").await else { return };
    let mut service = start_binary(&db, db.dir.path()).await;
    let password = "山田さんの長いパスワード 2026";
    common::cli::run(
        &db,
        &["user", "add", "yamada", "--role", "operator", "--name", "山田 太郎"],
        &format!("{password}\n"),
    )
    .await;

    scenario("signin.mjs", &service.base, "yamada", password, "山田 太郎").await;

    let _ = service.child.start_kill();
    let _ = service.child.wait().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ringing_call_pops_on_two_operators_screens_and_an_escalation_shows_on_both() {
    if let Some(why) = missing() {
        common::skip("console::a_ringing_call_pops_on_two_operators_screens", &why);
        return;
    }
    let Some(db) = TestDb::new(Db::Sqlite, "console_screenpop").await else { return };
    let mut service = start_binary(&db, db.dir.path()).await;
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

    let mut node = tokio::process::Command::new("node")
        .arg(root().join("tests/e2e/screenpop.mjs"))
        .current_dir(root())
        .env("MADOGUCHI_URL", &service.base)
        .env("MADOGUCHI_LOGIN", "sota")
        .env("MADOGUCHI_PASSWORD", first)
        .env("MADOGUCHI_LOGIN2", "misaki")
        .env("MADOGUCHI_PASSWORD2", second)
        .env("MADOGUCHI_HOSTILE_TICKET", hostile["ticket"].as_str().unwrap())
        .env("MADOGUCHI_SHOTS", shots())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut stdin = node.stdin.take().unwrap();
    let mut out = BufReader::new(node.stdout.take().unwrap()).lines();
    let mut said = Vec::new();
    let ready = tokio::time::timeout(SCENARIO_LIMIT, async {
        while let Some(line) = out.next_line().await.unwrap() {
            said.push(line.clone());
            if line == "READY" {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    if !ready {
        let err = node.wait_with_output().await.unwrap();
        panic!("screenpop.mjs never got ready: {said:?}\n{}", String::from_utf8_lossy(&err.stderr));
    }

    let mut phone = Phone::udp(service.sip, "e2e-screenpop").await;
    let (ok, _) = phone.call("P-Asserted-Identity: \"山田\" <sip:+81312345678@trunk>\r\n").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let ticket = ok.header("X-Madoguchi-Ticket").expect("the ticket rides on the 200 OK");
    phone.ack(&tag_of(&ok)).await;
    stdin.write_all(format!("CALL {ticket}\n").as_bytes()).await.unwrap();
    stdin.flush().await.unwrap();
    drop(stdin);

    let rest = tokio::time::timeout(SCENARIO_LIMIT, async {
        while let Some(line) = out.next_line().await.unwrap() {
            said.push(line);
        }
        node.wait_with_output().await.unwrap()
    })
    .await
    .expect("screenpop.mjs finishes");
    assert!(
        rest.status.success() && said.iter().any(|l| l == "DONE"),
        "screenpop.mjs failed (screenshots in {}):\n{}\n{}",
        shots().display(),
        said.join("\n"),
        String::from_utf8_lossy(&rest.stderr)
    );
    let bye = phone.request("BYE", "z9hG4bKbye-e2e", Some(&tag_of(&ok)), "", "");
    phone.send(&bye).await;
    let _ = service.child.start_kill();
    let _ = service.child.wait().await;
    db.cleanup().await;
}
