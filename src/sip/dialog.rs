//! RFC 3261 §12 dialogs on the answering side, without I/O. A dialog is named by Call-ID, our
//! tag and the caller's tag together: a request that names a live Call-ID with another tag is
//! not in any dialog (the endpoint answers 481), so a stranger who learns a Call-ID cannot hang
//! up, press keys in or transfer someone else's call.
//!
//! ```text
//! Early ─200 sent─► Answered ─ACK─► Confirmed ─BYE─► Ended
//!   └──────BYE / CANCEL────┴─────────────────────────► Ended
//! ```

use super::message::{Method, Request, list_values, param};
use std::fmt::Write;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    pub call_id: String,
    pub local_tag: String,
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog a request from the caller names: its Call-ID, its To tag (ours) and its From
    /// tag (theirs). A request without a To tag names none.
    pub fn of_request(req: &Request) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id().to_owned(),
            local_tag: req.to_tag()?.to_owned(),
            remote_tag: req.tag_in_from().unwrap_or_default().to_owned(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// INVITE received, not answered yet.
    Early,
    /// 200 OK sent, waiting for the ACK.
    Answered,
    Confirmed,
    Ended,
}

/// Why a dialog ended, from the SIP side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    CallerHungUp,
    CancelledBeforeAnswer,
    NoAck,
    HungUpByUs,
    /// Our BYE or REFER got no answer at all.
    PeerGone,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::CallerHungUp => "caller hung up",
            EndReason::CancelledBeforeAnswer => "caller cancelled before answer",
            EndReason::NoAck => "no ACK for the 200 OK",
            EndReason::HungUpByUs => "hung up by the service",
            EndReason::PeerGone => "caller unreachable",
        }
    }
}

/// How to answer an in-dialog request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    Plain(u16, &'static str),
    /// 200 OK with our session description (re-INVITE).
    WithSdp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Respond(Reply),
    /// The ACK came: media may start. Its body is the caller's answer when the INVITE had no offer.
    Confirmed {
        body: Vec<u8>,
    },
    Digit(char),
    /// A new offer inside the dialog (re-INVITE).
    Offer(Vec<u8>),
    /// The transfer we asked for succeeded (true) or failed (false).
    Transferred(bool),
    Ended(EndReason),
}

#[derive(Debug, Clone)]
pub struct Dialog {
    pub id: DialogId,
    phase: Phase,
    remote_cseq: u32,
    local_cseq: u32,
    /// The caller's Contact (§12.1.1; a re-INVITE's refreshes it): our requests' Request-URI.
    remote_target: String,
    /// Record-Route of the INVITE, every value in order, however many headers carry them
    /// (§12.1.1): our requests' Route headers, the first of them where they are sent.
    route_set: Vec<String>,
    /// From and To of the INVITE as the caller wrote them (To without our tag).
    remote_uri: String,
    local_uri: String,
    transfer_pending: bool,
}

