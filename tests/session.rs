//! Signing in to the console: the session cookie and its flags, the CSRF token every change
//! made with it must carry, changes from other origins refused, a new session at each sign-in,
//! expiry, sign-out, disabled users and new passwords ending sessions at once, the sign-in rate
//! limits, and the audit of it all. Each on SQLite and on PostgreSQL.

mod common;

use common::browser::{Browser, csrf_field};
use common::{Db, PASSWORD, TestApp, grant, spawn_app};
use madoguchi::domain::session::SessionPolicy;
use madoguchi::domain::user::Role;
use madoguchi::store::Store;
use reqwest::Method;
use serde_json::{Value, json};

const WRONG: &str = "not the password at all";

async fn store(app: &TestApp) -> Store {
    Store::connect(&app.db.settings().database_url(), 1).await.expect("the test database opens")
}

/// A ticket to change, made with the admin's token.
async fn ticket(app: &TestApp) -> String {
    let created: Value = app.post_contact(json!({"subject": "VPNにつながらない"})).await.json().await.unwrap();
    created["ticket"].as_str().unwrap().to_owned()
}

async fn signing_in_gives_a_session_cookie_that_authenticates(db: Db) {
    let Some(app) = spawn_app(db, "session_cookie").await else { return };
    grant(&app.db.settings().database_url(), "sato", Role::Operator).await;
    let mut browser = Browser::new(&app.base);

    let page = browser.get("/mine").await;
    assert_eq!(page.status(), 303, "a page without a session goes to sign in");
    assert_eq!(page.headers()["location"], "/login?next=%2Fmine");
    let api = browser.get("/api/tickets").await;
    assert_eq!(api.status(), 401, "the API stays 401");

    let signed_in = browser.sign_in_to("sato", PASSWORD, "/tickets/20261121-0001").await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/tickets/20261121-0001");
    let set: Vec<&str> = signed_in.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let session = set.iter().find(|c| c.starts_with("madoguchi_session=")).expect("a session cookie");
    let flags: Vec<&str> = session.split(';').skip(1).map(str::trim).collect();
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(flags.contains(&flag), "{flag} in {session}");
    }
    assert!(!flags.contains(&"Secure"), "no Secure without TLS: {session}");
    assert!(!flags.iter().any(|f| f.starts_with("Max-Age")), "gone when the browser closes: {session}");
    let id = browser.session().unwrap();
    assert_eq!(id.len(), 64);

    let who: Value = browser.get("/api/session").await.json().await.unwrap();
    assert_eq!(
        (who["login"].as_str(), who["name"].as_str(), who["role"].as_str()),
        (Some("sato"), Some("sato"), Some("operator"))
    );
    assert_eq!(who["csrf"].as_str().map(str::len), Some(64));
    assert_eq!(browser.get("/api/tickets").await.status(), 200, "the cookie authenticates API reads");
    let home = browser.get("/").await;
    assert_eq!(home.status(), 200);
    assert!(home.text().await.unwrap().contains("<span class=\"user-name\">sato</span>"));

    let store = store(&app).await;
    assert_eq!(store.session_count("sato").await.unwrap(), 1);
    let hashes: Vec<String> = store.audit_entries(5).await.unwrap().iter().map(|a| a.detail.clone()).collect();
    assert!(!hashes.iter().any(|d| d.contains(&id)), "the session id is in no audit line");
    store.close().await;

    let bearer: Value = app.client.get(app.url("/api/session")).send().await.unwrap().json().await.unwrap();
    assert_eq!((bearer["login"].as_str(), bearer["csrf"].is_null()), (Some("tester"), true), "{bearer}");
    app.stop().await;
}

