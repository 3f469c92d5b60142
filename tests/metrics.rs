//! `/metrics` and the access log, against the real service: a SIP call, a mail over SMTP and API
//! requests move the counters by exactly what they did; the exposition parses as Prometheus
//! text; the main listener's `/metrics` needs a supervisor, an admin or the metrics token; the
//! access line of a search names the route, never the query.

mod common;

use common::sip::{Phone, hang_up, hear, tag_of, write_line};
use common::sse::EventStream;
use common::{Db, TestDb, authorised, grant};
use madoguchi::app::App;
use madoguchi::domain::user::Role;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

const METRICS_TOKEN: &str = "a metrics token for the tests";
const WAIT: Duration = Duration::from_secs(15);

/// The samples of one scrape: `name{labels}` → value.
#[derive(Debug)]
struct Scrape(HashMap<String, f64>);

impl Scrape {
    fn get(&self, series: &str) -> f64 {
        *self.0.get(series).unwrap_or_else(|| panic!("no series {series} in {:?}", self.0.keys()))
    }
}

/// Parses a text exposition, checking it as Prometheus would: every line a comment or a sample,
/// HELP and TYPE once per family and before its samples, every sample of a declared family,
/// label values quoted, values numbers; a histogram's buckets cumulative up to `+Inf` = `_count`.
fn parse(text: &str) -> Scrape {
    let name = r"[a-zA-Z_:][a-zA-Z0-9_:]*";
    let label = r#"[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*""#;
    let sample = regex::Regex::new(&format!(
        r"^({name})(\{{(?:{label})(?:,{label})*\}})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|[+-]Inf)$"
    ))
    .unwrap();
    let help = regex::Regex::new(&format!(r"^# HELP ({name}) .+$")).unwrap();
    let kind = regex::Regex::new(&format!(r"^# TYPE ({name}) (counter|gauge|histogram|summary|untyped)$")).unwrap();
    let (mut helps, mut types) = (HashSet::new(), HashMap::new());
    let mut samples = HashMap::new();
    for line in text.lines() {
        if let Some(c) = help.captures(line) {
            assert!(helps.insert(c[1].to_owned()), "HELP twice for {}", &c[1]);
        } else if let Some(c) = kind.captures(line) {
            assert!(types.insert(c[1].to_owned(), c[2].to_owned()).is_none(), "TYPE twice for {}", &c[1]);
        } else if let Some(c) = sample.captures(line) {
            let series = &c[1];
            let family = match ["_bucket", "_sum", "_count"].iter().find_map(|s| series.strip_suffix(s)) {
                Some(base) if types.get(base).is_some_and(|t| t == "histogram") => base,
                _ => series,
            };
            assert!(types.contains_key(family) && helps.contains(family), "{line}: no HELP and TYPE before it");
            assert!(family.starts_with("madoguchi_"), "{line}");
            if types[family] == "counter" {
                assert!(family.ends_with("_total"), "counter {family} must end in _total");
            }
            let key = format!("{series}{}", c.get(2).map(|m| m.as_str()).unwrap_or(""));
            assert!(samples.insert(key, c[3].parse::<f64>().unwrap()).is_none(), "{line} twice");
        } else {
            panic!("not Prometheus text format: {line:?}");
        }
    }
    assert_eq!(helps.len(), types.len());
    // Histograms: buckets never decrease, +Inf is the count.
    for (family, t) in &types {
        if t != "histogram" {
            continue;
        }
        let mut by_series: HashMap<String, Vec<(f64, f64)>> = HashMap::new();
        for (key, value) in &samples {
            let Some(rest) = key.strip_prefix(&format!("{family}_bucket{{")) else { continue };
            let (labels, le) = rest.trim_end_matches('}').rsplit_once("le=\"").unwrap();
            let le = le.trim_end_matches('"');
            let le = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() };
            by_series.entry(labels.trim_end_matches(',').to_owned()).or_default().push((le, *value));
        }
        assert!(!by_series.is_empty(), "{family} has no buckets");
        for (labels, mut buckets) in by_series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{family}{{{labels}}} not cumulative");
            let count_key =
                if labels.is_empty() { format!("{family}_count") } else { format!("{family}_count{{{labels}}}") };
            assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, samples[&count_key]), "{family}{{{labels}}}");
        }
    }
    Scrape(samples)
}

