//! The console in a real browser: the service binary as an admin starts it, a user made with
//! `madoguchi user add`, and the scenarios in `tests/e2e/` driving Debian's headless Chromium
//! through playwright-core (`npm ci` installs it; `.ci/run` does both). Screenshots go to
//! `target/e2e/`. Without Chromium or playwright-core the scenarios say they are skipped.

mod common;

use common::{Db, TestDb, start_binary};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
