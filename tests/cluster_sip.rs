//! Two `madoguchi serve` nodes on one PostgreSQL database behind Kamailio running the shipped
//! `deploy/kamailio/kamailio.cfg` (dispatcher with OPTIONS probing, record_route, failover on
//! 503 or no answer): calls placed through the proxy are answered by both nodes; after one node
//! gets SIGTERM every new call is still answered (by the other), and the call in progress on the
//! stopped node is ended by it through the proxy (its BYE follows the Record-Route) with its
//! ticket recording the ending, and the node exits 0.

mod common;

use common::sip::{Msg, Phone, hear, tag_of, write_line};
use common::{Db, Process, TestDb, spawn_binary};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

const KAMAILIO: &str = "/usr/sbin/kamailio";

/// `madoguchi serve` with its own directory (data, dialplans, prompts), SIP, HTTP and SMTP ports
/// and RTP `ports`, on the shared database `url`.
async fn node(dir: &Path, url: &str, name: &str, ports: &str, drain_seconds: &str) -> Process {
    write_line(dir, true);
    let (data, plans, prompts) = (dir.join("data"), dir.join("dialplans"), dir.join("prompts"));
    spawn_binary(
        dir,
        &[
            ("MADOGUCHI_DATA_DIR", data.to_str().unwrap()),
            ("MADOGUCHI_DATABASE_URL", url),
            ("MADOGUCHI_SIP_DIALPLANS", plans.to_str().unwrap()),
            ("MADOGUCHI_SIP_PROMPTS", prompts.to_str().unwrap()),
            ("MADOGUCHI_SIP_RTP_PORTS", ports),
            ("MADOGUCHI_SIP_MAX_CALLS", "50"),
            ("MADOGUCHI_NODE_NAME", name),
            ("MADOGUCHI_NODE_DRAIN_SECONDS", drain_seconds),
        ],
    )
    .await
}

/// Kamailio in the foreground, in a process group of its own, stopped (the group) on drop.
struct Kamailio {
    child: std::process::Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
}