impl Dialog {
    /// The dialog an INVITE opens, with the tag we chose for our side.
    pub fn from_invite(invite: &Request, local_tag: String) -> Dialog {
        let remote_target = contact_uri(invite).unwrap_or_default();
        Dialog {
            id: DialogId {
                call_id: invite.call_id().to_owned(),
                local_tag,
                remote_tag: invite.tag_in_from().unwrap_or_default().to_owned(),
            },
            phase: Phase::Early,
            remote_cseq: invite.cseq().0,
            local_cseq: 0,
            remote_target,
            route_set: invite.all("Record-Route").flat_map(list_values).map(str::to_owned).collect(),
            remote_uri: invite.header("From").unwrap_or_default().to_owned(),
            local_uri: invite.header("To").unwrap_or_default().to_owned(),
            transfer_pending: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The 200 OK to the INVITE has been sent.
    pub fn answered(&mut self) {
        if self.phase == Phase::Early {
            self.phase = Phase::Answered;
        }
    }

    /// The dialog is over (CANCEL, no ACK, our BYE).
    pub fn end(&mut self) {
        self.phase = Phase::Ended;
    }

    /// A request from the caller that names this dialog.
    pub fn on_request(&mut self, req: &Request) -> Vec<Action> {
        use Action::*;
        if self.phase == Phase::Ended {
            return vec![Respond(Reply::Plain(481, "Call/Transaction Does Not Exist"))];
        }
        if req.method == Method::Ack {
            return match self.phase {
                Phase::Answered => {
                    self.phase = Phase::Confirmed;
                    vec![Confirmed { body: req.body.clone() }]
                }
                _ => vec![],
            };
        }
        // §12.2.2: a lower CSeq than the last one is out of order.
        let cseq = req.cseq().0;
        if cseq <= self.remote_cseq {
            return vec![Respond(Reply::Plain(500, "Server Internal Error"))];
        }
        self.remote_cseq = cseq;
        match req.method {
            Method::Bye => {
                self.phase = Phase::Ended;
                vec![Respond(Reply::Plain(200, "OK")), Ended(EndReason::CallerHungUp)]
            }
            Method::Info => {
                let mut actions = vec![Respond(Reply::Plain(200, "OK"))];
                actions.extend(info_digit(&req.body).map(Digit));
                actions
            }
            Method::Notify => {
                let mut actions = vec![Respond(Reply::Plain(200, "OK"))];
                if self.transfer_pending
                    && let Some(code) = sipfrag_code(&req.body)
                    && code >= 200
                {
                    self.transfer_pending = false;
                    actions.push(Transferred(code < 300));
                }
                actions
            }
            Method::Invite if self.phase == Phase::Confirmed => {
                // A target refresh (§12.2.2): our later requests go to the new Contact.
                if let Some(target) = contact_uri(req) {
                    self.remote_target = target;
                }
                let mut actions = vec![Respond(Reply::WithSdp)];
                if !req.body.is_empty() {
                    actions.push(Offer(req.body.clone()));
                }
                actions
            }
            Method::Invite => vec![Respond(Reply::Plain(491, "Request Pending"))],
            Method::Options => vec![Respond(Reply::Plain(200, "OK"))],
            _ => vec![Respond(Reply::Plain(405, "Method Not Allowed"))],
        }
    }

    /// The final response to a request of ours in this dialog.
    pub fn on_response(&mut self, method: &str, code: u16) -> Vec<Action> {
        if method == "REFER" && self.transfer_pending && code >= 300 {
            self.transfer_pending = false;
            return vec![Action::Transferred(false)];
        }
        vec![]
    }

    /// The URI our requests in this dialog are sent to (§8.1.2, §12.2.1.1): the first route of
    /// the route set; `None` without one (they go back where the INVITE came from).
    pub fn next_hop(&self) -> Option<String> {
        self.route_set.first().map(|r| angle_uri(r))
    }

    /// Our request inside the dialog (BYE, REFER): route set, remote target, next CSeq.
    /// `via` is `SIP/2.0/UDP host:port`, `contact` our URI.
    pub fn request(
        &mut self,
        method: &str,
        via: &str,
        branch: &str,
        contact: &str,
        extra: &[(String, String)],
    ) -> Vec<u8> {
        self.local_cseq += 1;
        if method == "REFER" {
            self.transfer_pending = true;
        }
        let loose = self.route_set.first().is_none_or(|r| r.contains(";lr"));
        let (uri, routes): (String, Vec<String>) = if loose {
            (self.remote_target.clone(), self.route_set.clone())
        } else {
            // A strict router: it becomes the Request-URI, the remote target the last route.
            let mut routes: Vec<String> = self.route_set[1..].to_vec();
            routes.push(format!("<{}>", self.remote_target));
            (angle_uri(&self.route_set[0]), routes)
        };
        let mut text = format!(
            "{method} {uri} SIP/2.0\r\nVia: {via};branch={branch}\r\nMax-Forwards: 70\r\nFrom: {};tag={}\r\nTo: {}\r\n\
Call-ID: {}\r\nCSeq: {} {method}\r\nContact: <{contact}>\r\n",
            strip_tag(&self.local_uri),
            self.id.local_tag,
            self.remote_uri,
            self.id.call_id,
            self.local_cseq,
        );
        for route in routes {
            let _ = write!(text, "Route: {route}\r\n");
        }
        for (n, v) in extra {
            let _ = write!(text, "{n}: {v}\r\n");
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        text.into_bytes()
    }
}

/// The URI of a request's (first) Contact.
fn contact_uri(req: &Request) -> Option<String> {
    let first = req.all("Contact").flat_map(list_values).next()?;
    Some(angle_uri(first)).filter(|u| !u.is_empty() && u != "*")
}

/// The URI inside `<…>`, or the value up to its parameters.
fn angle_uri(value: &str) -> String {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => value[a + 1..b].to_owned(),
        _ => value.split(';').next().unwrap_or(value).trim().to_owned(),
    }
}

fn strip_tag(value: &str) -> &str {
    match param(value, "tag") {
        Some(_) => value.rfind(";tag=").map(|i| &value[..i]).unwrap_or(value),
        None => value,
    }
}

/// The key of an `application/dtmf-relay` INFO body (`Signal=5`).
fn info_digit(body: &[u8]) -> Option<char> {
    String::from_utf8_lossy(body).lines().find_map(|l| {
        let v = l.trim().strip_prefix("Signal")?.trim_start_matches([' ', '=']).trim();
        v.chars().next().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D'))
    })
}

/// The status code of a `message/sipfrag` NOTIFY body (`SIP/2.0 200 OK`).
fn sipfrag_code(body: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next()?;
    line.strip_prefix("SIP/2.0 ")?.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::Action::*;
    use super::*;

    fn req(method: &str, cseq: u32, to_tag: Option<&str>, body: &str) -> Request {
        let to = match to_tag {
            Some(t) => format!("<sip:0120@madoguchi>;tag={t}"),
            None => "<sip:0120@madoguchi>".into(),
        };
        Request {
            method: Method::parse(method),
            uri: "sip:0120@madoguchi".into(),
            headers: vec![
                ("Via".into(), "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKx".into()),
                ("From".into(), "\"Yamada\" <sip:0312345678@pbx>;tag=caller".into()),
                ("To".into(), to),
                ("Call-ID".into(), "c1".into()),
                ("CSeq".into(), format!("{cseq} {method}")),
                ("Contact".into(), "<sip:caller@192.0.2.1:5062>".into()),
                ("Record-Route".into(), "<sip:proxy.test;lr>".into()),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    fn confirmed() -> Dialog {
        let mut d = Dialog::from_invite(&req("INVITE", 1, None, ""), "ours".into());
        d.answered();
        assert_eq!(d.on_request(&req("ACK", 1, Some("ours"), "v=0")), vec![Confirmed { body: b"v=0".to_vec() }]);
        d
    }

    #[test]
    fn requests_name_a_dialog_by_call_id_and_both_tags() {
        let d = confirmed();
        assert_eq!(DialogId::of_request(&req("BYE", 2, Some("ours"), "")), Some(d.id.clone()));
        assert_ne!(DialogId::of_request(&req("BYE", 2, Some("theirs"), "")), Some(d.id.clone()));
        assert_eq!(DialogId::of_request(&req("BYE", 2, None, "")), None);
        let mut other_from = req("BYE", 2, Some("ours"), "");
        other_from.headers[1].1 = "<sip:x@y>;tag=stranger".into();
        assert_ne!(DialogId::of_request(&other_from), Some(d.id));
    }

    #[test]
    fn in_dialog_requests_as_a_table() {
        let ok = Respond(Reply::Plain(200, "OK"));
        let table: Vec<(Request, Vec<Action>, Phase)> = vec![
            (
                req("INFO", 2, Some("ours"), "Signal=5\r\nDuration=160\r\n"),
                vec![ok.clone(), Digit('5')],
                Phase::Confirmed,
            ),
            (req("INFO", 3, Some("ours"), "Signal= #\r\n"), vec![ok.clone(), Digit('#')], Phase::Confirmed),
            (
                req("INFO", 2, Some("ours"), "Signal=9"),
                vec![Respond(Reply::Plain(500, "Server Internal Error"))],
                Phase::Confirmed,
            ),
            (
                req("INVITE", 4, Some("ours"), "v=0"),
                vec![Respond(Reply::WithSdp), Offer(b"v=0".to_vec())],
                Phase::Confirmed,
            ),
            (req("OPTIONS", 5, Some("ours"), ""), vec![ok.clone()], Phase::Confirmed),
            (req("NOTIFY", 6, Some("ours"), "SIP/2.0 200 OK\r\n"), vec![ok.clone()], Phase::Confirmed),
            (req("BYE", 7, Some("ours"), ""), vec![ok, Ended(EndReason::CallerHungUp)], Phase::Ended),
            (
                req("INFO", 8, Some("ours"), "Signal=1"),
                vec![Respond(Reply::Plain(481, "Call/Transaction Does Not Exist"))],
                Phase::Ended,
            ),
        ];
        let mut d = confirmed();
        for (i, (r, want, phase)) in table.into_iter().enumerate() {
            assert_eq!(d.on_request(&r), want, "step {i}");
            assert_eq!(d.phase(), phase, "step {i}");
        }
    }

    #[test]
    fn a_transfer_ends_on_the_notify_or_the_refusal() {
        let mut d = confirmed();
        let refer =
            String::from_utf8(d.request("REFER", "SIP/2.0/UDP 10.0.0.1:5060", "z9hG4bKr", "sip:m@10.0.0.1", &[]))
                .unwrap();
        assert!(refer.starts_with("REFER sip:caller@192.0.2.1:5062 SIP/2.0\r\n"), "{refer}");
        assert!(refer.contains("\r\nRoute: <sip:proxy.test;lr>\r\n"), "{refer}");
        assert!(
            refer.contains("From: <sip:0120@madoguchi>;tag=ours\r\nTo: \"Yamada\" <sip:0312345678@pbx>;tag=caller\r\n"),
            "{refer}"
        );
        assert!(refer.contains("CSeq: 1 REFER\r\n"), "{refer}");
        assert_eq!(d.on_request(&req("NOTIFY", 2, Some("ours"), "SIP/2.0 100 Trying\r\n")).len(), 1);
        assert_eq!(d.on_request(&req("NOTIFY", 3, Some("ours"), "SIP/2.0 200 OK\r\n"))[1], Transferred(true));

        let mut d = confirmed();
        d.request("REFER", "SIP/2.0/UDP h", "z9hG4bKr", "sip:m@h", &[]);
        assert_eq!(d.on_response("REFER", 202), vec![]);
        assert_eq!(d.on_response("REFER", 603), vec![Transferred(false)]);
        let bye = String::from_utf8(d.request("BYE", "SIP/2.0/UDP h", "z9hG4bKb", "sip:m@h", &[])).unwrap();
        assert!(bye.contains("CSeq: 2 BYE\r\n"), "{bye}");
    }

    /// An INVITE whose Record-Route headers are `record_routes` (one header each), answered.
    fn routed(record_routes: &[&str]) -> Dialog {
        let mut invite = req("INVITE", 1, None, "");
        invite.headers.retain(|(n, _)| n != "Record-Route");
        invite.headers.extend(record_routes.iter().map(|r| ("Record-Route".to_owned(), (*r).to_owned())));
        let mut d = Dialog::from_invite(&invite, "ours".into());
        d.answered();
        d
    }

    /// (Request line, Route headers in order) of our BYE.
    fn bye_of(d: &mut Dialog) -> (String, Vec<String>) {
        let bye = String::from_utf8(d.request("BYE", "SIP/2.0/UDP 10.0.0.1:5060", "z9hG4bKb", "sip:m@10.0.0.1", &[]))
            .unwrap();
        let line = bye.lines().next().unwrap().to_owned();
        let routes = bye.lines().filter_map(|l| l.strip_prefix("Route: ")).map(str::to_owned).collect();
        (line, routes)
    }

    #[test]
    fn our_requests_follow_the_route_set_of_record_route() {
        let target = "BYE sip:caller@192.0.2.1:5062 SIP/2.0";
        /// Record-Route headers of the INVITE, request line, Route headers, where it is sent.
        type Row<'a> = (Vec<&'a str>, &'a str, Vec<&'a str>, Option<&'a str>);
        let table: Vec<Row> = vec![
            // No proxy stayed on the path: straight to the Contact, back to the INVITE's source.
            (vec![], target, vec![], None),
            // One loose router (Kamailio's record_route()).
            (
                vec!["<sip:127.0.0.1:5070;lr;ftag=caller;did=abc>"],
                target,
                vec!["<sip:127.0.0.1:5070;lr;ftag=caller;did=abc>"],
                Some("sip:127.0.0.1:5070;lr;ftag=caller;did=abc"),
            ),
            // Two of them, nearest first, in one header or two: the order is kept (a UAS does not
            // reverse it, §12.1.1).
            (
                vec!["<sip:p2.test;lr>, <sip:p1.test;lr>"],
                target,
                vec!["<sip:p2.test;lr>", "<sip:p1.test;lr>"],
                Some("sip:p2.test;lr"),
            ),
            (
                vec!["<sip:10.0.0.2;lr>", "<sip:10.0.0.3:5080;transport=udp;lr>"],
                target,
                vec!["<sip:10.0.0.2;lr>", "<sip:10.0.0.3:5080;transport=udp;lr>"],
                Some("sip:10.0.0.2;lr"),
            ),
            // Double record-routing (a proxy between two interfaces) is two loose routes.
            (
                vec!["<sip:10.0.0.9;r2=on;lr>", "<sip:192.0.2.9;r2=on;lr>"],
                target,
                vec!["<sip:10.0.0.9;r2=on;lr>", "<sip:192.0.2.9;r2=on;lr>"],
                Some("sip:10.0.0.9;r2=on;lr"),
            ),
            // A strict router (no lr, RFC 2543): it is the Request-URI, the Contact the last route.
            (
                vec!["<sip:strict.test>", "<sip:p1.test;lr>"],
                "BYE sip:strict.test SIP/2.0",
                vec!["<sip:p1.test;lr>", "<sip:caller@192.0.2.1:5062>"],
                Some("sip:strict.test"),
            ),
        ];
        for (record_routes, line, routes, hop) in table {
            let mut d = routed(&record_routes);
            assert_eq!(d.next_hop().as_deref(), hop, "{record_routes:?}");
            assert_eq!(bye_of(&mut d), (line.to_owned(), routes.iter().map(|r| r.to_string()).collect()));
        }
    }

    #[test]
    fn a_reinvite_moves_the_remote_target_but_not_the_route_set() {
        let mut d = routed(&["<sip:127.0.0.1:5070;lr>"]);
        d.on_request(&req("ACK", 1, Some("ours"), ""));
        let mut reinvite = req("INVITE", 2, Some("ours"), "v=0");
        reinvite.headers.retain(|(n, _)| n != "Contact" && n != "Record-Route");
        reinvite.headers.push(("Contact".into(), "\"Yamada\" <sip:caller@198.51.100.4:5070;ob>;expires=60".into()));
        reinvite.headers.push(("Record-Route".into(), "<sip:elsewhere.test;lr>".into()));
        d.on_request(&reinvite);
        let (line, routes) = bye_of(&mut d);
        assert_eq!(line, "BYE sip:caller@198.51.100.4:5070;ob SIP/2.0");
        assert_eq!(routes, vec!["<sip:127.0.0.1:5070;lr>".to_owned()]);
    }

    #[test]
    fn ack_only_confirms_an_answered_dialog() {
        let mut d = Dialog::from_invite(&req("INVITE", 1, None, ""), "ours".into());
        assert_eq!(d.on_request(&req("ACK", 1, Some("ours"), "")), vec![]);
        assert_eq!(d.phase(), Phase::Early);
        assert_eq!(
            d.on_request(&req("INVITE", 2, Some("ours"), "")),
            vec![Respond(Reply::Plain(491, "Request Pending"))]
        );
    }
}
