//! System facts (障害情報収集): the monitoring systems in `[[status_sources]]` are real HTTP
//! servers on real sockets, started here and answering by hand: JSON, 5 MB, an error status, or
//! nothing at all. A fault ticket gets one answer per source by itself without its contact
//! waiting for any of them (a source that hangs is a timeout stored afterwards); failures are
//! stored with why, never with the URL's secrets; a redirect is followed only within its origin; an operator fetches on any ticket; a ticket of
//! another category gets nothing by itself; `check` names each bad source's file and line.

mod common;

use common::{Db, TestDb, authorised, grant};
use madoguchi::config::StatusSourceSettings;
use madoguchi::domain::user::Role;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const FAULT: &str = "基幹システムに接続できない障害が発生しています";
const HOWTO: &str = "帳票の出力方法を教えてください";
const PROMETHEUS: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"portal"},"value":[1767225600.5,"1"]}]}}"#;

/// How a hand-made source answers each request.
#[derive(Clone, Copy)]
enum Answer {
    /// 200, a Prometheus instant query's JSON.
    Json,
    /// 200, this many bytes of text.
    Big(usize),
    /// This status, with a short text.
    Status(u16),
    /// Reads the request and never answers (the connection stays open).
    Hang,
    /// Plain HTTP at once, without reading (to a client that expects TLS).
    PlainAtOnce,
    /// `/moved` is redirected to `/health` on this server, anything else to this port's `/health`
    /// (another origin); `/health` answers as `Json`.
    Redirect(u16),
}

/// A source on 127.0.0.1: its base URL, and how many requests it has read.
async fn source_server(answer: Answer) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let counted = counted.clone();
            tokio::spawn(async move { answer_one(stream, answer, &counted).await });
        }
    });
    (base, requests)
}

