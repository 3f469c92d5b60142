//! RFC 4475's torture messages (tests/data/rfc4475, as in ../shared/interop), each sent over UDP
//! and over TCP: valid ones are handled, invalid ones refused (400, or dropped when no response
//! can be formed), responses dropped, and the service still answers OPTIONS afterwards.

mod common;

use common::TestApp;
use common::sip::{Msg, Phone, spawn_line};
use std::time::Duration;

/// What a UAS should answer: one of these codes, a call being set up (1xx; 481 for an INVITE
/// inside an unknown dialog), or nothing.
#[derive(Debug, Clone, Copy)]
enum Want {
    Code(&'static [u16]),
    Proceeding,
    Nothing,
}

const TABLE: &[(&str, Want)] = &[
    // 3.1.1 valid messages
    ("wsinv", Want::Proceeding),
    ("intmeth", Want::Code(&[501])),
    ("esc01", Want::Proceeding),
    ("escnull", Want::Code(&[405])),
    ("esc02", Want::Code(&[501])),
    ("lwsdisp", Want::Code(&[200])),
    ("longreq", Want::Proceeding),
    ("dblreq", Want::Code(&[405])),
    ("semiuri", Want::Code(&[200])),
    ("transports", Want::Code(&[200])),
    ("mpart01", Want::Code(&[405])),
    ("unreason", Want::Nothing),
    ("noreason", Want::Nothing),
    // 3.1.2 invalid messages
    ("badinv01", Want::Code(&[400])),
    ("clerr", Want::Code(&[400])),
    ("ncl", Want::Code(&[400])),
    ("scalar02", Want::Code(&[400])),
    ("scalarlg", Want::Nothing),
    ("quotbal", Want::Code(&[400])),
    ("ltgtruri", Want::Code(&[400])),
    ("lwsruri", Want::Code(&[400])),
    ("lwsstart", Want::Code(&[400])),
    ("trws", Want::Code(&[400])),
    ("escruri", Want::Code(&[400])),
    ("baddate", Want::Code(&[400])),
    ("regbadct", Want::Code(&[400])),
    ("badaspec", Want::Code(&[400])),
    ("baddn", Want::Code(&[400])),
    ("badvers", Want::Code(&[505, 400])),
    ("mismatch01", Want::Code(&[400])),
    ("mismatch02", Want::Code(&[400, 501])),
    ("bigcode", Want::Nothing),
    // 3.2 transaction layer
    ("badbranch", Want::Code(&[200])),
    // 3.3 application layer
    ("insuf", Want::Code(&[400])),
    ("unkscm", Want::Code(&[416])),
    ("novelsc", Want::Code(&[416])),
    ("unksm2", Want::Code(&[405])),
    ("bext01", Want::Code(&[420])),
    ("invut", Want::Code(&[415])),
    ("regaut01", Want::Code(&[405])),
    ("multi01", Want::Code(&[400])),
    ("mcl01", Want::Code(&[400])),
    ("bcast", Want::Nothing),
    ("zeromf", Want::Code(&[483])),
    ("cparam01", Want::Code(&[405])),
    ("cparam02", Want::Code(&[405])),
    ("regescrt", Want::Code(&[405])),
    ("sdp01", Want::Code(&[406, 488])),
    // 3.4 backward compatibility
    ("inv2543", Want::Proceeding),
    // sipsorcery's extra: no version, no Via
    ("test", Want::Nothing),
];

async fn app() -> TestApp {
    spawn_line(true, "50000-54999", |_| {}).await
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/rfc4475/{name}.dat")))
        .unwrap()
}

/// Sends the torture message, then an OPTIONS on the same link; returns what answered the
/// torture message before the OPTIONS' 200 (responses are sent in order), and with `linger`
/// what came in the second after (a call is answered once its ticket is written, so its 200 may
/// follow the OPTIONS' answer; RFC 3261 §17.2.1 sends 100 Trying only when that takes 200 ms).
async fn exchange(phone: &mut Phone, bytes: &[u8], n: usize, linger: bool) -> Vec<Msg> {
    phone.send(&String::from_utf8_lossy(bytes)).await;
    let probe = format!("probe-{n}");
    let options =
        phone.request("OPTIONS", &format!("z9hG4bKprobe{n}"), None, "", "").replace(&phone.call_id.clone(), &probe);
    phone.send(&options).await;
    let mut before = Vec::new();
    while let Some(m) = phone.recv(Duration::from_secs(10)).await {
        if m.header("Call-ID").as_deref() == Some(probe.as_str()) {
            assert_eq!(m.code(), 200);
            while linger && let Some(m) = phone.recv(Duration::from_secs(1)).await {
                before.push(m);
            }
            return before;
        }
        before.push(m);
    }
    before.push(Msg { first: "CLOSED".into(), text: String::new() });
    before
}

fn check(name: &str, want: Want, got: &[Msg], transport: &str) {
    let codes: Vec<u16> = got.iter().map(Msg::code).collect();
    let closed = got.iter().any(|m| m.first == "CLOSED");
    match want {
        Want::Nothing => {
            assert!(codes.iter().all(|&c| c == 0), "{name} over {transport}: expected no response, got {codes:?}")
        }
        // A valid INVITE is answered; one with a To tag names a dialog we do not have: 481.
        Want::Proceeding => {
            assert!(
                codes.first().is_some_and(|c| (100..300).contains(c) || *c == 481),
                "{name} over {transport}: {codes:?}"
            )
        }
        Want::Code(options) => {
            let finals: Vec<u16> = codes.iter().copied().filter(|&c| c >= 200).collect();
            // Over TCP a message that cannot be framed is dropped with its connection.
            let dropped = transport == "TCP" && finals.is_empty() && options.contains(&400);
            let ok = finals.first().is_some_and(|c| options.contains(c)) || dropped;
            let _ = closed;
            assert!(ok, "{name} over {transport}: expected {options:?}, got {codes:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_torture_message_over_udp() {
    let app = app().await;
    for (n, (name, want)) in TABLE.iter().enumerate() {
        let mut phone = Phone::udp(app.sip, "torture").await;
        let got = exchange(&mut phone, &file(name), n, matches!(want, Want::Proceeding)).await;
        check(name, *want, &got, "UDP");
    }
    let files = std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc4475"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "dat"))
        .count();
    assert_eq!(files, TABLE.len(), "every message has an expectation");
    app.stop().await;
}

/// Over TCP a message whose Content-Length disagrees with its body corrupts the stream, so the
/// OPTIONS goes on a new connection; the torture message's answers are read after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_torture_message_over_tcp() {
    let app = app().await;
    for (n, (name, want)) in TABLE.iter().enumerate() {
        let mut phone = Phone::tcp(app.sip, "torture").await;
        phone.send(&String::from_utf8_lossy(&file(name))).await;
        let mut fresh = Phone::tcp(app.sip, &format!("after-{n}")).await;
        let req = fresh.request("OPTIONS", &format!("z9hG4bKafter{n}"), None, "", "");
        fresh.send(&req).await;
        assert_eq!(fresh.expect("200", |m| m.code() > 0).await.code(), 200, "after {name}");
        let mut got = Vec::new();
        while let Some(m) = phone.recv(Duration::from_millis(300)).await {
            got.push(m);
        }
        check(name, *want, &got, "TCP");
    }
    app.stop().await;
}
