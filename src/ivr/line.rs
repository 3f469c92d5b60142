//! The helpdesk line: what the SIP endpoint's calls become. For each incoming call it picks the
//! dialplan, takes an RTP port, opens the ticket through `intake`, answers with the ticket number,
//! runs the call task once the caller acknowledges, and makes sure every call's ticket ends with
//! a reason, in whatever order the ticket write, the CANCEL or the BYE arrive. This task owns the
//! calls' helpdesk state and the RTP ports.

use super::announcer::Overrides;
use super::call::{Call, Prompts, TICKET_HEADER};
use super::dialplan::Dialplan;
use super::screen;
use crate::domain::calls::Ending;
use crate::domain::time::now_millis;
use crate::domain::{CallerInfo, Channel, NewContact, TicketNumber, Tier};
use crate::drain::{Drain, Hold};
use crate::events::Kind;
use crate::intake::Intake;
use crate::media::pacer::Pacer;
use crate::media::ports::PortPool;
use crate::media::ports::RtpSocket;
use crate::sip::dialog::EndReason;
use crate::sip::endpoint::{CallRef, Command, Event};
use crate::sip::message::{Request, loggable};
use crate::sip::sdp::{self, Offer};
use crate::sip::uri;
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, Clone)]
pub struct LineConfig {
    /// The address in our SDP.
    pub public_ip: IpAddr,
    /// The address RTP sockets bind to.
    pub rtp_ip: IpAddr,
    pub rtp_ports: (u16, u16),
    pub media_timeout: Duration,
}

/// New dialplans and announcements for calls that start from now on.
pub struct Reload {
    pub plans: Vec<Dialplan>,
    pub prompts: Prompts,
}

enum Internal {
    TicketReady { call: CallRef, ticket: Option<TicketNumber>, tier: Option<Tier> },
    TaskDone { call: CallRef, ending: Ending },
}

/// The running call task's inputs.
struct Running {
    cancel: CancellationToken,
    digits: mpsc::Sender<char>,
    transfers: mpsc::Sender<bool>,
    /// Where the caller's RTP is, as its latest offer says.
    media: tokio::sync::watch::Sender<SocketAddr>,
    /// Set before `cancel` when the service, not the caller, ends the call.
    by_service: Arc<AtomicBool>,
}

struct LineCall {
    call_id: String,
    signalling_ip: IpAddr,
    port: u16,
    rtp: Arc<RtpSocket>,
    rtp_send: Option<std::net::UdpSocket>,
    offer: Option<Offer>,
    plan: Arc<Dialplan>,
    caller: CallerInfo,
    dialed: Option<String>,
    /// `None` while the ticket is being written.
    ticket: Option<Option<TicketNumber>>,
    tier: Option<Tier>,
    /// Set when the SIP side ended the call (or we found it cannot go on).
    ended: Option<&'static str>,
    running: Option<Running>,
    /// A drain waits for the call, its ticket's ending included.
    _hold: Hold,
}

pub struct Line {
    config: LineConfig,
    plans: Arc<Vec<Arc<Dialplan>>>,
    /// The announcements from files (or built in): each slot's shipped version.
    shipped: Prompts,
    /// What calls that start now hear: the shipped ones with the approved versions in place.
    prompts: Arc<Prompts>,
    /// The approved versions playing in place of the shipped ones (from the announcer).
    versions: tokio::sync::watch::Receiver<Overrides>,
    intake: Intake,
    ports: PortPool,
    pacer: Pacer,
    commands: mpsc::Sender<Command>,
    calls: HashMap<CallRef, LineCall>,
    internal: mpsc::Sender<Internal>,
    tracker: TaskTracker,
    no_port: Refusals,
    drain: Drain,
}

/// Calls refused for want of an RTP port: counted, and logged at most once a minute.
#[derive(Default)]
struct Refusals {
    since_log: u64,
    logged: Option<tokio::time::Instant>,
}

impl Refusals {
    fn refused(&mut self) {
        self.since_log += 1;
        let now = tokio::time::Instant::now();
        if self.logged.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60)) {
            tracing::warn!(calls = self.since_log, "no RTP port free; calls refused with 503 (max_calls, rtp_ports)");
            self.since_log = 0;
            self.logged = Some(now);
        }
    }
}