async fn answer_one(mut stream: TcpStream, answer: Answer, requests: &AtomicUsize) {
    if let Answer::PlainAtOnce = answer {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        let _ = stream.shutdown().await;
        return;
    }
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        assert!(head.len() < 64 * 1024, "a GET's head is small");
    }
    assert!(head.starts_with(b"GET "), "sources are fetched with GET");
    requests.fetch_add(1, Ordering::SeqCst);
    let path = String::from_utf8_lossy(&head).split(' ').nth(1).unwrap_or_default().to_owned();
    let answer = match answer {
        Answer::Redirect(_) if path == "/health" => Answer::Json,
        other => other,
    };
    let reply = |status: &str, content_type: &str, length: usize| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
    };
    match answer {
        Answer::Json => {
            let head = reply("200 OK", "application/json", PROMETHEUS.len());
            let _ = stream.write_all(format!("{head}{PROMETHEUS}").as_bytes()).await;
        }
        Answer::Status(code) => {
            let body = "メンテナンス中 / under maintenance";
            let head = reply(&format!("{code} Unavailable"), "text/plain; charset=utf-8", body.len());
            let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
        }
        Answer::Big(size) => {
            let _ = stream.write_all(reply("200 OK", "text/plain", size).as_bytes()).await;
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < size {
                let n = chunk.len().min(size - sent);
                // The reader hangs up once it has what it keeps.
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        }
        Answer::Redirect(port) => {
            let to = if path == "/moved" { "/health".to_owned() } else { format!("http://127.0.0.1:{port}/health") };
            let head =
                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
        }
        Answer::PlainAtOnce => {}
        Answer::Hang => {
            let _ = stream.read(&mut buf).await;
            std::future::pending::<()>().await;
        }
    }
    let _ = stream.shutdown().await;
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

fn source(name: &str, url: &str) -> StatusSourceSettings {
    StatusSourceSettings {
        name: name.into(),
        url: url.into(),
        timeout_ms: 3000,
        max_bytes: 65536,
        categories: vec!["fault_report".into()],
    }
}

async fn spawn(db: Db, test: &str, sources: Vec<StatusSourceSettings>) -> Option<common::TestApp> {
    let db = TestDb::new(db, test).await?;
    Some(common::spawn_with(db, move |s| s.status_sources = sources).await)
}

/// Logs a contact; its ticket number and category.
async fn contact(app: &common::TestApp, subject: &str) -> (String, String) {
    let r = app.post_contact(json!({"subject": subject, "caller": {"name": "山田 太郎"}})).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    (v["ticket"].as_str().unwrap().to_owned(), v["routing"]["category"].as_str().unwrap().to_owned())
}

async fn facts(app: &common::TestApp, number: &str) -> Vec<Value> {
    let (status, v) = app.get_json(&format!("/api/tickets/{number}/system-facts")).await;
    assert_eq!(status, 200, "{v}");
    v["facts"].as_array().cloned().unwrap()
}

/// The ticket's answers once there are `n` (polled, 20 s at most).
async fn facts_when(app: &common::TestApp, number: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = facts(app, number).await;
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{number}: {} of {n} answers stored: {found:?}", found.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_source<'a>(facts: &'a [Value], name: &str) -> &'a Value {
    facts.iter().find(|f| f["source"] == name).unwrap_or_else(|| panic!("no answer from {name}: {facts:?}"))
}

async fn history(app: &common::TestApp, number: &str) -> Vec<Value> {
    let (_, h) = app.get_json(&format!("/api/tickets/{number}/history")).await;
    h.as_array().cloned().or_else(|| h["history"].as_array().cloned()).unwrap_or_default()
}

/// The ticket's `system_facts` history entries once there are `n` (each follows its answer's row;
/// polled, 20 s at most).
async fn entries_when(app: &common::TestApp, number: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<Value> =
            history(app, number).await.into_iter().filter(|e| e["action"] == "system_facts").collect();
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{number}: {} of {n} history entries: {found:?}", found.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_fault_ticket_gets_one_answer_per_source(db: Db) {
    let (prometheus, asked) = source_server(Answer::Json).await;
    let (health, _) = source_server(Answer::Json).await;
    let sources = vec![
        source("Prometheus 稼働状況", &format!("{prometheus}/api/v1/query?query=up%7Bjob%3D%22portal%22%7D")),
        source("ヘルスチェック", &format!("{health}/health")),
    ];
    let Some(app) = spawn(db, "facts_fault_ticket", sources).await else { return };
    let (number, category) = contact(&app, FAULT).await;
    assert_eq!(category, "fault_report");
    let found = facts_when(&app, &number, 2).await;
    assert_eq!(found.len(), 2, "one answer per source: {found:?}");
    for name in ["Prometheus 稼働状況", "ヘルスチェック"] {
        let f = by_source(&found, name);
        assert_eq!(
            (f["ok"].as_bool(), f["status"].as_i64(), f["truncated"].as_bool()),
            (Some(true), Some(200), Some(false))
        );
        assert_eq!(f["content_type"], "application/json");
        assert!(f["error"].is_null() && f["requested_by"].is_null(), "{f}");
        let body = f["body"].as_str().unwrap();
        assert!(
            body.starts_with("{\n  \"status\": \"success\",\n  \"data\": {"),
            "pretty-printed in its order: {body}"
        );
        let parsed: Value = serde_json::from_str(body).unwrap();
        assert_eq!(parsed, serde_json::from_str::<Value>(PROMETHEUS).unwrap(), "the same JSON");
        assert!(f["fetched_at"].as_str().unwrap().ends_with("+09:00"), "JST: {f}");
    }
    assert_eq!(asked.load(Ordering::SeqCst), 1, "fetched once");
    let entries = entries_when(&app, &number, 2).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    for e in &entries {
        assert_eq!((e["actor"].as_str(), e["detail"]["ok"].as_bool()), (Some("system"), Some(true)), "{e}");
        assert!(e["detail"]["source"].is_string() && e["detail"]["error"].is_null(), "{e}");
    }
    app.stop().await;
}

async fn a_hanging_source_never_delays_the_ticket(db: Db) {
    let (hanging, asked) = source_server(Answer::Hang).await;
    let Some(app) =
        spawn(db, "facts_hanging_source", vec![source("応答しない監視", &format!("{hanging}/health"))]).await
    else {
        return;
    };
    let started = Instant::now();
    let (number, _) = contact(&app, FAULT).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1000), "the contact was answered in {took:?}, not after the source's 3 s");
    assert!(facts(&app, &number).await.is_empty(), "nothing is stored while the source is silent");
    let found = facts_when(&app, &number, 1).await;
    let f = &found[0];
    assert_eq!((f["ok"].as_bool(), f["status"].as_i64(), f["body"].as_str()), (Some(false), None, None), "{f}");
    let error = f["error"].as_str().unwrap();
    assert!(error.contains("no answer within 3000 ms") && error.starts_with("3000 ミリ秒以内に"), "{error}");
    assert!(f["duration_ms"].as_i64().unwrap() >= 3000, "{f}");
    assert!(started.elapsed() >= Duration::from_millis(3000));
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let entry = entries_when(&app, &number, 1).await.remove(0);
    assert_eq!((entry["detail"]["ok"].as_bool(), entry["detail"]["error"].as_str()), (Some(false), Some(error)));
    app.stop().await;
}