async fn changes_with_the_cookie_need_the_csrf_token_and_this_origin(db: Db) {
    let Some(app) = spawn_app(db, "session_csrf").await else { return };
    grant(&app.db.settings().database_url(), "sato", Role::Operator).await;
    let number = ticket(&app).await;
    let path = format!("/api/tickets/{number}");
    let mut browser = Browser::new(&app.base);
    assert_eq!(browser.sign_in("sato", PASSWORD).await.status(), 303);
    let csrf = browser.csrf().await;
    let note = |text: &str| json!({ "note": text });

    let r = browser.request(Method::PATCH, &path).json(&note("トークンなし"));
    let r = browser.send(r).await;
    assert_eq!(r.status(), 403, "no CSRF token");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("CSRF"), "{body}");

    let r = browser.request(Method::PATCH, &path).header("x-csrf-token", "0".repeat(64)).json(&note("違う"));
    assert_eq!(browser.send(r).await.status(), 403, "a wrong CSRF token");

    let r = browser
        .request(Method::PATCH, &path)
        .header("x-csrf-token", &csrf)
        .header("origin", "https://evil.example")
        .json(&note("よそから"));
    let r = browser.send(r).await;
    assert_eq!(r.status(), 403, "another origin, even with the token");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "cross_origin");
    let r = browser
        .request(Method::PATCH, &path)
        .header("x-csrf-token", &csrf)
        .header("sec-fetch-site", "cross-site")
        .json(&note("よそから"));
    assert_eq!(browser.send(r).await.status(), 403, "a browser saying another site sent it");

    let r = browser
        .request(Method::PATCH, &path)
        .header("x-csrf-token", &csrf)
        .header("origin", &app.base)
        .header("sec-fetch-site", "same-origin")
        .json(&note("確認しました"));
    assert_eq!(browser.send(r).await.status(), 200, "the token, from this origin");
    let r = browser
        .request(Method::POST, "/api/contacts")
        .header("x-csrf-token", &csrf)
        .json(&json!({"subject": "プリンタ"}));
    let r = browser.send(r).await;
    assert!(r.status().is_success(), "{}", r.status());

    let bearer = app.client.patch(app.url(&path)).json(&note("トークンで")).send().await.unwrap();
    assert_eq!(bearer.status(), 200, "a Bearer request needs no CSRF token");

    let t = app.ticket(&number).await;
    let notes: Vec<(&str, String)> = t["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "note_added")
        .map(|h| (h["actor"].as_str().unwrap(), h["detail"].to_string()))
        .collect();
    assert_eq!(notes.len(), 2, "only the two accepted notes: {notes:?}");
    assert!(
        notes.iter().any(|(who, d)| *who == "sato" && d.contains("確認しました")),
        "the session's user acts: {notes:?}"
    );
    assert!(notes.iter().any(|(who, d)| *who == "tester" && d.contains("トークンで")), "{notes:?}");
    app.stop().await;
}

async fn each_sign_in_is_a_new_session_and_sign_out_ends_it(db: Db) {
    let Some(app) = spawn_app(db, "session_rotation").await else { return };
    grant(&app.db.settings().database_url(), "sato", Role::Operator).await;
    let mut browser = Browser::new(&app.base);
    browser.sign_in("sato", PASSWORD).await;
    let first = browser.session().unwrap();
    browser.sign_in("sato", PASSWORD).await;
    let second = browser.session().unwrap();
    assert_ne!(first, second, "a new session id at each sign-in");
    let mut old = Browser::new(&app.base);
    old.cookies.insert("madoguchi_session".into(), first);
    assert_eq!(old.get("/api/session").await.status(), 401, "the replaced session no longer works");
    assert_eq!(browser.get("/api/session").await.status(), 200);

    let no_token = browser.request(Method::POST, "/logout").form(&[("csrf", "")]);
    let no_token = browser.send(no_token).await;
    assert_eq!(no_token.status(), 403, "signing out needs the CSRF token too");
    let page = browser.get("/").await.text().await.unwrap();
    let csrf = csrf_field(&page).expect("every page has the sign-out form");
    let out = browser.request(Method::POST, "/logout").form(&[("csrf", csrf.as_str())]);
    let out = browser.send(out).await;
    assert_eq!(out.status(), 303);
    assert_eq!(out.headers()["location"], "/login");
    assert!(browser.session().is_none(), "the cookie is deleted");
    let mut replay = Browser::new(&app.base);
    replay.cookies.insert("madoguchi_session".into(), second);
    assert_eq!(replay.get("/api/tickets").await.status(), 401, "the session ended on the server too");
    let store = store(&app).await;
    assert_eq!(store.session_count("sato").await.unwrap(), 0);
    store.close().await;
    app.stop().await;
}

