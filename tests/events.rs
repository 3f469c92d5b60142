//! The live event stream: a real call pops `call.ringing` with the caller, their other tickets
//! and the call's ticket before the call is answered, then follows the call to its end; ticket
//! changes carry who made them; filters by kind and tier; a reconnecting client resumes after
//! its last event, or is told to resync.

mod common;

use common::sip::{Phone, spawn_line, tag_of};
use common::sse::EventStream;
use common::{Db, authorised, grant, spawn_app};
use madoguchi::domain::user::Role;
use serde_json::{Value, json};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ringing_call_pops_with_the_caller_and_their_tickets_and_is_followed_to_its_end() {
    let app = spawn_line(true, "56000-56099", |_| {}).await;
    let operator = authorised(&grant(&app.db.settings().database_url(), "tanaka", Role::Operator).await);
    // The same caller wrote in last week, with the number written another way.
    let earlier: Value = app
        .post_contact(json!({"subject": "VPNにつながらない", "caller": {"number": "03-1234-5678", "name": "山田"}}))
        .await
        .json()
        .await
        .unwrap();
    let earlier = earlier["ticket"].as_str().unwrap().to_owned();
    let mut calls = EventStream::open(&operator, &app.url("/api/events?kind=call"), None).await;
    let mut tier3 = EventStream::open(&operator, &app.url("/api/events?tier=3"), None).await;

    let mut phone = Phone::udp(app.sip, "call-pop").await;
    let (ok, _) = phone.call("P-Asserted-Identity: \"Yamada\" <sip:+81312345678@trunk>\r\n").await;
    let number = ok.header("X-Madoguchi-Ticket").unwrap();
    let ringing = calls.next(WAIT).await;
    assert_eq!(ringing.event, "call.ringing", "the first event of the call: {:?}", ringing.data);
    let pop = &ringing.data;
    assert_eq!(pop["ticket"], number.as_str());
    assert_eq!(pop["caller"]["number"], "+81312345678");
    assert_eq!(pop["caller"]["normalised"], "0312345678");
    assert_eq!(pop["caller"]["name"], "Yamada");
    assert_eq!(pop["tier"], 1);
    let open: Vec<&str> =
        pop["open_tickets"].as_array().unwrap().iter().map(|t| t["number"].as_str().unwrap()).collect();
    assert_eq!(open, [earlier.as_str()], "the caller's other open ticket, not the call's own");
    assert_eq!(pop["recent_tickets"][0]["subject"], "VPNにつながらない");
    assert_eq!(ringing.id.as_deref(), pop["id"].as_u64().map(|i| i.to_string()).as_deref());

    phone.ack(&tag_of(&ok)).await;
    let answered = calls.next(WAIT).await;
    assert_eq!((answered.event.as_str(), &answered.data["ticket"]), ("call.answered", &json!(number)));
    let service_rtp = first_rtp_source(&phone).await;
    phone.press(service_rtp, b'2', 100, 8000).await;
    let menu = calls.next(WAIT).await;
    assert_eq!((menu.event.as_str(), &menu.data["key"]), ("call.menu", &json!("2")));
    let refer = phone.expect("REFER", |m| m.method() == "REFER").await;
    phone.answer(&refer, 202).await;
    let transferred = calls.next(WAIT).await;
    assert_eq!((transferred.event.as_str(), &transferred.data["target"]), ("call.transferred", &json!("tier2")));
    assert_eq!(transferred.data["tier"], 2, "menu 2 moved the call to tier 2");
    let notify = format!(
        "NOTIFY sip:madoguchi@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKnotpop\r\nMax-Forwards: 70\r\nFrom: <sip:0312345678@pbx.test>;tag=caller1\r\nTo: <sip:0120000111@madoguchi>;tag={}\r\nCall-ID: call-pop\r\nCSeq: 9 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated\r\nContent-Type: message/sipfrag\r\nContent-Length: 16\r\n\r\nSIP/2.0 200 OK\r\n",
        app.sip,
        phone.local,
        tag_of(&ok)
    );
    phone.send(&notify).await;
    let bye = phone.expect("BYE after the transfer", |m| m.method() == "BYE").await;
    phone.answer(&bye, 200).await;
    let ended = calls.next(WAIT).await;
    assert_eq!((ended.event.as_str(), &ended.data["ending"]), ("call.ended", &json!("transferred")));
    assert_eq!(ended.data["ticket"], number.as_str());

    // Nothing of the call was in tier 3: the first event there is this change, with who made it.
    let (status, _) =
        common::patch_with(&operator, &app.url(&format!("/api/tickets/{earlier}")), json!({"tier": 3})).await;
    assert_eq!(status, 200);
    let moved = tier3.next(WAIT).await;
    assert_eq!(moved.event, "ticket.updated", "{:?}", moved.data);
    assert_eq!((moved.data["ticket"].as_str(), moved.data["by"].as_str()), (Some(earlier.as_str()), Some("tanaka")));
    let changes = moved.data["changes"].as_array().unwrap();
    let tier = changes.iter().find(|c| c["field"] == "tier").expect("the tier change is named");
    assert_eq!(tier["to"], 3, "{changes:?}");
    assert!(tier["from"].as_i64().unwrap() < 3, "{changes:?}");
    assert_eq!(moved.data["summary"]["tier"], 3);
    app.stop().await;
}

async fn first_rtp_source(phone: &Phone) -> std::net::SocketAddr {
    let mut buf = [0u8; 2048];
    let (_, from) = tokio::time::timeout(WAIT, phone.rtp.recv_from(&mut buf)).await.expect("RTP arrives").unwrap();
    from
}

async fn a_client_resumes_after_its_last_event_and_filters_are_checked(db: Db) {
    let Some(app) = spawn_app(db, "events resume").await else { return };
    let url = app.url("/api/events?kind=ticket.created");
    let mut stream = EventStream::open(&app.client, &url, None).await;
    let mut numbers = Vec::new();
    for subject in ["プリンタ", "メール", "VPN"] {
        let created: Value = app.post_contact(json!({"subject": subject})).await.json().await.unwrap();
        numbers.push(created["ticket"].as_str().unwrap().to_owned());
    }
    let first = stream.next(WAIT).await;
    assert_eq!((first.event.as_str(), &first.data["ticket"]), ("ticket.created", &json!(numbers[0])));
    assert_eq!(first.data["by"], "tester");
    drop(stream);

    // Reconnecting with the last id it had, the client gets the rest, once each, then new ones.
    let mut resumed = EventStream::open(&app.client, &url, first.id.as_deref()).await;
    for n in &numbers[1..] {
        assert_eq!(resumed.next(WAIT).await.data["ticket"], n.as_str());
    }
    let created: Value = app.post_contact(json!({"subject": "新しい"})).await.json().await.unwrap();
    assert_eq!(resumed.next(WAIT).await.data["ticket"], created["ticket"]);

    // An id from before a restart (or long gone): reload what you show.
    let mut stale = EventStream::open(&app.client, &app.url("/api/events?last_event_id=12"), None).await;
    assert_eq!(stale.next(WAIT).await.event, "resync");

    for bad in ["/api/events?kind=calls", "/api/events?tier=9", "/api/events?colour=red"] {
        let r = app.client.get(app.url(bad)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = app.client.get(&url).header("Last-Event-ID", "yesterday").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401, "strangers get no events");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_after_its_last_event_and_filters_are_checked_sqlite() {
    a_client_resumes_after_its_last_event_and_filters_are_checked(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_after_its_last_event_and_filters_are_checked_postgres() {
    a_client_resumes_after_its_last_event_and_filters_are_checked(Db::Postgres).await;
}
