//! The OpenAPI document at `/api/openapi.json`, from the real `madoguchi` binary: it is OpenAPI 3,
//! it names every route of the API (and the router answers every operation it names), and
//! schemathesis, run against the service with an admin's token, finds no server error, no
//! undocumented status code or content type and no answer that breaks its schema.

mod common;

use madoguchi::domain::user::Role;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

/// Every route of the JSON API as the router has it (README.md, section HTTP API, describes
/// each). A route added to the router without a `#[utoipa::path]` cannot be registered through
/// `routes!`; one added with a plain `.route("/api/…")` is caught by
/// [`no_api_route_bypasses_the_document`]; this list catches a route dropped from both.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/openapi.json"),
    ("GET", "/api/session"),
    ("GET", "/api/tickets"),
    ("GET", "/api/tickets/{number}"),
    ("PATCH", "/api/tickets/{number}"),
    ("GET", "/api/tickets/{number}/contacts"),
    ("GET", "/api/tickets/{number}/contacts/{id}/attachments"),
    ("GET", "/api/tickets/{number}/attachments"),
    ("GET", "/api/tickets/{number}/history"),
    ("POST", "/api/tickets/{number}/merge"),
    ("GET", "/api/me/tickets"),
    ("GET", "/api/attachments/{id}"),
    ("POST", "/api/contacts"),
    ("GET", "/api/events"),
    ("GET", "/api/operators"),
    ("GET", "/api/users"),
    ("POST", "/api/users"),
    ("POST", "/api/users/{login}/disable"),
    ("GET", "/api/tokens"),
    ("POST", "/api/tokens"),
    ("DELETE", "/api/tokens/{id}"),
    ("POST", "/api/tickets/{number}/replies"),
    ("GET", "/api/attachments/{id}/pages"),
    ("GET", "/api/attachments/{id}/pages/{page}"),
    ("GET", "/api/calls"),
    ("GET", "/api/callbacks"),
    ("GET", "/api/callbacks/{id}"),
    ("POST", "/api/callbacks/{id}/attempts"),
    ("GET", "/api/prompts"),
    ("POST", "/api/prompts/{slot}/versions"),
    ("POST", "/api/prompts/{slot}/versions/{version}/approve"),
    ("POST", "/api/prompts/{slot}/versions/{version}/reject"),
    ("POST", "/api/prompts/{slot}/versions/{version}/rollback"),
    ("GET", "/api/prompts/{slot}/versions/{version}/audio"),
    ("GET", "/api/groups"),
    ("GET", "/api/contact-list"),
    ("PUT", "/api/contact-list"),
    ("GET", "/api/interview-templates"),
    ("PUT", "/api/interview-templates"),
    ("POST", "/api/tickets/{number}/escalate"),
    ("POST", "/api/tickets/{number}/relays"),
    ("GET", "/api/tickets/{number}/sla"),
    ("GET", "/api/tickets/{number}/suggestions"),
    ("GET", "/api/interviews"),
    ("GET", "/api/tickets/{number}/interview"),
    ("PUT", "/api/tickets/{number}/interview"),
    ("PATCH", "/api/tickets/{number}/interview"),
    ("POST", "/api/tickets/{number}/answered-from"),
    ("GET", "/api/tickets/{number}/system-facts"),
    ("POST", "/api/tickets/{number}/system-facts"),
    ("GET", "/api/tickets/{number}/survey"),
    ("GET", "/api/notices"),
    ("POST", "/api/notices"),
    ("POST", "/api/notices/{id}/approve"),
    ("POST", "/api/notices/{id}/reject"),
    ("POST", "/api/notices/{id}/withdraw"),
    ("GET", "/api/notices/{id}/audio"),
    ("GET", "/api/faq"),
    ("POST", "/api/faq"),
    ("GET", "/api/faq/candidates"),
    ("GET", "/api/faq/{id}"),
    ("PATCH", "/api/faq/{id}"),
    ("POST", "/api/faq/{id}/submit"),
    ("POST", "/api/faq/{id}/approve"),
    ("POST", "/api/faq/{id}/reject"),
    ("POST", "/api/faq/{id}/publish"),
    ("POST", "/api/faq/{id}/withdraw"),
    ("GET", "/api/reports/{kind}"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/// The `madoguchi` binary on a fresh SQLite database in `dir`, without a rate limit (the fuzzer
/// sends hundreds of requests a minute).
async fn service(dir: &std::path::Path) -> common::Process {
    let data = dir.join("data");
    let url = format!("sqlite://{}?mode=rwc", data.join("madoguchi.db").display());
    let env = [
        ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
        ("MADOGUCHI_DATABASE_URL", url.as_str()),
        ("MADOGUCHI_HTTP_REQUESTS_PER_MINUTE", "0"),
    ];
    common::spawn_binary(dir, &env).await
}

async fn document(base: &str) -> Value {
    // Public: no credential.
    let r = reqwest::get(format!("{base}/api/openapi.json")).await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{content_type}");
    r.json().await.expect("the document is JSON")
}

/// Follows a local `$ref` (`#/components/schemas/ErrorBody`).
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn check_refs(doc: &Value, v: &Value, at: &str) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    let r = child.as_str().unwrap();
                    assert!(resolve(doc, r).is_some(), "{at}: $ref {r} does not resolve");
                } else {
                    check_refs(doc, child, &format!("{at}/{k}"));
                }
            }
        }
        Value::Array(items) => items.iter().enumerate().for_each(|(i, c)| check_refs(doc, c, &format!("{at}/{i}"))),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_and_names_every_route_the_router_serves() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let doc = document(&service.base).await;

    // OpenAPI 3: the version, info, paths, components; every operation answers something.
    let version = doc["openapi"].as_str().expect("openapi: the version");
    assert!(version.starts_with("3."), "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["type"], "http");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["type"], "apiKey");
    assert_eq!(schemes["session"]["in"], "cookie");
    check_refs(&doc, &doc, "");

    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        assert!(path.starts_with("/api/"), "{path} is not an API route");
        let in_path: BTreeSet<&str> = path.split('{').skip(1).map(|rest| rest.split('}').next().unwrap()).collect();
        for (method, op) in item.as_object().unwrap() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            documented.insert((method.to_uppercase(), path.clone()));
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            // Each {parameter} of the path is declared, required, and nothing else is in the path.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .inspect(|p| assert_eq!(p["required"], true, "{method} {path}: {p}"))
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, in_path, "{method} {path}: path parameters");
            let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{method} {path}: no responses"));
            assert!(responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no success answer");
            // Errors are the common JSON body; the signed-in routes say 401.
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
            }
            let public = op["security"].as_array().is_some_and(|s| s.iter().all(|r| r == &serde_json::json!({})));
            assert_eq!(public, path == "/api/openapi.json", "{method} {path}: who may call it");
            if !public {
                assert!(responses.contains_key("401"), "{method} {path}: 401");
            }
            if op.get("requestBody").is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(
        documented.difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "in the document, not in the test's list"
    );
    assert_eq!(
        expected.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from the document"
    );

    // The router serves each operation with its method: without a credential a signed-in route
    // answers 401 (authentication runs only for a route the router matched; an unknown path is
    // the fallback's 404, a wrong method 405).
    let anonymous = reqwest::Client::new();
    for (method, path) in &expected {
        if path == "/api/openapi.json" {
            continue;
        }
        let concrete = path
            .replace("{number}", "20261121-0001")
            .replace("{slot}", "welcome")
            .replace("{kind}", "daily")
            .replace("{login}", "nobody")
            .replace(['{', '}'], "")
            .replace("idattachments", "1/attachments");
        let concrete: String = concrete
            .split('/')
            .map(|seg| if ["id", "page", "version"].contains(&seg) { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let r = anonymous.request(method.parse().unwrap(), format!("{}{concrete}", service.base)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{method} {concrete} ({path}) is not a route of the router");
    }
}

/// No `/api/` route is added to the router around utoipa-axum's `routes!` (which takes the path
/// from the handler's `#[utoipa::path]`, so the document has it).
#[test]
fn no_api_route_bypasses_the_document() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let flat: String = text.split_whitespace().collect();
                for needle in [".route(\"/api", ".route_service(\"/api", ".nest(\"/api", ".nest_service(\"/api"] {
                    if flat.contains(needle) {
                        found.push(format!("{}: {needle}", path.display()));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    assert!(found.is_empty(), "register /api/ routes with routes!(handler) and #[utoipa::path]: {found:?}");
}

/// schemathesis against the running service, as an admin, every operation but the event
/// stream (it never ends: a client reads it until it hangs up, which schemathesis cannot).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing() {
    if !common::tool("schemathesis", "schemathesis_finds_nothing") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    // Tokens 1 to 100 are a decoy's: the fuzzer's DELETE /api/tokens/{id} tries small ids, and
    // revoking its own token would leave it testing 401s.
    let store = madoguchi::store::Store::connect(&service.database_url, 1).await.unwrap();
    let hash = madoguchi::auth::hash_password(common::PASSWORD).unwrap();
    store.add_user("decoy", "decoy", Role::Operator, &hash).await.unwrap();
    for _ in 0..100 {
        store.add_token("decoy", "decoy", &madoguchi::auth::new_token().1).await.unwrap();
    }
    store.close().await;
    let token = common::grant(&service.database_url, "fuzzer", Role::Admin).await;
    // Something to find: a ticket with an attachment (contact 1, attachment 1), FAQ entry 1 and
    // notice 1; a second run sends their numbers and ids (schemathesis.toml), so that the
    // fuzzer's bodies reach the handlers instead of stopping at 404.
    let admin = common::authorised(&token);
    let url = |path: &str| format!("{}{path}", service.base);
    let contact = serde_json::json!({
        "subject": "VPNにつながらない", "caller": {"email": "yamada@example.go.jp"},
        "attachments": [{"filename": "memo.txt", "content_type": "text/plain", "content_base64": "bWVtbw=="}],
    });
    let (status, created) = common::post(&admin, &url("/api/contacts"), contact).await;
    assert_eq!(status, 201, "{created}");
    let number = created["ticket"].as_str().unwrap().to_owned();
    let faq = serde_json::json!({"question": "VPNの接続方法", "answer": "手順書を参照", "category": "network"});
    let (status, entry) = common::post(&admin, &url("/api/faq"), faq).await;
    assert_eq!(status, 201, "{entry}");
    let notice =
        serde_json::json!({"kind": "maintenance", "title": "計画停止", "body": "メンテナンスのため停止します"});
    let (status, drafted) = common::post(&admin, &url("/api/notices"), notice).await;
    assert_eq!(status, 201, "{drafted}");
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        format!("[parameters]\n\"path.number\" = \"{number}\"\n\"path.id\" = 1\n\"path.login\" = \"decoy\"\n"),
    )
    .unwrap();

    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    for (run, config) in [("generated parameters", &empty), ("existing resources", &config)] {
        let mut cmd = tokio::process::Command::new("schemathesis");
        cmd.arg("--no-color")
            .arg("--config-file")
            .arg(config)
            .arg("run")
            .arg(url("/api/openapi.json"))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--exclude-path",
                "/api/events",
                "--max-examples",
                "8",
                "--seed",
                "20261121",
                "--workers",
                "2",
                "--request-timeout",
                "20",
                "--suppress-health-check",
                "all",
                "--generation-with-security-parameters",
                "false",
                "--generation-database",
                "none",
            ])
            .arg("-H")
            .arg(format!("Authorization: Bearer {token}"))
            .current_dir(dir.path())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(240), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("schemathesis ({run}) finished within 4 minutes"))
            .expect("schemathesis runs");
        let out = String::from_utf8_lossy(&output.stdout);
        let err = String::from_utf8_lossy(&output.stderr);
        eprintln!("schemathesis, {run}:\n{out}\n{err}");
        assert!(output.status.success(), "schemathesis ({run}) found problems (above)");
    }
    // Our token still works: the run tested the API, not 401s.
    let r = admin.get(format!("{}/api/session", service.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
