//! System operation notices: a draft is never public; once a supervisor who did not draft it
//! approves, it is on `/notices`, in the Atom feed and the JSON, and callers hear its audio
//! before the menu (decoded from RTP and compared with what was stored); when its window ends
//! it is gone from all of them, by itself. Rejected and withdrawn notices are never public.
//! The same from the command line. Every step is in the audit history.

mod common;

use common::audio::{as_heard, b64, contains, tone_wav};
use common::sip::{Phone, hear, spawn_line, tag_of};
use common::{Db, authorised, grant, post};
use madoguchi::domain::user::Role;
use serde_json::{Value, json};
use std::time::Duration;

/// An RFC 3339 time `ms` from now, in JST.
fn from_now(ms: i64) -> String {
    let t = chrono::Utc::now() + chrono::Duration::milliseconds(ms);
    t.with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap()).to_rfc3339()
}

/// What anyone, signed in or not, sees of the notices: the page, the feed, the JSON.
struct Public {
    page: String,
    feed: String,
    json: Value,
}

async fn public(base: &str) -> Public {
    let nobody = reqwest::Client::new();
    let get = |path: &str| nobody.get(format!("{base}{path}")).send();
    let page = get("/notices").await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    let page = page.text().await.unwrap();
    let feed = get("/notices.atom").await.unwrap();
    assert_eq!(feed.headers()["content-type"], "application/atom+xml; charset=utf-8");
    let feed = feed.text().await.unwrap();
    let json = get("/notices.json").await.unwrap();
    assert_eq!(json.headers()["access-control-allow-origin"], "*", "a portal may read it");
    let json = json.json().await.unwrap();
    Public { page, feed, json }
}

impl Public {
    /// Whether the notice titled `title` is public; the page and the feed show it as text.
    fn shows(&self, title: &str) -> bool {
        let in_json = self.json["notices"].as_array().unwrap().iter().any(|n| n["title"] == title);
        let escaped = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        let (in_page, in_feed) = (self.page.contains(&escaped), self.feed.contains(&escaped));
        assert_eq!((in_page, in_feed), (in_json, in_json), "{title}: page, feed and JSON agree");
        in_json
    }
}

