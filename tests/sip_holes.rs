//! The holes the rebuilt SIP stack closes, each shown on the wire: in-dialog requests matched on
//! Call-ID and both tags; RTP taken only from the caller's own media address; retransmitted and
//! merged INVITEs; CANCEL before the ticket is written; INVITE floods, busy lines and scanners;
//! TCP connection limits and slow senders; a silent voicemail caller; reflection amplification;
//! control characters and invalid UTF-8 in headers.
//!
//! Each test starts its own service with its own RTP port range (44000-49999, 100 or 500 ports
//! each, apart from tests/sip.rs's 40000-43999 and the torture test's 50000-54999).

mod common;

use common::TestApp;
use common::sip::{Link, Msg, Phone, spawn_line, tag_of};
use madoguchi::media::rtp::dtmf_packet;
use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

// ---------------------------------------------------------------------------------------------
// The API side.

async fn ticket(app: &TestApp, number: &str) -> Value {
    let (status, t) = app.get_json(&format!("/api/tickets/{number}")).await;
    assert_eq!(status, 200, "{t}");
    t
}

fn actions(t: &Value) -> Vec<String> {
    t["history"].as_array().unwrap().iter().map(|h| h["action"].as_str().unwrap_or_default().to_owned()).collect()
}

async fn phone_tickets(app: &TestApp) -> Vec<Value> {
    let (status, page) = app.get_json("/api/tickets?channel=phone&limit=500").await;
    assert_eq!(status, 200, "{page}");
    page["tickets"].as_array().cloned().unwrap_or_default()
}