async fn a_large_answer_is_cut_at_max_bytes(db: Db) {
    let (big, _) = source_server(Answer::Big(5 * 1024 * 1024)).await;
    let Some(app) = spawn(db, "facts_large_answer", vec![source("ログ", &format!("{big}/log"))]).await else {
        return;
    };
    let (number, _) = contact(&app, FAULT).await;
    let found = facts_when(&app, &number, 1).await;
    let f = &found[0];
    assert_eq!(
        (f["truncated"].as_bool(), f["status"].as_i64(), f["ok"].as_bool()),
        (Some(true), Some(200), Some(false))
    );
    assert_eq!(f["body"].as_str().unwrap().len(), 65536, "the first max_bytes are kept");
    assert!(f["body"].as_str().unwrap().bytes().all(|b| b == b'x'));
    assert!(f["error"].as_str().unwrap().contains("larger than 65536 bytes"), "{f}");
    app.stop().await;
}

async fn failures_are_stored_with_why_and_without_secrets(db: Db) {
    let refused = closed_port().await;
    let (plain, _) = source_server(Answer::PlainAtOnce).await;
    let (down, _) = source_server(Answer::Status(503)).await;
    let (elsewhere, asked_elsewhere) = source_server(Answer::Json).await;
    let port = elsewhere.rsplit(':').next().unwrap().parse().unwrap();
    let (redirecting, _) = source_server(Answer::Redirect(port)).await;
    let sources = vec![
        source("別ホストへ転送", &format!("{redirecting}/away")),
        source("同じホストで転送", &format!("{redirecting}/moved")),
        source("停止中", &format!("http://monitor:s3cret@127.0.0.1:{refused}/api?token=hunter2")),
        source("TLS 不一致", &plain.replace("http://", "https://")),
        source("保守中", &format!("{down}/health")),
    ];
    let Some(app) = spawn(db, "facts_failures", sources).await else { return };
    let (number, _) = contact(&app, FAULT).await;
    let found = facts_when(&app, &number, 5).await;
    let moved = by_source(&found, "同じホストで転送");
    assert_eq!((moved["ok"].as_bool(), moved["status"].as_i64()), (Some(true), Some(200)), "followed: {moved}");
    let f = by_source(&found, "別ホストへ転送");
    assert!(f["error"].as_str().unwrap().contains("a redirect to another origin"), "{f}");
    assert_eq!(asked_elsewhere.load(Ordering::SeqCst), 0, "the other origin is never asked");
    for f in found.iter().filter(|f| f["source"] != "同じホストで転送") {
        assert_eq!(f["ok"], false, "{f}");
        let text = f.to_string();
        assert!(!text.contains("s3cret") && !text.contains("hunter2") && f.get("url").is_none(), "{text}");
    }
    let f = by_source(&found, "停止中");
    assert!(f["error"].as_str().unwrap().contains("connection refused"), "{f}");
    let f = by_source(&found, "TLS 不一致");
    assert!(f["error"].as_str().unwrap().contains("TLS failed"), "{f}");
    let f = by_source(&found, "保守中");
    assert_eq!((f["status"].as_i64(), f["body"].as_str()), (Some(503), Some("メンテナンス中 / under maintenance")));
    assert!(f["error"].as_str().unwrap().contains("HTTP 503"), "{f}");
    let entries = entries_when(&app, &number, 5).await;
    let text = serde_json::to_string(&history(&app, &number).await).unwrap();
    assert!(!text.contains("s3cret") && !text.contains("hunter2"), "{text}");
    assert_eq!(entries.iter().filter(|e| e["detail"]["ok"] == false).count(), 4);
    app.stop().await;
}

