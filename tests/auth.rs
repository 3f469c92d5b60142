//! Every door is locked: each route without a token (401), with a revoked or a disabled user's
//! token (401), with too small a role (403); the acting user of a change is the token's owner,
//! never what a header claims; the command line creates users and tokens.

mod common;

use common::{Db, authorised, grant, spawn_app};
use madoguchi::domain::user::Role;
use serde_json::{Value, json};

/// Every route with a method and a body that would otherwise be accepted; `other` is merged
/// into `number`.
fn routes(number: &str, other: &str) -> Vec<(&'static str, String, Option<Value>)> {
    vec![
        ("GET", "/api/tickets".into(), None),
        ("GET", "/api/tickets?q=ロック".into(), None),
        ("GET", format!("/api/tickets/{number}"), None),
        ("PATCH", format!("/api/tickets/{number}"), Some(json!({"note": "見ました"}))),
        ("GET", format!("/api/tickets/{number}/contacts"), None),
        ("GET", format!("/api/tickets/{number}/contacts/1/attachments"), None),
        ("GET", format!("/api/tickets/{number}/attachments"), None),
        ("GET", format!("/api/tickets/{number}/history"), None),
        ("POST", format!("/api/tickets/{other}/merge"), Some(json!({"into": number}))),
        ("GET", "/api/me/tickets".into(), None),
        ("GET", "/api/attachments/1".into(), None),
        ("POST", "/api/contacts".into(), Some(json!({"subject": "パスワードを忘れました"}))),
        ("GET", "/api/events?kind=call".into(), None),
        ("GET", "/api/operators".into(), None),
        ("GET", "/api/users".into(), None),
        (
            "POST",
            "/api/users".into(),
            Some(json!({"login": "neo", "role": "operator", "password": "a long password 123"})),
        ),
        ("POST", "/api/users/nobody-here/disable".into(), Some(json!({}))),
        ("GET", "/api/tokens".into(), None),
        ("POST", "/api/tokens".into(), Some(json!({"login": "sato", "label": "CTI"}))),
        ("DELETE", "/api/tokens/999999".into(), None),
        ("POST", format!("/api/tickets/{number}/replies"), Some(json!({"body": "ご連絡します。"}))),
        ("GET", "/api/attachments/1/pages".into(), None),
        ("GET", "/api/attachments/1/pages/1".into(), None),
        ("GET", "/api/calls".into(), None),
        ("GET", "/api/prompts".into(), None),
        ("POST", "/api/prompts/welcome/versions".into(), Some(json!({}))),
        ("POST", "/api/prompts/welcome/versions/9/approve".into(), Some(json!({}))),
        ("POST", "/api/prompts/welcome/versions/9/reject".into(), Some(json!({}))),
        ("POST", "/api/prompts/welcome/versions/9/rollback".into(), Some(json!({}))),
        ("GET", "/api/prompts/welcome/versions/1/audio".into(), None),
        ("GET", "/api/groups".into(), None),
        ("GET", "/api/contact-list".into(), None),
        ("PUT", "/api/contact-list".into(), Some(json!({"source": "", "reason": "点検", "base_version": null}))),
        ("POST", format!("/api/tickets/{number}/escalate"), Some(json!({"reason": "調査依頼"}))),
        ("POST", format!("/api/tickets/{number}/relays"), Some(json!({"group": "operations", "note": "電話で依頼"}))),
        ("GET", format!("/api/tickets/{number}/sla"), None),
        ("GET", format!("/api/tickets/{number}/suggestions"), None),
        ("GET", "/api/interviews".into(), None),
        ("GET", "/api/interview-templates".into(), None),
        ("PUT", "/api/interview-templates".into(), Some(json!({"source": "", "reason": "点検", "base_version": null}))),
        ("GET", format!("/api/tickets/{number}/interview"), None),
        ("PUT", format!("/api/tickets/{number}/interview"), Some(json!({"answers": {}}))),
        ("PATCH", format!("/api/tickets/{number}/interview"), Some(json!({"answers": {}}))),
        ("GET", format!("/api/tickets/{number}/survey"), None),
        ("POST", format!("/api/tickets/{number}/answered-from"), Some(json!({"ticket": other}))),
        ("GET", format!("/api/tickets/{number}/system-facts"), None),
        ("POST", format!("/api/tickets/{number}/system-facts"), Some(json!({}))),
        ("GET", "/api/notices".into(), None),
        ("POST", "/api/notices".into(), Some(json!({}))),
        ("POST", "/api/notices/9/approve".into(), Some(json!({}))),
        ("POST", "/api/notices/9/reject".into(), Some(json!({}))),
        ("POST", "/api/notices/9/withdraw".into(), Some(json!({}))),
        ("GET", "/api/notices/9/audio".into(), None),
        ("GET", "/api/faq".into(), None),
        ("GET", "/api/faq?state=published&q=ロック".into(), None),
        ("POST", "/api/faq".into(), Some(json!({}))),
        ("GET", "/api/faq/candidates".into(), None),
        ("GET", "/api/faq/candidates?from=2026-01-01&to=2026-01-31".into(), None),
        ("GET", "/api/faq/9".into(), None),
        ("PATCH", "/api/faq/9".into(), Some(json!({"answer": "窓口へお電話ください"}))),
        ("POST", "/api/faq/9/submit".into(), Some(json!({}))),
        ("POST", "/api/faq/9/approve".into(), Some(json!({"step": "general_manager"}))),
        ("POST", "/api/faq/9/reject".into(), Some(json!({}))),
        ("POST", "/api/faq/9/publish".into(), Some(json!({}))),
        ("POST", "/api/faq/9/withdraw".into(), Some(json!({}))),
        ("GET", "/api/calls?caller=03-1234-5678&outcome=transferred".into(), None),
        ("GET", "/api/callbacks".into(), None),
        ("GET", "/api/callbacks?tier=1&state=open".into(), None),
        ("GET", "/api/callbacks/999999".into(), None),
        ("POST", "/api/callbacks/999999/attempts".into(), Some(json!({"result": "reached"}))),
        ("GET", "/api/reports/daily?date=2026-11-20".into(), None),
        ("GET", "/api/reports/monthly?month=2026-10&format=csv".into(), None),
        ("GET", "/api/session".into(), None),
    ]
}

