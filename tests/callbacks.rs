//! Callback tasks (折り返し) over real SIP calls: a caller who hangs up in the menu, and one who
//! leaves a voicemail (or hangs up out of hours without one), each leave one task on their ticket,
//! however many BYEs arrive; a transferred call leaves none. Recording an attempt keeps the task
//! open (no answer) or closes it (reached); a done task takes no more; the ticket's history
//! shows every step.

mod common;

use common::sip::{Phone, accept_transfer, hear, line_on, tag_of};
use common::sse::EventStream;
use common::{Db, TestApp, authorised, grant, post};
use madoguchi::domain::user::Role;
use madoguchi::media::g711::Codec;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

on_both_backends!(
    a_call_hung_up_in_the_menu_leaves_one_task_a_transferred_call_none_and_attempts_close_it,
    out_of_hours_a_voicemail_and_a_caller_who_left_none_each_leave_one_task
);

/// The test line of `common::sip`, always open or always closed, on RTP ports of its own.
async fn line(db: Db, open: bool, test: &str) -> Option<TestApp> {
    let ports = match (db, open) {
        (Db::Sqlite, true) => "56400-56424",
        (Db::Sqlite, false) => "56425-56449",
        (Db::Postgres, true) => "56450-56474",
        (Db::Postgres, false) => "56475-56499",
    };
    line_on(db, open, ports, test).await
}

/// Places a call and acknowledges the 200 OK: the ticket number and the dialog's tag.
async fn answered(phone: &mut Phone) -> (String, String) {
    let (ok, _) = phone.call("").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    (ok.header("X-Madoguchi-Ticket").expect("the ticket number"), tag)
}

/// The next event of `kind` about `ticket` on `stream`.
async fn event_for(stream: &mut EventStream, kind: &str, ticket: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let e = stream.next_of(kind, left).await;
        if e.data["ticket"] == ticket {
            return e.data;
        }
    }
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// The open tasks (or those `query` asks for) as `client` sees them.
async fn tasks(app: &TestApp, client: &reqwest::Client, query: &str) -> Vec<Value> {
    let (status, list) = get(client, &app.url(&format!("/api/callbacks{query}"))).await;
    assert_eq!(status, 200, "{query}: {list}");
    list["callbacks"].as_array().unwrap().clone()
}

fn of_ticket<'a>(tasks: &'a [Value], ticket: &str) -> Vec<&'a Value> {
    tasks.iter().filter(|t| t["ticket"] == ticket).collect()
}

/// The ticket's history entries with `action`.
async fn entries(app: &TestApp, ticket: &str, action: &str) -> Vec<Value> {
    let t = app.ticket(ticket).await;
    t["history"].as_array().unwrap().iter().filter(|h| h["action"] == action).cloned().collect()
}