async fn disabling_a_user_or_a_new_password_ends_their_sessions_at_once(db: Db) {
    let Some(app) = spawn_app(db, "session_disable").await else { return };
    let url = app.db.settings().database_url();
    grant(&url, "sato", Role::Operator).await;
    grant(&url, "suzuki", Role::Operator).await;
    let mut sato = Browser::new(&app.base);
    let mut suzuki = Browser::new(&app.base);
    sato.sign_in("sato", PASSWORD).await;
    suzuki.sign_in("suzuki", PASSWORD).await;
    assert_eq!(sato.get("/api/session").await.status(), 200);

    common::cli::run(&app.db, &["user", "disable", "sato"], "").await;
    assert_eq!(sato.get("/api/session").await.status(), 401, "disabled: signed out at once");
    assert_eq!(sato.get("/").await.status(), 303);
    let again = sato.sign_in("sato", PASSWORD).await;
    assert_eq!(again.status(), 401, "a disabled user cannot sign in");
    assert!(again.text().await.unwrap().contains("ログインIDまたはパスワードが違います / wrong login or password"));

    common::cli::run(&app.db, &["user", "passwd", "suzuki"], "a brand new password\n").await;
    assert_eq!(suzuki.get("/api/session").await.status(), 401, "a new password signs every session out");
    assert_eq!(suzuki.sign_in("suzuki", PASSWORD).await.status(), 401, "the old password");
    assert_eq!(suzuki.sign_in("suzuki", "a brand new password").await.status(), 303);
    app.stop().await;
}

async fn sessions_end_when_idle_and_at_their_age_limit(db: Db) {
    let Some(app) = spawn_app(db, "session_expiry").await else { return };
    grant(&app.db.settings().database_url(), "sato", Role::Operator).await;
    let store = store(&app).await;
    let user = store.user_credentials("sato").await.unwrap().unwrap().0.user_id;
    let policy = SessionPolicy::from_settings(60, 12);
    let minute = 60_000;
    let t0 = madoguchi::domain::time::now_millis();

    store.start_session(user, "idle", "c1", None, policy, t0).await.unwrap();
    assert!(store.session("idle", policy, t0 + 59 * minute).await.unwrap().is_some());
    assert!(store.session("idle", policy, t0 + 118 * minute).await.unwrap().is_some(), "used an hour ago: not idle");
    assert!(store.session("idle", policy, t0 + 178 * minute).await.unwrap().is_none(), "an hour idle");
    assert_eq!(store.session_count("sato").await.unwrap(), 0, "an expired session is deleted when met");

    store.start_session(user, "busy", "c2", None, policy, t0).await.unwrap();
    let mut at = t0;
    while at + 30 * minute < t0 + 12 * 60 * minute {
        at += 30 * minute;
        assert!(store.session("busy", policy, at).await.unwrap().is_some(), "used every half hour, at {at}");
    }
    assert!(store.session("busy", policy, t0 + 12 * 60 * minute).await.unwrap().is_none(), "twelve hours at most");

    store.start_session(user, "left", "c3", None, policy, t0).await.unwrap();
    store.start_session(user, "new", "c4", None, policy, t0 + 2 * 60 * minute).await.unwrap();
    assert_eq!(store.session_count("sato").await.unwrap(), 1, "a sign-in deletes the sessions that have expired");

    // Through the service: a session whose last use was long ago is refused.
    let mut browser = Browser::new(&app.base);
    browser.sign_in("sato", PASSWORD).await;
    assert_eq!(browser.get("/api/session").await.status(), 200);
    age_sessions(&app.db.settings().database_url(), 61 * minute).await;
    assert_eq!(browser.get("/api/session").await.status(), 401, "idle for an hour");
    assert_eq!(browser.get("/calls").await.headers()["location"], "/login?next=%2Fcalls");
    store.close().await;
    app.stop().await;
}

