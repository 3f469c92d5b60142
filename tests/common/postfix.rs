//! The machine's Postfix (Debian's) as a site's MTA in front of madoguchi, for the tests that
//! reconfigure it: they run under CI (which installs Postfix) or when MADOGUCHI_TEST_POSTFIX=1.
#![allow(dead_code)]

use std::process::Command;
use std::time::Duration;

/// Whether `test` may reconfigure the machine's Postfix; says SKIPPED when not.
pub fn wanted(test: &str) -> bool {
    let wanted = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("MADOGUCHI_TEST_POSTFIX").is_ok_and(|v| v == "1");
    if !wanted {
        super::skip(test, "it reconfigures the machine's Postfix; set MADOGUCHI_TEST_POSTFIX=1 to run it");
        return false;
    }
    super::tool("postfix", test)
}

fn postconf(args: &[&str]) {
    let out = Command::new("postconf").args(args).output().expect("postconf runs");
    assert!(out.status.success(), "postconf {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// (Re)starts Postfix taking mail on 127.0.0.1:`inbound` and relaying everything as `relays`
/// say (`relayhost=[127.0.0.1]:port`, `smtp_fallback_relay=…`).
pub fn start(inbound: u16, relays: &[String]) {
    let mut args = vec![
        "-e",
        "inet_interfaces=loopback-only",
        "mydestination=",
        "local_recipient_maps=",
        "default_transport=smtp",
        "local_transport=local",
        "mynetworks=127.0.0.0/8",
        "smtpd_relay_restrictions=permit_mynetworks,reject",
        "smtp_tls_security_level=none",
        "maillog_file=/var/log/postfix-test.log",
    ];
    args.extend(relays.iter().map(String::as_str));
    postconf(&args);
    postconf(&["-M", &format!("{inbound}/inet={inbound} inet n - n - - smtpd")]);
    let _ = Command::new("postfix").arg("stop").output();
    let started = Command::new("postfix").arg("start").output().unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
}

/// Hands `message` to Postfix on `inbound`, waiting for it to listen; its answer.
pub async fn submit(inbound: u16, message: &[u8]) -> (u16, String) {
    let to = format!("127.0.0.1:{inbound}").parse().unwrap();
    let mut accepted = (0, String::new());
    for _ in 0..50 {
        accepted = super::smtp::send_mail(to, "sato@example.go.jp", "helpdesk@example.jp", message).await;
        if accepted.0 == 250 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    accepted
}

/// Stops Postfix and takes out what [`start`] added.
pub fn stop(inbound: u16) {
    let _ = Command::new("postfix").arg("stop").output();
    let _ = Command::new("postconf").args(["-MX", &format!("{inbound}/inet")]).output();
    let _ = Command::new("postconf").args(["-X", "smtp_fallback_relay"]).output();
}
