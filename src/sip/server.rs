//! The SIP user-agent server: UDP and TCP on one port, the transaction table, dialogs, and the
//! calls they start. One task owns all of this state; sockets, timers, call setup and calls talk
//! to it through one channel, so nothing here is shared or locked.

use super::codec::{self, Parsed};
use super::message::{Method, Request, response};
use super::sdp::{self, Offer};
use super::transaction::{Action, Input, ServerTransaction, Timer};
use super::uri;
use crate::domain::time::now_millis;
use crate::domain::{CallerInfo, Channel, NewContact, TicketNumber};
use crate::intake::Intake;
use crate::ivr::call::{Call, Command, Prompts};
use crate::ivr::dialplan::Dialplan;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY";
/// The header that carries the ticket number to the operator's phone or CTI client.
pub const TICKET_HEADER: &str = "X-Madoguchi-Ticket";

#[derive(Debug, Clone)]
pub struct SipConfig {
    pub public_ip: IpAddr,
    pub allowed_sources: Vec<IpAddr>,
    pub rtp_ports: (u16, u16),
    pub media_timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Transport {
    Udp,
    Tcp(u64),
}

enum Event {
    Inbound {
        bytes: Vec<u8>,
        peer: SocketAddr,
        transport: Transport,
    },
    TcpOpened(u64, mpsc::Sender<Vec<u8>>),
    TcpClosed(u64),
    Timer(TxKey, Timer),
    Answer {
        call_id: String,
        ticket: Option<TicketNumber>,
    },
    Command(Command),
    /// Timer E of one of our requests (BYE, REFER) over UDP.
    Resend {
        call_id: String,
        cseq: u32,
        after: Duration,
    },
}

/// A request we sent over UDP, resent until answered (timers E and F, RFC 3261 §17.1.2).
struct Outgoing {
    bytes: Vec<u8>,
    peer: SocketAddr,
    give_up: tokio::time::Instant,
}

type TxKey = (String, String);

struct Tx {
    txn: ServerTransaction,
    peer: SocketAddr,
    transport: Transport,
    call_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DialogState {
    /// INVITE received, ticket being created.
    Setup,
    /// 200 OK sent, waiting for the ACK.
    Answered,
    Confirmed,
}

struct Dialog {
    invite: Request,
    invite_key: TxKey,
    local_tag: String,
    peer: SocketAddr,
    transport: Transport,
    state: DialogState,
    offer: Option<Offer>,
    local_sdp: String,
    rtp: Arc<UdpSocket>,
    rtp_port: u16,
    ticket: Option<TicketNumber>,
    caller: CallerInfo,
    dialed: Option<String>,
    plan: Arc<Dialplan>,
    cancel: CancellationToken,
    info_tx: mpsc::Sender<char>,
    info_rx: Option<mpsc::Receiver<char>>,
    cseq: u32,
    transfer_pending: bool,
}

/// New dialplans and announcements for calls that start from now on.
pub struct Reload {
    pub plans: Vec<Dialplan>,
    pub prompts: Prompts,
}

pub struct SipServer {
    udp: Arc<UdpSocket>,
    tcp: TcpListener,
    reload_tx: mpsc::Sender<Reload>,
    reload_rx: mpsc::Receiver<Reload>,
    config: SipConfig,
    plans: Arc<Vec<Arc<Dialplan>>>,
    prompts: Arc<Prompts>,
    intake: Intake,
}

struct Core {
    udp: Arc<UdpSocket>,
    local: SocketAddr,
    config: SipConfig,
    plans: Arc<Vec<Arc<Dialplan>>>,
    prompts: Arc<Prompts>,
    intake: Intake,
    events: mpsc::Sender<Event>,
    tcp: HashMap<u64, mpsc::Sender<Vec<u8>>>,
    txs: HashMap<TxKey, Tx>,
    dialogs: HashMap<String, Dialog>,
    ports: VecDeque<u16>,
    tracker: TaskTracker,
    stop: CancellationToken,
    outgoing: HashMap<(String, u32), Outgoing>,
}

impl SipServer {
    /// Binds UDP and TCP on `addr` (port 0 picks one port free for both).
    pub async fn bind(
        addr: SocketAddr,
        config: SipConfig,
        plans: Vec<Dialplan>,
        prompts: Prompts,
        intake: Intake,
    ) -> std::io::Result<SipServer> {
        let (udp, tcp) = bind_pair(addr).await?;
        let (reload_tx, reload_rx) = mpsc::channel(4);
        Ok(SipServer {
            udp: Arc::new(udp),
            tcp,
            reload_tx,
            reload_rx,
            config,
            plans: Arc::new(plans.into_iter().map(Arc::new).collect()),
            prompts: Arc::new(prompts),
            intake,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.udp.local_addr()
    }

    /// Where to send new dialplans; calls in progress keep the ones they started with.
    pub fn reloader(&self) -> mpsc::Sender<Reload> {
        self.reload_tx.clone()
    }

    pub async fn run(mut self, stop: CancellationToken, tracker: TaskTracker) {
        let (events, mut rx) = mpsc::channel::<Event>(4096);
        let local = self.udp.local_addr().expect("bound");
        let (first, last) = self.config.rtp_ports;
        let mut core = Core {
            udp: self.udp.clone(),
            local,
            config: self.config,
            plans: self.plans,
            prompts: self.prompts,
            intake: self.intake,
            events: events.clone(),
            tcp: HashMap::new(),
            txs: HashMap::new(),
            dialogs: HashMap::new(),
            ports: (first..=last).collect(),
            tracker: tracker.clone(),
            stop: stop.clone(),
            outgoing: HashMap::new(),
        };
        tracker.spawn(udp_reader(self.udp.clone(), events.clone(), stop.clone()));
        tracker.spawn(tcp_acceptor(self.tcp, events, stop.clone(), tracker.clone()));
        loop {
            let event = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.reload_rx.recv() => {
                    if let Some(r) = r {
                        core.plans = Arc::new(r.plans.into_iter().map(Arc::new).collect());
                        core.prompts = Arc::new(r.prompts);
                        tracing::info!(lines = core.plans.len(), "dialplans and announcements reloaded");
                    }
                    continue;
                }
                e = rx.recv() => match e { Some(e) => e, None => break },
            };
            core.handle(event).await;
        }
        for (_, d) in core.dialogs.drain() {
            d.cancel.cancel();
        }
    }
}

/// UDP and TCP on the same port.
async fn bind_pair(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    if addr.port() != 0 {
        return Ok((UdpSocket::bind(addr).await?, TcpListener::bind(addr).await?));
    }
    for _ in 0..50 {
        let udp = UdpSocket::bind(addr).await?;
        if let Ok(tcp) = TcpListener::bind(udp.local_addr()?).await {
            return Ok((udp, tcp));
        }
    }
    Err(std::io::Error::other("no port free for both UDP and TCP"))
}

async fn udp_reader(udp: Arc<UdpSocket>, events: mpsc::Sender<Event>, stop: CancellationToken) {
    let mut buf = vec![0u8; codec::MAX_MESSAGE + 1];
    loop {
        let (n, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = udp.recv_from(&mut buf) => match r { Ok(r) => r, Err(_) => continue },
        };
        if events.send(Event::Inbound { bytes: buf[..n].to_vec(), peer, transport: Transport::Udp }).await.is_err() {
            return;
        }
    }
}

async fn tcp_acceptor(
    listener: TcpListener,
    events: mpsc::Sender<Event>,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let mut next_id = 1u64;
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r { Ok(r) => r, Err(_) => continue },
        };
        let id = next_id;
        next_id += 1;
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        if events.send(Event::TcpOpened(id, tx)).await.is_err() {
            return;
        }
        let stop_w = stop.clone();
        tracker.spawn(async move {
            loop {
                let bytes = tokio::select! {
                    _ = stop_w.cancelled() => return,
                    b = rx.recv() => match b { Some(b) => b, None => return },
                };
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        let events = events.clone();
        let stop_r = stop.clone();
        tracker.spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 16 * 1024];
            'read: loop {
                let n = tokio::select! {
                    _ = stop_r.cancelled() => break,
                    r = reader.read(&mut chunk) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
                };
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    match codec::frame(&buf) {
                        Ok(Some(len)) => {
                            let bytes: Vec<u8> = buf.drain(..len).collect();
                            let ev = Event::Inbound { bytes, peer, transport: Transport::Tcp(id) };
                            if events.send(ev).await.is_err() {
                                break 'read;
                            }
                        }
                        Ok(None) => break,
                        Err(_) => break 'read,
                    }
                }
            }
            let _ = events.send(Event::TcpClosed(id)).await;
        });
    }
}