async fn an_operator_fetches_on_any_ticket(db: Db) {
    let (prometheus, asked) = source_server(Answer::Json).await;
    let (health, _) = source_server(Answer::Status(500)).await;
    let mut manual_only = source("ヘルスチェック", &format!("{health}/health"));
    manual_only.categories = Vec::new();
    let sources = vec![source("Prometheus", &format!("{prometheus}/api/v1/query?query=up")), manual_only];
    let Some(app) = spawn(db, "facts_operator_fetch", sources).await else { return };
    let sato = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    let (number, category) = contact(&app, HOWTO).await;
    assert_eq!(category, "howto");
    let url = app.url(&format!("/api/tickets/{number}/system-facts"));

    let (status, v) = common::post(&sato, &url, json!({"source": "Prometheus"})).await;
    assert_eq!(status, 200, "{v}");
    let fetched = v["facts"].as_array().unwrap();
    assert_eq!(fetched.len(), 1);
    assert_eq!((fetched[0]["source"].as_str(), fetched[0]["ok"].as_bool()), (Some("Prometheus"), Some(true)));
    assert_eq!(fetched[0]["requested_by"], "sato");

    // No body: every source, the manual-only one too.
    let r = sato.post(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let names: Vec<&str> = v["facts"].as_array().unwrap().iter().map(|f| f["source"].as_str().unwrap()).collect();
    assert_eq!(names, ["Prometheus", "ヘルスチェック"]);
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    let listed = facts(&app, &number).await;
    let ids: Vec<i64> = listed.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert_eq!(listed[0]["source"], "ヘルスチェック");
    assert_eq!((listed[0]["status"].as_i64(), listed[0]["ok"].as_bool()), (Some(500), Some(false)));
    let entries = history(&app, &number).await;
    let by_sato = entries.iter().filter(|e| e["action"] == "system_facts" && e["actor"] == "sato").count();
    assert_eq!(by_sato, 3, "{entries:?}");

    let (status, v) = common::post(&sato, &url, json!({"source": "ない取得元"})).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("Prometheus, ヘルスチェック"), "{v}");
    let (status, _) = common::post(&sato, &url, json!({"sources": ["Prometheus"]})).await;
    assert_eq!(status, 422, "unknown fields are refused");
    let unknown = app.url("/api/tickets/20000101-9999/system-facts");
    assert_eq!(common::post(&sato, &unknown, json!({})).await.0, 404);
    assert_eq!(sato.get(&unknown).send().await.unwrap().status(), 404);
    assert_eq!(asked.load(Ordering::SeqCst), 2, "nothing fetched for a refused request");
    app.stop().await;
}

async fn another_category_fetches_nothing_by_itself(db: Db) {
    let (prometheus, asked) = source_server(Answer::Json).await;
    let Some(app) = spawn(db, "facts_other_category", vec![source("Prometheus", &format!("{prometheus}/q"))]).await
    else {
        return;
    };
    let (howto, category) = contact(&app, HOWTO).await;
    assert_eq!(category, "howto");
    let (fault, _) = contact(&app, FAULT).await;
    // Jobs are taken in order: once the fault's answer is stored, the how-to's would have been.
    facts_when(&app, &fault, 1).await;
    assert!(facts(&app, &howto).await.is_empty());
    assert_eq!(asked.load(Ordering::SeqCst), 1, "only the fault ticket was fetched for");
    assert!(!history(&app, &howto).await.iter().any(|e| e["action"] == "system_facts"));
    // Without any source configured the API says so.
    app.stop().await;
    let Some(app) = spawn(db, "facts_none_configured", Vec::new()).await else { return };
    let (number, _) = contact(&app, FAULT).await;
    let (status, v) =
        common::post(&app.client, &app.url(&format!("/api/tickets/{number}/system-facts")), json!({})).await;
    assert_eq!(status, 422, "{v}");
    assert!(facts(&app, &number).await.is_empty());
    app.stop().await;
}

