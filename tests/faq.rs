//! FAQ upkeep over the API and the store, on SQLite and PostgreSQL: an entry is drafted from
//! tickets, submitted, approved step by step in order by supervisors who did not write it,
//! rejected back to draft, published and withdrawn; only published public entries reach `/faq`
//! and `/faq.json`, as text; candidates group the resolved tickets that asked the same thing;
//! the weekly additions list exactly the entries published in a JST week.

mod common;

use common::{Db, TestApp, authorised, grant, post};
use madoguchi::domain::faq::{Audience, Steps};
use madoguchi::domain::user::Role;
use madoguchi::store::{FaqAction, FaqChange, FaqDraft, Store};
use serde_json::{Value, json};

/// What anyone, signed in or not, sees of the FAQ: the page and the JSON.
struct Public {
    page: String,
    json: Value,
}

async fn public(base: &str) -> Public {
    let nobody = reqwest::Client::new();
    let page = nobody.get(format!("{base}/faq")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && !csp.contains("script-src"), "{csp}");
    let page = page.text().await.unwrap();
    let json = nobody.get(format!("{base}/faq.json")).send().await.unwrap();
    assert_eq!(json.status(), 200);
    assert_eq!(json.headers()["access-control-allow-origin"], "*", "a portal may read it");
    Public { page, json: json.json().await.unwrap() }
}

impl Public {
    /// Whether the entry asking `question` is public; the page and the JSON agree, the page
    /// shows it as text.
    fn shows(&self, question: &str) -> bool {
        let in_json = self.json["entries"].as_array().unwrap().iter().any(|e| e["question"] == question);
        let escaped = question.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        assert_eq!(self.page.contains(&escaped), in_json, "{question}: the page and the JSON agree");
        in_json
    }
}