fn random_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_i64(now_millis());
    format!("{:016x}", h.finish())
}

impl Core {
    async fn handle(&mut self, event: Event) {
        match event {
            Event::Inbound { bytes, peer, transport } => self.inbound(&bytes, peer, transport),
            Event::TcpOpened(id, tx) => {
                self.tcp.insert(id, tx);
            }
            Event::TcpClosed(id) => {
                self.tcp.remove(&id);
            }
            Event::Timer(key, timer) => self.input(&key, Input::Timer(timer)),
            Event::Answer { call_id, ticket } => self.answer(&call_id, ticket),
            Event::Command(Command::Hangup { call_id }) => self.hang_up(&call_id, "hung up by the service"),
            Event::Command(Command::Transfer { call_id, target, ticket }) => self.transfer(&call_id, &target, ticket),
            Event::Resend { call_id, cseq, after } => self.resend(call_id, cseq, after),
        }
    }

    fn send(&self, bytes: Vec<u8>, peer: SocketAddr, transport: Transport) {
        match transport {
            Transport::Udp => {
                let _ = self.udp.try_send_to(&bytes, peer);
            }
            Transport::Tcp(id) => {
                if let Some(tx) = self.tcp.get(&id) {
                    let _ = tx.try_send(bytes);
                }
            }
        }
    }

