//! The SIP endpoint: the one task that owns the transaction tables, the dialogs and the timer
//! queue. Messages come in from the transport; calls go out as [`Event`]s to whoever answers
//! them (the IVR) and come back as [`Command`]s, both over bounded channels. Nothing here knows
//! tickets or dialplans.

use super::codec::{self, Parsed};
use super::dialog::{self, Dialog, DialogId, EndReason, Phase, Reply};
use super::limits::{LimitSettings, Limits, Verdict};
use super::message::{Method, Request, loggable, param, response};
use super::sdp::{self, Offer};
use super::timers::{TimerId, Timers};
use super::transaction::Key;
use super::transaction::client::{self, ClientTransaction};
use super::transaction::server::{self, ServerTransaction};
use super::transport::{Bound, Inbound, Link, TcpLimits, Transport};
use crate::drain::{Drain, Hold};
use crate::random;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY";
const RETRY_AFTER: &str = "5";
const SWEEP: Duration = Duration::from_secs(60);
/// Server transactions held at most, and the bytes of requests and responses they keep (each
/// lingers up to 32 s after its answer): overall, and for one source address, so that one
/// flooding host cannot take the room everyone else needs.
const MAX_TRANSACTIONS: usize = 100_000;
const MAX_TRANSACTION_BYTES: usize = 256 << 20;
const MAX_TRANSACTIONS_PER_SOURCE: usize = 20_000;
const MAX_TRANSACTION_BYTES_PER_SOURCE: usize = 32 << 20;
/// Calls not yet acknowledged from sources that never showed they receive our answers (forged
/// addresses look like that): per source, and overall a quarter of `max_calls` (at least this).
const PENDING_PER_SOURCE: usize = 64;

/// A call as both sides name it: the endpoint's number for one INVITE's dialog.
pub type CallRef = u64;

#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub public_ip: IpAddr,
    pub allowed_sources: Vec<IpAddr>,
    pub max_calls: usize,
    pub limits: LimitSettings,
    pub tcp: TcpLimits,
    /// Where the INVITE → 200 OK time of each call is counted.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// What the endpoint tells the helpdesk side.
#[derive(Debug)]
pub enum Event {
    /// A new call; answer it with [`Command::Answer`] or [`Command::Reject`].
    Incoming {
        call: CallRef,
        invite: Box<Request>,
        peer: SocketAddr,
        offer: Option<Offer>,
    },
    /// A call refused for what it asked (415, 406, 488): the caller still wants a record.
    Refused {
        invite: Box<Request>,
        code: u16,
        reason: &'static str,
    },
    /// The ACK came: media may start. `answer` is the caller's SDP when the INVITE had none.
    Confirmed {
        call: CallRef,
        answer: Option<Offer>,
    },
    Digit {
        call: CallRef,
        digit: char,
    },
    /// A re-INVITE named another address for the caller's RTP.
    MediaMoved {
        call: CallRef,
        remote: SocketAddr,
    },
    Transferred {
        call: CallRef,
        ok: bool,
    },
    Ended {
        call: CallRef,
        reason: EndReason,
    },
}

/// What the helpdesk side asks of the endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// 200 with `sdp` and `headers`.
    Answer {
        call: CallRef,
        sdp: String,
        headers: Vec<(String, String)>,
    },
    Reject {
        call: CallRef,
        code: u16,
        reason: String,
        headers: Vec<(String, String)>,
    },
    Refer {
        call: CallRef,
        refer_to: String,
        headers: Vec<(String, String)>,
    },
    Hangup {
        call: CallRef,
    },
}

/// The running endpoint's handles.
pub struct Handle {
    pub events: mpsc::Receiver<Event>,
    pub commands: mpsc::Sender<Command>,
}

enum Fired {
    Server(Key, server::Timer),
    Client(Key, client::Timer),
    Sweep,
}

struct ServerEntry {
    txn: ServerTransaction,
    /// Bytes of request and responses this entry keeps.
    held: usize,
    req: Request,
    peer: SocketAddr,
    link: Link,
    timers: Vec<TimerId>,
    call: Option<CallRef>,
}

