//! Announcement versions on a real line: a requested version is not heard; once a supervisor who
//! did not request it approves, the next call hears it (decoded from RTP and compared with what
//! was stored) while a call already listening keeps the old one; a rollback brings the old one
//! back; the requester cannot approve their own change; bad uploads change nothing.

mod common;

use common::audio::{as_heard, b64, tone_wav};
use common::sip::{Phone, hear, spawn_line};
use common::{authorised, grant, post};
use madoguchi::domain::user::Role;
use serde_json::{Value, json};
use std::time::Duration;

/// What a caller hears first: the first 1,600 samples (0.2 s) of a new call's welcome.
async fn first_words(app: &common::TestApp, call_id: &str) -> (Phone, Vec<i16>, String) {
    common::sip::first_words(app.sip, call_id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approved_announcement_is_heard_by_the_next_call_and_a_rollback_brings_the_old_one_back() {
    let app = spawn_line(true, "56200-56299", |_| {}).await;
    let url = app.db.settings().database_url();
    let sato = authorised(&grant(&url, "sato", Role::Operator).await);
    let suzuki = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    let shipped = madoguchi::media::audio::load_wav(&app.db.dir.path().join("prompts/welcome.wav")).unwrap();

    // The shipped announcements are version 1 of their slots.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let slots = loop {
        let slots: Value = sato.get(app.url("/api/prompts")).send().await.unwrap().json().await.unwrap();
        if slots["slots"]["welcome"].is_array() || tokio::time::Instant::now() > deadline {
            break slots;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let welcome = &slots["slots"]["welcome"][0];
    assert_eq!(
        (welcome["version"].as_i64(), welcome["state"].as_str(), welcome["shipped"].as_bool()),
        (Some(1), Some("approved"), Some(true))
    );

    let requests = app.url("/api/prompts/welcome/versions");
    let upload = tone_wav(1500.0, 0.8, 12000.0);
    let (status, made) =
        post(&sato, &requests, json!({"audio_base64": b64(&upload), "reason": "年末年始の案内"})).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!((made["version"].as_i64(), made["state"].as_str()), (Some(2), Some("pending")));

    // Requested, not approved: callers still hear the shipped welcome.
    let (mut listening, heard, listening_tag) = first_words(&app, "prompt-before").await;
    assert_eq!(heard, as_heard(&shipped[..1600]), "a pending version is not played");

    let approve = app.url("/api/prompts/welcome/versions/2/approve");
    let (status, answer) = post(&sato, &approve, json!({})).await;
    assert_eq!(status, 403, "the requester cannot approve their own change: {answer}");
    let (status, answer) = post(&suzuki, &approve, json!({"comment": "確認しました"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((answer["state"].as_str(), answer["decided_by"].as_str()), (Some("approved"), Some("suzuki")));
    let (status, _) = post(&suzuki, &approve, json!({})).await;
    assert_eq!(status, 409, "decided once");

    // The next call hears what was stored; the call already listening goes on with the old one.
    let stored = sato.get(app.url("/api/prompts/welcome/versions/2/audio")).send().await.unwrap();
    assert_eq!(stored.headers()["content-type"], "audio/wav");
    let stored = madoguchi::media::audio::load_wav_bytes("v2", &stored.bytes().await.unwrap()).unwrap();
    assert!(stored.len() < 8000 * 9 / 10 + 1600, "trimmed and at 8 kHz: {} samples", stored.len());
    let (mut after, heard, after_tag) = first_words(&app, "prompt-after").await;
    assert_eq!(heard, as_heard(&stored[..1600]), "the next call hears the approved version");
    // (The test line's welcome is 0.3 s: 800 samples of it are left.)
    let (more, _, _) = hear(&listening, 5).await;
    assert_eq!(more, as_heard(&shipped[1600..2400]), "a call in progress keeps what it started");

    // Rollback to version 1 is one action, by a supervisor.
    let rollback = app.url("/api/prompts/welcome/versions/1/rollback");
    assert_eq!(post(&sato, &rollback, json!({})).await.0, 403, "operators do not roll back");
    let (status, answer) = post(&suzuki, &rollback, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let (mut back, heard, back_tag) = first_words(&app, "prompt-rolled-back").await;
    assert_eq!(heard, as_heard(&shipped[..1600]), "the shipped welcome again");

    // Bad uploads are refused with their reason, and nothing changes.
    let silent = tone_wav(1000.0, 1.0, 0.0);
    let clipped: Vec<u8> = {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        for n in 0..8000 {
            w.write_sample(if (n / 20) % 2 == 0 { i16::MAX } else { i16::MIN }).unwrap();
        }
        w.finalize().unwrap();
        out.into_inner()
    };
    let refused = [
        (json!({"audio_base64": b64(b"<html>not audio</html>")}), "音声ファイルではありません"),
        (json!({"audio_base64": b64(&silent)}), "無音"),
        (json!({"audio_base64": b64(&clipped)}), "音が割れています"),
        (json!({"audio_base64": "%%%"}), "not base64"),
        (json!({}), "give audio_base64"),
        (
            json!({"audio_base64": b64(&upload), "valid_from": "2026-12-28T00:00:00+09:00", "valid_until": "2026-12-27T00:00:00+09:00"}),
            "valid_until",
        ),
    ];
    for (body, says) in refused {
        let (status, answer) = post(&sato, &requests, body).await;
        assert_eq!(status, 422, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{says}: {message}");
    }
    let (status, _) =
        post(&sato, &app.url("/api/prompts/brand-new/versions"), json!({"audio_base64": b64(&upload)})).await;
    assert_eq!(status, 403, "only an admin adds a slot");
    let versions: Value = sato.get(app.url("/api/prompts")).send().await.unwrap().json().await.unwrap();
    assert_eq!(versions["slots"]["welcome"].as_array().unwrap().len(), 2, "no version was added by a refused upload");

    let store = madoguchi::store::Store::connect(&url, 1).await.unwrap();
    let actions: Vec<(String, String)> =
        store.audit_entries(50).await.unwrap().into_iter().map(|a| (a.actor, a.action)).collect();
    for (actor, action) in
        [("sato", "prompt_requested"), ("suzuki", "prompt_approved"), ("suzuki", "prompt_rolled_back")]
    {
        assert!(actions.contains(&(actor.to_owned(), action.to_owned())), "{actor} {action} in {actions:?}");
    }
    store.close().await;
    for (phone, tag, branch) in
        [(&mut listening, &listening_tag, "b1"), (&mut after, &after_tag, "b2"), (&mut back, &back_tag, "b3")]
    {
        let bye = phone.request("BYE", &format!("z9hG4bKbye{branch}"), Some(tag), "", "");
        phone.send(&bye).await;
    }
    app.stop().await;
}

/// Polls `GET /api/prompts` until the welcome slot plays `version` (at most 10 s).
async fn until_playing(app: &common::TestApp, version: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, list) = app.get_json("/api/prompts").await;
        if list["playing"]["welcome"] == version {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "welcome never played version {version}: {}", list["playing"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_version_plays_only_within_its_window() {
    let Some(app) = common::spawn_app(common::Db::Sqlite, "prompt schedule").await else { return };
    let url = app.db.settings().database_url();
    let sato = authorised(&grant(&url, "sato", Role::Operator).await);
    let suzuki = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    until_playing(&app, 1).await;
    let at = |ms: i64| {
        let t = chrono::Utc::now() + chrono::Duration::milliseconds(ms);
        t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap()).to_rfc3339()
    };
    let body = json!({
        "audio_base64": b64(&tone_wav(800.0, 0.5, 9000.0)), "reason": "メンテナンスのお知らせ",
        "valid_from": at(3000), "valid_until": at(5000),
    });
    let (status, made) = post(&sato, &app.url("/api/prompts/welcome/versions"), body).await;
    assert_eq!(status, 201, "{made}");
    let (status, _) = post(&suzuki, &app.url("/api/prompts/welcome/versions/2/approve"), json!({})).await;
    assert_eq!(status, 200);
    let (_, list) = app.get_json("/api/prompts").await;
    assert_eq!(list["playing"]["welcome"], 1, "approved, but its window has not opened");
    until_playing(&app, 2).await;
    until_playing(&app, 1).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announcements_are_requested_and_approved_from_the_command_line() {
    let Some(db) = common::TestDb::new(common::Db::Sqlite, "prompt cli").await else { return };
    let mut service = common::start_binary(&db, db.dir.path()).await;
    for (login, role) in [("sato", "operator"), ("suzuki", "supervisor")] {
        common::cli::run(&db, &["user", "add", login, "--role", role], "a long password 2026\n").await;
    }
    let text = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let playing = || async {
        let list: Value =
            service.client.get(format!("{}/api/prompts", service.base)).send().await.unwrap().json().await.unwrap();
        list["playing"]["welcome"].as_i64()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while playing().await != Some(1) {
        assert!(tokio::time::Instant::now() < deadline, "the shipped welcome is version 1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let file = db.dir.path().join("nenmatsu.wav");
    std::fs::write(&file, tone_wav(1200.0, 0.7, 10000.0)).unwrap();
    let path = file.to_str().unwrap();
    let out =
        common::cli::run(&db, &["prompt", "request", "welcome", path, "--as", "sato", "--reason", "年末年始"], "")
            .await;
    assert_eq!(text(&out).trim(), "2", "the new version's number");
    let own = common::cli::try_run(&db, &["prompt", "approve", "welcome", "2", "--as", "sato"], "").await;
    assert!(!own.status.success(), "an operator (and the requester) cannot approve");
    assert!(String::from_utf8_lossy(&own.stderr).contains("承認・却下"), "{}", String::from_utf8_lossy(&own.stderr));
    let unknown = common::cli::try_run(&db, &["prompt", "request", "no-such", path, "--as", "sato"], "").await;
    assert!(!unknown.status.success() && String::from_utf8_lossy(&unknown.stderr).contains("only an admin"));
    let bad = common::cli::try_run(&db, &["prompt", "request", "welcome", "Cargo.toml", "--as", "sato"], "").await;
    assert!(!bad.status.success(), "a file that is not audio is refused");
    common::cli::run(&db, &["prompt", "approve", "welcome", "2", "--as", "suzuki", "--comment", "確認済み"], "").await;
    let list = text(&common::cli::run(&db, &["prompt", "list"], "").await);
    assert!(list.contains("welcome\t2\tapproved\tsato"), "{list}");
    assert!(list.contains("welcome\t1\tapproved\tshipped"), "{list}");
    let exported = db.dir.path().join("v2.wav");
    common::cli::run(&db, &["prompt", "export", "welcome", "2", exported.to_str().unwrap()], "").await;
    let samples = madoguchi::media::audio::load_wav(&exported).unwrap();
    assert!(samples.len() > 4000, "the exported version is the stored audio: {} samples", samples.len());

    // The running service notices a change made by another process.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while playing().await != Some(2) {
        assert!(tokio::time::Instant::now() < deadline, "the service plays the version approved from the command line");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = service.child.start_kill();
    let _ = service.child.wait().await;
    db.cleanup().await;
}

/// The version of the welcome a running binary plays, once its announcer has chosen one.
async fn binary_plays(service: &common::Process) -> Option<i64> {
    let r = service.client.get(format!("{}/api/prompts", service.base)).send().await.unwrap();
    let list: Value = r.json().await.unwrap();
    list["playing"]["welcome"].as_i64()
}

/// Polls the binary's `GET /api/prompts` until the welcome plays `version`, failing at `deadline`.
async fn until_binary_plays(service: &common::Process, version: i64, deadline: chrono::DateTime<chrono::Utc>) {
    loop {
        let playing = binary_plays(service).await;
        if playing == Some(version) {
            return;
        }
        assert!(chrono::Utc::now() < deadline, "the welcome never played version {version} (plays {playing:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_version_switches_on_and_off_across_a_restart() {
    let Some(db) = common::TestDb::new(common::Db::Sqlite, "prompt restart").await else { return };
    let ports = "56350-56399";
    let mut service = common::sip::start_line_binary(&db, ports).await;
    let sato = authorised(&grant(&service.database_url, "sato", Role::Operator).await);
    let suzuki = authorised(&grant(&service.database_url, "suzuki", Role::Supervisor).await);
    let shipped = madoguchi::media::audio::load_wav(&db.dir.path().join("prompts/welcome.wav")).unwrap();
    until_binary_plays(&service, 1, chrono::Utc::now() + chrono::Duration::seconds(15)).await;

    // A notice for a window opening 8 s from now and closing 6 s later, approved.
    let from = chrono::Utc::now() + chrono::Duration::seconds(8);
    let until = from + chrono::Duration::seconds(6);
    let jst = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap());
    let body = json!({
        "audio_base64": b64(&tone_wav(900.0, 0.6, 9000.0)), "reason": "停電のお知らせ",
        "valid_from": jst(from).to_rfc3339(), "valid_until": jst(until).to_rfc3339(),
    });
    let (status, made) = post(&sato, &format!("{}/api/prompts/welcome/versions", service.base), body).await;
    assert_eq!((status, made["version"].as_i64()), (201, Some(2)), "{made}");
    let approve = format!("{}/api/prompts/welcome/versions/2/approve", service.base);
    let (status, answer) = post(&suzuki, &approve, json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(binary_plays(&service).await, Some(1), "approved, but its window has not opened");

    // Killed (nothing in memory survives), and started again on the same database.
    service.child.start_kill().unwrap();
    service.child.wait().await.unwrap();
    let service = common::sip::start_line_binary(&db, ports).await;
    let chosen = loop {
        if let Some(version) = binary_plays(&service).await {
            break version;
        }
        assert!(chrono::Utc::now() < from, "the restarted service chose no welcome before the window opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        chrono::Utc::now() + chrono::Duration::milliseconds(500) < from,
        "the restart took so long that the window opened before the test could look"
    );
    assert_eq!(chosen, 1, "the restarted service plays the shipped welcome before the window");

    // The window opens by itself: the next call hears the notice, as stored.
    until_binary_plays(&service, 2, until).await;
    assert!(chrono::Utc::now() >= from, "not before its window");
    let stored = service.client.get(format!("{}/api/prompts/welcome/versions/2/audio", service.base)).send().await;
    let stored = madoguchi::media::audio::load_wav_bytes("v2", &stored.unwrap().bytes().await.unwrap()).unwrap();
    assert!(
        chrono::Utc::now() + chrono::Duration::seconds(2) < until,
        "too little of the window left to place a call in it"
    );
    let (mut inside, heard, inside_tag) = common::sip::first_words(service.sip, "restart-inside").await;
    assert_eq!(heard, as_heard(&stored[..1600]), "a call inside the window hears the scheduled version");

    // And closes by itself: the shipped welcome again.
    until_binary_plays(&service, 1, until + chrono::Duration::seconds(15)).await;
    assert!(chrono::Utc::now() >= until, "not before its window closed");
    let (mut after, heard, after_tag) = common::sip::first_words(service.sip, "restart-after").await;
    assert_eq!(heard, as_heard(&shipped[..1600]), "after the window, the shipped welcome");

    common::sip::hang_up(&mut inside, &inside_tag).await;
    common::sip::hang_up(&mut after, &after_tag).await;
    let mut service = service;
    let _ = service.child.start_kill();
    let _ = service.child.wait().await;
    db.cleanup().await;
}
