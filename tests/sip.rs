//! Real calls over UDP and TCP: the line answers, announces, takes the key, transfers with the
//! ticket number, records voicemail out of hours; CANCEL, lost ACK, malformed and garbage input.

mod common;

use common::TestApp;
use common::sip::{Phone, hear, spawn_line, tag_of};
use madoguchi::media::g711::Codec;
use serde_json::Value;
use std::time::Duration;

async fn app(open: bool) -> TestApp {
    spawn_line(open, "40000-40999", |_| {}).await
}

async fn ticket(app: &TestApp, number: &str) -> Value {
    let (status, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    assert_eq!(status, 200);
    t
}

fn actions(t: &Value) -> Vec<String> {
    t["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_is_answered_over_udp_and_tcp() {
    let app = app(true).await;
    for tcp in [false, true] {
        let mut phone = if tcp { Phone::tcp(app.sip, "opt").await } else { Phone::udp(app.sip, "opt").await };
        let req = phone.request("OPTIONS", if tcp { "z9hG4bKopt-tcp" } else { "z9hG4bKopt-udp" }, None, "", "");
        phone.send(&req).await;
        let m = phone.expect("200 to OPTIONS", |m| m.code() > 0).await;
        assert_eq!(m.code(), 200, "{}", m.text);
        assert!(m.header("Allow").unwrap().contains("INVITE"));
    }
    app.stop().await;
}

async fn answered_call_transfers_on_the_menu_key(tcp: bool) {
    let app = app(true).await;
    let mut phone = if tcp { Phone::tcp(app.sip, "call-menu").await } else { Phone::udp(app.sip, "call-menu").await };
    let (ok, codes) = phone.call("P-Asserted-Identity: <sip:+81312345678@trunk>\r\n").await;
    // 100 Trying only goes out when the answer takes longer than 200 ms (RFC 3261 §17.2.1).
    assert!(codes == [200] || codes == [100, 200], "{codes:?} {}", ok.text);
    let number = ok.header("X-Madoguchi-Ticket").expect("the ticket number rides on the 200 OK");
    assert!(ok.body().contains("RTP/AVP 0 101"), "{}", ok.body());
    phone.ack(&tag_of(&ok)).await;

    // The welcome prompt arrives, paced and in order, and decodes back to the prompt's audio.
    let (audio, service_rtp, headers) = hear(&phone, 10).await;
    assert!(headers[0].2, "the first packet has the marker bit");
    for w in headers.windows(2) {
        assert_eq!(w[1].0, w[0].0.wrapping_add(1), "sequence");
        assert_eq!(w[1].1, w[0].1.wrapping_add(160), "timestamp");
    }
    let prompt = madoguchi::media::audio::load_wav(&app.db.dir.path().join("prompts/welcome.wav")).unwrap();
    let expected = Codec::Pcmu.decode(&Codec::Pcmu.encode(&prompt[..1600]));
    assert_eq!(audio[..1600], expected[..], "the caller hears the welcome prompt");

    phone.press(service_rtp, b'2', 100, 8000).await;
    let refer = phone.expect("REFER", |m| m.method() == "REFER").await;
    let refer_to = refer.header("Refer-To").unwrap();
    assert!(refer_to.contains("sip:operations@pbx.test"), "{refer_to}");
    assert!(refer_to.contains(&format!("X-Madoguchi-Ticket={number}")), "{refer_to}");
    assert_eq!(refer.header("X-Madoguchi-Ticket").as_deref(), Some(number.as_str()));
    phone.answer(&refer, 202).await;
    let notify = format!(
        "NOTIFY sip:madoguchi@{} SIP/2.0\r\nVia: SIP/2.0/{} {};branch=z9hG4bKnot1\r\nMax-Forwards: 70\r\nFrom: <sip:0312345678@pbx.test>;tag=caller1\r\nTo: <sip:0120000111@madoguchi>;tag={}\r\nCall-ID: call-menu\r\nCSeq: 9 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated\r\nContent-Type: message/sipfrag\r\nContent-Length: 16\r\n\r\nSIP/2.0 200 OK\r\n",
        app.sip,
        if tcp { "TCP" } else { "UDP" },
        phone.local,
        tag_of(&ok)
    );
    phone.send(&notify).await;
    let bye = phone.expect("BYE after the transfer", |m| m.method() == "BYE").await;
    phone.answer(&bye, 200).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let t = loop {
        let t = ticket(&app, &number).await;
        if actions(&t).contains(&"call_ended".to_owned()) || tokio::time::Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(t["channel"], "phone");
    assert_eq!(t["contacts"][0]["caller_number"], "+81312345678", "P-Asserted-Identity wins over From");
    assert_eq!(t["contacts"][0]["source_ref"], "call-menu");
    assert_eq!(
        (t["category"].as_str(), t["tier"].as_i64()),
        (Some("fault_report"), Some(2)),
        "menu 2 routes to faults"
    );
    let a = actions(&t);
    for step in ["created", "call_ringing", "call_answered", "menu_choice", "transfer", "call_ended"] {
        assert!(a.contains(&step.to_owned()), "{step} in {a:?}");
    }
    let ended = t["history"].as_array().unwrap().iter().find(|h| h["action"] == "call_ended").unwrap();
    assert_eq!(ended["detail"]["ending"], "transferred");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_udp_is_answered_announced_and_transferred_by_the_key() {
    answered_call_transfers_on_the_menu_key(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_tcp_is_answered_announced_and_transferred_by_the_key() {
    answered_call_transfers_on_the_menu_key(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_hours_the_caller_leaves_a_voicemail() {
    let app = app(false).await;
    let mut phone = Phone::udp(app.sip, "call-vm").await;
    let (ok, _) = phone.call("").await;
    let number = ok.header("X-Madoguchi-Ticket").unwrap();
    phone.ack(&tag_of(&ok)).await;
    let (_, service_rtp, _) = hear(&phone, 1).await;
    // Speak over the announcements (a tone), then fall silent: the recording ends on silence.
    let tone: Vec<i16> =
        (0..8000 * 3).map(|i| ((i as f32 * 440.0 * std::f32::consts::TAU / 8000.0).sin() * 9000.0) as i16).collect();
    let silence = vec![0i16; 8000 * 3];
    let mut sender = madoguchi::media::rtp::Sender::new(Codec::Pcmu, 99);
    sender.play(&phone.rtp, service_rtp, &tone).await.unwrap();
    sender.play(&phone.rtp, service_rtp, &silence).await.unwrap();
    let bye = phone.expect("BYE after the goodbye", |m| m.method() == "BYE").await;
    phone.answer(&bye, 200).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let t = loop {
        let t = ticket(&app, &number).await;
        if t["attachments"].as_array().unwrap().iter().any(|a| a["filename"] == "voicemail.wav")
            || tokio::time::Instant::now() > deadline
        {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let vm = t["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["filename"] == "voicemail.wav")
        .expect("voicemail attached");
    assert_eq!(vm["content_type"], "audio/wav");
    assert!(vm["size"].as_i64().unwrap() > 8000, "{vm}");
    assert_eq!(t["contact_count"], 2, "the recording is a contact of the call's ticket");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer_gets_487_and_a_lost_ack_gets_the_200_again() {
    let app = app(true).await;
    let mut phone = Phone::udp(app.sip, "call-cancel").await;
    let body = phone.offer();
    let invite = phone.request("INVITE", "z9hG4bKc1", None, "Content-Type: application/sdp\r\n", &body);
    let cancel = phone.request("CANCEL", "z9hG4bKc1", None, "", "");
    phone.send(&invite).await;
    phone.send(&cancel).await;
    let mut got = Vec::new();
    while !(got.contains(&(487, "INVITE".to_owned())) && got.contains(&(200, "CANCEL".to_owned()))) {
        let m = phone.expect("responses", |m| m.code() > 0).await;
        let method = m.header("CSeq").unwrap().split_whitespace().nth(1).unwrap().to_owned();
        got.push((m.code(), method));
    }
    assert!(!got.contains(&(200, "INVITE".to_owned())), "{got:?}");

    // A CANCEL that crosses the 200 OK: answered 200 (RFC 3261 §9.2), the call goes on.
    let mut late = Phone::udp(app.sip, "call-late-cancel").await;
    let (ok, _) = late.call("").await;
    let cancel = late.request("CANCEL", "z9hG4bKinv1", None, "", "");
    late.send(&cancel).await;
    let m = late.expect("200 to the CANCEL", |m| m.header("CSeq").is_some_and(|c| c.ends_with("CANCEL"))).await;
    assert_eq!(m.code(), 200);
    late.ack(&tag_of(&ok)).await;
    let _ = hear(&late, 3).await;
    let bye = late.request("BYE", "z9hG4bKlatebye", Some(&tag_of(&ok)), "", "");
    assert_eq!(late.transact(&bye).await.code(), 200, "the call was still up");

    let mut phone = Phone::udp(app.sip, "call-noack").await;
    let (ok, _) = phone.call("").await;
    let again = phone.expect("the 200 retransmitted", |m| m.code() == 200).await;
    assert_eq!(tag_of(&again), tag_of(&ok));
    phone.ack(&tag_of(&ok)).await;
    let bye = phone.request("BYE", "z9hG4bKbye1", Some(&tag_of(&ok)), "", "");
    phone.send(&bye).await;
    let m = phone.expect("200 to BYE", |m| m.header("CSeq").is_some_and(|c| c.ends_with("BYE"))).await;
    assert_eq!(m.code(), 200);
    phone.send(&bye).await;
    let m =
        phone.expect("the BYE retransmission absorbed", |m| m.header("CSeq").is_some_and(|c| c.ends_with("BYE"))).await;
    assert_eq!(m.code(), 200, "a retransmitted BYE gets the same answer");
    let stray = phone.request("BYE", "z9hG4bKbye2", Some("nope"), "", "");
    phone.send(&stray).await;
    let m = phone.expect("481", |m| m.header("CSeq").is_some_and(|c| c.ends_with("BYE"))).await;
    assert_eq!(m.code(), 481);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_malformed_messages_leave_the_service_answering() {
    let app = app(true).await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut seed = 12345u32;
    for i in 0..2000 {
        let len = 1 + (i * 37) % 1400;
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
                (seed >> 24) as u8
            })
            .collect();
        sock.send_to(&junk, app.sip).await.unwrap();
    }
    let mut phone = Phone::udp(app.sip, "after-garbage").await;
    let bad = "INVITE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad\r\nCSeq: 1 INVITE\r\nCall-ID: b\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nContent-Length: 99999\r\n\r\n";
    // A burst that large may overflow the socket's buffer: like a phone, resend until answered.
    let m = phone.transact(&bad.replace("127.0.0.1:9", &phone.local.to_string())).await;
    assert_eq!(m.code(), 400);
    let req = phone.request("OPTIONS", "z9hG4bKafter", None, "", "");
    assert_eq!(phone.transact(&req).await.code(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_who_sends_no_media_is_hung_up() {
    let app = spawn_line(true, "41000-41999", |s| s.sip.media_timeout_secs = 2).await;
    let mut phone = Phone::udp(app.sip, "call-silent").await;
    let (ok, _) = phone.call("").await;
    let number = ok.header("X-Madoguchi-Ticket").unwrap();
    phone.ack(&tag_of(&ok)).await;
    let bye = phone.expect("BYE for the silent caller", |m| m.method() == "BYE").await;
    // That BYE is "lost": it comes again (timer E) until answered.
    let again = phone.expect("the BYE resent", |m| m.method() == "BYE").await;
    assert_eq!(again.header("CSeq"), bye.header("CSeq"));
    phone.answer(&again, 200).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let t = ticket(&app, &number).await;
        let ended = t["history"].as_array().unwrap().iter().find(|h| h["action"] == "call_ended").cloned();
        if let Some(e) = ended {
            assert_eq!(e["detail"]["ending"], "media timeout");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no call_ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_dialplan_applies_to_new_calls_and_leaves_calls_in_progress_alone() {
    let app = app(true).await;
    let mut first = Phone::udp(app.sip, "before-reload").await;
    let (ok, _) = first.call("").await;
    let tag = tag_of(&ok);
    first.ack(&tag).await;
    let _ = hear(&first, 2).await;

    // The line now answers another number only: new calls to ours are not found.
    let plan = app.db.dir.path().join("dialplans/test.toml");
    let text = std::fs::read_to_string(&plan).unwrap().replace("numbers = [\"*\"]", "numbers = [\"03-9999-9999\"]");
    std::fs::write(&plan, text).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    loop {
        n += 1;
        let mut probe = Phone::udp(app.sip, &format!("probe-{n}")).await;
        let (reply, _) = probe.call("").await;
        if reply.code() == 404 {
            break;
        }
        let bye = probe.request("BYE", &format!("z9hG4bKpb{n}"), Some(&tag_of(&reply)), "", "");
        probe.ack(&tag_of(&reply)).await;
        probe.transact(&bye).await;
        assert!(tokio::time::Instant::now() < deadline, "the changed dialplan was never loaded");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The call that started before still hears its announcement and hangs up normally.
    let _ = hear(&first, 2).await;
    let bye = first.request("BYE", "z9hG4bKbye-first", Some(&tag), "", "");
    assert_eq!(first.transact(&bye).await.code(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_without_offer_gets_one_and_info_keys_work() {
    let app = app(true).await;
    let mut phone = Phone::udp(app.sip, "call-late-offer").await;
    let invite = phone.request("INVITE", "z9hG4bKlate", None, "Record-Route: <sip:proxy.test;lr>\r\n", "");
    phone.send(&invite).await;
    let ok = phone.expect("200 with an offer", |m| m.code() == 200).await;
    assert!(ok.body().contains("m=audio") && ok.body().contains("RTP/AVP 0 8 101"), "{}", ok.body());
    assert_eq!(ok.header("Record-Route").as_deref(), Some("<sip:proxy.test;lr>"));
    let tag = tag_of(&ok);
    let answer = phone.offer();
    let ack = phone.request("ACK", "z9hG4bKlateack", Some(&tag), "Content-Type: application/sdp\r\n", &answer);
    phone.send(&ack).await;
    let _ = hear(&phone, 3).await;
    let info = phone.request(
        "INFO",
        "z9hG4bKinfo",
        Some(&tag),
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=1\r\nDuration=160\r\n",
    );
    phone.send(&info).await;
    let refer = phone.expect("REFER after the INFO key", |m| m.method() == "REFER").await;
    assert!(refer.header("Refer-To").unwrap().contains("sip:helpdesk@pbx.test"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_calls_are_tickets_and_strangers_are_forbidden() {
    let app = spawn_line(true, "42000-42999", |s| s.sip.allowed_sources = vec!["127.0.0.1".parse().unwrap()]).await;
    let mut phone = Phone::udp(app.sip, "call-g729").await;
    let offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 18\r\n";
    let invite = phone.request("INVITE", "z9hG4bKg729", None, "Content-Type: application/sdp\r\n", offer);
    phone.send(&invite).await;
    let m = phone.expect("488", |m| m.code() >= 200).await;
    assert_eq!(m.code(), 488);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = app.get_json("/api/tickets?channel=phone").await;
        if let Some(number) = page["tickets"][0]["number"].as_str() {
            let t = ticket(&app, number).await;
            if let Some(e) = t["history"].as_array().unwrap().iter().find(|h| h["action"] == "call_ended") {
                assert_eq!(e["detail"]["ending"], "rejected");
                assert_eq!(e["detail"]["code"], 488);
                break;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no ticket for the rejected call");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;

    // A trunk list that does not include us: 403.
    let app = spawn_line(true, "43000-43999", |s| s.sip.allowed_sources = vec!["192.0.2.10".parse().unwrap()]).await;
    let mut phone = Phone::udp(app.sip, "stranger").await;
    let req = phone.request("OPTIONS", "z9hG4bKstranger", None, "", "");
    assert_eq!(phone.transact(&req).await.code(), 403);
    app.stop().await;
}

/// A request the service sent to `proxy`, as the proxy that record-routed the call receives it.
async fn at_proxy(proxy: &tokio::net::UdpSocket, method: &str) -> common::sip::Msg {
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(15), proxy.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{method} reaches the proxy"))
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let m = common::sip::Msg { first: text.lines().next().unwrap_or("").to_owned(), text };
        if m.method() == method {
            return m;
        }
    }
}

/// The proxy relays the far end's answer `code` to `req` back to the service.
async fn answer_from_proxy(
    proxy: &tokio::net::UdpSocket,
    service: std::net::SocketAddr,
    req: &common::sip::Msg,
    code: u16,
) {
    let mut text = format!("SIP/2.0 {code} OK\r\n");
    for line in req.text.split("\r\n").filter(|l| l.starts_with("Via:")) {
        text.push_str(line);
        text.push_str("\r\n");
    }
    for name in ["From", "To", "Call-ID", "CSeq"] {
        text.push_str(&format!("{name}: {}\r\n", req.header(name).unwrap()));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    proxy.send_to(text.as_bytes(), service).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_refer_and_bye_follow_the_record_route_to_the_proxy() {
    let app = app(true).await;
    let proxy = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let near = format!("<sip:{};lr;ftag=caller1>", proxy.local_addr().unwrap());
    // Two proxies stayed on the path (RFC 3261 §12.1.1: the UAS keeps Record-Route's order).
    let record_route = format!("{near}, <sip:pbx.test;lr>");
    let mut phone = Phone::udp(app.sip, "call-routed").await;
    let (ok, _) = phone.call(&format!("Record-Route: {record_route}\r\n")).await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    assert_eq!(ok.header("Record-Route").as_deref(), Some(record_route.as_str()), "echoed in the 200 OK");
    let number = ok.header("X-Madoguchi-Ticket").unwrap();
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    let (_, service_rtp, _) = hear(&phone, 5).await;
    phone.press(service_rtp, b'2', 100, 8000).await;

    // The REFER goes to the first route's address, to the caller's Contact, with both routes.
    let caller = phone.local;
    let routed = |m: &common::sip::Msg, method: &str| {
        assert!(m.first.starts_with(&format!("{method} sip:caller@{caller} SIP/2.0")), "{}", m.text);
        let routes: Vec<&str> = m.text.split("\r\n").filter_map(|l| l.strip_prefix("Route: ")).collect();
        assert_eq!(routes, vec![near.as_str(), "<sip:pbx.test;lr>"], "{}", m.text);
        assert!(m.header("Via").unwrap().starts_with(&format!("SIP/2.0/UDP {}", app.sip)), "{}", m.text);
    };
    let refer = at_proxy(&proxy, "REFER").await;
    routed(&refer, "REFER");
    answer_from_proxy(&proxy, app.sip, &refer, 202).await;
    let notify = format!(
        "NOTIFY sip:madoguchi@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKnot-routed\r\nMax-Forwards: 70\r\n\
         From: <sip:0312345678@pbx.test>;tag=caller1\r\nTo: <sip:0120000111@madoguchi>;tag={tag}\r\nCall-ID: call-routed\r\n\
         CSeq: 9 NOTIFY\r\nEvent: refer\r\nSubscription-State: terminated\r\nContent-Type: message/sipfrag\r\n\
         Content-Length: 16\r\n\r\nSIP/2.0 200 OK\r\n",
        app.sip, phone.local
    );
    phone.send(&notify).await;
    let bye = at_proxy(&proxy, "BYE").await;
    routed(&bye, "BYE");
    answer_from_proxy(&proxy, app.sip, &bye, 200).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let t = loop {
        let t = ticket(&app, &number).await;
        if actions(&t).contains(&"call_ended".to_owned()) || tokio::time::Instant::now() > deadline {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ended = t["history"].as_array().unwrap().iter().find(|h| h["action"] == "call_ended").unwrap();
    assert_eq!(ended["detail"]["ending"], "transferred");
    app.stop().await;
}