impl Line {
    /// Runs the line until `stop`: `events` from the endpoint, `reload` from the file watcher.
    /// When `drain`'s limit comes, the calls still in progress are ended (BYE) and their
    /// tickets record it like any other ending.
    #[allow(clippy::too_many_arguments)]
    pub async fn run(
        config: LineConfig,
        pacer: Pacer,
        plans: Vec<Dialplan>,
        prompts: Prompts,
        intake: Intake,
        mut events: mpsc::Receiver<Event>,
        commands: mpsc::Sender<Command>,
        mut reload: mpsc::Receiver<Reload>,
        mut versions: tokio::sync::watch::Receiver<Overrides>,
        drain: Drain,
        stop: CancellationToken,
        tracker: TaskTracker,
    ) {
        let (internal, mut internal_rx) = mpsc::channel(4096);
        versions.mark_changed();
        let mut line = Line {
            ports: PortPool::new(config.rtp_ip, config.rtp_ports),
            pacer,
            config,
            plans: Arc::new(plans.into_iter().map(Arc::new).collect()),
            prompts: Arc::new(prompts.clone()),
            shipped: prompts,
            versions,
            intake,
            commands,
            calls: HashMap::new(),
            internal,
            tracker,
            no_port: Refusals::default(),
            drain: drain.clone(),
        };
        let mut ending_all = false;
        // A source that has ended (its task stopped) is not asked again: a closed channel answers
        // at once, every time, and would keep this loop spinning.
        let (mut reloads_open, mut versions_open) = (true, true);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = drain.over(), if !ending_all => {
                    ending_all = true;
                    line.end_all();
                },
                r = reload.recv(), if reloads_open => match r {
                    Some(r) => {
                        line.plans = Arc::new(r.plans.into_iter().map(Arc::new).collect());
                        line.shipped = r.prompts;
                        line.refresh_prompts(true);
                        tracing::info!(lines = line.plans.len(), "dialplans and announcements reloaded");
                    }
                    None => reloads_open = false,
                },
                changed = line.versions.changed(), if versions_open => match changed {
                    Ok(()) => line.refresh_prompts(true),
                    Err(_) => versions_open = false,
                },
                e = events.recv() => match e {
                    Some(e) => line.event(e),
                    None => break,
                },
                i = internal_rx.recv() => if let Some(i) = i {
                    line.internal(i);
                },
            }
        }
        for c in line.calls.values() {
            if let Some(r) = &c.running {
                r.cancel.cancel();
            }
        }
    }

    /// The drain's limit has come: every call still in progress is ended by us.
    fn end_all(&mut self) {
        if !self.calls.is_empty() {
            tracing::info!(calls = self.calls.len(), "drain limit reached: ending the calls in progress");
        }
        let calls: Vec<CallRef> = self.calls.keys().copied().collect();
        for call in calls {
            if let Some(r) = self.calls.get(&call).and_then(|c| c.running.as_ref()) {
                r.by_service.store(true, Ordering::Relaxed);
            }
            self.command(Command::Hangup { call });
        }
    }

    /// What calls starting now hear, after a reload or when the announcer chose other versions.
    fn refresh_prompts(&mut self, force: bool) {
        if force || self.versions.has_changed().unwrap_or(false) {
            self.prompts = Arc::new(self.shipped.overlaid(&self.versions.borrow_and_update()));
        }
    }

    fn command(&self, command: Command) {
        if let Err(e) = self.commands.try_send(command) {
            tracing::warn!(error = %e, "SIP command not delivered: the endpoint is overloaded");
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Incoming { call, invite, peer, offer } => self.incoming(call, &invite, peer, offer),
            Event::Refused { invite, code, reason } => self.refused(&invite, code, reason),
            Event::Confirmed { call, answer } => self.confirmed(call, answer),
            Event::Digit { call, digit } => {
                if let Some(r) = self.calls.get(&call).and_then(|c| c.running.as_ref()) {
                    let _ = r.digits.try_send(digit);
                }
            }
            Event::MediaMoved { call, remote } => {
                if let Some(r) = self.calls.get(&call).and_then(|c| c.running.as_ref()) {
                    r.media.send_replace(remote);
                }
            }
            Event::Transferred { call, ok } => {
                if let Some(r) = self.calls.get(&call).and_then(|c| c.running.as_ref()) {
                    let _ = r.transfers.try_send(ok);
                }
            }
            Event::Ended { call, reason } => self.ended(call, reason),
        }
    }

    fn incoming(&mut self, call: CallRef, invite: &Request, peer: SocketAddr, offer: Option<Offer>) {
        let dialed = uri::user_of(&invite.uri).or_else(|| invite.header("To").and_then(|t| uri::caller(t).1));
        // The endpoint already refuses new calls while draining; one that crossed it is refused here.
        if self.drain.is_draining() {
            let headers = vec![("Retry-After".to_owned(), "5".to_owned())];
            return self.command(Command::Reject { call, code: 503, reason: "Service Unavailable".into(), headers });
        }
        let Some(plan) = self.plans.iter().find(|p| p.answers(dialed.as_deref())).cloned() else {
            self.intake.store().metrics().call_ended("rejected");
            return self.command(Command::Reject { call, code: 404, reason: "Not Found".into(), headers: vec![] });
        };
        let Some(rtp) = self.ports.take() else {
            self.no_port.refused();
            self.intake.store().metrics().call_ended("rejected");
            let headers = vec![("Retry-After".to_owned(), "5".to_owned())];
            return self.command(Command::Reject { call, code: 503, reason: "Service Unavailable".into(), headers });
        };
        let caller = caller_of(invite);
        let call_id = invite.call_id().to_owned();
        let contact = NewContact {
            channel: Channel::Phone,
            caller: caller.clone(),
            dialed_number: dialed.clone(),
            received_at_ms: now_millis(),
            source_ref: Some(call_id.clone()),
            raw: Some(raw_headers(invite)),
            actor: "sip".into(),
            dedupe_source: true,
            ..Default::default()
        };
        self.intake.store().metrics().calls_active.inc();
        self.calls.insert(
            call,
            LineCall {
                call_id,
                signalling_ip: peer.ip(),
                port: rtp.port,
                rtp: rtp.recv,
                rtp_send: Some(rtp.send),
                offer,
                plan,
                caller,
                dialed: dialed.clone(),
                ticket: None,
                tier: None,
                ended: None,
                running: None,
                _hold: self.drain.hold(),
            },
        );
        // The ticket exists from the INVITE on; answering waits for it (a few ms). Meanwhile the
        // caller's other tickets are read, and the operators' screens pop before the answer.
        let intake = self.intake.clone();
        let internal = self.internal.clone();
        let caller = contact.caller.clone();
        self.tracker.spawn(async move {
            let context = screen::caller_context(intake.store(), caller.number.as_deref());
            let (recorded, context) = tokio::join!(intake.submit(contact), context);
            let (ticket, tier) = match recorded {
                Ok((r, decision)) => (Some(r.ticket), Some(decision.tier)),
                Err(e) => {
                    tracing::error!(error = %e, "call ticket not stored; answering anyway");
                    (None, None)
                }
            };
            let data = screen::ringing(call, &caller, dialed.as_deref(), ticket.as_ref(), context);
            intake.events().publish(Kind::CallRinging, tier, data);
            let _ = internal.send(Internal::TicketReady { call, ticket, tier }).await;
        });
    }

    /// A call refused for what it asked still becomes a ticket, ended "rejected".
    fn refused(&mut self, invite: &Request, code: u16, reason: &'static str) {
        let contact = NewContact {
            channel: Channel::Phone,
            caller: caller_of(invite),
            dialed_number: uri::user_of(&invite.uri),
            received_at_ms: now_millis(),
            source_ref: Some(invite.call_id().to_owned()),
            actor: "sip".into(),
            dedupe_source: true,
            ..Default::default()
        };
        self.intake.store().metrics().call_ended("rejected");
        let intake = self.intake.clone();
        self.tracker.spawn(async move {
            if let Ok((r, _)) = intake.submit(contact).await {
                tracing::info!(ticket = %r.ticket, code, "call rejected");
                let detail = json!({"ending": "rejected", "code": code, "reason": reason});
                let _ = intake.event(r.ticket, "sip", "call_ended", detail).await;
            }
        });
    }

    fn internal(&mut self, internal: Internal) {
        match internal {
            Internal::TicketReady { call, ticket, tier } => self.ticket_ready(call, ticket, tier),
            Internal::TaskDone { call, ending } => {
                if let Some(c) = self.calls.remove(&call) {
                    self.ports.give_back(c.port);
                    tracing::info!(ticket = %c.ticket.flatten().map(|t| t.to_string()).unwrap_or_else(|| "-".into()), ending = ending.as_str(), "call ended");
                }
            }
        }
    }

    fn ticket_ready(&mut self, call: CallRef, ticket: Option<TicketNumber>, tier: Option<Tier>) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.ticket = Some(ticket.clone());
        c.tier = tier;
        if c.ended.is_some() {
            return self.finish(call);
        }
        let local = SocketAddr::new(self.config.public_ip, c.port);
        let sdp = sdp::describe(local, now_millis() as u64, c.offer.as_ref());
        let headers: Vec<(String, String)> = ticket.iter().map(|t| (TICKET_HEADER.to_owned(), t.to_string())).collect();
        tracing::debug!(call_id = %loggable(&c.call_id), ticket = %ticket.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "-".into()), "call answered");
        self.command(Command::Answer { call, sdp, headers });
        if let Some(t) = ticket {
            let intake = self.intake.clone();
            self.tracker.spawn(async move {
                let _ = intake.event(t, "sip", "call_ringing", json!({})).await;
            });
        }
    }

    fn confirmed(&mut self, call: CallRef, answer: Option<Offer>) {
        // A version approved a moment ago plays to this call, whichever the line saw first.
        self.refresh_prompts(false);
        let Some(c) = self.calls.get_mut(&call) else { return };
        if c.running.is_some() {
            return;
        }
        let Some(offer) = c.offer.clone().or(answer) else {
            tracing::warn!("no media description from the caller; hanging up");
            c.ended = Some("no media description");
            return self.command(Command::Hangup { call });
        };
        let (digit_tx, digits) = mpsc::channel(32);
        let (transfer_tx, transfers) = mpsc::channel(2);
        let (media_tx, media) = tokio::sync::watch::channel(offer.remote);
        let cancel = CancellationToken::new();
        let by_service = Arc::new(AtomicBool::new(false));
        let task = Call {
            call,
            call_id: c.call_id.clone(),
            ticket: c.ticket.clone().flatten(),
            tier: c.tier,
            caller: c.caller.clone(),
            dialed: c.dialed.clone(),
            plan: c.plan.clone(),
            prompts: self.prompts.clone(),
            rtp: c.rtp.clone(),
            rtp_send: c.rtp_send.take(),
            pacer: self.pacer.clone(),
            remote: offer.remote,
            signalling_ip: c.signalling_ip,
            codec: offer.codec,
            event_pt: offer.telephone_event,
            digit_tx: digit_tx.clone(),
            digits,
            transfers,
            media,
            commands: self.commands.clone(),
            cancel: cancel.clone(),
            intake: self.intake.clone(),
            media_timeout: self.config.media_timeout,
            voicemail_stored: false,
            by_service: by_service.clone(),
        };
        c.running = Some(Running { cancel, digits: digit_tx, transfers: transfer_tx, media: media_tx, by_service });
        let internal = self.internal.clone();
        self.tracker.spawn(async move {
            let ending = task.run().await;
            let _ = internal.send(Internal::TaskDone { call, ending }).await;
        });
    }

    fn ended(&mut self, call: CallRef, reason: EndReason) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.ended = Some(c.ended.unwrap_or(reason.as_str()));
        match &c.running {
            // The call task records how the call ended, then reports back.
            Some(r) => r.cancel.cancel(),
            None if c.ticket.is_some() => self.finish(call),
            // The ticket is still being written: `ticket_ready` finishes.
            None => {}
        }
    }

    /// A call that never ran: its ticket gets the ending, its port goes back.
    fn finish(&mut self, call: CallRef) {
        let Some(c) = self.calls.remove(&call) else { return };
        self.ports.give_back(c.port);
        let ending = c.ended.unwrap_or("ended");
        let ticket = c.ticket.flatten();
        tracing::info!(ticket = %ticket.as_ref().map(|t| t.to_string()).unwrap_or_else(|| "-".into()), ending, "call ended");
        let metrics = self.intake.store().metrics();
        metrics.call_ended(ending);
        metrics.calls_active.dec();
        self.intake.events().publish(
            Kind::CallEnded,
            c.tier,
            json!({"call": call, "ticket": ticket, "ending": ending}),
        );
        if let Some(t) = ticket {
            let intake = self.intake.clone();
            self.tracker.spawn(async move {
                let _ = intake.event(t, "sip", "call_ended", json!({"ending": ending})).await;
            });
        }
    }
}

fn raw_headers(req: &Request) -> String {
    let mut raw = format!("{} {} SIP/2.0\r\n", req.method.as_str(), req.uri);
    for (n, v) in &req.headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw
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