struct ClientEntry {
    txn: ClientTransaction,
    method: String,
    peer: SocketAddr,
    link: Link,
    timers: Vec<TimerId>,
    call: Option<CallRef>,
    /// Until the final response (or the timeout): a drain waits for it.
    awaiting: Option<Hold>,
}

struct CallEntry {
    dialog: Dialog,
    /// The unverified source this call counts against until it is acknowledged.
    pending_from: Option<IpAddr>,
    /// A re-INVITE answered and waiting for its ACK.
    reinvite: Option<Key>,
    invite_key: Key,
    /// Its entry in `invites`.
    merge: (String, String),
    peer: SocketAddr,
    link: Link,
    /// Our session description, once answered (re-INVITEs get it again).
    sdp: Option<String>,
    /// When its INVITE was taken up, for the set-up time.
    invited: Instant,
    /// A drain waits for the call to end.
    _hold: Hold,
}

pub struct Endpoint {
    transport: Transport,
    local: SocketAddr,
    config: EndpointConfig,
    events: mpsc::Sender<Event>,
    servers: HashMap<Key, ServerEntry>,
    clients: HashMap<Key, ClientEntry>,
    dialogs: HashMap<DialogId, CallRef>,
    calls: HashMap<CallRef, CallEntry>,
    /// (Call-ID, From tag) → (CSeq, transaction) of live INVITEs: finds merged copies (§8.2.2.2).
    invites: HashMap<(String, String), (u32, Key)>,
    timers: Timers<Fired>,
    limits: Limits,
    next_call: CallRef,
    /// (transactions, bytes) held per source, and overall.
    held: HashMap<IpAddr, (usize, usize)>,
    held_total: (usize, usize),
    /// Unacknowledged calls from unverified sources, per source and overall.
    pending: HashMap<IpAddr, usize>,
    pending_total: usize,
    /// Once it begins, new calls and OPTIONS probes get 503: a proxy sends them elsewhere.
    drain: Drain,
}

impl Endpoint {
    /// Starts serving `bound` until `stop`; returns the channels to the helpdesk side. Once
    /// `drain` begins, new calls and OPTIONS get 503 while the calls in progress go on.
    pub fn start(
        bound: Bound,
        config: EndpointConfig,
        drain: Drain,
        stop: CancellationToken,
        tracker: &TaskTracker,
    ) -> Handle {
        let (inbound_tx, inbound) = mpsc::channel(4096);
        let (events_tx, events) = mpsc::channel(4096);
        let (commands, commands_rx) = mpsc::channel(4096);
        let transport = bound.transport.clone();
        let local = transport.local_addr().unwrap_or_else(|_| SocketAddr::new(config.public_ip, 5060));
        bound.serve(config.tcp.clone(), inbound_tx, stop.clone(), tracker);
        let mut endpoint = Endpoint {
            transport,
            local,
            limits: Limits::new(config.limits.clone()),
            config,
            events: events_tx,
            servers: HashMap::new(),
            clients: HashMap::new(),
            dialogs: HashMap::new(),
            calls: HashMap::new(),
            invites: HashMap::new(),
            timers: Timers::default(),
            next_call: 0,
            held: HashMap::new(),
            held_total: (0, 0),
            pending: HashMap::new(),
            pending_total: 0,
            drain,
        };
        endpoint.timers.start(SWEEP, Fired::Sweep);
        tracker.spawn(endpoint.run(inbound, commands_rx, stop));
        Handle { events, commands }
    }

