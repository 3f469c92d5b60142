//! `madoguchi <args>` run against a test database, as an admin would on the service's machine.

use super::TestDb;

/// Runs the command with `input` on standard input; the database and data directory are the
/// test's, and no configuration file is read.
pub async fn run(db: &TestDb, args: &[&str], input: &str) -> std::process::Output {
    let out = try_run(db, args, input).await;
    assert!(
        out.status.success(),
        "madoguchi {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Like [`run`], whatever the exit status.
pub async fn try_run(db: &TestDb, args: &[&str], input: &str) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let data = db.dir.path().join("data");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(args)
        .current_dir(db.dir.path())
        .env_remove("MADOGUCHI_CONFIG")
        .env("MADOGUCHI_DATABASE_URL", &db.url)
        .env("MADOGUCHI_DATA_DIR", &data)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("madoguchi runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).await.unwrap();
    drop(stdin);
    child.wait_with_output().await.unwrap()
}