/// The console's pages: a stranger is sent to sign in (303 to `/login`), not answered 401.
fn pages(number: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/".into()),
        ("GET", "/mine".into()),
        ("GET", "/calls".into()),
        ("GET", "/callbacks".into()),
        ("GET", "/new".into()),
        ("GET", "/admin".into()),
        ("GET", "/contact-list".into()),
        ("GET", "/interview-templates".into()),
        ("GET", "/faq-desk".into()),
        ("GET", "/reports".into()),
        ("GET", format!("/tickets/{number}")),
        ("POST", "/logout".into()),
    ]
}

/// The only routes besides /healthz that answer without an identity.
const OPEN: [&str; 10] = [
    "/login",
    "/assets/console.css",
    "/assets/console.js",
    "/assets/desk.css",
    "/assets/desk.js",
    "/notices",
    "/notices.atom",
    "/notices.json",
    "/faq",
    "/faq.json",
];

async fn call(client: &reqwest::Client, base: &str, (method, path, body): &(&str, String, Option<Value>)) -> u16 {
    let url = format!("{base}{path}");
    let request = match *method {
        "GET" => client.get(url),
        "PATCH" => client.patch(url),
        "PUT" => client.put(url),
        "DELETE" => client.delete(url),
        _ => client.post(url),
    };
    let request = match body {
        Some(b) => request.json(b),
        None => request,
    };
    request.send().await.unwrap().status().as_u16()
}