impl Kamailio {
    /// The shipped configuration with `nodes` in its dispatcher list, listening on a free UDP
    /// port of 127.0.0.1, probing every second.
    fn start(dir: &Path, nodes: &[SocketAddr]) -> Kamailio {
        use std::os::unix::process::CommandExt;
        let list = dir.join("dispatcher.list");
        let lines: Vec<String> = nodes.iter().map(|n| format!("1 sip:{n} 0 0\n")).collect();
        std::fs::write(&list, lines.concat()).unwrap();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kamailio/kamailio.cfg");
        let addr = {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        let log = dir.join("kamailio.log");
        let child = std::process::Command::new(KAMAILIO)
            .arg("-f")
            .arg(&config)
            .args(["-DD", "-E", "-m", "32", "-M", "4"])
            .arg("-w")
            .arg(dir)
            .arg("-Y")
            .arg(dir)
            .arg("-A")
            .arg(format!("LISTEN=udp:{addr}"))
            .arg("-A")
            .arg(format!("DISPATCHER_LIST=\"{}\"", list.display()))
            .args(["-A", "PROBE_INTERVAL=1"])
            .stdout(std::fs::File::create(dir.join("kamailio.out")).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0)
            .spawn()
            .expect("kamailio starts");
        Kamailio { child, addr, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: signals the process group this test started; no memory is involved.
        unsafe { libc::kill(group, libc::SIGTERM) };
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// A call placed through the proxy, answered and acknowledged along the route set.
struct Routed {
    phone: Phone,
    ok: Msg,
    tag: String,
}

impl Routed {
    /// The port of the node that answered (its Contact).
    fn node_port(&self) -> u16 {
        let contact = self.ok.header("Contact").expect("a Contact in the 200 OK");
        let uri = contact.trim_start_matches('<').split(['>', ';']).next().unwrap();
        uri.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn ticket(&self) -> String {
        self.ok.header("X-Madoguchi-Ticket").expect("the ticket number")
    }

    /// A request in the call as a UA behind the proxy sends it (RFC 3261 §12.2.1.1): to the
    /// node's Contact, through the Record-Route.
    fn in_dialog(&mut self, method: &str, branch: &str) -> String {
        let route = self.ok.header("Record-Route").expect("the proxy record-routes");
        let contact = self.ok.header("Contact").unwrap();
        let target = contact.trim_start_matches('<').split('>').next().unwrap().to_owned();
        let req = self.phone.request(method, branch, Some(&self.tag), &format!("Route: {route}\r\n"), "");
        req.replacen("sip:0120000111@madoguchi SIP/2.0", &format!("{target} SIP/2.0"), 1)
    }

    async fn place(proxy: SocketAddr, call_id: &str) -> Routed {
        let mut phone = Phone::udp(proxy, call_id).await;
        let (ok, _) = phone.invite("").await;
        let ok = ok.unwrap_or_else(|| panic!("{call_id}: a final answer through the proxy"));
        assert_eq!(ok.code(), 200, "{call_id}: {}", ok.text);
        let tag = tag_of(&ok);
        let mut call = Routed { phone, ok, tag };
        let ack = call.in_dialog("ACK", &format!("z9hG4bKack-{call_id}"));
        call.phone.send(&ack).await;
        // Media flows once the node has the ACK.
        hear(&call.phone, 5).await;
        call
    }

    async fn hang_up(mut self) {
        let bye = self.in_dialog("BYE", &format!("z9hG4bKbye-{}", self.phone.call_id));
        let ok = self.phone.transact(&bye).await;
        assert_eq!(ok.code(), 200, "{}", ok.text);
    }
}

async fn wait_for_log(node: &mut Process, text: &str) {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = node.log.recv().await {
            if line.contains(text) {
                return true;
            }
        }
        false
    });
    assert!(found.await.unwrap_or(false), "the node logs {text:?}");
}

fn sigterm(node: &Process) {
    let pid = node.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

async fn exits(node: &mut Process) -> std::process::ExitStatus {
    tokio::time::timeout(Duration::from_secs(30), node.child.wait()).await.expect("the node exits").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_behind_kamailio_share_the_calls_and_one_drains_without_losing_any() {
    const TEST: &str = "cluster_sip";
    if !Path::new(KAMAILIO).exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("kamailio must be installed under CI (see .ci/run)");
        }
        common::skip(TEST, "kamailio not installed");
        return;
    }
    let Some(db) = TestDb::new(Db::Postgres, TEST).await else { return };
    let (dir_a, dir_b, dir_k) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // The first node creates the schema; the second joins it.
    let mut a = node(dir_a.path(), &db.url, "node-a", "57100-57149", "3").await;
    let mut b = node(dir_b.path(), &db.url, "node-b", "57150-57199", "30").await;
    let kamailio = Kamailio::start(dir_k.path(), &[a.sip, b.sip]);
    // Kamailio answers its own OPTIONS once it is up.
    let mut probe = Phone::udp(kamailio.addr, "kamailio-up").await;
    let options = format!(
        "OPTIONS sip:{} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKup\r\nMax-Forwards: 70\r\n\
         From: <sip:test@test>;tag=up\r\nTo: <sip:{}>\r\nCall-ID: kamailio-up\r\nCSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        kamailio.addr, probe.local, kamailio.addr
    );
    let up = probe.transact(&options).await;
    assert_eq!(up.code(), 200, "kamailio is up: {}\n{}", up.text, kamailio.log());

    // Both nodes take calls through the proxy.
    let mut calls = Vec::new();
    for i in 0..4 {
        calls.push(Routed::place(kamailio.addr, &format!("cluster-{i}")).await);
    }
    let ports: Vec<u16> = calls.iter().map(Routed::node_port).collect();
    assert!(ports.contains(&a.sip.port()) && ports.contains(&b.sip.port()), "both nodes answer: {ports:?}");
    // One call on node A stays up; the others end.
    let keep = calls.iter().position(|c| c.node_port() == a.sip.port()).unwrap();
    let mut kept = calls.remove(keep);
    for call in calls {
        call.hang_up().await;
    }

    sigterm(&a);
    wait_for_log(&mut a, "draining").await;
    // The call in progress on the draining node goes on.
    hear(&kept.phone, 5).await;
    // Every new call is answered, by the node that is not stopping.
    for i in 0..4 {
        let call = Routed::place(kamailio.addr, &format!("cluster-after-{i}")).await;
        assert_eq!(call.node_port(), b.sip.port(), "new calls go to the node that is not draining");
        call.hang_up().await;
    }
    // At its drain limit node A ends its call through the proxy, along the route set.
    let bye = kept.phone.expect("node A's BYE through the proxy", |m| m.method() == "BYE").await;
    assert!(bye.first.starts_with(&format!("BYE sip:caller@{} SIP/2.0", kept.phone.local)), "{}", bye.text);
    kept.phone.answer(&bye, 200).await;
    let status = exits(&mut a).await;
    assert!(status.success(), "node A exits 0 after its drain: {status:?}");
    // Its ticket recorded the ending (read through node B: one database).
    let ticket = kept.ticket();
    let (status, history) = {
        let r = b.client.get(format!("{}/api/tickets/{ticket}/history", b.base)).send().await.unwrap();
        (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{history}");
    let endings: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "call_ended")
        .filter_map(|h| h["detail"]["ending"].as_str())
        .collect();
    assert_eq!(endings, vec!["hung up by the service"], "{history}");

    // Node A is gone: the calls still go to node B.
    let call = Routed::place(kamailio.addr, "cluster-last").await;
    assert_eq!(call.node_port(), b.sip.port());
    call.hang_up().await;
    sigterm(&b);
    assert!(exits(&mut b).await.success());
    drop(kamailio);
    db.cleanup().await;
}
