//! The caller log over real SIP calls: each call listed newest first with its caller, the menu key
//! chosen, how it ended (null while it is on) and its ticket; filtered by the caller's number
//! however it is written, and by outcome.

mod common;

use common::sip::{Phone, line_on, tag_of};
use common::{Db, TestApp};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

on_both_backends!(calls_are_listed_with_their_outcome_and_found_by_the_callers_number);

/// The test line of `common::sip` (always open), on its own RTP ports per backend.
async fn line(db: Db, test: &str) -> Option<TestApp> {
    let ports = if db == Db::Sqlite { "41000-41499" } else { "41500-41999" };
    line_on(db, true, ports, test).await
}

/// Places a call and acknowledges the 200 OK; returns its ticket number and the dialog's tag.
async fn answered(phone: &mut Phone, extra: &str) -> (String, String) {
    let (ok, _) = phone.call(extra).await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    (ok.header("X-Madoguchi-Ticket").expect("the ticket number"), tag)
}

/// Where the service's RTP for this call comes from (its first announcement packet).
async fn service_rtp(phone: &Phone) -> SocketAddr {
    let mut buf = [0u8; 2048];
    let received = tokio::time::timeout(Duration::from_secs(10), phone.rtp.recv_from(&mut buf));
    received.await.expect("the announcement's RTP arrives").unwrap().1
}

async fn calls(app: &TestApp, query: &str) -> Value {
    let (status, page) = app.get_json(&format!("/api/calls{query}")).await;
    assert_eq!(status, 200, "{query}: {page}");
    page
}

fn tickets(page: &Value) -> Vec<&str> {
    page["calls"].as_array().unwrap().iter().map(|c| c["ticket"].as_str().unwrap()).collect()
}

/// Polls the log (bounded) until `done` holds for its first page.
async fn log_until(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page = calls(app, "").await;
        if done(&page) {
            return page;
        }
        assert!(tokio::time::Instant::now() < deadline, "waited for {what}: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn outcome_of<'a>(page: &'a Value, ticket: &str) -> &'a Value {
    let call = page["calls"].as_array().unwrap().iter().find(|c| c["ticket"] == ticket).expect("the call is listed");
    &call["outcome"]
}

async fn calls_are_listed_with_their_outcome_and_found_by_the_callers_number(db: Db) {
    let Some(app) = line(db, "caller_log").await else { return };

    // 1: +81 3-1234-5678 presses 2 and is transferred.
    let mut first = Phone::udp(app.sip, "log-transfer").await;
    let (transferred, tag) = answered(&mut first, "P-Asserted-Identity: <sip:+81312345678@trunk>\r\n").await;
    let rtp = service_rtp(&first).await;
    first.press(rtp, b'2', 100, 8000).await;
    let refer = first.expect("REFER", |m| m.method() == "REFER").await;
    first.answer(&refer, 202).await;
    let notify = format!(
        "NOTIFY sip:madoguchi@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKlognot1\r\nMax-Forwards: 70\r\n\
         From: <sip:0312345678@pbx.test>;tag=caller1\r\nTo: <sip:0120000111@madoguchi>;tag={tag}\r\nCall-ID: log-transfer\r\n\
         CSeq: 9 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated\r\nContent-Type: message/sipfrag\r\n\
         Content-Length: 16\r\n\r\nSIP/2.0 200 OK\r\n",
        app.sip, first.local
    );
    first.send(&notify).await;
    let bye = first.expect("BYE after the transfer", |m| m.method() == "BYE").await;
    first.answer(&bye, 200).await;

    // 2: 06-1234-5678 hangs up.
    let mut second = Phone::udp(app.sip, "log-hangup").await;
    let (hung_up, tag) = answered(&mut second, "P-Asserted-Identity: <sip:0612345678@trunk>\r\n").await;
    let bye = second.request("BYE", "z9hG4bKlogbye2", Some(&tag), "", "");
    assert_eq!(second.transact(&bye).await.code(), 200);

    // 3: 0312345678 (From, with a display name) is still on the line.
    let mut third = Phone::udp(app.sip, "log-ongoing").await;
    let (ongoing, ongoing_tag) = answered(&mut third, "").await;

    let page = log_until(&app, "the first two calls' endings", |p| {
        outcome_of(p, &transferred).is_string() && outcome_of(p, &hung_up).is_string()
    })
    .await;
    assert_eq!(tickets(&page), [ongoing.as_str(), hung_up.as_str(), transferred.as_str()], "newest first");
    assert!(page["next"].is_null());
    let [on, hung, moved] = [0, 1, 2].map(|i| &page["calls"][i]);
    assert_eq!(moved["outcome"], "transferred");
    assert_eq!(moved["menu"], "2");
    assert_eq!(moved["caller_number"], "+81312345678", "as sent");
    assert_eq!(moved["caller_normalised"], "0312345678");
    assert_eq!(moved["dialled"], "0120000111");
    assert!(moved["at"].as_str().unwrap().ends_with("+09:00"), "{moved}");
    assert!(moved["contact_id"].as_i64().is_some());
    assert_eq!(hung["outcome"], "caller_hung_up");
    assert!(hung["menu"].is_null());
    assert!(on["outcome"].is_null(), "still on: {on}");
    assert_eq!(on["caller_name"], "山田 太郎");
    assert_eq!(on["caller_number"], "0312345678");

    for written in ["03-1234-5678", "+81 3 1234 5678", "０３（１２３４）５６７８"] {
        let found = app
            .client
            .get(app.url("/api/calls"))
            .query(&[("caller", written)])
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap();
        assert_eq!(tickets(&found), [ongoing.as_str(), transferred.as_str()], "caller {written}");
    }
    assert_eq!(tickets(&calls(&app, "?outcome=transferred").await), [transferred.as_str()]);
    assert_eq!(tickets(&calls(&app, "?outcome=caller_hung_up&caller=0612345678").await), [hung_up.as_str()]);
    assert_eq!(tickets(&calls(&app, "?outcome=ongoing").await), [ongoing.as_str()]);
    assert!(tickets(&calls(&app, "?outcome=voicemail").await).is_empty());
    let (status, refused) = app.get_json("/api/calls?outcome=hung").await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("caller_hung_up"), "{refused}");

    let one = calls(&app, "?limit=1").await;
    assert_eq!(tickets(&one), [ongoing.as_str()]);
    let next = one["next"].as_str().expect("a next page").to_owned();
    assert_eq!(tickets(&calls(&app, &format!("?limit=1&before={next}")).await), [hung_up.as_str()]);

    let nobody = reqwest::Client::new().get(app.url("/api/calls")).send().await.unwrap();
    assert_eq!(nobody.status(), 401, "the log is behind a token like everything else");

    // The third call ends: its outcome follows.
    let bye = third.request("BYE", "z9hG4bKlogbye3", Some(&ongoing_tag), "", "");
    assert_eq!(third.transact(&bye).await.code(), 200);
    let page = log_until(&app, "the third call's ending", |p| outcome_of(p, &ongoing).is_string()).await;
    assert_eq!(outcome_of(&page, &ongoing), "caller_hung_up");
    app.stop().await;
}