async fn ticket(app: &TestApp, subject: &str) -> String {
    let created: Value = app.post_contact(json!({"subject": subject})).await.json().await.unwrap();
    created["ticket"].as_str().unwrap().to_owned()
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client.get(url).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn patch(client: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    common::patch_with(client, url, body).await
}

async fn an_entry_is_reviewed_step_by_step_and_only_a_published_public_one_is_public(db: Db) {
    let Some(app) = common::spawn_app(db, "faq_review").await else { return };
    let url = app.db.settings().database_url();
    let sato = authorised(&grant(&url, "sato", Role::Operator).await);
    let suzuki = authorised(&grant(&url, "suzuki", Role::Supervisor).await);
    let tanaka = authorised(&grant(&url, "tanaka", Role::Supervisor).await);
    let faq = app.url("/api/faq");
    let at = |id: i64, action: &str| app.url(&format!("/api/faq/{id}/{action}"));
    let locked = ticket(&app, "アカウントがロックされました").await;

    let question = "アカウントが<b>ロック</b>されたら？ & どうする";
    let reply = "<script>alert(1)</script>ヘルプデスクへお電話ください。\n本人確認のうえ解除します。";
    let draft = json!({"question": question, "answer": reply, "category": "account_unlock", "audience": "public",
        "tickets": [locked]});
    let (status, made) = post(&sato, &faq, draft).await;
    assert_eq!(status, 201, "an operator drafts: {made}");
    assert_eq!((made["state"].as_str(), made["author"].as_str()), (Some("draft"), Some("sato")));
    assert_eq!(made["tickets"], json!([locked]), "linked to its ticket");
    assert_eq!(made["next_step"], Value::Null);
    assert_eq!(made["steps"][0]["label"], "統括責任者の承認");
    assert_eq!(made["steps"][1]["label"], "業務課の承認");
    let id = made["id"].as_i64().unwrap();
    assert!(!public(&app.base).await.shows(question), "a draft is not public");

    // Bad drafts are refused naming the field; nothing is stored.
    for (body, field) in [
        (json!({"question": " ", "answer": "a", "category": "c"}), "question"),
        (json!({"question": "q", "answer": "", "category": "c"}), "answer"),
        (json!({"question": "q", "answer": "a", "category": "c", "audience": "everyone"}), "audience"),
        (json!({"question": "q", "answer": "a", "category": "c", "tickets": ["nope"]}), "tickets[0]"),
        (json!({"question": "q", "answer": "a", "category": "c", "tickets": [locked, "20200101-9999"]}), "tickets[1]"),
    ] {
        let (status, answer) = post(&sato, &faq, body).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(field), "{field}: {answer}");
    }
    assert_eq!(get(&sato, &faq).await.1["entries"].as_array().unwrap().len(), 1, "refused drafts store nothing");

    let (status, submitted) = post(&sato, &at(id, "submit"), json!({})).await;
    assert_eq!((status, submitted["state"].as_str()), (200, Some("submitted")), "{submitted}");
    assert_eq!(submitted["next_step"]["step"], "general_manager");
    assert_eq!(post(&sato, &at(id, "submit"), json!({})).await.0, 409, "submitted once");

    // Operators approve nothing; the author never their own; steps go in order; names are known.
    let gm = json!({"step": "general_manager", "comment": "統括責任者 了承"});
    assert_eq!(post(&sato, &at(id, "approve"), gm.clone()).await.0, 403, "an operator approves nothing");
    let (_, own) = post(&tanaka, &faq, json!({"question": "自分の質問", "answer": "回答", "category": "howto"})).await;
    let own = own["id"].as_i64().unwrap();
    assert_eq!(post(&tanaka, &at(own, "submit"), json!({})).await.0, 200);
    let (status, answer) = post(&tanaka, &at(own, "approve"), gm.clone()).await;
    assert_eq!(status, 403, "the author cannot approve their own entry: {answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("自分が作成"), "{answer}");
    let (status, answer) = post(&suzuki, &at(id, "approve"), json!({"step": "business_division"})).await;
    assert_eq!(status, 409, "the business division's step comes second: {answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("統括責任者の承認"), "{answer}");
    let (status, answer) = post(&suzuki, &at(id, "approve"), json!({"step": "kacho"})).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().starts_with("step:"), "{answer}");
    assert_eq!(post(&suzuki, &at(id, "approve"), json!({})).await.0, 422, "a step must be named");
    assert_eq!(post(&suzuki, &at(999_999, "approve"), gm.clone()).await.0, 404);

    let (status, first) = post(&suzuki, &at(id, "approve"), gm.clone()).await;
    assert_eq!((status, first["state"].as_str()), (200, Some("submitted")), "{first}");
    assert_eq!(first["steps"][0]["done"], true);
    assert_eq!(
        (first["steps"][0]["decided_by"].as_str(), first["steps"][1]["done"].as_bool()),
        (Some("suzuki"), Some(false))
    );
    assert_eq!(first["next_step"]["step"], "business_division");
    assert_eq!(post(&suzuki, &at(id, "publish"), json!({})).await.0, 409, "not every step is approved yet");
    assert!(!public(&app.base).await.shows(question), "a submitted entry is not public");

    // A rejection returns it to draft; the next round starts from the first step again.
    let (status, rejected) = post(&tanaka, &at(id, "reject"), json!({"comment": "回答をもう少し具体的に"})).await;
    assert_eq!((status, rejected["state"].as_str()), (200, Some("draft")), "{rejected}");
    let last = rejected["decisions"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["decision"].as_str(), last["decided_by"].as_str()), (Some("rejected"), Some("tanaka")));
    assert_eq!(last["comment"], "回答をもう少し具体的に");
    let better = format!("{reply}\n解除後はパスワードを変更してください。");
    let (status, edited) = patch(&sato, &app.url(&format!("/api/faq/{id}")), json!({"answer": better})).await;
    assert_eq!((status, edited["state"].as_str()), (200, Some("draft")), "{edited}");
    assert_eq!(post(&sato, &at(id, "submit"), json!({})).await.0, 200);
    let (_, again) = get(&sato, &app.url(&format!("/api/faq/{id}"))).await;
    assert_eq!(again["next_step"]["step"], "general_manager", "the earlier round's approval no longer counts");
    assert_eq!(again["steps"][0]["done"], false);

    // An edit of a submitted entry sends it back to draft.
    let (status, back) = patch(&sato, &app.url(&format!("/api/faq/{own}")), json!({"answer": "別の回答"})).await;
    assert_eq!((status, back["state"].as_str()), (200, Some("draft")), "{back}");
    assert_eq!(patch(&sato, &app.url(&format!("/api/faq/{own}")), json!({})).await.0, 422, "nothing to change");

    assert_eq!(post(&suzuki, &at(id, "approve"), gm.clone()).await.0, 200);
    let (status, approved) =
        post(&tanaka, &at(id, "approve"), json!({"step": "business_division", "comment": "業務課 確認済み"})).await;
    assert_eq!((status, approved["state"].as_str()), (200, Some("approved")), "{approved}");
    assert_eq!(approved["next_step"], Value::Null);
    assert!(!public(&app.base).await.shows(question), "an approved entry is not public until published");
    assert_eq!(post(&sato, &at(id, "publish"), json!({})).await.0, 403, "an operator publishes nothing");
    let (status, published) = post(&suzuki, &at(id, "publish"), json!({})).await;
    assert_eq!((status, published["state"].as_str()), (200, Some("published")), "{published}");
    assert_eq!(published["published_by"], "suzuki");

    let seen = public(&app.base).await;
    assert!(seen.shows(question), "published for the public: {}", seen.page);
    assert!(!seen.page.contains("<script>alert(1)") && !seen.page.contains("<b>"), "markup is shown as text");
    assert!(seen.page.contains("&lt;script&gt;alert(1)&lt;/script&gt;ヘルプデスクへ"), "{}", seen.page);
    assert!(seen.page.contains("アカウントロック解除"), "under its category's label: {}", seen.page);
    let entry = &seen.json["entries"][0];
    assert_eq!(entry["answer"], better.as_str());
    for private in ["author", "published_by", "tickets", "decisions", "uses"] {
        assert!(entry.get(private).is_none(), "{private} is not public: {entry}");
    }
    assert!(!seen.page.contains("suzuki") && !seen.page.contains("業務課 確認済み"), "the review stays inside");
    assert_eq!(patch(&sato, &app.url(&format!("/api/faq/{id}")), json!({"answer": "x"})).await.0, 409, "published");

    // An internal entry, published, stays inside.
    let internal = "社内向け：ロック解除の手順";
    let (_, inside) = post(
        &sato,
        &faq,
        json!({"question": internal, "answer": "管理画面で解除", "category": "account_unlock",
        "audience": "internal"}),
    )
    .await;
    let inside = inside["id"].as_i64().unwrap();
    post(&sato, &at(inside, "submit"), json!({})).await;
    post(&suzuki, &at(inside, "approve"), gm.clone()).await;
    post(&tanaka, &at(inside, "approve"), json!({"step": "business_division"})).await;
    let (status, done) = post(&tanaka, &at(inside, "publish"), json!({})).await;
    assert_eq!((status, done["state"].as_str()), (200, Some("published")), "{done}");
    assert!(!public(&app.base).await.shows(internal), "an internal entry is never public");

    // The console's search of published entries, and the filters.
    let (status, found) = get(&sato, &app.url("/api/faq?state=published&q=ﾛｯｸ 解除")).await;
    assert_eq!(status, 200, "{found}");
    let ids: Vec<i64> = found["entries"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![inside, id], "half-width katakana finds ロック, newest publication first");
    let (_, public_only) = get(&sato, &app.url("/api/faq?state=published&audience=public")).await;
    assert_eq!(public_only["entries"].as_array().unwrap().len(), 1);
    let (_, drafts) = get(&sato, &app.url("/api/faq?state=draft&category=howto")).await;
    assert_eq!(drafts["entries"][0]["id"], own);
    for bad in ["state=old", "audience=world", "limit=0"] {
        let (status, answer) = get(&sato, &app.url(&format!("/api/faq?{bad}"))).await;
        let field = bad.split('=').next().unwrap();
        assert_eq!(status, 422, "{bad}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().starts_with(field), "{answer}");
    }
    assert_eq!(get(&sato, &app.url("/api/faq/999999")).await.0, 404);

    // Uses: tickets answered from it, each counted once.
    let store = Store::connect(&url, 1).await.unwrap();
    let ticket_id = store.ticket_ids(std::slice::from_ref(&locked)).await.unwrap()[0].unwrap();
    assert!(store.record_faq_use(id, ticket_id, "sato", 1).await.unwrap());
    assert!(!store.record_faq_use(id, ticket_id, "suzuki", 2).await.unwrap(), "once per ticket");
    assert_eq!(get(&sato, &app.url(&format!("/api/faq/{id}"))).await.1["uses"], 1);

    // Withdrawn: gone at once.
    assert_eq!(post(&sato, &at(id, "withdraw"), json!({})).await.0, 403, "an operator withdraws nothing");
    let (status, withdrawn) = post(&tanaka, &at(id, "withdraw"), json!({})).await;
    assert_eq!((status, withdrawn["state"].as_str()), (200, Some("withdrawn")));
    assert!(!public(&app.base).await.shows(question), "withdrawn");
    assert_eq!(post(&tanaka, &at(id, "withdraw"), json!({})).await.0, 409, "withdrawn once");

    let actions: Vec<(String, String, String)> =
        store.audit_entries(200).await.unwrap().into_iter().map(|a| (a.actor, a.action, a.subject)).collect();
    for (actor, action) in [
        ("sato", "faq_drafted"),
        ("sato", "faq_submitted"),
        ("suzuki", "faq_step_approved"),
        ("tanaka", "faq_rejected"),
        ("sato", "faq_edited"),
        ("tanaka", "faq_step_approved"),
        ("suzuki", "faq_published"),
        ("tanaka", "faq_withdrawn"),
    ] {
        let want = (actor.to_owned(), action.to_owned(), format!("faq#{id}"));
        assert!(actions.contains(&want), "{want:?} in {actions:?}");
    }
    let refused = actions.iter().filter(|(_, _, subject)| subject == &format!("faq#{own}")).count();
    assert_eq!(refused, 3, "drafted, submitted, edited: a refusal writes nothing");
    store.close().await;
    app.stop().await;
}

/// Logs a contact with `subject` and resolves its ticket with `resolution`; the ticket number.
async fn resolved(app: &TestApp, subject: &str, resolution: &str) -> String {
    let number = ticket(app, subject).await;
    assert_eq!(app.patch(&number, json!({"status": "in_progress"})).await.0, 200);
    let (status, t) = app.patch(&number, json!({"status": "resolved", "resolution": resolution})).await;
    assert_eq!(status, 200, "{t}");
    number
}

async fn candidates_group_the_resolved_tickets_that_asked_the_same_thing(db: Db) {
    let Some(app) = common::spawn_app(db, "faq_candidates").await else { return };
    let unlock = [
        resolved(&app, "アカウントがロックされました", "ロックを解除しました。").await,
        resolved(&app, "アカウントロックの解除をお願いします", "解除しました。").await,
        resolved(&app, "ｱｶｳﾝﾄがロックされた", "本人確認のうえロック解除").await,
    ];
    let vpn = [
        resolved(&app, "VPNに接続できない", "VPNクライアントを再起動して解決").await,
        resolved(&app, "VPNにつながらない", "VPNクライアントの再起動で解決").await,
    ];
    let printer = resolved(&app, "プリンターに接続できない", "ドライバーを入れ直しました").await;
    let still_open = ticket(&app, "アカウントがロックされました").await;

    let (status, found) = app.get_json("/api/faq/candidates").await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["tickets_read"], 6, "resolved ones only: {found}");
    assert_eq!(found["truncated"], false);
    let clusters: Vec<(String, Vec<String>)> = found["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let mut tickets: Vec<String> =
                c["tickets"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect();
            tickets.sort();
            assert_eq!(c["count"].as_u64(), Some(tickets.len() as u64), "{c}");
            (c["category"].as_str().unwrap().to_owned(), tickets)
        })
        .collect();
    assert_eq!(
        clusters,
        vec![
            ("account_unlock".to_owned(), unlock.to_vec()),
            ("fault_report".to_owned(), vpn.to_vec()),
            ("fault_report".to_owned(), vec![printer.clone()]),
        ],
        "most frequent first; the open ticket is no candidate"
    );
    let first = &found["candidates"][0];
    assert_eq!(first["category_label"], "アカウントロック解除 / Account unlock");
    let subjects = ["アカウントがロックされました", "アカウントロックの解除をお願いします", "ｱｶｳﾝﾄがロックされた"];
    assert!(subjects.iter().any(|s| first["subject"] == *s), "one of its subjects: {first}");
    assert_eq!(first["linked"], 0);
    assert!(!found.to_string().contains(&still_open));

    // A draft from the cluster links its tickets; the candidate says so.
    let (status, made) = post(
        &app.client,
        &app.url("/api/faq"),
        json!({"question": first["subject"], "answer": "解除します",
        "category": "account_unlock", "tickets": first["tickets"]}),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["tickets"].as_array().unwrap().len(), 3);
    let (_, again) = app.get_json("/api/faq/candidates").await;
    assert_eq!(again["candidates"][0]["linked"], 3, "{again}");

    // A period when nothing was resolved; periods that are not one.
    let (status, none) = app.get_json("/api/faq/candidates?from=2020-01-01&to=2020-01-31").await;
    assert_eq!((status, none["candidates"].as_array().map(Vec::len)), (200, Some(0)), "{none}");
    for (query, field) in
        [("from=2026-13-01", "from"), ("to=yesterday", "to"), ("from=2026-02-01&to=2026-01-01", "from")]
    {
        let (status, answer) = app.get_json(&format!("/api/faq/candidates?{query}")).await;
        assert_eq!(status, 422, "{query}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().starts_with(field), "{query}: {answer}");
    }
    app.stop().await;
}

/// Milliseconds of a JST time.
fn jst(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    use chrono::TimeZone;
    madoguchi::domain::time::jst().with_ymd_and_hms(y, m, d, h, min, 0).unwrap().timestamp_millis()
}

/// An entry drafted by sato, approved by suzuki and tanaka, and published at `at` (none: left
/// approved); its id.
async fn through_review(store: &Store, question: &str, at: Option<i64>) -> i64 {
    let steps = Steps::default();
    let draft = FaqDraft {
        question: question.into(),
        answer: "回答".into(),
        category: "howto".into(),
        audience: Audience::Public,
        author: "sato".into(),
        tickets: Vec::new(),
    };
    let when = at.unwrap_or(jst(2026, 11, 19, 12, 0));
    let id = store.draft_faq(&draft, when - 4_000).await.unwrap();
    let mut actions = vec![
        (FaqAction::Submit, "sato", Role::Operator),
        (FaqAction::Approve { step: "general_manager", comment: None }, "suzuki", Role::Supervisor),
        (FaqAction::Approve { step: "business_division", comment: Some("確認") }, "tanaka", Role::Supervisor),
    ];
    if at.is_some() {
        actions.push((FaqAction::Publish, "suzuki", Role::Supervisor));
    }
    for (i, (action, by, role)) in actions.iter().enumerate() {
        let now = when - 3_000 + 1_000 * i as i64;
        let change = store.change_faq(id, action, by, *role, &steps, now.min(when)).await.unwrap();
        assert!(matches!(change, FaqChange::Done(_)), "{question}: {action:?} by {by}: {change:?}");
    }
    id
}

async fn the_weekly_additions_are_the_entries_published_that_jst_week(db: Db) {
    let Some(app) = common::spawn_app(db, "faq_weekly").await else { return };
    let url = app.db.settings().database_url();
    let store = Store::connect(&url, 1).await.unwrap();
    let before = through_review(&store, "前の週の日曜日の深夜", Some(jst(2026, 11, 15, 23, 59))).await;
    let monday = through_review(&store, "月曜日の午前0時", Some(jst(2026, 11, 16, 0, 0))).await;
    let withdrawn = through_review(&store, "水曜日に公開、木曜日に取り下げ", Some(jst(2026, 11, 18, 9, 30))).await;
    let steps = Steps::default();
    let thursday_morning = jst(2026, 11, 19, 9, 0);
    let change =
        store.change_faq(withdrawn, &FaqAction::Withdraw, "suzuki", Role::Supervisor, &steps, thursday_morning);
    assert!(matches!(change.await.unwrap(), FaqChange::Done(_)));
    let sunday = through_review(&store, "日曜日の23時59分", Some(jst(2026, 11, 22, 23, 59))).await;
    let after = through_review(&store, "次の週の月曜日", Some(jst(2026, 11, 23, 0, 0))).await;
    let unpublished = through_review(&store, "承認済みだが未公開", None).await;

    let thursday = chrono::NaiveDate::from_ymd_opt(2026, 11, 19).unwrap();
    let week = madoguchi::faq_report::weekly_faq_additions(&store, thursday).await.unwrap();
    let ids: Vec<i64> = week.entries.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![monday, withdrawn, sunday], "published that week, in order");
    for outside in [before, after, unpublished] {
        assert!(!ids.contains(&outside));
    }
    assert_eq!((week.monday.to_string(), week.sunday.to_string()), ("2026-11-16".into(), "2026-11-22".into()));
    let next = madoguchi::faq_report::weekly_faq_additions(&store, thursday + chrono::Duration::days(4)).await.unwrap();
    assert_eq!(next.entries.iter().map(|e| e.id).collect::<Vec<_>>(), vec![after], "Monday 23rd starts the next week");

    // The command line, as the weekly meeting's report.
    let text = |out: std::process::Output| String::from_utf8(out.stdout).unwrap();
    let csv = text(
        common::cli::run(&app.db, &["report", "faq", "--week", "--date", "2026-11-22", "--format", "csv"], "").await,
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three entries: {csv}");
    assert!(lines[0].starts_with("id,published_at,published_by,category"), "{csv}");
    assert!(
        lines[1].starts_with(&format!("{monday},2026-11-16T00:00:00+09:00,suzuki,howto,public,published,")),
        "{csv}"
    );
    assert!(lines[2].contains(",withdrawn,") && lines[3].starts_with(&format!("{sunday},")), "{csv}");
    assert!(lines[1].contains("general_manager:suzuki business_division:tanaka"), "{csv}");
    let json: Value = serde_json::from_str(&text(
        common::cli::run(&app.db, &["report", "faq", "--week", "--date", "2026-11-16", "--format", "json"], "").await,
    ))
    .unwrap();
    assert_eq!((json["count"].as_i64(), json["week"]["from"].as_str()), (Some(3), Some("2026-11-16")));
    let words = text(common::cli::run(&app.db, &["report", "faq", "--week", "--date", "2026-11-19"], "").await);
    assert!(words.contains("追加 3 件 / 3 added") && words.contains("月曜日の午前0時"), "{words}");
    let missing = common::cli::try_run(&app.db, &["report", "faq", "--date", "2026-11-19"], "").await;
    assert!(!missing.status.success(), "--week says which period");
    store.close().await;
    app.stop().await;
}

on_both_backends!(
    an_entry_is_reviewed_step_by_step_and_only_a_published_public_one_is_public,
    candidates_group_the_resolved_tickets_that_asked_the_same_thing,
    the_weekly_additions_are_the_entries_published_that_jst_week
);