/// Polls the ticket (bounded) until its history has `action`.
async fn until_history(app: &TestApp, ticket: &str, action: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while entries(app, ticket, action).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "waited for {action} on {ticket}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_call_hung_up_in_the_menu_leaves_one_task_a_transferred_call_none_and_attempts_close_it(db: Db) {
    let Some(app) = line(db, true, "callbacks_in_hours").await else { return };
    let sato = authorised(&grant(&app.db.settings().database_url(), "sato", Role::Operator).await);
    let mut events = EventStream::open(&sato, &app.url("/api/events?kind=callback&tier=1"), None).await;

    // A caller presses 1 and is transferred: the operator group has the call, nothing to call back.
    let mut first = Phone::udp(app.sip, "cb-transfer").await;
    let (transferred, tag) = answered(&mut first).await;
    let (_, service_rtp, _) = hear(&first, 1).await;
    first.press(service_rtp, b'1', 100, 8000).await;
    accept_transfer(&mut first, app.sip, &tag).await;
    until_history(&app, &transferred, "call_ended").await;

    // Another hears the welcome and hangs up in the menu; its BYE comes again, and once more
    // as a new request.
    let mut second = Phone::udp(app.sip, "cb-menu").await;
    let (abandoned, tag) = answered(&mut second).await;
    hear(&second, 20).await;
    let bye = second.request("BYE", "z9hG4bKcbbye1", Some(&tag), "", "");
    assert_eq!(second.transact(&bye).await.code(), 200);
    second.send(&bye).await;
    assert_eq!(second.expect("the 200 again", |m| m.code() > 0).await.code(), 200, "a retransmission is answered");
    let again = second.request("BYE", "z9hG4bKcbbye2", Some(&tag), "", "");
    assert_eq!(second.transact(&again).await.code(), 481, "the call is over");

    let created = event_for(&mut events, "callback.created", &abandoned).await;
    assert_eq!(created["tier"], 1);
    assert_eq!(created["callback"]["reason"], "abandoned");
    let id = created["callback"]["id"].as_i64().unwrap();

    let open = tasks(&app, &sato, "").await;
    assert!(of_ticket(&open, &transferred).is_empty(), "a transferred call leaves no task: {open:?}");
    let mine = of_ticket(&open, &abandoned);
    assert_eq!(mine.len(), 1, "one task however many BYEs: {open:?}");
    let task = mine[0];
    assert_eq!(task["id"], id);
    assert_eq!(task["number"], "0312345678", "as sent");
    assert_eq!(task["normalised"], "0312345678");
    assert_eq!(task["name"], "山田 太郎");
    assert_eq!(
        (task["state"].as_str(), task["tier"].as_i64(), task["attempts"].as_i64()),
        (Some("open"), Some(1), Some(0))
    );
    assert!(task["created_at"].as_str().unwrap().ends_with("+09:00"), "{task}");
    assert!(task["last_result"].is_null() && task["last_attempt_at"].is_null(), "{task}");
    assert!(task["subject"].is_string(), "{task}");
    assert_eq!(entries(&app, &abandoned, "callback_created").await.len(), 1);
    assert!(entries(&app, &transferred, "callback_created").await.is_empty());

    // An open task runs the ticket's callback clock ([sla] callback_within of business time).
    let clock = |v: &Value| v["clocks"].as_array().unwrap().iter().find(|c| c["kind"] == "callback").cloned();
    let (_, sla) = get(&sato, &app.url(&format!("/api/tickets/{abandoned}/sla"))).await;
    let running = clock(&sla).unwrap_or_else(|| panic!("a callback clock: {sla}"));
    assert_eq!((running["state"].as_str(), running["target_ms"].as_i64()), (Some("running"), Some(7_200_000)));

    // Work it: no answer keeps it open; nonsense is refused and changes nothing.
    let attempts = app.url(&format!("/api/callbacks/{id}/attempts"));
    let (status, kept) =
        post(&sato, &attempts, json!({"result": "no_answer", "note": "不在。夕方にかけ直します"})).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!((kept["state"].as_str(), kept["attempts"].as_i64()), (Some("open"), Some(1)), "{kept}");
    assert_eq!(kept["last_result"], "no_answer");
    assert_eq!(kept["last_note"], "不在。夕方にかけ直します");
    assert!(kept["last_attempt_at"].as_str().unwrap().ends_with("+09:00"));
    let updated = event_for(&mut events, "callback.updated", &abandoned).await;
    assert_eq!((updated["by"].as_str(), updated["callback"]["attempts"].as_i64()), (Some("sato"), Some(1)));
    for (body, says) in [
        (json!({"result": "called"}), "no_answer"),
        (json!({"result": "reached", "note": "あ".repeat(2001)}), "2000"),
        (json!({"note": "結果なし"}), "result"),
        (json!({"result": "reached", "by": "kacho"}), "by"),
    ] {
        let (status, refused) = post(&sato, &attempts, body).await;
        assert_eq!(status, 422, "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains(says), "{says}: {refused}");
    }
    let (_, still) = get(&sato, &app.url(&format!("/api/callbacks/{id}"))).await;
    assert_eq!((still["state"].as_str(), still["attempts"].as_i64()), (Some("open"), Some(1)), "{still}");

    // Reached: done, by whom; nothing more can be recorded.
    let (status, done) = post(&sato, &attempts, json!({"result": "reached"})).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((done["state"].as_str(), done["attempts"].as_i64()), (Some("done"), Some(2)), "{done}");
    assert_eq!((done["closed_by"].as_str(), done["last_result"].as_str()), (Some("sato"), Some("reached")));
    assert!(done["last_note"].is_null(), "the note is this attempt's: {done}");
    assert!(done["closed_at"].as_str().unwrap().ends_with("+09:00"));
    let (status, refused) = post(&sato, &attempts, json!({"result": "busy"})).await;
    assert_eq!(status, 409, "{refused}");
    let (_, sla) = get(&sato, &app.url(&format!("/api/tickets/{abandoned}/sla"))).await;
    assert_eq!(clock(&sla).unwrap()["state"], "met", "the last open task closed: {sla}");
    let (status, _) = post(&sato, &app.url("/api/callbacks/999999/attempts"), json!({"result": "reached"})).await;
    assert_eq!(status, 404);
    assert_eq!(get(&sato, &app.url("/api/callbacks/999999")).await.0, 404);

    assert!(of_ticket(&tasks(&app, &sato, "?tier=1").await, &abandoned).is_empty(), "done is off the work list");
    let finished = tasks(&app, &sato, "?state=done").await;
    assert_eq!(of_ticket(&finished, &abandoned).len(), 1, "{finished:?}");
    assert!(tasks(&app, &sato, "?state=done&tier=2").await.is_empty());
    for query in ["?tier=4", "?state=closed", "?limit=0", "?colour=red"] {
        let (status, answer) = get(&sato, &app.url(&format!("/api/callbacks{query}"))).await;
        assert_eq!(status, 400, "{query}: {answer}");
    }
    let (_, list) = get(&sato, &app.url("/api/callbacks")).await;
    let results: Vec<(&str, bool)> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["result"].as_str().unwrap(), r["closes"].as_bool().unwrap()))
        .collect();
    assert!(results.contains(&("no_answer", false)) && results.contains(&("reached", true)), "{results:?}");

    let worked = entries(&app, &abandoned, "callback_attempt").await;
    let seen: Vec<(&str, &str, &str)> = worked
        .iter()
        .map(|h| {
            let d = &h["detail"];
            (h["actor"].as_str().unwrap(), d["result"].as_str().unwrap(), d["state"].as_str().unwrap())
        })
        .collect();
    assert_eq!(seen, [("sato", "no_answer", "open"), ("sato", "reached", "done")]);
    assert_eq!(worked[0]["detail"]["note"], "不在。夕方にかけ直します");
    assert_eq!(worked[0]["detail"]["callback"], id);
    app.stop().await;
}