async fn notices_and_their_publication(db: Db) {
    let Some(app) = common::spawn_app(db, "notices").await else { return };
    let url = app.db.settings().database_url();
    let sato = authorised(&grant(&url, "sato", Role::Operator).await);
    let suzuki = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    let tanaka = authorised(&grant(&url, "tanaka", Role::Supervisor).await);
    let notices = app.url("/api/notices");

    let draft = json!({
        "kind": "failure", "title": "メール配送の遅延 <b>至急</b>", "title_en": "Mail delivery delayed",
        "body": "現在、メールの配送が遅れています。\n復旧まで今しばらくお待ちください。",
        "body_en": "Mail delivery is delayed.",
    });
    let (status, made) = post(&sato, &notices, draft).await;
    assert_eq!(status, 201, "an operator drafts: {made}");
    assert_eq!((made["state"].as_str(), made["drafted_by"].as_str()), (Some("draft"), Some("sato")));
    let mail = made["id"].as_i64().unwrap();
    assert!(!public(&app.base).await.shows("メール配送の遅延 <b>至急</b>"), "a draft is not public");

    // The author cannot approve their own notice, an operator none; a supervisor who did not draft it can.
    let approve = app.url(&format!("/api/notices/{mail}/approve"));
    assert_eq!(post(&sato, &approve, json!({})).await.0, 403, "an operator approves nothing");
    let (status, own) =
        post(&tanaka, &notices, json!({"kind": "maintenance", "title": "自分の起案", "body": "本文"})).await;
    assert_eq!(status, 201);
    let own_id = own["id"].as_i64().unwrap();
    let (status, answer) = post(&tanaka, &app.url(&format!("/api/notices/{own_id}/approve")), json!({})).await;
    assert_eq!(status, 403, "the author cannot approve their own notice: {answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("自分が起案した"), "{answer}");
    let (status, published) = post(&suzuki, &approve, json!({"comment": "掲載してください"})).await;
    assert_eq!(status, 200, "{published}");
    assert_eq!((published["state"].as_str(), published["decided_by"].as_str()), (Some("published"), Some("suzuki")));
    assert_eq!(post(&tanaka, &approve, json!({})).await.0, 409, "decided once");

    let seen = public(&app.base).await;
    assert!(seen.shows("メール配送の遅延 <b>至急</b>"), "published: {}", seen.page);
    assert!(!seen.page.contains("<b>至急</b>"), "markup in a notice is shown as text");
    assert!(seen.page.contains("Mail delivery delayed") && seen.page.contains("障害"), "{}", seen.page);
    let entry = &seen.json["notices"][0];
    assert_eq!(entry["title"], "メール配送の遅延 <b>至急</b>");
    assert_eq!(entry["kind_label"], "障害");
    for private in ["drafted_by", "decided_by", "comment"] {
        assert!(entry.get(private).is_none(), "{private} is not public: {entry}");
    }
    assert!(!seen.feed.contains("suzuki") && !seen.page.contains("掲載してください"), "the review stays inside");
    assert!(seen.feed.contains(&format!("/notices#notice-{mail}</id>")), "{}", seen.feed);

    // Rejected: never public. Withdrawn: gone at once.
    let (status, _) = post(&suzuki, &app.url(&format!("/api/notices/{own_id}/reject")), json!({})).await;
    assert_eq!(status, 200);
    assert!(!public(&app.base).await.shows("自分の起案"), "a rejected notice is not public");
    let withdraw = app.url(&format!("/api/notices/{mail}/withdraw"));
    assert_eq!(post(&sato, &withdraw, json!({})).await.0, 403, "an operator withdraws nothing");
    let (status, withdrawn) = post(&tanaka, &withdraw, json!({})).await;
    assert_eq!((status, withdrawn["state"].as_str()), (200, Some("withdrawn")));
    assert!(!public(&app.base).await.shows("メール配送の遅延 <b>至急</b>"), "withdrawn");

    // A window not yet open: approved, but not public until then.
    let later = json!({"kind": "maintenance", "title": "計画停止のお知らせ", "body": "土曜日に停止します。",
        "valid_from": from_now(3_600_000), "valid_until": from_now(7_200_000)});
    let (_, later) = post(&sato, &notices, later).await;
    let (status, _) = post(&suzuki, &app.url(&format!("/api/notices/{}/approve", later["id"])), json!({})).await;
    assert_eq!(status, 200);
    assert!(!public(&app.base).await.shows("計画停止のお知らせ"), "its window has not opened");

    // Bad drafts are refused with the field, and nothing is stored.
    let before =
        sato.get(&notices).send().await.unwrap().json::<Value>().await.unwrap()["notices"].as_array().unwrap().len();
    for (body, says) in [
        (json!({"kind": "failure", "title": "", "body": "本文"}), "title"),
        (json!({"kind": "failure", "title": "件名", "body": " "}), "body"),
        (json!({"kind": "failure", "title": "件名", "body": "本文", "valid_until": from_now(-60_000)}), "valid_until"),
        (
            json!({"kind": "failure", "title": "件名", "body": "本文", "audio_base64": b64(b"not audio")}),
            "音声ファイルではありません",
        ),
    ] {
        let (status, answer) = post(&sato, &notices, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{says}: {answer}");
    }
    assert_eq!(post(&sato, &notices, json!({"kind": "rumour", "title": "x", "body": "y"})).await.0, 422);
    let after =
        sato.get(&notices).send().await.unwrap().json::<Value>().await.unwrap()["notices"].as_array().unwrap().len();
    assert_eq!(before, after, "a refused draft stores nothing");

    let store = madoguchi::store::Store::connect(&url, 1).await.unwrap();
    let actions: Vec<(String, String, String)> =
        store.audit_entries(100).await.unwrap().into_iter().map(|a| (a.actor, a.action, a.subject)).collect();
    for (actor, action, id) in [
        ("sato", "notice_drafted", mail),
        ("suzuki", "notice_published", mail),
        ("suzuki", "notice_rejected", own_id),
        ("tanaka", "notice_withdrawn", mail),
    ] {
        let want = (actor.to_owned(), action.to_owned(), format!("notice#{id}"));
        assert!(actions.contains(&want), "{want:?} in {actions:?}");
    }
    store.close().await;
    app.stop().await;
}

on_both_backends!(notices_and_their_publication);

/// Polls `GET /api/prompts` until the notices callers hear are `want` (at most 20 s).
async fn until_heard(app: &common::TestApp, want: &[i64]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, list) = app.get_json("/api/prompts").await;
        if list["notices_playing"] == json!(want) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "callers never heard {want:?}: {}", list["notices_playing"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first 0.6 s a caller hears: the test line's welcome (0.3 s), then what follows it (the
/// menu is 0.3 s too; then the line waits for a key, silent).
async fn first_words(app: &common::TestApp, call_id: &str) -> Vec<i16> {
    let mut phone = Phone::udp(app.sip, call_id).await;
    let (ok, _) = phone.call("").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    let (audio, _, _) = hear(&phone, 30).await;
    let bye = phone.request("BYE", &format!("z9hG4bKbye-{call_id}"), Some(&tag), "", "");
    phone.send(&bye).await;
    audio
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_hear_a_published_notice_before_the_menu_until_its_window_ends() {
    let app = spawn_line(true, "56300-56399", |_| {}).await;
    let url = app.db.settings().database_url();
    let sato = authorised(&grant(&url, "sato", Role::Operator).await);
    let suzuki = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    let menu = madoguchi::media::audio::load_wav(&app.db.dir.path().join("prompts/menu.wav")).unwrap();
    until_heard(&app, &[]).await;

    let window = Duration::from_secs(8);
    let draft = json!({
        "kind": "failure", "title": "電話回線の障害", "body": "一部の回線がつながりにくくなっています。",
        "audio_base64": b64(&tone_wav(1700.0, 0.6, 11000.0)),
        "valid_until": from_now(window.as_millis() as i64),
    });
    let (status, made) = post(&sato, &app.url("/api/notices"), draft).await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["has_audio"], true);
    let id = made["id"].as_i64().unwrap();
    let stored = sato.get(app.url(&format!("/api/notices/{id}/audio"))).send().await.unwrap();
    assert_eq!(stored.headers()["content-type"], "audio/wav");
    let stored = madoguchi::media::audio::load_wav_bytes("notice", &stored.bytes().await.unwrap()).unwrap();
    let notice = as_heard(&stored[..1600]);

    let drafted = first_words(&app, "notice-draft").await;
    assert!(!contains(&drafted, &notice), "a draft is not played to callers");
    assert!(contains(&drafted, &as_heard(&menu[..800])), "the menu follows the welcome");

    let (status, _) = post(&suzuki, &app.url(&format!("/api/notices/{id}/approve")), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(app.get_json("/api/prompts").await.1["notices_playing"], json!([id]), "applied when approved");
    let heard = first_words(&app, "notice-published").await;
    let at = heard.windows(notice.len()).position(|w| w == notice.as_slice());
    assert_eq!(at, Some(2400), "the notice plays right after the 0.3 s welcome, before the menu");
    let seen = public(&app.base).await;
    assert!(seen.shows("電話回線の障害"), "{}", seen.json);

    // The window ends: off the page and out of the calls, by itself.
    until_heard(&app, &[]).await;
    assert!(!public(&app.base).await.shows("電話回線の障害"), "gone from /notices when its window ended");
    let after = first_words(&app, "notice-ended").await;
    assert!(!contains(&after, &notice), "callers no longer hear it");
    assert!(contains(&after[..4000], &as_heard(&menu[..800])), "the menu follows the welcome again");

    // The maintenance slot ships silent and plays in the same place once a version is approved.
    let (status, made) = post(
        &sato,
        &app.url("/api/prompts/maintenance/versions"),
        json!({"audio_base64": b64(&tone_wav(2100.0, 0.5, 10000.0)), "reason": "年末年始の保守"}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let version = made["version"].as_i64().unwrap();
    let approve = app.url(&format!("/api/prompts/maintenance/versions/{version}/approve"));
    assert_eq!(post(&suzuki, &approve, json!({})).await.0, 200);
    let wav = sato.get(app.url(&format!("/api/prompts/maintenance/versions/{version}/audio"))).send().await.unwrap();
    let maintenance = madoguchi::media::audio::load_wav_bytes("m", &wav.bytes().await.unwrap()).unwrap();
    let heard = first_words(&app, "maintenance").await;
    let at = heard.windows(1600).position(|w| w == as_heard(&maintenance[..1600]).as_slice());
    assert_eq!(at, Some(2400), "the maintenance announcement plays after the welcome");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_drafted_and_approved_from_the_command_line() {
    let Some(db) = common::TestDb::new(Db::Sqlite, "notice cli").await else { return };
    let mut service = common::start_binary(&db, db.dir.path()).await;
    for (login, role) in [("sato", "operator"), ("suzuki", "supervisor")] {
        common::cli::run(&db, &["user", "add", login, "--role", role], "a long password 2026\n").await;
    }
    let text = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).into_owned();
    let until = from_now(3_600_000);
    let args = [
        "notice",
        "draft",
        "--as",
        "sato",
        "--kind",
        "maintenance",
        "--title",
        "夜間メンテナンス",
        "--body",
        "22時から翌5時まで停止します。",
        "--until",
        &until,
    ];
    let id = text(&common::cli::run(&db, &args, "").await).trim().to_owned();
    assert!(id.parse::<i64>().is_ok(), "the draft's id: {id}");
    assert!(!public(&service.base).await.shows("夜間メンテナンス"), "a draft is not public");
    let own = common::cli::try_run(&db, &["notice", "approve", &id, "--as", "sato"], "").await;
    assert!(!own.status.success(), "the author (an operator) cannot approve");
    let bad = common::cli::try_run(&db, &["notice", "draft", "--as", "sato", "--title", "", "--body", "x"], "").await;
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("title"));
    common::cli::run(&db, &["notice", "approve", &id, "--as", "suzuki", "--comment", "承認"], "").await;
    let list = text(&common::cli::run(&db, &["notice", "list"], "").await);
    assert!(list.starts_with(&format!("{id}\tmaintenance\tpublished\tpublic\tsato\t")), "{list}");
    assert!(public(&service.base).await.shows("夜間メンテナンス"), "published from the command line");
    common::cli::run(&db, &["notice", "withdraw", &id, "--as", "suzuki"], "").await;
    assert!(!public(&service.base).await.shows("夜間メンテナンス"), "withdrawn from the command line");
    let _ = service.child.start_kill();
    let _ = service.child.wait().await;
    db.cleanup().await;
}