async fn every_route_needs_a_valid_token_and_the_role(db: Db) {
    let Some(app) = spawn_app(db, "every_route_needs_a_token").await else { return };
    let created: Value = app
        .post_contact(
            json!({"subject": "アカウントロック", "attachments": [{"filename": "a.txt", "content_base64": "YQ=="}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let number = created["ticket"].as_str().unwrap().to_owned();
    let other: Value = app.post_contact(json!({"subject": "重複の問い合わせ"})).await.json().await.unwrap();
    let other = other["ticket"].as_str().unwrap().to_owned();
    let url = app.db.settings().database_url();
    let operator = authorised(&grant(&url, "sato", Role::Operator).await);
    let supervisor = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    let nobody = reqwest::Client::new();
    let forged = authorised("mdg_0000000000000000000000000000000000000000000000000000000000000000");
    let basic = {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::AUTHORIZATION, format!("Basic {}", app.token).parse().unwrap());
        reqwest::Client::builder().default_headers(h).build().unwrap()
    };
    for route in routes(&number, &other) {
        let admin_only = route.1.starts_with("/api/users")
            || route.1.starts_with("/api/tokens")
            || (route.0 == "PUT" && (route.1 == "/api/contact-list" || route.1 == "/api/interview-templates"));
        let supervisor_only =
            ["/approve", "/reject", "/rollback", "/withdraw", "/publish"].iter().any(|end| route.1.ends_with(end))
                || route.1.starts_with("/api/reports/");
        for (who, client) in [("no token", &nobody), ("a made-up token", &forged), ("not Bearer", &basic)] {
            let url = format!("{}{}", app.base, route.1);
            let response = match route.0 {
                "GET" => client.get(&url),
                "PATCH" => client.patch(&url).json(route.2.as_ref().unwrap()),
                "PUT" => client.put(&url).json(route.2.as_ref().unwrap()),
                "DELETE" => client.delete(&url),
                _ => client.post(&url).json(route.2.as_ref().unwrap()),
            }
            .send()
            .await
            .unwrap();
            assert_eq!(response.status(), 401, "{} {} with {who}", route.0, route.1);
            assert!(response.headers().get("www-authenticate").is_some());
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthenticated");
        }
        let want = |allowed: bool| if allowed { "allowed" } else { "403" };
        for (who, client, allowed) in [
            ("operator", &operator, !admin_only && !supervisor_only),
            ("supervisor", &supervisor, !admin_only),
            ("admin", &app.client, true),
        ] {
            let status = call(client, &app.base, &route).await;
            assert_eq!(status == 403, !allowed, "{} {} as {who}: {status}, want {}", route.0, route.1, want(allowed));
            assert_ne!(status, 401, "{} {} as {who}", route.0, route.1);
        }
    }
    assert_eq!(nobody.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), 200, "health is open");
    app.stop().await;
}

async fn the_acting_user_is_the_tokens_owner_and_revocation_is_immediate(db: Db) {
    let Some(app) = spawn_app(db, "acting_user_and_revocation").await else { return };
    let url = app.db.settings().database_url();
    let token = grant(&url, "sato", Role::Operator).await;
    let sato = authorised(&token);
    let created = common::post_json(&sato, &app.url("/api/contacts"), &json!({"subject": "VPNにつながらない"})).await;
    let number = created["ticket"].as_str().unwrap().to_owned();
    let patched = sato
        .patch(app.url(&format!("/api/tickets/{number}")))
        .header("X-Madoguchi-Actor", "kacho")
        .json(&json!({"note": "折り返します"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let ticket = app.ticket(&number).await;
    let actors: Vec<&str> = ticket["history"].as_array().unwrap().iter().filter_map(|h| h["actor"].as_str()).collect();
    assert!(actors.contains(&"sato"), "{actors:?}");
    assert!(!actors.contains(&"kacho"), "a header cannot name someone else: {actors:?}");
    assert_eq!(ticket["contacts"][0]["recorded_by"], "sato");

    let store = madoguchi::store::Store::connect(&url, 1).await.unwrap();
    let id = store.tokens(Some("sato")).await.unwrap()[0].id;
    assert!(store.revoke_token(id).await.unwrap());
    assert_eq!(sato.get(app.url("/api/tickets")).send().await.unwrap().status(), 401, "revoked at once");
    let again = authorised(&grant(&url, "tanaka", Role::Operator).await);
    assert_eq!(again.get(app.url("/api/tickets")).send().await.unwrap().status(), 200);
    assert!(store.disable_user("tanaka").await.unwrap());
    assert_eq!(again.get(app.url("/api/tickets")).send().await.unwrap().status(), 401, "a disabled user's token");
    store.close().await;
    app.stop().await;
}

async fn an_admin_manages_users_and_tokens_over_the_api(db: Db) {
    let Some(app) = spawn_app(db, "admin_manages_users").await else { return };
    let add = json!({"login": "kimura", "name": "木村 花子", "role": "operator", "password": "correct horse battery"});
    let created = app.client.post(app.url("/api/users")).json(&add).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let again = app.client.post(app.url("/api/users")).json(&add).send().await.unwrap();
    assert_eq!(again.status(), 409, "a login is taken once");
    let short = json!({"login": "x", "role": "operator", "password": "short"});
    assert_eq!(app.client.post(app.url("/api/users")).json(&short).send().await.unwrap().status(), 422);

    let issued =
        common::post_json(&app.client, &app.url("/api/tokens"), &json!({"login": "kimura", "label": "CTI"})).await;
    let kimura = authorised(issued["token"].as_str().unwrap());
    let operators: Value = kimura.get(app.url("/api/operators")).send().await.unwrap().json().await.unwrap();
    let names: Vec<&str> = operators["users"].as_array().unwrap().iter().filter_map(|u| u["name"].as_str()).collect();
    assert!(names.contains(&"木村 花子"), "{names:?}");
    let id = issued["id"].as_i64().unwrap();
    let revoked = app.client.delete(app.url(&format!("/api/tokens/{id}"))).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(kimura.get(app.url("/api/tickets")).send().await.unwrap().status(), 401, "revoked at once");
    assert_eq!(app.client.delete(app.url(&format!("/api/tokens/{id}"))).send().await.unwrap().status(), 404);

    let second =
        common::post_json(&app.client, &app.url("/api/tokens"), &json!({"login": "kimura", "label": "2"})).await;
    let kimura = authorised(second["token"].as_str().unwrap());
    assert_eq!(kimura.get(app.url("/api/tickets")).send().await.unwrap().status(), 200);
    let disabled = app.client.post(app.url("/api/users/kimura/disable")).send().await.unwrap();
    assert_eq!(disabled.status(), 200);
    assert_eq!(kimura.get(app.url("/api/tickets")).send().await.unwrap().status(), 401, "disabled at once");
    let (_, operators) = app.get_json("/api/operators").await;
    assert!(!operators.to_string().contains("kimura"), "a disabled user is not offered for assignment");

    let store = madoguchi::store::Store::connect(&app.db.settings().database_url(), 1).await.unwrap();
    let actions: Vec<String> = store.audit_entries(50).await.unwrap().into_iter().map(|a| a.action).collect();
    for action in ["user_added", "token_added", "token_revoked", "user_disabled"] {
        assert!(actions.iter().any(|a| a == action), "{action} in {actions:?}");
    }
    store.close().await;
    app.stop().await;
}

async fn attachments_are_never_served_as_pages_and_reads_are_audited(db: Db) {
    let Some(app) = spawn_app(db, "attachments_served_safely").await else { return };
    let b64 = |s: &str| common::mime::b64(s.as_bytes());
    let created: Value = app
        .post_contact(json!({"subject": "添付", "attachments": [
            {"filename": "x.html", "content_type": "text/html", "content_base64": b64("<script>alert(1)</script>")},
            {"filename": "x.svg", "content_type": "image/svg+xml", "content_base64": b64("<svg onload=alert(1)/>")},
            {"filename": "a.pdf", "content_type": "application/pdf", "content_base64": b64("%PDF-1.4 x")},
        ]}))
        .await
        .json()
        .await
        .unwrap();
    let number = created["ticket"].as_str().unwrap();
    let ticket = app.ticket(number).await;
    for (a, want) in ticket["attachments"].as_array().unwrap().iter().zip([
        "application/octet-stream",
        "application/octet-stream",
        "application/pdf",
    ]) {
        let r = app.client.get(app.url(&format!("/api/attachments/{}", a["id"]))).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let h = r.headers();
        assert_eq!(h["content-type"], want, "{}", a["filename"]);
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        assert!(h["content-security-policy"].to_str().unwrap().contains("sandbox"));
    }
    let (status, _) = app.get_json(&format!("/api/tickets/{number}/contacts")).await;
    assert_eq!(status, 200);
    let store = madoguchi::store::Store::connect(&app.db.settings().database_url(), 1).await.unwrap();
    let audit = store.audit_entries(10).await.unwrap();
    store.close().await;
    let seen: Vec<(String, String)> = audit.iter().map(|a| (a.actor.clone(), a.action.clone())).collect();
    assert!(seen.contains(&("tester".into(), "ticket_read".into())), "{seen:?}");
    assert!(seen.contains(&("tester".into(), "contacts_read".into())), "a page of contacts is a read too: {seen:?}");
    assert_eq!(seen.iter().filter(|(who, what)| who == "tester" && what == "attachment_read").count(), 3, "{seen:?}");
    app.stop().await;
}

async fn every_console_page_sends_a_stranger_to_sign_in_and_needs_the_role(db: Db) {
    let Some(app) = spawn_app(db, "every_page_needs_a_session").await else { return };
    let created = common::post_json(&app.client, &app.url("/api/contacts"), &json!({"subject": "画面"})).await;
    let number = created["ticket"].as_str().unwrap().to_owned();
    let url = app.db.settings().database_url();
    let no_redirects = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let nobody = no_redirects().build().unwrap();
    let forged = {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::COOKIE, format!("madoguchi_session={}", "ab".repeat(32)).parse().unwrap());
        no_redirects().default_headers(h).build().unwrap()
    };
    let with_token = |token: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        no_redirects().default_headers(h).build().unwrap()
    };
    let (operator, admin) = (with_token(&grant(&url, "sato", Role::Operator).await), with_token(&app.token));
    for (method, path) in pages(&number) {
        let send = |client: &reqwest::Client| {
            let request = if method == "GET" { client.get(app.url(&path)) } else { client.post(app.url(&path)) };
            async move { request.send().await.unwrap() }
        };
        for (who, client) in [("no session", &nobody), ("a made-up session", &forged)] {
            let r = send(client).await;
            assert_eq!(r.status(), 303, "{method} {path} with {who}");
            let location = r.headers()["location"].to_str().unwrap();
            let want = match (method, path.as_str()) {
                ("GET", "/") | ("POST", _) => "/login".to_owned(),
                _ => format!("/login?next={}", path.replace('/', "%2F")),
            };
            assert_eq!(location, want, "{method} {path} with {who}");
        }
        let not_for_operators = path == "/admin" || path == "/reports";
        for (who, client, allowed) in [("operator", &operator, !not_for_operators), ("admin", &admin, true)] {
            let status = send(client).await.status().as_u16();
            let want = if !allowed {
                403
            } else if method == "POST" {
                303
            } else {
                200
            };
            assert_eq!(status, want, "{method} {path} as {who}");
        }
    }
    for path in OPEN {
        assert_eq!(nobody.get(app.url(path)).send().await.unwrap().status(), 200, "{path} is open");
    }
    // A survey's page is open too: its link's token is what authorises (an unknown one is 404,
    // never a sign-in or a 401).
    let survey = app.url(&format!("/survey/{}", "0".repeat(64)));
    assert_eq!(nobody.get(&survey).send().await.unwrap().status(), 404, "/survey/… is open");
    assert_eq!(nobody.post(&survey).form(&[("rating", "5")]).send().await.unwrap().status(), 404, "/survey/… is open");
    app.stop().await;
}

on_both_backends!(
    an_admin_manages_users_and_tokens_over_the_api,
    attachments_are_never_served_as_pages_and_reads_are_audited,
    every_console_page_sends_a_stranger_to_sign_in_and_needs_the_role
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_nobody_configured_is_refused_even_with_a_token() {
    let Some(db) = common::TestDb::new(Db::Sqlite, "dns_rebinding").await else { return };
    let app = common::spawn_with(db, |s| s.http.hostnames = vec!["helpdesk.example.go.jp".into()]).await;
    let status = |host: &'static str| {
        let request = app.client.get(app.url("/api/tickets")).header("host", host);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("attacker.example.com").await, 421, "a rebinding page's own name");
    assert_eq!(status("attacker.example.com:8080").await, 421);
    assert_eq!(status("helpdesk.example.go.jp").await, 200, "the configured name");
    assert_eq!(status("localhost:8080").await, 200);
    assert_eq!(status("127.0.0.1").await, 200);
    let health = reqwest::Client::new().get(app.url("/healthz")).header("host", "evil.test").send().await.unwrap();
    assert_eq!(health.status(), 421);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["error"]["code"], "misdirected");
    app.stop().await;
}
on_both_backends!(
    every_route_needs_a_valid_token_and_the_role,
    the_acting_user_is_the_tokens_owner_and_revocation_is_immediate
);