async fn out_of_hours_a_voicemail_and_a_caller_who_left_none_each_leave_one_task(db: Db) {
    let Some(app) = line(db, false, "callbacks_out_of_hours").await else { return };
    let mut events = EventStream::open(&app.client, &app.url("/api/events?kind=callback.created"), None).await;

    // A caller speaks after the beep, then falls silent: the recording ends and is stored.
    let mut phone = Phone::udp(app.sip, "cb-voicemail").await;
    let (with_message, _) = answered(&mut phone).await;
    let (_, service_rtp, _) = hear(&phone, 1).await;
    let tone: Vec<i16> =
        (0..8000 * 3).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 9000.0) as i16).collect();
    let mut sender = madoguchi::media::rtp::Sender::new(Codec::Pcmu, 99);
    sender.play(&phone.rtp, service_rtp, &tone).await.unwrap();
    sender.play(&phone.rtp, service_rtp, &vec![0i16; 8000 * 3]).await.unwrap();
    let bye = phone.expect("BYE after the goodbye", |m| m.method() == "BYE").await;
    phone.answer(&bye, 200).await;
    let created = event_for(&mut events, "callback.created", &with_message).await;
    assert_eq!(created["callback"]["reason"], "voicemail");

    // Another hears the closed announcement, the voicemail prompt and the beep (15 packets each),
    // says nothing and hangs up: the recording is empty, a missed call.
    let mut other = Phone::udp(app.sip, "cb-no-message").await;
    let (without, tag) = answered(&mut other).await;
    hear(&other, 45).await;
    let bye = other.request("BYE", "z9hG4bKcbvmbye", Some(&tag), "", "");
    assert_eq!(other.transact(&bye).await.code(), 200);
    let created = event_for(&mut events, "callback.created", &without).await;
    assert_eq!(created["callback"]["reason"], "abandoned");

    let open = tasks(&app, &app.client, "?state=open").await;
    let reasons: Vec<(&str, &str)> =
        open.iter().map(|t| (t["ticket"].as_str().unwrap(), t["reason"].as_str().unwrap())).collect();
    assert_eq!(reasons, [(with_message.as_str(), "voicemail"), (without.as_str(), "abandoned")], "oldest first");
    assert!(entries(&app, &with_message, "voicemail_empty").await.is_empty());
    assert_eq!(entries(&app, &without, "voicemail_empty").await.len(), 1, "it ended in the recording's place");

    // A message left for the caller keeps the task open.
    let id = open[0]["id"].as_i64().unwrap();
    let (status, kept) =
        post(&app.client, &app.url(&format!("/api/callbacks/{id}/attempts")), json!({"result": "left_message"})).await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!((kept["state"].as_str(), kept["attempts"].as_i64()), (Some("open"), Some(1)));
    app.stop().await;
}