async fn a_full_queue_skips_the_fetch_and_says_so(db: Db) {
    let (hanging, _) = source_server(Answer::Hang).await;
    let mut slow = source("応答しない監視", &format!("{hanging}/health"));
    slow.timeout_ms = 30_000;
    let Some(app) = spawn(db, "facts_full_queue", vec![slow]).await else { return };
    // Four tickets are fetched for at once and 256 wait: one opened after 272 is not fetched for.
    let started = Instant::now();
    for _ in 0..17 {
        futures_util::future::join_all((0..16).map(|_| contact(&app, FAULT))).await;
    }
    let (last, _) = contact(&app, FAULT).await;
    let last = &last;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}: the sources' 30 s are not waited for",
        started.elapsed()
    );
    let found = facts_when(&app, last, 1).await;
    let f = &found[0];
    assert_eq!(
        (f["ok"].as_bool(), f["status"].as_i64(), f["duration_ms"].as_i64()),
        (Some(false), None, Some(0)),
        "{f}"
    );
    assert!(f["error"].as_str().unwrap().contains("too many fetches were waiting"), "{f}");
    let entry = entries_when(&app, last, 1).await.remove(0);
    assert_eq!((entry["actor"].as_str(), entry["detail"]["ok"].as_bool()), (Some("system"), Some(false)), "{entry}");
    assert!(started.elapsed() < Duration::from_secs(30), "the skip was stored at once, not after a fetch");
    app.stop().await;
}

on_both_backends!(
    a_full_queue_skips_the_fetch_and_says_so,
    a_fault_ticket_gets_one_answer_per_source,
    a_hanging_source_never_delays_the_ticket,
    a_large_answer_is_cut_at_max_bytes,
    failures_are_stored_with_why_and_without_secrets,
    an_operator_fetches_on_any_ticket,
    another_category_fetches_nothing_by_itself,
);

fn check(dir: &Path, config: &str) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::process::Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["check", "--config", config])
        .current_dir(dir)
        .env_remove("MADOGUCHI_CONFIG")
        .env("MADOGUCHI_SIP_DIALPLANS", root.join("dialplans"))
        .env("MADOGUCHI_SIP_PROMPTS", root.join("prompts"))
        .output()
        .expect("madoguchi runs")
}

#[test]
fn check_names_each_bad_source_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "data_dir = \"d\"\n\n[[status_sources]]\nname = \"監視\"\nurl = \"gopher://mon.example/\"\ntimeout_ms = 0\n\n\
[[status_sources]]\nname = \"監視\"\nurl = \"http://mon.example/?token=hunter2\"\nmax_bytes = 2000000\ncategories = [\"\"]\n",
    )
    .unwrap();
    let out = check(dir.path(), "bad.toml");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "bad.toml:5: [[status_sources]] 1 「監視」: url は http:// か https:// で始めてください",
        "bad.toml:6: [[status_sources]] 1 「監視」: timeout_ms は 100 から 30000 までです",
        "bad.toml:9: [[status_sources]] 2 「監視」: name が 1 番目の取得元と同じです",
        "bad.toml:11: [[status_sources]] 2 「監視」: max_bytes は 1024 から 1048576 (1 MiB) までです",
        "bad.toml:12: [[status_sources]] 2 「監視」: categories[0] が空です",
    ] {
        assert!(err.contains(want), "{want}\n{err}");
    }
    assert_eq!(err.lines().count(), 5, "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    std::fs::write(
        dir.path().join("good.toml"),
        "data_dir = \"d\"\n\n[[status_sources]]\nname = \"監視\"\nurl = \"https://me:pw@mon.example/api?query=up&api_key=hunter2\"\n\
categories = [\"fault_report\", \"faults\"]\n",
    )
    .unwrap();
    let out = check(dir.path(), "good.toml");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains(
            "ok: system facts: 1 sources: 監視 (https://mon.example/api?query=up&api_key=***, 3000 ms, 65536 bytes)"
        ),
        "{said}"
    );
    assert!(
        said.contains(
            "warning: good.toml:6: [[status_sources]] 「監視」: 分類 'faults' はルーティング規則にありません"
        ),
        "{said}"
    );
    assert!(!said.contains("hunter2") && !said.contains(":pw@"), "{said}");
}