    async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut commands: mpsc::Receiver<Command>,
        stop: CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                m = inbound.recv() => match m {
                    Some(m) => self.inbound(m),
                    None => break,
                },
                c = commands.recv() => match c {
                    Some(c) => self.command(c),
                    None => break,
                },
                fired = self.timers.expired() => self.fired(fired),
            }
        }
    }

    fn emit(&self, event: Event) -> bool {
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "SIP event not delivered: the helpdesk side is overloaded");
                false
            }
        }
    }

    fn transmit(&mut self, bytes: Vec<u8>, peer: SocketAddr, link: Link) {
        if link == Link::Udp && !self.limits.may_send(peer.ip(), bytes.len(), Instant::now()) {
            return;
        }
        self.transport.send(bytes, peer, link);
    }

    fn contact_host(&self) -> SocketAddr {
        SocketAddr::new(self.config.public_ip, self.local.port())
    }

    fn inbound(&mut self, m: Inbound) {
        if m.link == Link::Udp {
            self.limits.received(m.peer.ip(), m.bytes.len(), Instant::now());
        }
        match codec::parse(&m.bytes) {
            Parsed::KeepAlive => {}
            Parsed::Invalid { reason, reply } => {
                tracing::debug!(source = %m.peer.ip(), reason, "malformed SIP message");
                if let Some(r) = reply {
                    self.transmit(r, m.peer, m.link);
                }
            }
            Parsed::Response { code, headers } => self.response(code, &headers, m.peer),
            Parsed::Request(req) => self.request(req, m.bytes.len(), m.peer, m.link),
        }
    }

    // ---- requests ----

    fn request(&mut self, req: Request, size: usize, peer: SocketAddr, link: Link) {
        let key = Key::server(&req, peer);
        if req.method == Method::Ack {
            return self.ack(&req, &key, peer);
        }
        if self.servers.contains_key(&key) {
            return self.server_input(&key, server::Input::Retransmission);
        }
        if self.limits.request(peer.ip(), req.header("User-Agent")) == Verdict::Drop {
            return;
        }
        let new_invite = req.method == Method::Invite && req.to_tag().is_none();
        let mut overloaded = false;
        if new_invite {
            let dialed = super::uri::user_of(&req.uri).unwrap_or_default();
            match self.limits.invite(peer.ip(), &dialed, Instant::now()) {
                Verdict::Drop => return,
                Verdict::Overloaded => overloaded = true,
                Verdict::Admit => {}
            }
        }
        if !self.may_hold(peer.ip(), size) {
            // A real peer retransmits what was lost; a flood is counted and summarised.
            self.limits.full(peer.ip());
            return;
        }
        self.hold(peer.ip(), size as isize, 1);
        let (txn, first) = ServerTransaction::new(req.method == Method::Invite, link.reliable());
        let entry = ServerEntry { txn, held: size, req: req.clone(), peer, link, timers: Vec::new(), call: None };
        self.servers.insert(key.clone(), entry);
        self.server_actions(&key, first);
        if overloaded {
            return self.reply(&key, 503, "Service Unavailable", &[("Retry-After", RETRY_AFTER.into())], b"");
        }
        // Draining: a proxy's probe marks this node down and a new call goes to another node;
        // requests in the calls in progress are served as ever.
        let probe = req.method == Method::Options && req.to_tag().is_none();
        if (new_invite || probe) && self.drain.is_draining() {
            return self.reply(&key, 503, "Service Unavailable", &[("Retry-After", RETRY_AFTER.into())], b"");
        }
        if !self.config.allowed_sources.is_empty() && !self.config.allowed_sources.contains(&peer.ip()) {
            return self.reply(&key, 403, "Forbidden", &[], b"");
        }
        if req.header("Max-Forwards").and_then(|m| m.parse::<u8>().ok()) == Some(0) {
            return self.reply(&key, 483, "Too Many Hops", &[], b"");
        }
        let unsupported: Vec<&str> = req
            .header("Require")
            .map(|r| r.split(',').map(str::trim).filter(|t| !t.is_empty()).collect())
            .unwrap_or_default();
        if !unsupported.is_empty() && req.method != Method::Cancel {
            let extra = [("Unsupported", unsupported.join(", "))];
            return self.reply(&key, 420, "Bad Extension", &extra, b"");
        }
        let scheme = req.uri.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
            return self.reply(&key, 416, "Unsupported URI Scheme", &[], b"");
        }
        if req.to_tag().is_some() && req.method != Method::Cancel {
            return self.in_dialog(&key, &req, peer);
        }
        match req.method {
            Method::Options => {
                let extra = [("Allow", ALLOW.to_owned()), ("Accept", "application/sdp".to_owned())];
                self.reply(&key, 200, "OK", &extra, b"");
            }
            Method::Invite => self.invite(&key, req, peer, link),
            Method::Cancel => self.cancel(&key),
            Method::Bye | Method::Info | Method::Notify => {
                self.reply(&key, 481, "Call/Transaction Does Not Exist", &[], b"")
            }
            Method::Register | Method::Refer | Method::Other(_) if is_known(&req.method) => {
                self.reply(&key, 405, "Method Not Allowed", &[("Allow", ALLOW.to_owned())], b"")
            }
            _ => self.reply(&key, 501, "Not Implemented", &[("Allow", ALLOW.to_owned())], b""),
        }
    }

    fn may_hold(&self, ip: IpAddr, size: usize) -> bool {
        let (count, bytes) = self.held.get(&ip).copied().unwrap_or((0, 0));
        self.held_total.0 < MAX_TRANSACTIONS
            && self.held_total.1 + size <= MAX_TRANSACTION_BYTES
            && count < MAX_TRANSACTIONS_PER_SOURCE
            && bytes + size <= MAX_TRANSACTION_BYTES_PER_SOURCE
    }

    /// Counts `bytes` and `entries` more (or fewer) against `ip`.
    fn hold(&mut self, ip: IpAddr, bytes: isize, entries: isize) {
        let apply = |(n, b): &mut (usize, usize)| {
            *n = n.saturating_add_signed(entries);
            *b = b.saturating_add_signed(bytes);
        };
        apply(&mut self.held_total);
        let mine = self.held.entry(ip).or_default();
        apply(mine);
        if *mine == (0, 0) {
            self.held.remove(&ip);
        }
    }

    /// A request that names a dialog by its tags.
    fn in_dialog(&mut self, key: &Key, req: &Request, peer: SocketAddr) {
        let call = DialogId::of_request(req).and_then(|id| self.dialogs.get(&id).copied());
        let Some(call) = call else {
            return self.reply(key, 481, "Call/Transaction Does Not Exist", &[], b"");
        };
        // Only someone who received our responses knows our tag.
        self.limits.verified(peer.ip(), Instant::now());
        let Some(entry) = self.calls.get_mut(&call) else { return };
        if req.method == Method::Invite && entry.dialog.phase() == Phase::Confirmed {
            entry.reinvite = Some(key.clone());
        }
        if let Some(e) = self.servers.get_mut(key) {
            e.call = Some(call);
        }
        let actions = entry.dialog.on_request(req);
        self.dialog_actions(call, Some(key), actions);
    }

    fn dialog_actions(&mut self, call: CallRef, key: Option<&Key>, actions: Vec<dialog::Action>) {
        for action in actions {
            match action {
                dialog::Action::Respond(Reply::Plain(code, reason)) => {
                    if let Some(key) = key {
                        self.reply(key, code, reason, &[], b"");
                    }
                }
                dialog::Action::Respond(Reply::WithSdp) => {
                    let sdp = self.calls.get(&call).and_then(|c| c.sdp.clone()).unwrap_or_default();
                    if let Some(key) = key {
                        let extra = [
                            ("Contact", format!("<sip:madoguchi@{}>", self.contact_host())),
                            ("Content-Type", "application/sdp".to_owned()),
                        ];
                        self.reply(key, 200, "OK", &extra, sdp.as_bytes());
                    }
                }
                dialog::Action::Confirmed { body } => {
                    self.release_pending(call);
                    if let Some(invite_key) = self.calls.get(&call).map(|c| c.invite_key.clone()) {
                        self.server_input(&invite_key, server::Input::Ack);
                    }
                    let answer = (!body.is_empty()).then(|| sdp::parse(&String::from_utf8_lossy(&body)).ok()).flatten();
                    self.emit(Event::Confirmed { call, answer });
                }
                dialog::Action::Digit(digit) => {
                    self.emit(Event::Digit { call, digit });
                }
                dialog::Action::Offer(body) => {
                    // A hold (0.0.0.0) or an unusable offer leaves the media where they are.
                    if let Ok(offer) = sdp::parse(&String::from_utf8_lossy(&body)) {
                        self.emit(Event::MediaMoved { call, remote: offer.remote });
                    }
                }
                dialog::Action::Transferred(ok) => {
                    self.emit(Event::Transferred { call, ok });
                }
                dialog::Action::Ended(reason) => self.end(call, reason),
            }
        }
    }

    fn ack(&mut self, req: &Request, key: &Key, peer: SocketAddr) {
        // The ACK of a non-2xx final response belongs to its INVITE transaction.
        if self.servers.get(key).is_some_and(|e| e.txn.state() == server::State::Completed) {
            return self.server_input(key, server::Input::Ack);
        }
        let call = DialogId::of_request(req).and_then(|id| self.dialogs.get(&id).copied());
        let Some(call) = call else { return };
        self.limits.verified(peer.ip(), Instant::now());
        let Some(entry) = self.calls.get_mut(&call) else { return };
        let actions = entry.dialog.on_request(req);
        // The ACK of a re-INVITE's 200 stops that 200's retransmissions.
        let reinvite =
            if entry.dialog.phase() == Phase::Confirmed && actions.is_empty() { entry.reinvite.take() } else { None };
        self.dialog_actions(call, None, actions);
        if let Some(k) = reinvite {
            self.server_input(&k, server::Input::Ack);
        }
    }

    fn invite(&mut self, key: &Key, req: Request, peer: SocketAddr, link: Link) {
        let merge = (req.call_id().to_owned(), req.tag_in_from().unwrap_or_default().to_owned());
        // A copy of a live call's INVITE that its transaction did not absorb: forked on the way
        // (another branch), or a retransmission later than timer L. Never a second call.
        // Also a new INVITE naming a live call's Call-ID and From tag: not a second call either.
        if self.invites.contains_key(&merge) {
            return self.reply(key, 482, "Loop Detected", &[], b"");
        }
        if let Some(ct) = req.header("Content-Type")
            && !req.body.is_empty()
            && !ct.to_ascii_lowercase().starts_with("application/sdp")
        {
            return self.refuse(key, req, 415, "Unsupported Media Type", &[("Accept", "application/sdp".into())]);
        }
        if let Some(accept) = req.header("Accept")
            && !accept
                .to_ascii_lowercase()
                .split(',')
                .any(|a| matches!(a.trim(), "application/sdp" | "application/*" | "*/*"))
        {
            return self.refuse(key, req, 406, "Not Acceptable", &[("Accept", "application/sdp".into())]);
        }
        let offer = if req.body.is_empty() {
            None
        } else {
            match sdp::parse(&String::from_utf8_lossy(&req.body)) {
                Ok(o) => Some(o),
                Err(e) => {
                    let warning = format!("399 madoguchi \"{e}\"");
                    return self.refuse(key, req, 488, "Not Acceptable Here", &[("Warning", warning)]);
                }
            }
        };
        let unverified = !self.limits.known(peer.ip(), Instant::now());
        let pending_here = if unverified { self.pending.get(&peer.ip()).copied().unwrap_or(0) } else { 0 };
        let pending_cap = (self.config.max_calls / 4).max(PENDING_PER_SOURCE);
        if self.calls.len() >= self.config.max_calls
            || (unverified && (pending_here >= PENDING_PER_SOURCE || self.pending_total >= pending_cap))
        {
            self.limits.busy(peer.ip());
            return self.reply(key, 503, "Service Unavailable", &[("Retry-After", RETRY_AFTER.into())], b"");
        }
        self.next_call += 1;
        let call = self.next_call;
        let dialog = Dialog::from_invite(&req, random::token());
        self.dialogs.insert(dialog.id.clone(), call);
        self.invites.insert(merge.clone(), (req.cseq().0, key.clone()));
        let pending_from = unverified.then_some(peer.ip());
        if unverified {
            *self.pending.entry(peer.ip()).or_default() += 1;
            self.pending_total += 1;
        }
        let entry = CallEntry {
            dialog,
            pending_from,
            reinvite: None,
            invite_key: key.clone(),
            merge,
            peer,
            link,
            sdp: None,
            invited: Instant::now(),
            _hold: self.drain.hold(),
        };
        self.calls.insert(call, entry);
        if let Some(e) = self.servers.get_mut(key) {
            e.call = Some(call);
        }
        tracing::debug!(call, call_id = %loggable(req.call_id()), ?link, "call ringing");
        if !self.emit(Event::Incoming { call, invite: Box::new(req), peer, offer }) {
            self.reply(key, 503, "Service Unavailable", &[("Retry-After", RETRY_AFTER.into())], b"");
            self.forget(call);
        }
    }

    /// Refuses a call for its content; the helpdesk side still records it.
    fn refuse(&mut self, key: &Key, req: Request, code: u16, reason: &'static str, extra: &[(&str, String)]) {
        self.reply(key, code, reason, extra, b"");
        self.emit(Event::Refused { invite: Box::new(req), code, reason });
    }

    /// RFC 3261 §9.2: a CANCEL that finds its INVITE transaction gets 200 whatever the state; it
    /// ends the call only while the INVITE is unanswered.
    fn cancel(&mut self, key: &Key) {
        let invite_key = key.invite_of();
        let Some(invite) = self.servers.get(&invite_key) else {
            return self.reply(key, 481, "Call/Transaction Does Not Exist", &[], b"");
        };
        let call = invite
            .call
            .filter(|_| invite.txn.state() == server::State::Proceeding)
            .filter(|c| self.calls.get(c).is_some_and(|c| c.dialog.phase() == Phase::Early));
        self.reply(key, 200, "OK", &[], b"");
        let Some(call) = call else { return };
        self.reply(&invite_key, 487, "Request Terminated", &[], b"");
        self.end(call, EndReason::CancelledBeforeAnswer);
    }

    /// A response through the server transaction `key`, with our tag for the call it belongs to.
    fn reply(&mut self, key: &Key, code: u16, reason: &str, extra: &[(&str, String)], body: &[u8]) {
        let Some(e) = self.servers.get(key) else { return };
        let tag = e
            .call
            .and_then(|c| self.calls.get(&c))
            .map(|c| c.dialog.id.local_tag.clone())
            .unwrap_or_else(random::token);
        let bytes = response(&e.req, code, reason, Some(&tag), extra, body);
        let (ip, added) = (e.peer.ip(), bytes.len());
        self.server_input(key, server::Input::Respond { code, bytes });
        let Some(e) = self.servers.get_mut(key) else { return };
        e.held += added;
        let mut delta = added as isize;
        // A finished non-INVITE transaction only resends its response: the request can go.
        if code >= 200 && e.req.method != Method::Invite {
            let request: usize =
                e.req.headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>() + e.req.body.len();
            e.req.headers = Vec::new();
            e.req.body = Vec::new();
            let released = request.min(e.held);
            e.held -= released;
            delta -= released as isize;
        }
        self.hold(ip, delta, 0);
    }

    fn server_input(&mut self, key: &Key, input: server::Input) {
        let Some(e) = self.servers.get_mut(key) else { return };
        let actions = e.txn.on(input);
        self.server_actions(key, actions);
    }

    fn server_actions(&mut self, key: &Key, actions: Vec<server::Action>) {
        for action in actions {
            let Some(e) = self.servers.get_mut(key) else { return };
            match action {
                server::Action::Transmit(bytes) => {
                    let (peer, link) = (e.peer, e.link);
                    self.transmit(bytes, peer, link);
                }
                server::Action::Start(timer, after) => {
                    let id = self.timers.start(after, Fired::Server(key.clone(), timer));
                    if let Some(e) = self.servers.get_mut(key) {
                        e.timers.push(id);
                    }
                }
                server::Action::SendTrying => self.reply(key, 100, "Trying", &[], b""),
                server::Action::NoAck => {
                    let call = e.call;
                    if let Some(call) = call
                        && self.calls.get(&call).is_some_and(|c| c.dialog.phase() == Phase::Answered)
                    {
                        self.send_in_dialog(call, "BYE", &[]);
                        self.end(call, EndReason::NoAck);
                    }
                }
                server::Action::Done => {
                    if let Some(e) = self.servers.remove(key) {
                        self.hold(e.peer.ip(), -(e.held as isize), -1);
                        for t in e.timers {
                            self.timers.cancel(t);
                        }
                    }
                }
            }
        }
    }

    // ---- our requests and their responses ----

    fn send_in_dialog(&mut self, call: CallRef, method: &str, extra: &[(String, String)]) {
        let contact = format!("sip:madoguchi@{}", self.contact_host());
        let host = self.contact_host();
        let Some(c) = self.calls.get_mut(&call) else { return };
        let branch = format!("z9hG4bK{}", random::token());
        let via = format!("SIP/2.0/{} {host}", c.link.via_name());
        let bytes = c.dialog.request(method, &via, &branch, &contact, extra);
        let (source, link, hop) = (c.peer, c.link, c.dialog.next_hop());
        let peer = self.next_hop(source, link, hop.as_deref());
        let key = Key::client(&branch, method);
        let (txn, first) = ClientTransaction::new(bytes, link.reliable());
        self.clients.insert(
            key.clone(),
            ClientEntry {
                txn,
                method: method.to_owned(),
                peer,
                link,
                timers: Vec::new(),
                call: Some(call),
                awaiting: Some(self.drain.hold()),
            },
        );
        self.client_actions(&key, first);
    }

    /// Where a request in a dialog goes (§12.2.1.1, §8.1.2): the address of the route set's first
    /// URI (the proxy that record-routed, which then follows the remaining routes and the
    /// remote target). Without a route set, or over TCP (we open no connections: the request
    /// goes down the one the INVITE came over), or when the route names a host by DNS name, it
    /// goes back to where the INVITE came from. A route to another address than that is taken
    /// only once that address has shown it hears us (or is an allowed source): a forged
    /// Record-Route must not aim our requests at a third party.
    fn next_hop(&self, peer: SocketAddr, link: Link, hop: Option<&str>) -> SocketAddr {
        let Some(hop) = hop.filter(|_| link == Link::Udp) else { return peer };
        match super::uri::ip_target(hop) {
            Some(to) if to.ip() == peer.ip() || self.limits.known(to.ip(), Instant::now()) => to,
            Some(_) => {
                tracing::debug!(route = %loggable(hop), "route to an unverified address; sent to the INVITE's source");
                peer
            }
            None => {
                tracing::debug!(route = %loggable(hop), "route names no address; sent to the INVITE's source");
                peer
            }
        }
    }

    fn response(&mut self, code: u16, headers: &[(String, String)], peer: SocketAddr) {
        let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
        let branch = get("Via").and_then(|v| v.split(',').next()).and_then(|v| param(v, "branch")).unwrap_or_default();
        let method = get("CSeq").and_then(|c| c.split_whitespace().nth(1)).unwrap_or_default();
        let key = Key::client(branch, method);
        let Some(e) = self.clients.get_mut(&key) else { return };
        // Our branch is random: only who received our request can answer it.
        self.limits.verified(peer.ip(), Instant::now());
        let actions = e.txn.on(client::Input::Response(code));
        self.client_actions(&key, actions);
    }

    fn client_actions(&mut self, key: &Key, actions: Vec<client::Action>) {
        for action in actions {
            let Some(e) = self.clients.get_mut(key) else { return };
            match action {
                client::Action::Transmit(bytes) => {
                    let (peer, link) = (e.peer, e.link);
                    self.transmit(bytes, peer, link);
                }
                client::Action::Start(timer, after) => {
                    let id = self.timers.start(after, Fired::Client(key.clone(), timer));
                    if let Some(e) = self.clients.get_mut(key) {
                        e.timers.push(id);
                    }
                }
                client::Action::Deliver(code) => {
                    e.awaiting = None;
                    let (call, method) = (e.call, e.method.clone());
                    if let Some(call) = call
                        && let Some(c) = self.calls.get_mut(&call)
                    {
                        let actions = c.dialog.on_response(&method, code);
                        self.dialog_actions(call, None, actions);
                    }
                }
                client::Action::Timeout => {
                    e.awaiting = None;
                    let (call, method) = (e.call, e.method.clone());
                    tracing::warn!(call = ?call, method, "no answer to our request; giving up");
                    if let Some(call) = call
                        && self.calls.contains_key(&call)
                    {
                        self.end(call, EndReason::PeerGone);
                    }
                }
                client::Action::Done => {
                    if let Some(e) = self.clients.remove(key) {
                        for t in e.timers {
                            self.timers.cancel(t);
                        }
                    }
                }
            }
        }
    }

    // ---- calls ----

    fn command(&mut self, command: Command) {
        match command {
            Command::Answer { call, sdp, headers } => self.answer(call, sdp, &headers),
            Command::Reject { call, code, reason, headers } => {
                let Some(c) = self.calls.get(&call).filter(|c| c.dialog.phase() == Phase::Early) else { return };
                let key = c.invite_key.clone();
                let extra: Vec<(&str, String)> = headers.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
                self.reply(&key, code, &reason, &extra, b"");
                self.forget(call);
            }
            Command::Refer { call, refer_to, headers } => {
                let mut extra = headers;
                extra.push(("Refer-To".into(), refer_to));
                extra.push(("Referred-By".into(), format!("<sip:madoguchi@{}>", self.contact_host())));
                self.send_in_dialog(call, "REFER", &extra);
            }
            Command::Hangup { call } => {
                let Some(c) = self.calls.get(&call) else { return };
                if c.dialog.phase() == Phase::Early {
                    let key = c.invite_key.clone();
                    self.reply(&key, 480, "Temporarily Unavailable", &[], b"");
                } else {
                    self.send_in_dialog(call, "BYE", &[]);
                }
                self.end(call, EndReason::HungUpByUs);
            }
        }
    }

    fn answer(&mut self, call: CallRef, sdp: String, headers: &[(String, String)]) {
        let Some(c) = self.calls.get_mut(&call).filter(|c| c.dialog.phase() == Phase::Early) else { return };
        c.dialog.answered();
        c.sdp = Some(sdp.clone());
        let (key, invited) = (c.invite_key.clone(), c.invited);
        let Some(invite) = self.servers.get(&key).map(|e| e.req.clone()) else { return };
        let mut extra: Vec<(&str, String)> =
            vec![("Contact", format!("<sip:madoguchi@{}>", self.contact_host())), ("Allow", ALLOW.to_owned())];
        // Proxies on the path stay on it (RFC 3261 §12.1.1).
        extra.extend(invite.all("Record-Route").map(|r| ("Record-Route", r.to_owned())));
        extra.extend(headers.iter().map(|(n, v)| (n.as_str(), v.clone())));
        // No 180 first: the 200 follows at once, and an unverified source's byte budget (three
        // times what it sent) is better spent on the 200 and one retransmission of it.
        extra.push(("Content-Type", "application/sdp".into()));
        self.reply(&key, 200, "OK", &extra, sdp.as_bytes());
        self.config.metrics.call_setup.observe_duration(invited.elapsed());
    }

    /// The call is over on the SIP side: tell the helpdesk side and forget it.
    fn end(&mut self, call: CallRef, reason: EndReason) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.dialog.end();
            tracing::debug!(call, reason = reason.as_str(), "call ended");
            self.emit(Event::Ended { call, reason });
        }
        self.forget(call);
    }

    fn release_pending(&mut self, call: CallRef) {
        let Some(ip) = self.calls.get_mut(&call).and_then(|c| c.pending_from.take()) else { return };
        self.pending_total -= 1;
        if let Some(n) = self.pending.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&ip);
            }
        }
    }

    fn forget(&mut self, call: CallRef) {
        self.release_pending(call);
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs.remove(&c.dialog.id);
            self.invites.remove(&c.merge);
        }
    }

    fn fired(&mut self, fired: Fired) {
        match fired {
            Fired::Server(key, timer) => self.server_input(&key, server::Input::Timer(timer)),
            Fired::Client(key, timer) => {
                if let Some(e) = self.clients.get_mut(&key) {
                    let actions = e.txn.on(client::Input::Timer(timer));
                    self.client_actions(&key, actions);
                }
            }
            Fired::Sweep => {
                for line in self.limits.sweep(Instant::now()) {
                    tracing::warn!("SIP requests refused in the last minute from {line}");
                }
                self.timers.start(SWEEP, Fired::Sweep);
                tracing::debug!(
                    calls = self.calls.len(),
                    transactions = self.servers.len() + self.clients.len(),
                    timers = self.timers.len(),
                    tcp = self.transport.tcp_connections(),
                    "SIP endpoint state"
                );
            }
        }
    }
}

fn is_known(m: &Method) -> bool {
    match m {
        Method::Register | Method::Refer => true,
        Method::Other(name) => matches!(name.as_str(), "MESSAGE" | "SUBSCRIBE" | "PUBLISH" | "UPDATE" | "PRACK"),
        _ => false,
    }
}