/// Polls the phone tickets every 50 ms until at least `n` exist; panics after `within`.
async fn wait_for_tickets(app: &TestApp, n: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let tickets = phone_tickets(app).await;
        if tickets.len() >= n {
            return tickets;
        }
        assert!(Instant::now() < deadline, "waited {within:?} for {n} phone tickets; there are {}", tickets.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Watches the phone tickets for `window` (every 50 ms) and fails as soon as there are more
/// than `max`; returns how many there are at the end.
async fn tickets_stay_at_most(app: &TestApp, max: usize, window: Duration, why: &str) -> usize {
    let until = Instant::now() + window;
    loop {
        let n = phone_tickets(app).await.len();
        assert!(n <= max, "{why}: {n} phone tickets, at most {max} expected");
        if Instant::now() >= until {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The ticket's `call_ended` history entry, polled for until `within`.
async fn call_ended(app: &TestApp, number: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let t = ticket(app, number).await;
        if let Some(e) = t["history"].as_array().unwrap().iter().find(|h| h["action"] == "call_ended") {
            return e.clone();
        }
        assert!(Instant::now() < deadline, "ticket {number} has no call_ended after {within:?}: {:?}", actions(&t));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// SIP messages.

fn branch_of(m: &Msg) -> Option<String> {
    let via = m.header("Via")?;
    let rest = via.split(";branch=").nth(1)?;
    Some(rest.split([';', ',', ' ']).next().unwrap_or(rest).to_owned())
}

fn cseq_method(m: &Msg) -> String {
    m.header("CSeq").and_then(|c| c.split_whitespace().nth(1).map(str::to_owned)).unwrap_or_default()
}

fn to_tag(m: &Msg) -> Option<String> {
    let to = m.header("To")?;
    Some(to.split(";tag=").nth(1)?.split(';').next()?.to_owned())
}

/// The first final response whose top Via carries `branch` (1xx and anything else skipped).
async fn final_response(phone: &mut Phone, branch: &str) -> Msg {
    phone
        .expect(&format!("a final response to {branch}"), |m| {
            m.code() >= 200 && branch_of(m).as_deref() == Some(branch)
        })
        .await
}

/// The next request `method` from the service, other messages skipped; panics after `within`.
async fn wait_for_request(phone: &mut Phone, method: &str, within: Duration) -> Msg {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match phone.recv(left).await {
            Some(m) if m.method() == method => return m,
            Some(_) => {}
            None => panic!("no {method} from the service within {within:?}"),
        }
    }
}

/// ACK for a non-2xx final response: same branch as the INVITE, its To tag (RFC 3261 §17.1.1.3).
async fn ack_non_2xx(phone: &mut Phone, invite_branch: &str, response: &Msg) {
    let ack = phone.request("ACK", invite_branch, to_tag(response).as_deref(), "", "");
    phone.send(&ack).await;
}

fn sdp(rtp: SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n",
        ip = rtp.ip(),
        port = rtp.port()
    )
}

/// A new INVITE from `local` over UDP to `user`, with `body` as its offer.
fn invite_text(local: SocketAddr, user: &str, call_id: &str, branch: &str, extra: &str, body: &str) -> String {
    format!(
        "INVITE sip:{user}@madoguchi SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\nMax-Forwards: 70\r\n\
From: <sip:0312345678@pbx.test>;tag=raw-{call_id}\r\nTo: <sip:{user}@madoguchi>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\n{extra}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn options_text(local: SocketAddr, transport: &str, call_id: &str, branch: &str) -> String {
    format!(
        "OPTIONS sip:0120000111@madoguchi SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch={branch}\r\n\
Max-Forwards: 70\r\nFrom: <sip:0312345678@pbx.test>;tag=opt-{call_id}\r\nTo: <sip:0120000111@madoguchi>\r\n\
Call-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

fn msg_of(bytes: &[u8]) -> Msg {
    let text = String::from_utf8_lossy(bytes).into_owned();
    Msg { first: text.lines().next().unwrap_or("").to_owned(), text }
}

/// A UDP user agent that sends hand-built INVITEs (many Call-IDs from one socket) and ACKs
/// every final response to them, as a UAC does.
struct RawUa {
    sock: UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    /// Call-ID → Request-URI of its INVITE (the non-2xx ACK repeats it).
    uris: HashMap<String, String>,
}

impl RawUa {
    async fn new(server: SocketAddr) -> RawUa {
        RawUa::on("127.0.0.1", server).await
    }

    async fn on(host: &str, server: SocketAddr) -> RawUa {
        let sock = UdpSocket::bind(format!("{host}:0")).await.expect("bind a loopback address");
        let local = sock.local_addr().unwrap();
        RawUa { sock, local, server, uris: HashMap::new() }
    }

    async fn invite(&mut self, user: &str, call_id: &str, branch: &str, extra: &str, offer: &str) {
        self.uris.insert(call_id.to_owned(), format!("sip:{user}@madoguchi"));
        let text = invite_text(self.local, user, call_id, branch, extra, offer);
        self.sock.send_to(text.as_bytes(), self.server).await.unwrap();
    }

    async fn recv(&self, wait: Duration) -> Option<Msg> {
        let mut buf = vec![0u8; 65536];
        let (n, _) = tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await.ok()?.ok()?;
        Some(msg_of(&buf[..n]))
    }

    /// ACK of a final response to one of our INVITEs: for a 2xx a new transaction to the
    /// Contact, otherwise the INVITE's branch and Request-URI.
    async fn ack(&self, m: &Msg) {
        let call_id = m.header("Call-ID").unwrap_or_default();
        let branch = branch_of(m).unwrap_or_default();
        let number = m.header("CSeq").and_then(|c| c.split_whitespace().next().map(str::to_owned)).unwrap_or_default();
        let original = self.uris.get(&call_id).cloned().unwrap_or_else(|| "sip:0120000111@madoguchi".into());
        let (uri, branch) = if m.code() < 300 {
            let contact = m.header("Contact").and_then(|c| {
                let (a, b) = (c.find('<')?, c.find('>')?);
                (a < b).then(|| c[a + 1..b].to_owned())
            });
            (contact.unwrap_or(original), format!("{branch}-ack"))
        } else {
            (original, branch)
        };
        let ack = format!(
            "ACK {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={branch}\r\nMax-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\n\
Call-ID: {call_id}\r\nCSeq: {number} ACK\r\nContent-Length: 0\r\n\r\n",
            self.local,
            m.header("From").unwrap_or_default(),
            m.header("To").unwrap_or_default(),
        );
        self.sock.send_to(ack.as_bytes(), self.server).await.unwrap();
    }

    /// Every response until `until`; final responses to INVITEs are ACKed.
    async fn collect(&self, until: Instant) -> Vec<Msg> {
        let mut got = Vec::new();
        while let Some(m) = self.recv(until.saturating_duration_since(Instant::now())).await {
            if m.code() == 0 {
                continue;
            }
            if m.code() >= 200 && cseq_method(&m) == "INVITE" {
                self.ack(&m).await;
            }
            got.push(m);
        }
        got
    }
}

// ---------------------------------------------------------------------------------------------
// RTP.

/// Waits for the service's first RTP packet; returns where it came from.
async fn first_rtp(rtp: &UdpSocket) -> SocketAddr {
    let mut buf = [0u8; 2048];
    let (_, from) =
        tokio::time::timeout(Duration::from_secs(10), rtp.recv_from(&mut buf)).await.expect("RTP arrives").unwrap();
    from
}

/// Throws away what has queued up on `rtp`.
fn drain(rtp: &UdpSocket) {
    let mut buf = [0u8; 2048];
    while rtp.try_recv_from(&mut buf).is_ok() {}
}

/// How many packets arrive, up to `want`, before `within` has passed.
async fn count_rtp(rtp: &UdpSocket, want: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while n < want {
        match tokio::time::timeout_at(deadline, rtp.recv_from(&mut buf)).await {
            Ok(Ok(_)) => n += 1,
            _ => break,
        }
    }
    n
}

/// An RFC 4733 key press (three end packets, as phones send) from `sock`.
async fn press_from(sock: &UdpSocket, to: SocketAddr, digit: u8, ssrc: u32, seq: u16, ts: u32) {
    for (i, end) in [false, false, true, true, true].iter().enumerate() {
        let p = dtmf_packet(101, ssrc, seq + i as u16, ts, digit, *end, 160 * (i as u16 + 1));
        sock.send_to(&p, to).await.unwrap();
    }
}

fn pcmu_packet(ssrc: u32, seq: u16, ts: u32) -> Vec<u8> {
    RtpPacketBuilder::new()
        .payload_type(0)
        .ssrc(ssrc)
        .sequence(Seq::from(seq))
        .timestamp(ts)
        .payload(&[0xd5u8; 160])
        .build()
        .expect("valid packet")
}

/// A phone's call, answered and ACKed: the phone, the ticket number, the dialog's To tag.
async fn answered_call(app: &TestApp, call_id: &str) -> (Phone, String, String) {
    let mut phone = Phone::udp(app.sip, call_id).await;
    let (ok, codes) = phone.call("").await;
    assert_eq!(ok.code(), 200, "{codes:?}\n{}", ok.text);
    let number = ok.header("X-Madoguchi-Ticket").expect("the ticket number rides on the 200 OK");
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    (phone, number, tag)
}

// ---------------------------------------------------------------------------------------------
// 1. Dialog matching.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dialog_requests_must_match_the_call_id_and_both_tags() {
    let app = spawn_line(true, "44000-44099", |_| {}).await;
    let (mut phone, number, tag) = answered_call(&app, "dlg-tags").await;
    let _ = first_rtp(&phone.rtp).await;

    // The right Call-ID, but not our To tag: another dialog, which does not exist.
    let bye = phone.request("BYE", "z9hG4bKbye-wrong-to", Some("not-our-tag"), "", "");
    phone.send(&bye).await;
    let m = final_response(&mut phone, "z9hG4bKbye-wrong-to").await;
    assert_eq!(m.code(), 481, "BYE with the right Call-ID and a wrong To tag:\n{}", m.text);
    drain(&phone.rtp);
    let heard = count_rtp(&phone.rtp, 10, Duration::from_secs(5)).await;
    assert_eq!(heard, 10, "the announcement stopped after a BYE with a wrong To tag");

    // Our To tag, but not the caller's From tag.
    let bye =
        phone.request("BYE", "z9hG4bKbye-wrong-from", Some(&tag), "", "").replace(";tag=caller1", ";tag=intruder");
    phone.send(&bye).await;
    let m = final_response(&mut phone, "z9hG4bKbye-wrong-from").await;
    assert_eq!(m.code(), 481, "BYE with the right To tag and a wrong From tag:\n{}", m.text);

    // Keys by INFO from outside the dialog: 481, and the call is not routed by them.
    for (branch, to, from) in
        [("z9hG4bKinfo-wrong-to", "not-our-tag", "caller1"), ("z9hG4bKinfo-wrong-from", tag.as_str(), "intruder")]
    {
        let info = phone
            .request(
                "INFO",
                branch,
                Some(to),
                "Content-Type: application/dtmf-relay\r\n",
                "Signal=2\r\nDuration=160\r\n",
            )
            .replace(";tag=caller1", &format!(";tag={from}"));
        phone.send(&info).await;
        let m = final_response(&mut phone, branch).await;
        assert_eq!(m.code(), 481, "INFO key with a wrong tag ({branch}):\n{}", m.text);
    }

    // No key from the caller: the menu times out and the call goes to the helpdesk (tier1).
    let refer = wait_for_request(&mut phone, "REFER", Duration::from_secs(30)).await;
    let refer_to = refer.header("Refer-To").unwrap_or_default();
    assert!(
        refer_to.contains("sip:helpdesk@pbx.test") && !refer_to.contains("operations"),
        "a key sent outside the dialog routed the call: Refer-To {refer_to}"
    );
    let t = ticket(&app, &number).await;
    assert!(!actions(&t).contains(&"menu_choice".to_owned()), "a stranger's key was recorded: {:?}", actions(&t));
    phone.answer(&refer, 202).await;

    let bye = phone.request("BYE", "z9hG4bKbye-right", Some(&tag), "", "");
    phone.send(&bye).await;
    let m = final_response(&mut phone, "z9hG4bKbye-right").await;
    assert_eq!(m.code(), 200, "the caller's own BYE:\n{}", m.text);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. RTP only from the caller's media address.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_keys_from_a_stranger_address_are_ignored() {
    let app = spawn_line(true, "44100-44199", |_| {}).await;
    let (mut phone, number, _) = answered_call(&app, "rtp-stranger-key").await;
    let service_rtp = first_rtp(&phone.rtp).await;
    let stranger = UdpSocket::bind("127.0.0.2:0").await.expect("bind 127.0.0.2 (loopback)");
    press_from(&stranger, service_rtp, b'2', 0x5eed_0002, 500, 4000).await;
    // The caller's own address but another port, before the caller has sent anything: the
    // caller is not behind NAT (its SDP names the address it signals from), so no latching.
    let same_host = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    press_from(&same_host, service_rtp, b'2', 0x5eed_0003, 600, 9000).await;

    let refer = wait_for_request(&mut phone, "REFER", Duration::from_secs(30)).await;
    let refer_to = refer.header("Refer-To").unwrap_or_default();
    assert!(
        refer_to.contains("sip:helpdesk@pbx.test"),
        "a key from {} (not the caller's SDP address) routed the call: Refer-To {refer_to}",
        stranger.local_addr().unwrap()
    );
    let t = ticket(&app, &number).await;
    assert!(!actions(&t).contains(&"menu_choice".to_owned()), "a stranger's key was recorded: {:?}", actions(&t));
    phone.answer(&refer, 202).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_audio_does_not_keep_a_silent_call_alive() {
    let app = spawn_line(true, "44200-44299", |s| s.sip.media_timeout_secs = 2).await;
    let (mut phone, number, _) = answered_call(&app, "rtp-stranger-audio").await;
    let acked = Instant::now();
    let service_rtp = first_rtp(&phone.rtp).await;
    let stranger = UdpSocket::bind("127.0.0.2:0").await.expect("bind 127.0.0.2 (loopback)");
    // The stranger talks every 20 ms; the caller says nothing at all.
    let feeder = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in 0u16.. {
            tick.tick().await;
            let _ = stranger.send_to(&pcmu_packet(0x5eed_a0d1, i, u32::from(i) * 160), service_rtp).await;
        }
    });

    // Without a key the menu would transfer the call (REFER) after about 7 s: the BYE must come first.
    let deadline = acked + Duration::from_secs(15);
    let bye = loop {
        let Some(m) = phone.recv(deadline.saturating_duration_since(Instant::now())).await else {
            feeder.abort();
            panic!("no BYE within 15 s of the ACK (media_timeout_secs = 2)");
        };
        if m.method() == "REFER" {
            feeder.abort();
            panic!("the stranger's audio kept the silent call alive until its transfer:\n{}", m.text);
        }
        if m.method() == "BYE" {
            break m;
        }
    };
    feeder.abort();
    phone.answer(&bye, 200).await;
    let ended = call_ended(&app, &number, Duration::from_secs(10)).await;
    assert_eq!(ended["detail"]["ending"], "media timeout", "{ended}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_keys_from_the_callers_sdp_address_are_taken() {
    let app = spawn_line(true, "44300-44399", |_| {}).await;
    let (mut phone, number, _) = answered_call(&app, "rtp-own-key").await;
    let service_rtp = first_rtp(&phone.rtp).await;
    phone.press(service_rtp, b'2', 100, 8000).await;
    let refer = wait_for_request(&mut phone, "REFER", Duration::from_secs(30)).await;
    let refer_to = refer.header("Refer-To").unwrap_or_default();
    assert!(refer_to.contains("sip:operations@pbx.test"), "the caller's key 2 was not taken: Refer-To {refer_to}");
    let t = ticket(&app, &number).await;
    assert!(actions(&t).contains(&"menu_choice".to_owned()), "{:?}", actions(&t));
    phone.answer(&refer, 202).await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Retransmitted and merged INVITEs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_retransmitted_after_the_ack_is_absorbed_and_a_merged_copy_gets_482() {
    let app = spawn_line(true, "44400-44499", |_| {}).await;
    let mut phone = Phone::udp(app.sip, "retransmitted").await;
    let body = phone.offer();
    let invite = phone.request("INVITE", "z9hG4bKretr1", None, "Content-Type: application/sdp\r\n", &body);
    phone.send(&invite).await;
    let ok = final_response(&mut phone, "z9hG4bKretr1").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let number = ok.header("X-Madoguchi-Ticket").expect("the ticket number rides on the 200 OK");
    phone.ack(&tag_of(&ok)).await;
    let _ = first_rtp(&phone.rtp).await;

    // Listen to every RTP stream that reaches the phone for 1.5 s from the first packet on.
    let rtp = std::mem::replace(&mut phone.rtp, UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let until = Instant::now() + Duration::from_millis(1500);
    let listener = tokio::spawn(async move {
        let mut ssrcs = HashSet::new();
        let mut packets = 0;
        let mut buf = [0u8; 2048];
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, rtp.recv_from(&mut buf)).await {
            if let Ok(p) = RtpReader::new(&buf[..n]) {
                ssrcs.insert(p.ssrc());
                packets += 1;
            }
        }
        (ssrcs, packets)
    });

    // The INVITE again, byte for byte (its 200 was slow, say). A 200 that comes back is ACKed,
    // as a UAC does with every 2xx it receives.
    phone.send(&invite).await;
    while let Some(m) = phone.recv(until.saturating_duration_since(Instant::now())).await {
        if m.code() == 200 && cseq_method(&m) == "INVITE" {
            phone.ack(&tag_of(&m)).await;
        }
    }
    let (ssrcs, packets) = listener.await.unwrap();
    assert!(packets > 0, "no RTP reached the phone");
    assert_eq!(ssrcs.len(), 1, "RTP streams reaching the phone after the INVITE came twice: {ssrcs:x?}");

    // A copy of the INVITE by another path (same Call-ID, From tag and CSeq, new branch).
    let merged = invite.replace("z9hG4bKretr1", "z9hG4bKretr1-merged");
    phone.send(&merged).await;
    let m = final_response(&mut phone, "z9hG4bKretr1-merged").await;
    ack_non_2xx(&mut phone, "z9hG4bKretr1-merged", &m).await;
    assert_eq!(m.code(), 482, "a merged copy of the INVITE:\n{}", m.text);

    let n = tickets_stay_at_most(&app, 1, Duration::from_secs(1), "one call, sent three times").await;
    assert_eq!(n, 1);
    let t = ticket(&app, &number).await;
    assert_eq!(t["contact_count"], 1, "the copies of the INVITE added contacts");
    let answered = actions(&t).iter().filter(|a| *a == "call_answered").count();
    assert_eq!(answered, 1, "the call was answered more than once: {:?}", actions(&t));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. CANCEL before the ticket is written.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cancelled_before_its_ticket_was_written_still_ends_on_the_ticket() {
    let app = spawn_line(true, "44500-44599", |_| {}).await;
    let mut phone = Phone::udp(app.sip, "cancel-early").await;
    let body = phone.offer();
    let invite = phone.request("INVITE", "z9hG4bKcxl1", None, "Content-Type: application/sdp\r\n", &body);
    let cancel = phone.request("CANCEL", "z9hG4bKcxl1", None, "", "");
    phone.send(&invite).await;
    phone.send(&cancel).await;
    let mut got = Vec::new();
    let mut terminated = None;
    while !(terminated.is_some() && got.contains(&(200, "CANCEL".to_owned()))) {
        let m = phone.expect("487 to the INVITE and 200 to the CANCEL", |m| m.code() >= 200).await;
        got.push((m.code(), cseq_method(&m)));
        assert!(!got.contains(&(200, "INVITE".to_owned())), "the cancelled call was answered: {got:?}");
        if m.code() == 487 && cseq_method(&m) == "INVITE" {
            terminated = Some(m);
        }
    }
    ack_non_2xx(&mut phone, "z9hG4bKcxl1", &terminated.unwrap()).await;

    let number = wait_for_tickets(&app, 1, Duration::from_secs(10)).await[0]["number"].as_str().unwrap().to_owned();
    let ended = call_ended(&app, &number, Duration::from_secs(10)).await;
    assert_eq!(ended["detail"]["ending"], "caller cancelled before answer", "{ended}");
    let t = ticket(&app, &number).await;
    assert_eq!(t["contacts"][0]["source_ref"], "cancel-early");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Floods, a full line, scanners.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_over_the_rate_per_source_get_503_and_no_ticket() {
    let app = spawn_line(true, "45000-45499", |s| s.sip.invite_rate_per_source = 5).await;
    let mut ua = RawUa::new(app.sip).await;
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let offer = sdp(media.local_addr().unwrap());
    for i in 0..30 {
        ua.invite("0120000111", &format!("rate-{i}"), &format!("z9hG4bKrate{i}"), "", &offer).await;
    }
    let responses = ua.collect(Instant::now() + Duration::from_secs(3)).await;
    let mut finals: HashMap<String, u16> = HashMap::new();
    for m in responses.iter().filter(|m| m.code() >= 200 && cseq_method(m) == "INVITE") {
        finals.entry(m.header("Call-ID").unwrap_or_default()).or_insert(m.code());
        if m.code() == 503 {
            assert!(m.header("Retry-After").is_some(), "503 without Retry-After:\n{}", m.text);
        }
    }
    let refused = finals.values().filter(|&&c| c == 503).count();
    let mut codes: Vec<u16> = finals.values().copied().collect();
    codes.sort();
    assert!(refused > 0, "30 INVITEs at once, invite_rate_per_source = 5, none got 503: {codes:?}");
    let tickets = phone_tickets(&app).await.len();
    assert!(tickets <= 10, "{tickets} phone tickets from 30 INVITEs at 5 per second; final codes {codes:?}");
    assert!(tickets + refused <= 30, "the {refused} INVITEs refused with 503 opened tickets too ({tickets} tickets)");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_beyond_max_calls_is_refused_without_a_ticket() {
    let app = spawn_line(true, "45500-45599", |s| s.sip.max_calls = 2).await;
    let (_first, _, _) = answered_call(&app, "max-calls-1").await;
    let (_second, _, _) = answered_call(&app, "max-calls-2").await;
    let mut third = Phone::udp(app.sip, "max-calls-3").await;
    let body = third.offer();
    let invite = third.request("INVITE", "z9hG4bKmax3", None, "Content-Type: application/sdp\r\n", &body);
    third.send(&invite).await;
    let m = final_response(&mut third, "z9hG4bKmax3").await;
    if m.code() >= 300 {
        ack_non_2xx(&mut third, "z9hG4bKmax3", &m).await;
    }
    assert!(matches!(m.code(), 503 | 486), "a third call with max_calls = 2:\n{}", m.text);
    let n = tickets_stay_at_most(&app, 2, Duration::from_secs(1), "the refused third call opened a ticket").await;
    assert_eq!(n, 2, "the two answered calls have their tickets");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_scanner_gets_no_answer_and_no_ticket() {
    let app = spawn_line(true, "45600-45699", |_| {}).await;
    let mut scanner = Phone::udp(app.sip, "scanner-ua").await;
    let body = scanner.offer();
    let invite = scanner.request(
        "INVITE",
        "z9hG4bKscan1",
        None,
        "User-Agent: friendly-scanner\r\nContent-Type: application/sdp\r\n",
        &body,
    );
    scanner.send(&invite).await;
    if let Some(m) = scanner.recv(Duration::from_millis(1500)).await {
        panic!("a friendly-scanner INVITE was answered:\n{}", m.text);
    }
    let n = phone_tickets(&app).await.len();
    assert_eq!(n, 0, "a friendly-scanner INVITE opened a ticket");
    // sipvicious maps networks with OPTIONS (svmap) and enumerates with REGISTER (svwar).
    for (method, ua) in [("OPTIONS", "sipvicious"), ("REGISTER", "friendly-scanner")] {
        let probe =
            scanner.request(method, &format!("z9hG4bKscan{method}"), None, &format!("User-Agent: {ua}\r\n"), "");
        scanner.send(&probe).await;
        if let Some(m) = scanner.recv(Duration::from_millis(700)).await {
            panic!("a {ua} {method} was answered:\n{}", m.text);
        }
    }

    let mut phone = Phone::udp(app.sip, "after-scanner").await;
    let options = phone.request("OPTIONS", "z9hG4bKafterscan", None, "", "");
    let m = phone.transact(&options).await;
    assert_eq!(m.code(), 200, "an ordinary OPTIONS after the scanner:\n{}", m.text);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_dialing_many_numbers_is_dropped_as_a_scanner() {
    let app = spawn_line(true, "45700-45999", |s| s.sip.scanner_numbers_per_minute = 5).await;
    let mut ua = RawUa::new(app.sip).await;
    let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let offer = sdp(media.local_addr().unwrap());
    for i in 0..12 {
        ua.invite(&format!("{}", 100 + i), &format!("walk-{i}"), &format!("z9hG4bKwalk{i}"), "", &offer).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let responses = ua.collect(Instant::now() + Duration::from_secs(2)).await;
    let answered: HashSet<String> = responses.iter().filter_map(|m| m.header("Call-ID")).collect();
    let mut list: Vec<&String> = answered.iter().collect();
    list.sort();
    for i in 0..5 {
        assert!(
            answered.contains(&format!("walk-{i}")),
            "number {} (within the limit) got no answer: {list:?}",
            100 + i
        );
    }
    for i in 6..12 {
        assert!(
            !answered.contains(&format!("walk-{i}")),
            "the {}th number dialed in a minute (scanner_numbers_per_minute = 5) was answered: {list:?}",
            i + 1
        );
    }
    let tickets = phone_tickets(&app).await.len();
    assert!(tickets <= 6, "{tickets} phone tickets from a source that dialed 12 numbers");

    // A scanner that acknowledges each answer before it tries the next number is one too.
    let mut polite = RawUa::on("127.0.0.3", app.sip).await;
    let mut answered = Vec::new();
    for i in 0..12 {
        polite.invite(&format!("{}", 200 + i), &format!("polite-{i}"), &format!("z9hG4bKpolite{i}"), "", &offer).await;
        let got = polite.collect(Instant::now() + Duration::from_millis(300)).await;
        answered.push(got.iter().any(|m| m.code() == 200));
    }
    assert!(answered[..5].iter().all(|&a| a), "{answered:?}");
    assert!(
        answered[6..].iter().all(|&a| !a),
        "numbers past the limit answered to an acknowledging scanner: {answered:?}"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. TCP limits.

/// Whether the peer closes `s` (read gives 0 or an error) within `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_beyond_the_per_source_limit_are_closed() {
    let app = spawn_line(true, "46000-46099", |s| {
        s.sip.tcp_max_per_source = 10;
        s.sip.tcp_max_connections = 50;
    })
    .await;
    let (closed_tx, mut closed_rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut holders = Vec::new();
    for i in 0..30 {
        let tx = closed_tx.clone();
        match TcpStream::connect(app.sip).await {
            Ok(mut s) => holders.push(tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                let _ = tx.send(i);
            })),
            Err(_) => {
                let _ = tx.send(i);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut closed = HashSet::new();
    while closed.len() < 20 {
        match tokio::time::timeout_at(deadline, closed_rx.recv()).await {
            Ok(Some(i)) => {
                closed.insert(i);
            }
            _ => break,
        }
    }
    let open = 30 - closed.len();
    let (status, _) = app.get_json("/healthz").await;
    for h in &holders {
        h.abort();
    }
    assert!(open <= 10, "{open} of 30 TCP connections from one address still open 5 s later (tcp_max_per_source = 10)");
    assert_eq!(status, 200, "GET /healthz while the SIP port is flooded");

    // Once they are gone, a phone over TCP gets through again.
    let deadline = Instant::now() + Duration::from_secs(5);
    for n in 0.. {
        let mut probe = TcpStream::connect(app.sip).await.unwrap();
        let local = probe.local_addr().unwrap();
        let options = options_text(local, "TCP", &format!("tcp-probe-{n}"), &format!("z9hG4bKtcpprobe{n}"));
        let _ = probe.write_all(options.as_bytes()).await;
        let mut buf = vec![0u8; 4096];
        let answered = matches!(
            tokio::time::timeout(Duration::from_millis(500), probe.read(&mut buf)).await,
            Ok(Ok(k)) if k > 0 && buf.starts_with(b"SIP/2.0 200")
        );
        if answered {
            break;
        }
        assert!(Instant::now() < deadline, "TCP connections were still refused 5 s after the flood was dropped");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut phone = Phone::tcp(app.sip, "tcp-after-flood").await;
    let (ok, codes) = phone.call("").await;
    assert_eq!(ok.code(), 200, "a call over TCP after the flood: {codes:?}\n{}", ok.text);
    phone.ack(&tag_of(&ok)).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tcp_connection_is_closed() {
    let app = spawn_line(true, "46100-46199", |s| s.sip.tcp_idle_secs = 1).await;
    let mut silent = TcpStream::connect(app.sip).await.unwrap();
    // Another that has spoken once and then falls silent.
    let mut spoke = Phone::tcp(app.sip, "idle-after-options").await;
    let options = spoke.request("OPTIONS", "z9hG4bKidleopt", None, "", "");
    spoke.send(&options).await;
    let m = spoke.expect("200 to OPTIONS", |m| m.code() > 0).await;
    assert_eq!(m.code(), 200, "{}", m.text);

    assert!(
        closed_within(&mut silent, Duration::from_secs(5)).await,
        "a TCP connection that never sent anything is still open after 5 s (tcp_idle_secs = 1)"
    );
    let Link::Tcp(stream, _) = &mut spoke.link else { unreachable!("a TCP phone") };
    assert!(
        closed_within(stream, Duration::from_secs(5)).await,
        "a TCP connection idle since its OPTIONS is still open after 5 s (tcp_idle_secs = 1)"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_message_that_never_completes_closes_its_connection() {
    let app = spawn_line(true, "46200-46299", |s| s.sip.tcp_message_secs = 1).await;

    // Headers announcing a body of 500 bytes that never comes.
    let mut stalled = TcpStream::connect(app.sip).await.unwrap();
    let local = stalled.local_addr().unwrap();
    let head = format!(
        "INVITE sip:0120000111@madoguchi SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKstall1\r\n\
Max-Forwards: 70\r\nFrom: <sip:0312345678@pbx.test>;tag=stall\r\nTo: <sip:0120000111@madoguchi>\r\n\
Call-ID: stalled-body\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{local};transport=tcp>\r\n\
Content-Type: application/sdp\r\nContent-Length: 500\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(5)).await,
        "a TCP connection waiting for 500 announced body bytes is still open after 5 s (tcp_message_secs = 1)"
    );

    // Headers that keep coming, a line every 200 ms, and never end: the connection is never
    // idle, but its message is never complete.
    let mut trickle = TcpStream::connect(app.sip).await.unwrap();
    let local = trickle.local_addr().unwrap();
    let start =
        format!("OPTIONS sip:0120000111@madoguchi SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtrickle1\r\n");
    trickle.write_all(start.as_bytes()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    let mut n = 0;
    let closed = loop {
        if Instant::now() >= deadline {
            break false;
        }
        tokio::select! {
            r = trickle.read(&mut buf) => {
                if matches!(r, Ok(0) | Err(_)) {
                    break true;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                n += 1;
                if trickle.write_all(format!("X-Slow-{n}: still typing\r\n").as_bytes()).await.is_err() {
                    break true;
                }
            }
        }
    };
    assert!(closed, "a TCP connection trickling endless headers is still open after 5 s (tcp_message_secs = 1)");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. A silent caller in voicemail.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_caller_in_voicemail_is_hung_up_on_media_timeout() {
    let app = spawn_line(false, "47000-47099", |s| s.sip.media_timeout_secs = 2).await;
    let (mut phone, number, _) = answered_call(&app, "vm-silent").await;
    let acked = Instant::now();
    // The announcements, voicemail prompt and beep take 0.9 s; recording would run 10 s more,
    // then the goodbye: that BYE would come 11 s after the ACK.
    let deadline = acked + Duration::from_secs(8);
    let bye = loop {
        let Some(m) = phone.recv(deadline.saturating_duration_since(Instant::now())).await else {
            panic!("no BYE within 8 s of the ACK: a caller who sends no RTP is still being recorded");
        };
        if m.method() == "BYE" {
            break m;
        }
    };
    phone.answer(&bye, 200).await;
    let ended = call_ended(&app, &number, Duration::from_secs(10)).await;
    assert_eq!(ended["detail"]["ending"], "media timeout", "{ended}");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Amplification: what comes back to an unverified UDP source.

/// Bytes received on `sock` until `until`, and the status codes among them.
async fn count_bytes(sock: Arc<UdpSocket>, until: Instant) -> (usize, Vec<u16>) {
    let mut total = 0;
    let mut codes = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, sock.recv_from(&mut buf)).await {
        total += n;
        let m = msg_of(&buf[..n]);
        if m.code() > 0 {
            codes.push(m.code());
        }
    }
    (total, codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unacknowledged_invite_gets_back_at_most_three_times_its_size() {
    let app = spawn_line(true, "48000-48099", |_| {}).await;
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let local = sock.local_addr().unwrap();
    // The "victim" is the forged source; its address is the offer's media address too.
    let invite = invite_text(local, "0120000111", "amp-one", "z9hG4bKampone", "", &sdp(local));
    let counter = tokio::spawn(count_bytes(sock.clone(), Instant::now() + Duration::from_secs(10)));
    let sent = sock.send_to(invite.as_bytes(), app.sip).await.unwrap();
    let (received, codes) = counter.await.unwrap();
    assert!(codes.contains(&200), "the call was never answered (no 200 OK): {codes:?}, {received} bytes for {sent}");
    assert!(
        received <= 3 * sent,
        "one INVITE of {sent} bytes, never ACKed, brought {received} bytes back in 10 s ({:.1}×): {codes:?}",
        received as f64 / sent as f64
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_flood_gets_back_at_most_three_times_its_size() {
    let app = spawn_line(true, "48500-48999", |s| s.sip.invite_rate_per_source = 10).await;
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let local = sock.local_addr().unwrap();
    let counter = tokio::spawn(count_bytes(sock.clone(), Instant::now() + Duration::from_secs(5)));
    let mut sent = 0;
    for i in 0..100 {
        let invite =
            invite_text(local, "0120000111", &format!("amp-flood-{i}"), &format!("z9hG4bKampfl{i}"), "", &sdp(local));
        sent += sock.send_to(invite.as_bytes(), app.sip).await.unwrap();
    }
    let (received, codes) = counter.await.unwrap();
    assert!(!codes.is_empty(), "nothing came back at all");
    let mut tally: HashMap<u16, usize> = HashMap::new();
    for c in &codes {
        *tally.entry(*c).or_default() += 1;
    }
    assert!(
        received <= 3 * sent,
        "100 INVITEs ({sent} bytes, never ACKed) brought {received} bytes back in 5 s ({:.1}×); responses by code: {tally:?}",
        received as f64 / sent as f64
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Malformed input.

/// Sends `bytes` (resent every 500 ms, four times at most) and returns the first response
/// whose Via carries `branch`, or None.
async fn exchange(sock: &UdpSocket, server: SocketAddr, bytes: &[u8], branch: &str) -> Option<Msg> {
    for _ in 0..4 {
        sock.send_to(bytes, server).await.unwrap();
        let until = Instant::now() + Duration::from_millis(500);
        let mut buf = vec![0u8; 65536];
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, sock.recv_from(&mut buf)).await {
            let m = msg_of(&buf[..n]);
            if m.code() >= 200 && branch_of(&m).as_deref() == Some(branch) {
                return Some(m);
            }
        }
    }
    None
}

/// An OPTIONS with `from` and `call_id` as raw bytes, and `extra` header lines.
fn raw_options(local: SocketAddr, branch: &str, from: &[u8], call_id: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(
        format!("OPTIONS sip:0120000111@madoguchi SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch}\r\nMax-Forwards: 70\r\n")
            .as_bytes(),
    );
    out.extend_from_slice(b"From: ");
    out.extend_from_slice(from);
    out.extend_from_slice(b"\r\nTo: <sip:0120000111@madoguchi>\r\nCall-ID: ");
    out.extend_from_slice(call_id);
    out.extend_from_slice(b"\r\nCSeq: 1 OPTIONS\r\n");
    out.extend_from_slice(extra);
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_and_invalid_utf8_in_headers_are_answered() {
    let app = spawn_line(true, "49000-49099", |_| {}).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap();
    let from: &[u8] = b"<sip:0312345678@pbx.test>;tag=mal";

    let nul = raw_options(local, "z9hG4bKmalnul", from, b"mal-nul@test", b"Subject: hello\0world\r\n");
    let m = exchange(&sock, app.sip, &nul, "z9hG4bKmalnul").await.expect("an answer to a Subject with a NUL byte");
    assert_eq!(m.code(), 400, "a Subject header with a NUL byte:\n{}", m.text);

    let bad_utf8 = raw_options(local, "z9hG4bKmalutf8", b"\"\xff\xfe\" <sip:a@b>;tag=1", b"mal-utf8@test", b"");
    let m = exchange(&sock, app.sip, &bad_utf8, "z9hG4bKmalutf8").await;
    let m = m.expect("no answer at all to an OPTIONS whose From display name is not UTF-8");
    assert!(matches!(m.code(), 200 | 400), "a From display name that is not UTF-8:\n{}", m.text);

    let esc = raw_options(local, "z9hG4bKmalesc", from, b"mal\x1b[2Jesc@test", b"");
    let m = exchange(&sock, app.sip, &esc, "z9hG4bKmalesc").await.expect("an answer to a Call-ID with ESC");
    assert_eq!(m.code(), 400, "a Call-ID with an ESC byte:\n{}", m.text);

    let cr = raw_options(local, "z9hG4bKmalcr", from, b"mal\rcr@test", b"");
    let m = exchange(&sock, app.sip, &cr, "z9hG4bKmalcr").await.expect("an answer to a Call-ID with a bare CR");
    assert_eq!(m.code(), 400, "a Call-ID with a bare CR:\n{}", m.text);

    let fine = options_text(local, "UDP", "mal-after@test", "z9hG4bKmalafter");
    let m = exchange(&sock, app.sip, fine.as_bytes(), "z9hG4bKmalafter").await.expect("OPTIONS answered");
    assert_eq!(m.code(), 200, "{}", m.text);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 10. Found by probing: forged sources, re-INVITEs, a second INVITE for a live Call-ID.

/// Forged INVITEs never ACK: from one unverified address they may hold 64 lines, never all of
/// them; from many forged addresses a quarter of the lines at most, and a caller who has shown it
/// receives our answers (the PBX, once it has acknowledged a call) still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_sources_that_never_acknowledge_cannot_take_every_line() {
    let app = spawn_line(true, "55000-55499", |s| s.sip.max_calls = 400).await;
    let (mut pbx, _, tag) = answered_call(&app, "verified-first").await;
    let bye = pbx.request("BYE", "z9hG4bKverifiedbye", Some(&tag), "", "");
    assert_eq!(pbx.transact(&bye).await.code(), 200);

    // 127.0.0.2 sends 100 at once, seven more addresses 40 each: 380 forged INVITEs.
    let mut forgers = Vec::new();
    for host in 2..=9 {
        let forger = UdpSocket::bind(format!("127.0.0.{host}:0")).await.expect("bind a loopback address");
        let local = forger.local_addr().unwrap();
        for i in 0..(if host == 2 { 100 } else { 40 }) {
            let call_id = format!("forged-{host}-{i}");
            let text = invite_text(local, "0120000111", &call_id, &format!("z9hG4bKf{host}x{i}"), "", &sdp(local));
            forger.send_to(text.as_bytes(), app.sip).await.unwrap();
        }
        forgers.push(forger);
    }
    let mut answered_per_source = Vec::new();
    let mut buf = vec![0u8; 65536];
    for forger in &forgers {
        let (mut answered, mut seen) = (0, HashSet::new());
        let until = Instant::now() + Duration::from_millis(1500);
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(until, forger.recv_from(&mut buf)).await {
            let m = msg_of(&buf[..n]);
            if m.code() == 200 && seen.insert(m.header("Call-ID").unwrap_or_default()) {
                answered += 1;
            }
        }
        answered_per_source.push(answered);
    }
    assert!(answered_per_source[0] <= 64, "one forged address held {} lines", answered_per_source[0]);
    let total: usize = answered_per_source.iter().sum();
    assert!(total <= 100, "{total} of 400 lines held by forged addresses: {answered_per_source:?}");

    let (_again, number, _) = answered_call(&app, "verified-during-forgery").await;
    assert!(!number.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_is_answered_and_its_ack_stops_the_200() {
    let app = spawn_line(true, "49300-49399", |_| {}).await;
    let (mut phone, _, tag) = answered_call(&app, "reinvite-ack").await;
    let offer = phone.offer();
    let reinvite = phone.request("INVITE", "z9hG4bKreinv", Some(&tag), "Content-Type: application/sdp\r\n", &offer);
    phone.send(&reinvite).await;
    let ok = phone.expect("200 to the re-INVITE", |m| m.code() == 200 && cseq_method(m) == "INVITE").await;
    assert!(ok.body().contains("m=audio"), "{}", ok.text);
    let cseq = ok.header("CSeq").unwrap();
    let number: String = cseq.split_whitespace().next().unwrap().into();
    let ack = format!(
        "ACK sip:madoguchi@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKreinvack\r\nMax-Forwards: 70\r\n\
From: {}\r\nTo: {}\r\nCall-ID: reinvite-ack\r\nCSeq: {number} ACK\r\nContent-Length: 0\r\n\r\n",
        app.sip,
        phone.local,
        ok.header("From").unwrap(),
        ok.header("To").unwrap(),
    );
    phone.send(&ack).await;
    // Timer G would resend the 200 at 0.5 s and 1.5 s; after the ACK nothing comes.
    let until = Instant::now() + Duration::from_secs(2);
    while let Some(m) = phone.recv(until.saturating_duration_since(Instant::now())).await {
        assert!(!(m.code() == 200 && cseq_method(&m) == "INVITE"), "the 200 came again after its ACK:\n{}", m.text);
    }
    let bye = phone.request("BYE", "z9hG4bKreinvbye", Some(&tag), "", "");
    assert_eq!(phone.transact(&bye).await.code(), 200, "the call is still up");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_invite_for_a_live_call_id_opens_no_second_call() {
    let app = spawn_line(true, "49400-49499", |_| {}).await;
    let (mut phone, _, _) = answered_call(&app, "live-call-id").await;
    let offer = phone.offer();
    // Same Call-ID and From tag, a higher CSeq, no To tag.
    let again = phone.request("INVITE", "z9hG4bKsecond", None, "Content-Type: application/sdp\r\n", &offer);
    phone.send(&again).await;
    let m =
        phone.expect("a final response", |m| m.code() >= 200 && branch_of(m).as_deref() == Some("z9hG4bKsecond")).await;
    assert_eq!(m.code(), 482, "{}", m.text);
    let tickets = phone_tickets(&app).await;
    assert_eq!(tickets.len(), 1);
    app.stop().await;
}

/// An SDP that names another host's address gets no audio until that address itself sends RTP
/// (a media gateway apart from the signalling one does): one INVITE cannot aim a stream of
/// announcements at a third party.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_is_not_aimed_at_a_third_party_named_in_the_sdp() {
    let app = spawn_line(true, "49500-49599", |_| {}).await;
    let victim = UdpSocket::bind("127.0.0.2:0").await.expect("bind 127.0.0.2 (loopback)");
    let mut phone = Phone::udp(app.sip, "aimed-rtp").await;
    let invite = phone.request(
        "INVITE",
        "z9hG4bKaimed",
        None,
        "Content-Type: application/sdp\r\n",
        &sdp(victim.local_addr().unwrap()),
    );
    phone.send(&invite).await;
    let ok = phone.expect("200", |m| m.code() == 200).await;
    phone.ack(&tag_of(&ok)).await;
    let service_rtp: SocketAddr = {
        let body = ok.body();
        let port: u16 = body.lines().find_map(|l| l.strip_prefix("m=audio ")?.split(' ').next()?.parse().ok()).unwrap();
        SocketAddr::new(app.sip.ip(), port)
    };
    let mut buf = [0u8; 2048];
    let heard = tokio::time::timeout(Duration::from_millis(1500), victim.recv_from(&mut buf)).await;
    assert!(heard.is_err(), "the named address got RTP it never asked for");
    // The address the SDP named starts its own media: now it is answered.
    victim.send_to(&pcmu_packet(0x77, 1, 160), service_rtp).await.unwrap();
    let (_, from) = tokio::time::timeout(Duration::from_secs(3), victim.recv_from(&mut buf))
        .await
        .expect("audio once the named address sends")
        .unwrap();
    assert_eq!(from, service_rtp);
    app.stop().await;
}

/// A re-INVITE that moves the caller's media (a gateway re-anchoring it): our audio follows, and
/// the new address's keys count while the old one's no longer do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_that_moves_media_moves_our_audio_and_the_accepted_source() {
    let app = spawn_line(true, "49600-49699", |_| {}).await;
    let (mut phone, _, tag) = answered_call(&app, "reinvite-move").await;
    let service_rtp = first_rtp(&phone.rtp).await;
    let moved = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let reinvite = phone.request(
        "INVITE",
        "z9hG4bKmove",
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &sdp(moved.local_addr().unwrap()),
    );
    phone.send(&reinvite).await;
    let ok = phone.expect("200 to the re-INVITE", |m| m.code() == 200 && cseq_method(m) == "INVITE").await;
    assert!(ok.body().contains("m=audio"));
    let mut buf = [0u8; 2048];
    let (_, from) = tokio::time::timeout(Duration::from_secs(5), moved.recv_from(&mut buf))
        .await
        .expect("our audio goes to the new address")
        .unwrap();
    assert_eq!(from, service_rtp);
    press_from(&phone.rtp, service_rtp, b'1', 0x0001_0001, 700, 12000).await;
    press_from(&moved, service_rtp, b'2', 0x5eed_0009, 800, 16000).await;
    let refer = wait_for_request(&mut phone, "REFER", Duration::from_secs(30)).await;
    let refer_to = refer.header("Refer-To").unwrap_or_default();
    assert!(refer_to.contains("sip:operations@pbx.test"), "the moved address's key 2 routes: {refer_to}");
    phone.answer(&refer, 202).await;
    app.stop().await;
}