/// Moves every session's times `ms` into the past, as if nobody had used them since.
async fn age_sessions(url: &str, ms: i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query("UPDATE sessions SET created_at = created_at - $1, last_seen_at = last_seen_at - $1")
        .bind(ms)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn sign_in_is_limited_per_account_and_per_address_and_audited(db: Db) {
    let Some(app) = spawn_app(db, "session_rate_limit").await else { return };
    let url = app.db.settings().database_url();
    grant(&url, "sato", Role::Operator).await;
    grant(&url, "suzuki", Role::Operator).await;
    let mut browser = Browser::new(&app.base);
    for attempt in 1..=5 {
        let r = browser.sign_in("sato", WRONG).await;
        assert_eq!(r.status(), 401, "attempt {attempt}");
        let page = r.text().await.unwrap();
        assert!(page.contains("ログインIDまたはパスワードが違います / wrong login or password"), "{page}");
    }
    let blocked = browser.sign_in("sato", PASSWORD).await;
    assert_eq!(blocked.status(), 429, "the 6th attempt, even with the right password");
    let retry: u64 = blocked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert!(browser.session().is_none());
    assert_eq!(browser.sign_in("suzuki", PASSWORD).await.status(), 303, "another account from the same address");

    // 20 failures from one address, over many accounts (a refused attempt is not one).
    for i in 0..15 {
        let r = browser.sign_in(&format!("nobody{i}"), WRONG).await;
        assert_eq!(r.status(), 401, "unknown login {i}");
    }
    let r = browser.sign_in("suzuki", PASSWORD).await;
    assert_eq!(r.status(), 429, "the address has failed 20 times: even a right password waits");
    assert!(r.headers().contains_key("retry-after"));

    let store = store(&app).await;
    let audit = store.audit_entries(100).await.unwrap();
    store.close().await;
    let count = |action: &str| audit.iter().filter(|a| a.action == action).count();
    assert_eq!(count("login_ok"), 1, "{audit:?}");
    assert_eq!(count("login_failed"), 5 + 1 + 15 + 1, "wrong passwords, unknown logins and refused attempts");
    let ok = audit.iter().find(|a| a.action == "login_ok").unwrap();
    assert_eq!((ok.actor.as_str(), ok.subject.as_str()), ("suzuki", "suzuki"));
    assert!(ok.detail.contains("127.0.0.1"), "the source address: {}", ok.detail);
    let failed = audit.iter().find(|a| a.action == "login_failed" && a.subject == "sato").unwrap();
    assert!(failed.detail.contains("127.0.0.1"), "{}", failed.detail);
    for a in &audit {
        assert!(!a.detail.contains(WRONG) && !a.detail.contains(PASSWORD), "no password in {a:?}");
    }
    app.stop().await;
}

async fn sign_out_is_audited(db: Db) {
    let Some(app) = spawn_app(db, "session_logout_audit").await else { return };
    grant(&app.db.settings().database_url(), "sato", Role::Operator).await;
    let mut browser = Browser::new(&app.base);
    browser.sign_in("sato", PASSWORD).await;
    let csrf = browser.csrf().await;
    let out = browser.request(Method::POST, "/logout").header("x-csrf-token", csrf);
    assert_eq!(browser.send(out).await.status(), 303);
    let store = store(&app).await;
    let audit = store.audit_entries(10).await.unwrap();
    store.close().await;
    let seen: Vec<(&str, &str)> = audit.iter().map(|a| (a.actor.as_str(), a.action.as_str())).collect();
    assert_eq!(&seen[..2], &[("sato", "logout"), ("sato", "login_ok")], "{seen:?}");
    app.stop().await;
}

async fn the_sign_in_form_is_safe_and_cannot_be_posted_from_elsewhere(db: Db) {
    let Some(app) = spawn_app(db, "session_login_page").await else { return };
    grant(&app.db.settings().database_url(), "sato", Role::Operator).await;
    let mut browser = Browser::new(&app.base);
    let page = browser.get("/login?next=%2Fcalls").await;
    assert_eq!(page.status(), 200);
    let h = page.headers().clone();
    assert_eq!(
        h["content-security-policy"],
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.starts_with("<!DOCTYPE html><html lang=\"ja\">"), "{html}");
    assert!(html.contains("ログイン") && html.contains("name=\"next\" value=\"/calls\""), "{html}");
    for script in html.split("<script").skip(1) {
        assert!(script.trim_start().starts_with("src=\"/assets/"), "only scripts from /assets/: {script}");
        assert!(script.split('>').nth(1).unwrap().starts_with("</script"), "no inline script: {script}");
    }
    assert!(
        !html.contains("<style") && !html.contains("style=") && !html.contains(" on"),
        "no inline style or handlers"
    );
    let english = reqwest::Client::new().get(app.url("/login")).header("cookie", "lang=en").send().await.unwrap();
    let english = english.text().await.unwrap();
    assert!(english.contains("<html lang=\"en\">") && english.contains("Password"), "{english}");

    // The assets: no sign-in, cached for a year by content hash.
    let css_url =
        html.split("href=\"").find_map(|s| s.split('"').next().filter(|u| u.starts_with("/assets/console.css")));
    let css = reqwest::get(app.url(css_url.expect("the page links the stylesheet"))).await.unwrap();
    assert_eq!(css.status(), 200);
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.headers()["cache-control"].to_str().unwrap().contains("max-age=31536000"));
    let etag = css.headers()["etag"].to_str().unwrap().to_owned();
    let again =
        reqwest::Client::new().get(app.url("/assets/console.css")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    let js = reqwest::get(app.url("/assets/console.js")).await.unwrap();
    assert_eq!(
        (js.status().as_u16(), js.headers()["content-type"].to_str().unwrap()),
        (200, "text/javascript; charset=utf-8")
    );
    assert_eq!(reqwest::get(app.url("/assets/secret.txt")).await.unwrap().status(), 404);

    // Login CSRF: the form's token must come back with its cookie.
    let token = browser.open_login().await;
    let form = [("login", "sato"), ("password", PASSWORD), ("next", "/"), ("csrf", token.as_str())];
    let forged = reqwest::Client::new().post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(forged.status(), 403, "no cookie from the form: another site's post");
    assert!(
        !forged.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("madoguchi_session"))
    );
    let other = [("login", "sato"), ("password", PASSWORD), ("next", "/"), ("csrf", &"a".repeat(64))];
    let r = browser.request(Method::POST, "/login").form(&other);
    assert_eq!(browser.send(r).await.status(), 403, "another form's token");
    let token = browser.open_login().await;
    let form = [("login", "sato"), ("password", PASSWORD), ("next", "/"), ("csrf", token.as_str())];
    let r = browser.request(Method::POST, "/login").header("origin", "https://evil.example").form(&form);
    assert_eq!(browser.send(r).await.status(), 403, "posted from another origin");
    assert!(browser.session().is_none());

    for (next, lands) in [("//evil.example/", "/"), ("https://evil.example/", "/"), ("/calls?x=1", "/calls?x=1")] {
        let r = browser.sign_in_to("sato", PASSWORD, next).await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()["location"], lands, "next={next}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_tls_proxy_the_cookie_is_secure_and_the_public_name_is_this_origin() {
    let Some(db) = common::TestDb::new(Db::Sqlite, "session_behind_proxy").await else { return };
    let app = common::spawn_with(db, |s| {
        s.http.secure_cookies = true;
        s.http.hostnames = vec!["helpdesk.example.go.jp".into()];
    })
    .await;
    grant(&app.db.settings().database_url(), "sato", Role::Operator).await;
    let number = ticket(&app).await;
    let mut browser = Browser::new(&app.base);
    let r = browser.sign_in("sato", PASSWORD).await;
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().into()).collect();
    let session = cookies.iter().find(|c| c.starts_with("madoguchi_session=")).expect("a session cookie");
    assert!(session.ends_with("; Secure"), "{session}");
    let csrf = browser.csrf().await;
    // The proxy passes its upstream address as Host; the browser names the public one.
    let patch = |origin: &'static str| {
        browser
            .request(Method::PATCH, &format!("/api/tickets/{number}"))
            .header("x-csrf-token", &csrf)
            .header("origin", origin)
            .json(&json!({"note": "プロキシ経由"}))
    };
    let (public, other) = (patch("https://helpdesk.example.go.jp"), patch("https://evil.example"));
    assert_eq!(browser.send(public).await.status(), 200, "the configured public name");
    assert_eq!(browser.send(other).await.status(), 403);
    app.stop().await;
}

on_both_backends!(
    signing_in_gives_a_session_cookie_that_authenticates,
    changes_with_the_cookie_need_the_csrf_token_and_this_origin,
    each_sign_in_is_a_new_session_and_sign_out_ends_it,
    disabling_a_user_or_a_new_password_ends_their_sessions_at_once,
    sessions_end_when_idle_and_at_their_age_limit,
    sign_in_is_limited_per_account_and_per_address_and_audited,
    sign_out_is_audited,
    the_sign_in_form_is_safe_and_cannot_be_posted_from_elsewhere,
);