    fn inbound(&mut self, bytes: &[u8], peer: SocketAddr, transport: Transport) {
        match codec::parse(bytes) {
            Parsed::KeepAlive => {}
            Parsed::Invalid { reason, reply } => {
                tracing::debug!(%peer, reason, "malformed SIP message");
                if let Some(r) = reply {
                    self.send(r, peer, transport);
                }
            }
            Parsed::Response { code, headers } => self.response(code, &headers),
            Parsed::Request(req) => self.request(req, peer, transport),
        }
    }

    fn key_of(req: &Request, peer: SocketAddr) -> TxKey {
        let method = match req.method {
            Method::Ack | Method::Invite => "INVITE".to_owned(),
            ref m => m.as_str().to_owned(),
        };
        // RFC 3261 §17.2.3: branch and sent-by of the top Via, and the method.
        let sent_by = req
            .header("Via")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.split_whitespace().nth(1))
            .map(|s| s.split(';').next().unwrap_or(s))
            .unwrap_or("");
        let branch = match req.branch() {
            // The source address too: two phones reusing one branch are not one transaction.
            Some(b) if b.starts_with("z9hG4bK") && b.len() > 7 => format!("{b}|{sent_by}|{peer}"),
            // RFC 2543 peers: match on what identifies their request.
            _ => format!("2543:{}:{}:{}|{peer}", req.call_id(), req.cseq().0, req.from_tag().unwrap_or("")),
        };
        (branch, method)
    }

    fn request(&mut self, req: Request, peer: SocketAddr, transport: Transport) {
        let key = Self::key_of(&req, peer);
        if req.method == Method::Ack {
            self.ack(&req, &key);
            return;
        }
        if self.txs.contains_key(&key) {
            self.input(&key, Input::Retransmission);
            return;
        }
        let reliable = transport != Transport::Udp;
        self.txs.insert(
            key.clone(),
            Tx {
                txn: ServerTransaction::new(req.method == Method::Invite, reliable),
                peer,
                transport,
                call_id: req.call_id().to_owned(),
            },
        );

        if !self.config.allowed_sources.is_empty() && !self.config.allowed_sources.contains(&peer.ip()) {
            return self.reply(&key, &req, 403, "Forbidden", &[], b"");
        }
        if req.header("Max-Forwards").and_then(|m| m.parse::<u8>().ok()) == Some(0) {
            return self.reply(&key, &req, 483, "Too Many Hops", &[], b"");
        }
        let unsupported: Vec<&str> = req
            .header("Require")
            .map(|r| r.split(',').map(str::trim).filter(|t| !t.is_empty()).collect())
            .unwrap_or_default();
        if !unsupported.is_empty() && req.method != Method::Cancel {
            return self.reply(&key, &req, 420, "Bad Extension", &[("Unsupported", unsupported.join(", "))], b"");
        }
        let scheme = req.uri.split(':').next().unwrap_or("").to_ascii_lowercase();
        if !matches!(scheme.as_str(), "sip" | "sips" | "tel") {
            return self.reply(&key, &req, 416, "Unsupported URI Scheme", &[], b"");
        }
        match req.method {
            Method::Options => {
                let extra = [("Allow", ALLOW.to_owned()), ("Accept", "application/sdp".to_owned())];
                self.reply(&key, &req, 200, "OK", &extra, b"");
            }
            Method::Invite if req.to_tag().is_some() => self.reinvite(&key, &req),
            Method::Invite => self.invite(key, req, peer, transport),
            Method::Bye => {
                let call_id = req.call_id().to_owned();
                if self.dialogs.contains_key(&call_id) {
                    self.reply(&key, &req, 200, "OK", &[], b"");
                    self.end(&call_id, "caller hung up");
                } else {
                    self.reply(&key, &req, 481, "Call/Transaction Does Not Exist", &[], b"");
                }
            }
            Method::Cancel => self.cancel(&key, &req),
            Method::Info => {
                let digit = String::from_utf8_lossy(&req.body)
                    .lines()
                    .find_map(|l| {
                        l.trim().strip_prefix("Signal").map(|v| v.trim_start_matches([' ', '=']).trim().chars().next())
                    })
                    .flatten();
                match self.dialogs.get(req.call_id()) {
                    Some(d) => {
                        if let Some(c) = digit {
                            let _ = d.info_tx.try_send(c);
                        }
                        self.reply(&key, &req, 200, "OK", &[], b"");
                    }
                    None => self.reply(&key, &req, 481, "Call/Transaction Does Not Exist", &[], b""),
                }
            }
            Method::Notify => {
                let call_id = req.call_id().to_owned();
                let done = String::from_utf8_lossy(&req.body).contains("SIP/2.0 2");
                match self.dialogs.get(&call_id) {
                    Some(d) => {
                        let transferred = d.transfer_pending && done;
                        self.reply(&key, &req, 200, "OK", &[], b"");
                        if transferred {
                            self.hang_up(&call_id, "transferred");
                        }
                    }
                    None => self.reply(&key, &req, 481, "Call/Transaction Does Not Exist", &[], b""),
                }
            }
            Method::Register | Method::Refer | Method::Other(_) if is_known(&req.method) => {
                self.reply(&key, &req, 405, "Method Not Allowed", &[("Allow", ALLOW.to_owned())], b"")
            }
            _ => self.reply(&key, &req, 501, "Not Implemented", &[("Allow", ALLOW.to_owned())], b""),
        }
    }

    fn reply(&mut self, key: &TxKey, req: &Request, code: u16, reason: &str, extra: &[(&str, String)], body: &[u8]) {
        let tag = self.dialogs.get(req.call_id()).map(|d| d.local_tag.clone()).unwrap_or_else(random_token);
        let bytes = response(req, code, reason, Some(&tag), extra, body);
        self.input(key, Input::Respond { code, bytes });
    }

    /// Feeds a transaction and carries out what it asks.
    fn input(&mut self, key: &TxKey, input: Input) {
        let Some(tx) = self.txs.get_mut(key) else { return };
        let actions = tx.txn.on(input);
        let (peer, transport, call_id) = (tx.peer, tx.transport, tx.call_id.clone());
        for action in actions {
            match action {
                Action::Transmit(bytes) => self.send(bytes, peer, transport),
                Action::Start(timer, after) => {
                    self.schedule(Event::Timer(key.clone(), timer), after);
                }
                Action::NoAck => {
                    if self.dialogs.get(&call_id).is_some_and(|d| d.state == DialogState::Answered) {
                        self.hang_up(&call_id, "no ACK for the 200 OK");
                    }
                }
                Action::Done => {
                    self.txs.remove(key);
                }
            }
        }
    }

    fn ack(&mut self, req: &Request, key: &TxKey) {
        // The ACK of a non-2xx final response belongs to its INVITE transaction.
        if self.txs.contains_key(key)
            && self.dialogs.get(req.call_id()).is_none_or(|d| d.invite_key != *key || d.state != DialogState::Answered)
        {
            self.input(key, Input::Ack);
            return;
        }
        let call_id = req.call_id().to_owned();
        let Some(d) = self.dialogs.get_mut(&call_id) else { return };
        if d.state != DialogState::Answered {
            return;
        }
        if d.offer.is_none() && !req.body.is_empty() {
            d.offer = sdp::parse(&String::from_utf8_lossy(&req.body)).ok();
        }
        d.state = DialogState::Confirmed;
        let invite_key = d.invite_key.clone();
        self.input(&invite_key, Input::Ack);
        self.start_call(&call_id);
    }

    fn invite(&mut self, key: TxKey, req: Request, peer: SocketAddr, transport: Transport) {
        self.reply(&key, &req, 100, "Trying", &[], b"");
        if let Some(ct) = req.header("Content-Type")
            && !req.body.is_empty()
            && !ct.to_ascii_lowercase().starts_with("application/sdp")
        {
            return self.reject(&key, &req, 415, "Unsupported Media Type", &[("Accept", "application/sdp".into())]);
        }
        if let Some(accept) = req.header("Accept")
            && !accept
                .to_ascii_lowercase()
                .split(',')
                .any(|a| matches!(a.trim(), "application/sdp" | "application/*" | "*/*"))
        {
            return self.reject(&key, &req, 406, "Not Acceptable", &[("Accept", "application/sdp".into())]);
        }
        let offer = if req.body.is_empty() {
            None
        } else {
            match sdp::parse(&String::from_utf8_lossy(&req.body)) {
                Ok(o) => Some(o),
                Err(e) => {
                    let warning = format!("399 madoguchi \"{e}\"");
                    return self.reject(&key, &req, 488, "Not Acceptable Here", &[("Warning", warning)]);
                }
            }
        };
        let dialed = uri::user_of(&req.uri).or_else(|| req.header("To").and_then(|t| uri::caller(t).1));
        let Some(plan) = self.plans.iter().find(|p| p.answers(dialed.as_deref())).cloned() else {
            return self.reply(&key, &req, 404, "Not Found", &[], b"");
        };
        let Some((port, rtp)) = self.rtp_socket() else {
            return self.reject(&key, &req, 503, "Service Unavailable", &[("Retry-After", "5".into())]);
        };
        let caller = caller_of(&req);
        let call_id = req.call_id().to_owned();
        let local_sdp =
            sdp::describe(SocketAddr::new(self.config.public_ip, port), now_millis() as u64, offer.as_ref());
        let (info_tx, info_rx) = mpsc::channel(16);
        tracing::info!(call_id = %call_id, transport = ?transport, "call ringing");
        self.dialogs.insert(
            call_id.clone(),
            Dialog {
                invite: req.clone(),
                invite_key: key,
                local_tag: random_token(),
                peer,
                transport,
                state: DialogState::Setup,
                offer,
                local_sdp,
                rtp,
                rtp_port: port,
                ticket: None,
                caller: caller.clone(),
                dialed: dialed.clone(),
                plan,
                cancel: CancellationToken::new(),
                info_tx,
                info_rx: Some(info_rx),
                cseq: 1,
                transfer_pending: false,
            },
        );
        // The ticket exists from the INVITE on; answering waits for it (a few ms).
        let intake = self.intake.clone();
        let events = self.events.clone();
        let raw = String::from_utf8_lossy(
            &[
                format!("{} {} SIP/2.0\r\n", req.method.as_str(), req.uri).into_bytes(),
                req.headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")).collect::<String>().into_bytes(),
            ]
            .concat(),
        )
        .into_owned();
        self.tracker.spawn(async move {
            let contact = NewContact {
                channel: Channel::Phone,
                caller,
                dialed_number: dialed,
                received_at_ms: now_millis(),
                source_ref: Some(call_id.clone()),
                raw: Some(raw),
                actor: "sip".into(),
                dedupe_source: true,
                ..Default::default()
            };
            let ticket = match intake.submit(contact).await {
                Ok((r, _)) => Some(r.ticket),
                Err(e) => {
                    tracing::error!(error = %e, "call ticket not stored; answering anyway");
                    None
                }
            };
            let _ = events.send(Event::Answer { call_id, ticket }).await;
        });
    }

    /// Refuses a call that reached the line: the caller still gets a ticket, ended "rejected".
    fn reject(&mut self, key: &TxKey, req: &Request, code: u16, reason: &str, extra: &[(&str, String)]) {
        self.reply(key, req, code, reason, extra, b"");
        let intake = self.intake.clone();
        let contact = NewContact {
            channel: Channel::Phone,
            caller: caller_of(req),
            dialed_number: uri::user_of(&req.uri),
            received_at_ms: now_millis(),
            source_ref: Some(req.call_id().to_owned()),
            actor: "sip".into(),
            dedupe_source: true,
            ..Default::default()
        };
        let detail = json!({"ending": "rejected", "code": code, "reason": reason});
        tracing::info!(call_id = req.call_id(), code, "call rejected");
        self.tracker.spawn(async move {
            if let Ok((r, _)) = intake.submit(contact).await {
                let _ = intake.event(r.ticket, "sip", "call_ended", detail).await;
            }
        });
    }

    /// A free RTP port from the range, bound; ports another program holds are skipped.
    fn rtp_socket(&mut self) -> Option<(u16, Arc<UdpSocket>)> {
        for _ in 0..self.ports.len().min(64) {
            let port = self.ports.pop_front()?;
            let bound = std::net::UdpSocket::bind(SocketAddr::new(self.local.ip(), port)).and_then(|s| {
                s.set_nonblocking(true)?;
                UdpSocket::from_std(s)
            });
            match bound {
                Ok(s) => return Some((port, Arc::new(s))),
                Err(_) => self.ports.push_back(port),
            }
        }
        None
    }

    fn answer(&mut self, call_id: &str, ticket: Option<TicketNumber>) {
        let Some(d) = self.dialogs.get_mut(call_id) else { return };
        d.ticket = ticket.clone();
        if d.state != DialogState::Setup {
            return;
        }
        d.state = DialogState::Answered;
        let (req, key, sdp) = (d.invite.clone(), d.invite_key.clone(), d.local_sdp.clone());
        let mut extra =
            vec![("Contact", format!("<sip:madoguchi@{}>", self.contact_host())), ("Allow", ALLOW.to_owned())];
        // Proxies on the path stay on it (RFC 3261 §12.1.1).
        extra.extend(req.all("Record-Route").map(|r| ("Record-Route", r.to_owned())));
        if let Some(t) = &ticket {
            extra.push((TICKET_HEADER, t.to_string()));
        }
        self.reply(&key, &req, 180, "Ringing", &extra, b"");
        extra.push(("Content-Type", "application/sdp".into()));
        self.reply(&key, &req, 200, "OK", &extra, sdp.as_bytes());
        if let Some(t) = ticket {
            let intake = self.intake.clone();
            self.tracker.spawn(async move {
                let _ = intake.event(t, "sip", "call_ringing", json!({})).await;
            });
        }
    }

    fn contact_host(&self) -> String {
        SocketAddr::new(self.config.public_ip, self.local.port()).to_string()
    }

    fn reinvite(&mut self, key: &TxKey, req: &Request) {
        let Some(d) = self.dialogs.get_mut(req.call_id()) else {
            return self.reply(key, req, 481, "Call/Transaction Does Not Exist", &[], b"");
        };
        if let Ok(o) = sdp::parse(&String::from_utf8_lossy(&req.body)) {
            d.offer = Some(o);
        }
        let sdp = d.local_sdp.clone();
        let extra = [
            ("Contact", format!("<sip:madoguchi@{}>", self.contact_host())),
            ("Content-Type", "application/sdp".to_owned()),
        ];
        self.reply(key, req, 200, "OK", &extra, sdp.as_bytes());
    }

    fn cancel(&mut self, key: &TxKey, req: &Request) {
        let invite_key = (key.0.clone(), "INVITE".to_owned());
        let call_id = req.call_id().to_owned();
        let pending =
            self.dialogs.get(&call_id).filter(|d| d.invite_key == invite_key && d.state == DialogState::Setup);
        if pending.is_none() {
            return self.reply(key, req, 481, "Call/Transaction Does Not Exist", &[], b"");
        }
        self.reply(key, req, 200, "OK", &[], b"");
        let invite = self.dialogs.get(&call_id).map(|d| d.invite.clone()).expect("checked");
        self.reply(&invite_key, &invite, 487, "Request Terminated", &[], b"");
        self.end(&call_id, "caller cancelled before answer");
    }

    fn start_call(&mut self, call_id: &str) {
        let Some(d) = self.dialogs.get_mut(call_id) else { return };
        let Some(offer) = d.offer.clone() else {
            tracing::warn!(call_id, "no media description from the caller; hanging up");
            self.hang_up(call_id, "no media description");
            return;
        };
        let (tx, mut rx) = mpsc::channel(8);
        let call = Call {
            call_id: call_id.to_owned(),
            ticket: d.ticket.clone(),
            caller: d.caller.clone(),
            dialed: d.dialed.clone(),
            plan: d.plan.clone(),
            prompts: self.prompts.clone(),
            rtp: d.rtp.clone(),
            remote: offer.remote,
            codec: offer.codec,
            event_pt: offer.telephone_event,
            info_digits: d.info_rx.take().unwrap_or_else(|| mpsc::channel(1).1),
            commands: tx,
            cancel: d.cancel.clone(),
            intake: self.intake.clone(),
            media_timeout: self.config.media_timeout,
        };
        let events = self.events.clone();
        self.tracker.spawn(async move {
            while let Some(c) = rx.recv().await {
                if events.send(Event::Command(c)).await.is_err() {
                    break;
                }
            }
        });
        let cancel = d.cancel.clone();
        self.tracker.spawn(async move {
            let ending = call.run().await;
            tracing::debug!(ending = ending.as_str(), "call task ended");
            drop(cancel);
        });
    }

    /// A request we send inside the dialog (BYE, REFER).
    fn dialog_request(&mut self, call_id: &str, method: &str, extra: &[(&str, String)]) -> Option<()> {
        let local = self.contact_host();
        let d = self.dialogs.get_mut(call_id)?;
        d.cseq += 1;
        let inv = &d.invite;
        let target = inv.header("Contact").map(|c| match (c.find('<'), c.find('>')) {
            (Some(a), Some(b)) if a < b => c[a + 1..b].to_owned(),
            _ => c.split(';').next().unwrap_or(c).trim().to_owned(),
        });
        let target = target.unwrap_or_else(|| format!("sip:{}", d.peer));
        let proto = if d.transport == Transport::Udp { "UDP" } else { "TCP" };
        let mut text = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/{proto} {local};branch=z9hG4bK{}\r\nMax-Forwards: 70\r\n\
From: {};tag={}\r\nTo: {}\r\nCall-ID: {call_id}\r\nCSeq: {} {method}\r\nContact: <sip:madoguchi@{local}>\r\n",
            random_token(),
            inv.header("To").unwrap_or_default(),
            d.local_tag,
            inv.header("From").unwrap_or_default(),
            d.cseq,
        );
        for (n, v) in extra {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        let (peer, transport, cseq) = (d.peer, d.transport, d.cseq);
        let bytes = text.into_bytes();
        if transport == Transport::Udp {
            let give_up = tokio::time::Instant::now() + 64 * super::transaction::T1;
            self.outgoing.insert((call_id.to_owned(), cseq), Outgoing { bytes: bytes.clone(), peer, give_up });
            self.schedule(
                Event::Resend { call_id: call_id.to_owned(), cseq, after: super::transaction::T1 },
                super::transaction::T1,
            );
        }
        self.send(bytes, peer, transport);
        Some(())
    }

    fn transfer(&mut self, call_id: &str, target: &str, ticket: Option<TicketNumber>) {
        let mut refer_to = format!("<{target}>");
        let mut extra = Vec::new();
        if let Some(t) = &ticket {
            let sep = if target.contains('?') { '&' } else { '?' };
            refer_to = format!("<{target}{sep}{TICKET_HEADER}={t}>");
            extra.push((TICKET_HEADER, t.to_string()));
        }
        extra.push(("Refer-To", refer_to));
        extra.push(("Referred-By", format!("<sip:madoguchi@{}>", self.contact_host())));
        if let Some(d) = self.dialogs.get_mut(call_id) {
            d.transfer_pending = true;
        }
        tracing::info!(call_id, ticket = ?ticket.as_ref().map(|t| t.to_string()), "call transfer requested");
        self.dialog_request(call_id, "REFER", &extra);
    }

    /// Sends `event` to the core after `after`, unless the service stops first.
    fn schedule(&self, event: Event, after: Duration) {
        let events = self.events.clone();
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::sleep(after) => {
                    let _ = events.send(event).await;
                }
            }
        });
    }

    fn resend(&mut self, call_id: String, cseq: u32, after: Duration) {
        let key = (call_id, cseq);
        let Some(out) = self.outgoing.get(&key) else { return };
        if tokio::time::Instant::now() >= out.give_up {
            tracing::warn!(call_id = %key.0, "no answer to our request; giving up");
            self.outgoing.remove(&key);
            return;
        }
        let (bytes, peer) = (out.bytes.clone(), out.peer);
        self.send(bytes, peer, Transport::Udp);
        let next = (after * 2).min(super::transaction::T2);
        self.schedule(Event::Resend { call_id: key.0, cseq, after: next }, next);
    }

    fn response(&mut self, code: u16, headers: &[(String, String)]) {
        let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
        let call_id = get("Call-ID").unwrap_or_default().to_owned();
        let cseq_number = get("CSeq").and_then(|c| c.split_whitespace().next()).and_then(|n| n.parse::<u32>().ok());
        if code >= 200
            && let Some(n) = cseq_number
        {
            self.outgoing.remove(&(call_id.clone(), n));
        }
        let method = get("CSeq").and_then(|c| c.split_whitespace().nth(1)).unwrap_or_default();
        if method == "REFER" && code >= 300 {
            tracing::warn!(call_id = %call_id, code, "transfer refused; hanging up");
            self.hang_up(&call_id, "transfer refused");
        }
    }

    /// We end the call: BYE to the caller.
    fn hang_up(&mut self, call_id: &str, reason: &str) {
        if !self.dialogs.contains_key(call_id) {
            return;
        }
        self.dialog_request(call_id, "BYE", &[]);
        self.end(call_id, reason);
    }

    fn end(&mut self, call_id: &str, reason: &str) {
        let Some(d) = self.dialogs.remove(call_id) else { return };
        d.cancel.cancel();
        self.ports.push_back(d.rtp_port);
        tracing::info!(call_id, ticket = ?d.ticket.as_ref().map(|t| t.to_string()), reason, "call ended");
        if let Some(t) = d.ticket
            && d.state != DialogState::Confirmed
        {
            // Once confirmed, the call task records how the call ended.
            let intake = self.intake.clone();
            let reason = reason.to_owned();
            self.tracker.spawn(async move {
                let _ = intake.event(t, "sip", "call_ended", json!({"ending": reason})).await;
            });
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

/// The caller: P-Asserted-Identity if the trunk asserts one, else From; anonymous on Privacy.
fn caller_of(req: &Request) -> CallerInfo {
    let source = req.header("P-Asserted-Identity").or(req.header("From")).unwrap_or_default();
    let (name, user) = uri::caller(source);
    let privacy =
        req.header("Privacy").is_some_and(|p| p.split(';').any(|v| matches!(v.trim(), "id" | "user" | "header")));
    let anonymous = privacy || user.as_deref().is_some_and(|u| u.eq_ignore_ascii_case("anonymous"));
    if anonymous {
        return CallerInfo { name: Some("非通知 / Anonymous".into()), ..Default::default() };
    }
    CallerInfo { number: user, name, ..Default::default() }
}