async fn scrape_open(metrics: SocketAddr) -> Scrape {
    let r = reqwest::get(format!("http://{metrics}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    parse(&r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_a_mail_and_requests_move_the_counters_by_what_they_did() {
    let db = TestDb::new(Db::Sqlite, "metrics").await.unwrap();
    write_line(db.dir.path(), true);
    let mut settings = db.settings();
    let dir = db.dir.path();
    settings.sip.dialplans = dir.join("dialplans").display().to_string();
    settings.sip.prompts = dir.join("prompts").display().to_string();
    settings.sip.rtp_ports = "57700-57719".parse().unwrap();
    settings.metrics.listen = Some("127.0.0.1:0".parse().unwrap());
    settings.metrics.token = madoguchi::config::Secret::new(METRICS_TOKEN);
    settings.node.name = "desk-a".into();
    let app = App::build(&settings).await.expect("service starts");
    let (base, sip, mail) = (format!("http://{}", app.http_addr()), app.sip_addr(), app.mail_addr());
    let metrics = app.metrics_addr().expect("[metrics] listen is bound");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let url = settings.database_url();
    let admin = authorised(&grant(&url, "admin", Role::Admin).await);
    let supervisor = authorised(&grant(&url, "boss", Role::Supervisor).await);
    let operator = authorised(&grant(&url, "op", Role::Operator).await);

    let before = scrape_open(metrics).await;
    assert_eq!(before.get(r#"madoguchi_node_info{node="desk-a",version="0.1.0"}"#), 1.0);
    assert_eq!(before.get("madoguchi_calls_active"), 0.0);
    assert_eq!(before.get("madoguchi_events_clients"), 0.0);

    // A console following the events counts while it follows.
    let mut events = EventStream::open(&admin, &format!("{base}/api/events?kind=call"), None).await;
    assert_eq!(scrape_open(metrics).await.get("madoguchi_events_clients"), 1.0);

    // A call: answered, heard, hung up by the caller.
    let mut phone = Phone::udp(sip, "metrics-call-1").await;
    let (ok, _) = phone.call("").await;
    assert_eq!(ok.code(), 200, "{}", ok.text);
    let tag = tag_of(&ok);
    phone.ack(&tag).await;
    let (_, _, heard) = hear(&phone, 10).await;
    let during = scrape_open(metrics).await;
    assert_eq!(during.get("madoguchi_calls_active"), 1.0);
    hang_up(&mut phone, &tag).await;
    let ended = events.next_of("call.ended", WAIT).await;
    assert_eq!(ended.data["ending"], "caller hung up", "{:?}", ended.data);

    // A mail over SMTP, stored.
    let message = b"From: =?UTF-8?B?5bGx55Sw?= <yamada@example.go.jp>\r\nTo: helpdesk@example.go.jp\r\n\
Subject: metrics\r\nMessage-ID: <metrics-1@example.go.jp>\r\n\r\nVPN\r\n";
    let reply = common::smtp::send_mail(mail, "yamada@example.go.jp", "helpdesk@example.go.jp", message).await;
    assert_eq!(reply.0, 250, "{}", reply.1);
    // The same message again (an MTA's retry): a duplicate, not a second mail.
    let again = common::smtp::send_mail(mail, "yamada@example.go.jp", "helpdesk@example.go.jp", message).await;
    assert_eq!(again.0, 250, "{}", again.1);

    // An API contact and a search.
    let r = admin
        .post(format!("{base}/api/contacts"))
        .json(&serde_json::json!({"subject": "窓口", "caller": {"name": "山田"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = admin.get(format!("{base}/api/tickets?q=metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let after = scrape_open(metrics).await;
    let delta = |series: &str| after.get(series) - before.get(series);
    assert_eq!(delta(r#"madoguchi_calls_ended_total{outcome="caller_hung_up"}"#), 1.0);
    for outcome in madoguchi::metrics::CALL_OUTCOMES.iter().filter(|o| **o != "caller_hung_up") {
        assert_eq!(delta(&format!("madoguchi_calls_ended_total{{outcome=\"{outcome}\"}}")), 0.0, "{outcome}");
    }
    assert_eq!(after.get("madoguchi_calls_active"), 0.0);
    assert_eq!(delta("madoguchi_call_setup_seconds_count"), 1.0);
    assert!(after.get("madoguchi_call_setup_seconds_sum") > 0.0);
    assert_eq!(delta(r#"madoguchi_mails_total{result="accepted"}"#), 1.0);
    assert_eq!(delta(r#"madoguchi_mails_total{result="duplicate"}"#), 1.0);
    for result in ["temp_failed", "too_large", "recipient_rejected", "connection_refused", "other"] {
        assert_eq!(delta(&format!("madoguchi_mails_total{{result=\"{result}\"}}")), 0.0, "{result}");
    }
    // The packets heard were sent; every sent packet's lateness was observed; none was lost.
    let sent = delta("madoguchi_rtp_packets_sent_total");
    assert!(sent >= heard.len() as f64, "{sent} sent, {} heard", heard.len());
    assert!(delta("madoguchi_rtp_pacing_error_seconds_count") >= heard.len() as f64);
    assert_eq!(delta(r#"madoguchi_rtp_packets_dropped_total{reason="send_failed"}"#), 0.0);
    assert_eq!(delta(r#"madoguchi_rtp_packets_dropped_total{reason="foreign_source"}"#), 0.0);
    // The call's ticket, the mail's, the API's and the call's history entries went through the
    // writer; the search is a time-limited read.
    assert!(delta("madoguchi_intake_batch_size_sum") >= 4.0);
    assert!(delta("madoguchi_intake_batch_size_count") >= 1.0);
    assert!(delta(r#"madoguchi_db_query_seconds_count{kind="write"}"#) >= 1.0);
    assert!(delta(r#"madoguchi_db_query_seconds_count{kind="read"}"#) >= 1.0);
    assert_eq!(after.get("madoguchi_intake_queue_depth"), 0.0);
    assert_eq!(delta("madoguchi_sla_warnings_total"), 0.0);
    assert_eq!(delta("madoguchi_sla_breaches_total"), 0.0);
    assert_eq!(after.get("madoguchi_events_clients"), 1.0);

    // The main listener: the metrics token, a supervisor or an admin; nobody else.
    let main = format!("{base}/metrics");
    for (who, client) in [("token", authorised(METRICS_TOKEN)), ("supervisor", supervisor), ("admin", admin.clone())] {
        let r = client.get(&main).send().await.unwrap();
        assert_eq!(r.status(), 200, "{who}");
        let scraped = parse(&r.text().await.unwrap());
        assert_eq!(scraped.get(r#"madoguchi_mails_total{result="accepted"}"#), 1.0, "{who}");
    }
    let refused = [
        ("nobody", reqwest::Client::new(), 401),
        ("a wrong token", authorised("not the metrics token at all"), 401),
        ("an operator", operator, 403),
    ];
    for (who, client, code) in refused {
        let r = client.get(&main).send().await.unwrap();
        assert_eq!(r.status(), code, "{who}");
        assert!(!r.text().await.unwrap().contains("madoguchi_"), "{who}");
    }
    // The metrics listener serves nothing else.
    assert_eq!(reqwest::get(format!("http://{metrics}/api/tickets")).await.unwrap().status(), 404);

    drop(events);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_names_the_route_and_the_user_never_the_query() {
    let db = TestDb::new(Db::Sqlite, "access log").await.unwrap();
    let mut service = common::start_binary(&db, db.dir.path()).await;
    let search = format!("{}/api/tickets?q=%E5%B1%B1%E7%94%B0%E5%A4%AA%E9%83%8E&caller=0312345678", service.base);
    let r = service.client.get(&search).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(format!("{}/api/tickets/20261121-0001?q=secret-words", service.base)).await.unwrap();
    assert_eq!(r.status(), 401);
    let mut lines = Vec::new();
    while lines.len() < 2 {
        let line = tokio::time::timeout(WAIT, service.log.recv()).await.expect("an access line").expect("log open");
        if line.contains(" access ") {
            lines.push(line);
        }
    }
    for line in &lines {
        for personal in ["q=", "caller=", "山田", "%E5", "0312345678", "secret-words", "?"] {
            assert!(!line.contains(personal), "{personal} in {line}");
        }
        assert!(line.contains("method=GET") && line.contains("remote=127.0.0.1") && line.contains("ms="), "{line}");
    }
    assert!(lines[0].contains("route=/api/tickets "), "{}", lines[0]);
    assert!(lines[0].contains("status=200") && lines[0].contains("user=admin0 "), "{}", lines[0]);
    assert!(lines[0].contains("bytes="), "{}", lines[0]);
    assert!(lines[1].contains("/api/tickets/{number}") && lines[1].contains("status=401"), "{}", lines[1]);
    assert!(lines[1].contains("user=- "), "{}", lines[1]);
    let _ = service.child.kill().await;
    db.cleanup().await;
}
