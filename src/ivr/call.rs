//! One answered call: plays the dialplan's announcements over RTP, reads the caller's keys
//! (RFC 4733 or SIP INFO), records voicemail out of hours, and asks the SIP side to transfer or
//! hang up. Every step is written to the call's ticket. The line cancels `cancel` when the
//! caller hangs up; media stops with it. A caller who sends no RTP for the media timeout is hung
//! up in every state, recording included.

use super::announcer::{MAINTENANCE, NOTICES};
use super::dialplan::{Dialplan, NoticeAt, Opening};
use crate::diagnostic::{Problem, Problems};
use crate::domain::callback;
use crate::domain::calls::Ending;
use crate::domain::time::{jst, now_millis};
use crate::domain::{AttachmentUpload, CallerInfo, Channel, NewContact, Status, TicketNumber, Tier};
use crate::domain::{FieldChange, TicketChange};
use crate::events::Kind;
use crate::intake::Intake;
use crate::media::audio::{self, RATE};
use crate::media::g711::Codec;
use crate::media::pacer::{Pacer, RemoteSetter, Stream};
use crate::media::ports::RtpSocket;
use crate::media::rtp::{Inbound, Receiver, SourceFilter};
use crate::sip::endpoint::{CallRef, Command};
use crate::store::{Created, NewCallback};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The announcements, loaded once (8 kHz mono).
#[derive(Debug, Default, Clone)]
pub struct Prompts(HashMap<String, Arc<Vec<i16>>>);

impl Prompts {
    /// Every `*.wav` in `dir`; each one that cannot be read is a problem, all reported at once.
    pub fn load(dir: &Path) -> Result<Prompts, Problems> {
        let mut map = HashMap::new();
        let mut problems = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for path in paths {
                if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav"))
                    && let Some(name) = path.file_stem().and_then(|s| s.to_str())
                {
                    match audio::load_wav(&path) {
                        Ok(samples) => {
                            map.insert(name.to_owned(), Arc::new(samples));
                        }
                        Err(audio::AudioError::Wav { path, message }) => {
                            problems.push(Problem::new(path, None, format!("not a usable announcement: {message}")))
                        }
                    }
                }
            }
        }
        if problems.is_empty() { Ok(Prompts(map)) } else { Err(Problems(problems)) }
    }

    /// `[sip] prompts` as configured: the directory, or the built-in set when the default
    /// directory is not there (see [`super::builtin`]).
    pub fn load_configured(prompts: &str) -> Result<Prompts, Problems> {
        if super::builtin::serves(prompts, &crate::config::SipSettings::default().prompts) {
            let mut map = HashMap::new();
            for (name, bytes) in super::builtin::PROMPTS {
                let samples = audio::load_wav_bytes(name, bytes)
                    .map_err(|e| Problems(vec![Problem::new(name, None, e.to_string())]))?;
                map.insert(name.to_owned(), Arc::new(samples));
            }
            return Ok(Prompts(map));
        }
        Prompts::load(Path::new(prompts))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The slots, by name.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.keys().cloned().collect();
        names.sort();
        names
    }

    pub(crate) fn set(&mut self, name: &str, samples: Arc<Vec<i16>>) {
        self.0.insert(name.to_owned(), samples);
    }

    pub fn get(&self, name: &str) -> Arc<Vec<i16>> {
        self.0.get(name).cloned().unwrap_or_default()
    }
}

/// The header that carries the ticket number to the operator's phone or CTI client.
pub const TICKET_HEADER: &str = "X-Madoguchi-Ticket";

pub struct Call {
    pub call: CallRef,
    pub call_id: String,
    pub ticket: Option<TicketNumber>,
    /// The tier the call's ticket is in (the caller's menu choice may move it).
    pub tier: Option<Tier>,
    pub caller: CallerInfo,
    pub dialed: Option<String>,
    pub plan: Arc<Dialplan>,
    pub prompts: Arc<Prompts>,
    pub rtp: Arc<RtpSocket>,
    /// The same port, for the pacer to send from (taken when the call starts).
    pub rtp_send: Option<std::net::UdpSocket>,
    pub pacer: Pacer,
    /// Where the caller's SDP says its RTP is.
    pub remote: SocketAddr,
    /// Where the call's signalling came from (a NAT's outside address).
    pub signalling_ip: IpAddr,
    pub codec: Codec,
    pub event_pt: Option<u8>,
    /// Keys, from RTP (the receiver gets a clone of the sender) and from SIP INFO.
    pub digit_tx: mpsc::Sender<char>,
    pub digits: mpsc::Receiver<char>,
    /// The outcome of a transfer we asked for.
    pub transfers: mpsc::Receiver<bool>,
    /// Where the caller's RTP is: the SDP's address, moved by a re-INVITE.
    pub media: tokio::sync::watch::Receiver<SocketAddr>,
    pub commands: mpsc::Sender<Command>,
    pub cancel: CancellationToken,
    pub intake: Intake,
    pub media_timeout: Duration,
    /// Whether the caller's message was stored (false until then).
    pub voicemail_stored: bool,
    /// Set by the line before it cancels the call when the service ends it (a drain's limit).
    pub by_service: Arc<AtomicBool>,
}

enum Stop {
    Cancelled,
    MediaTimeout,
}

struct Media {
    stream: Stream,
    digits: mpsc::Receiver<char>,
    audio: mpsc::Receiver<Vec<i16>>,
    /// The caller's audio is decoded and queued only while this is set.
    recording: Arc<AtomicBool>,
    last_rtp: Arc<AtomicI64>,
    cancel: CancellationToken,
    timeout: Duration,
}

/// Waits for `fut`, unless the caller hangs up or stops sending media.
async fn guarded<T>(
    cancel: CancellationToken,
    last: Arc<AtomicI64>,
    timeout: Duration,
    fut: impl std::future::Future<Output = T>,
) -> Result<T, Stop> {
    let watchdog = async move {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if now_millis() - last.load(Ordering::Relaxed) > timeout.as_millis() as i64 {
                return;
            }
        }
    };
    tokio::select! {
        _ = cancel.cancelled() => Err(Stop::Cancelled),
        _ = watchdog => Err(Stop::MediaTimeout),
        v = fut => Ok(v),
    }
}

impl Media {
    /// Plays a prompt; with `barge_in`, a key pressed meanwhile stops it and is returned.
    async fn play(&mut self, samples: Arc<Vec<i16>>, barge_in: bool) -> Result<Option<char>, Stop> {
        let (cancel, last, timeout) = (self.cancel.clone(), self.last_rtp.clone(), self.timeout);
        let Media { stream, digits, .. } = self;
        guarded(cancel, last, timeout, async {
            if barge_in {
                tokio::select! {
                    _ = stream.play(samples) => None,
                    d = digits.recv() => d,
                }
            } else {
                stream.play(samples).await;
                None
            }
        })
        .await
    }

    async fn key(&mut self, wait: Duration) -> Result<Option<char>, Stop> {
        let (cancel, last, timeout) = (self.cancel.clone(), self.last_rtp.clone(), self.timeout);
        let digits = &mut self.digits;
        guarded(cancel, last, timeout, async { tokio::time::timeout(wait, digits.recv()).await.ok().flatten() }).await
    }

    /// Records until `max`, or `silence` of quiet after the caller has spoken, or hang-up, or
    /// the media timeout (what was recorded until then is kept).
    async fn record(&mut self, max: Duration, silence: Duration) -> (Vec<i16>, Option<Stop>) {
        let mut samples = Vec::new();
        let (cancel, last, timeout) = (self.cancel.clone(), self.last_rtp.clone(), self.timeout);
        let audio = &mut self.audio;
        let stopped = guarded(cancel, last, timeout, Self::record_into(audio, &mut samples, max, silence)).await.err();
        (samples, stopped)
    }

    async fn record_into(
        audio: &mut mpsc::Receiver<Vec<i16>>,
        samples: &mut Vec<i16>,
        max: Duration,
        silence: Duration,
    ) {
        let mut quiet = 0usize;
        let mut spoke = false;
        let limit = max.as_secs() as usize * RATE as usize;
        let quiet_limit = silence.as_secs() as usize * RATE as usize;
        let deadline = tokio::time::Instant::now() + max;
        loop {
            let frame = tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                f = audio.recv() => match f { Some(f) => f, None => break },
            };
            let loud = frame.iter().any(|s| s.unsigned_abs() > 1000);
            spoke |= loud;
            quiet = if loud { 0 } else { quiet + frame.len() };
            samples.extend_from_slice(&frame);
            if samples.len() >= limit || (spoke && quiet >= quiet_limit) {
                break;
            }
        }
    }
}

fn beep() -> Vec<i16> {
    (0..RATE as usize * 3 / 10)
        .map(|i| ((i as f32 * 1000.0 * std::f32::consts::TAU / RATE as f32).sin() * 8000.0) as i16)
        .collect()
}

/// `reason` index of RTP from a stranger, in `madoguchi_rtp_packets_dropped_total`.
const FOREIGN_SOURCE: usize = 1;

/// Reads the caller's RTP from the sources the filter allows: keys to `digits`, audio to
/// `audio`, the time of the last packet; moves `remote` where a NATed caller latched.
fn spawn_receiver(
    call: &Call,
    audio: mpsc::Sender<Vec<i16>>,
    recording: Arc<AtomicBool>,
    last: Arc<AtomicI64>,
    remote: RemoteSetter,
) {
    let rtp = call.rtp.clone();
    let cancel = call.cancel.clone();
    let digits = call.digit_tx.clone();
    let mut receiver = Receiver::new(call.codec, call.event_pt);
    let mut filter = SourceFilter::new(call.remote, call.signalling_ip);
    let mut told = (call.remote.ip() == call.signalling_ip).then_some(call.remote);
    let mut media = call.media.clone();
    let mut media_open = true;
    let signalling_ip = call.signalling_ip;
    let metrics = call.intake.store().metrics().clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        loop {
            let (n, from) = tokio::select! {
                _ = cancel.cancelled() => break,
                moved = media.changed(), if media_open => {
                    if moved.is_err() {
                        media_open = false;
                        continue;
                    }
                    // The caller moved its media (a re-INVITE): the new address is the one to
                    // hold it to, and ours goes there at once if the signalling vouches for it.
                    let to = *media.borrow_and_update();
                    metrics.rtp_dropped.add_at(FOREIGN_SOURCE, filter.dropped());
                    filter = SourceFilter::new(to, signalling_ip);
                    told = (to.ip() == signalling_ip).then_some(to);
                    if let Some(to) = told {
                        remote.set(to);
                    }
                    continue;
                }
                r = rtp.recv_from(&mut buf) => match r { Ok(r) => r, Err(_) => continue },
            };
            if !filter.accept(from) {
                continue;
            }
            if told != Some(filter.reply_to()) {
                told = Some(filter.reply_to());
                remote.set(filter.reply_to());
            }
            last.store(now_millis(), Ordering::Relaxed);
            receiver.set_audio(recording.load(Ordering::Relaxed));
            match receiver.read(&buf[..n]) {
                Inbound::Digit(d) => {
                    let _ = digits.try_send(d);
                }
                Inbound::Audio(a) => {
                    let _ = audio.try_send(a);
                }
                Inbound::Other => {}
            }
        }
        if filter.dropped() > 0 {
            metrics.rtp_dropped.add_at(FOREIGN_SOURCE, filter.dropped());
            tracing::info!(dropped = filter.dropped(), "RTP from other sources than the caller's dropped");
        }
    });
}

/// The live event a call's history entry is, if any.
fn event_kind(action: &str) -> Option<Kind> {
    Some(match action {
        "call_answered" => Kind::CallAnswered,
        "menu_choice" => Kind::CallMenu,
        "transfer" => Kind::CallTransferred,
        "call_ended" => Kind::CallEnded,
        _ => return None,
    })
}

impl Call {
    pub async fn run(mut self) -> Ending {
        let (audio_tx, audio) = mpsc::channel(512);
        let last = Arc::new(AtomicI64::new(now_millis()));
        let recording = Arc::new(AtomicBool::new(false));
        let Some(socket) = self.rtp_send.take() else {
            tracing::error!("RTP socket unusable; hanging up");
            self.hang_up().await;
            let metrics = self.intake.store().metrics();
            metrics.call_ended(Ending::MediaTimeout.as_str());
            metrics.calls_active.dec();
            return Ending::MediaTimeout;
        };
        // Audio goes to an address the signalling did not come from only once that address has
        // sent us RTP: otherwise one INVITE could aim a call's worth of audio at a third party.
        let first_remote = (self.remote.ip() == self.signalling_ip).then_some(self.remote);
        let stream = self.pacer.open(socket, first_remote, self.codec, crate::random::u32());
        spawn_receiver(&self, audio_tx, recording.clone(), last.clone(), stream.remote_setter());
        let digits = std::mem::replace(&mut self.digits, mpsc::channel(1).1);
        let mut media = Media {
            stream,
            digits,
            audio,
            recording,
            last_rtp: last,
            cancel: self.cancel.clone(),
            timeout: self.media_timeout,
        };
        let ending = match self.flow(&mut media).await {
            Ok(e) => e,
            Err(Stop::Cancelled) if self.by_service.load(Ordering::Relaxed) => Ending::HungUpByService,
            Err(Stop::Cancelled) => Ending::CallerHungUp,
            Err(Stop::MediaTimeout) => {
                self.hang_up().await;
                Ending::MediaTimeout
            }
        };
        // Counted before `call.ended` goes out, so whoever saw the event sees the count.
        let metrics = self.intake.store().metrics();
        metrics.call_ended(ending.as_str());
        metrics.calls_active.dec();
        self.note("call_ended", json!({"ending": ending.as_str()})).await;
        self.leave_callback(ending).await;
        ending
    }

    /// A callback task on the ticket when the call reached nobody or left a message, and
    /// `callback.created` for the tier's operators.
    async fn leave_callback(&self, ending: Ending) {
        let Some(ticket) = &self.ticket else { return };
        let number = self.caller.number.as_deref();
        let Some(reason) = callback::task_for(ending, self.voicemail_stored, number) else { return };
        let new = NewCallback {
            ticket,
            call_id: &self.call_id,
            caller_number: number,
            caller_name: self.caller.name.as_deref(),
            reason,
            actor: "ivr",
        };
        match self.intake.store().create_callback(&new, now_millis()).await {
            Ok(Created::New(task)) => {
                tracing::info!(ticket = %task.ticket, callback = task.id, reason = reason.as_str(), "callback task created");
                let data = json!({"callback": task, "ticket": task.ticket});
                self.intake.events().publish(Kind::CallbackCreated, Some(task.tier), data);
                let change = FieldChange { field: "callback", from: json!(null), to: json!(reason) };
                self.intake.publish_change(&task.ticket, change, "ivr").await;
            }
            Ok(Created::Existing(_)) => {}
            Ok(Created::NoSuchTicket) => tracing::warn!(ticket = %ticket, "callback task not created: no such ticket"),
            Err(e) => tracing::warn!(ticket = %ticket, error = %e, "callback task not created"),
        }
    }

    async fn hang_up(&self) {
        let _ = self.commands.send(Command::Hangup { call: self.call }).await;
    }

    /// Records `action` in the ticket's history and tells the operators' screens.
    async fn note(&self, action: &'static str, detail: serde_json::Value) {
        if let Some(kind) = event_kind(action) {
            let mut data = json!({"call": self.call, "ticket": self.ticket});
            if let (Some(data), serde_json::Value::Object(detail)) = (data.as_object_mut(), &detail) {
                data.extend(detail.clone());
            }
            self.intake.events().publish(kind, self.tier, data);
        }
        if let Some(t) = &self.ticket
            && let Err(e) = self.intake.event(t.clone(), "ivr", action, detail).await
        {
            tracing::warn!(ticket = %t, error = %e, "call event not recorded");
        }
    }

    async fn flow(&mut self, media: &mut Media) -> Result<Ending, Stop> {
        let now = chrono::Utc::now().with_timezone(&jst());
        let opening = self.plan.opening(now.date_naive(), now.time());
        self.note("call_answered", json!({"plan": self.plan.file, "opening": format!("{opening:?}")})).await;
        if opening != Opening::Open {
            return self.voicemail(media, opening).await;
        }
        let plan = self.plan.clone();
        let mut key = None;
        if plan.notices_open == NoticeAt::First {
            key = self.notices(media, true).await?;
        }
        if key.is_none() {
            key = media.play(self.prompts.get(&plan.welcome), true).await?;
        }
        if plan.notices_open == NoticeAt::BeforeChoice && key.is_none() {
            key = self.notices(media, true).await?;
        }
        let mut chosen = None;
        for _ in 0..=plan.retries {
            if key.is_none() {
                key = media.play(self.prompts.get(&plan.menu), true).await?;
            }
            if key.is_none() {
                key = media.key(Duration::from_secs(plan.menu_timeout_secs)).await?;
            }
            match key.take() {
                Some(d) if plan.choices.contains_key(&d.to_string()) => {
                    self.menu_choice(d).await;
                    chosen = plan.choices.get(&d.to_string()).cloned();
                    break;
                }
                Some(d) => {
                    self.note("menu_invalid", json!({"key": d.to_string()})).await;
                    key = media.play(self.prompts.get(&plan.invalid), true).await?;
                }
                None => {}
            }
        }
        let target = chosen.unwrap_or_else(|| plan.no_choice.clone());
        media.play(self.prompts.get(&plan.transfer), false).await?;
        let uri = plan.targets.get(&target).cloned().unwrap_or_default();
        self.note("transfer", json!({"target": target, "uri": uri})).await;
        let _ = self.commands.send(self.refer(&uri)).await;
        // The transferee's NOTIFY (or a refusal of the REFER) tells how it went; a caller gone
        // silent meanwhile is hung up like in any other state.
        let transfers = &mut self.transfers;
        let outcome = guarded(self.cancel.clone(), media.last_rtp.clone(), media.timeout, transfers.recv()).await;
        let accepted = match outcome {
            Ok(r) => r.unwrap_or(false),
            Err(Stop::Cancelled) => return Ok(Ending::Transferred),
            Err(stop) => return Err(stop),
        };
        self.hang_up().await;
        Ok(if accepted { Ending::Transferred } else { Ending::TransferRefused })
    }

    /// REFER to `target` with the ticket number in the Refer-To URI's headers and beside it, so
    /// the operator's phone or CTI client can pop that ticket.
    fn refer(&self, target: &str) -> Command {
        let mut refer_to = format!("<{target}>");
        let mut headers = Vec::new();
        if let Some(t) = &self.ticket {
            let sep = if target.contains('?') { '&' } else { '?' };
            refer_to = format!("<{target}{sep}{TICKET_HEADER}={t}>");
            headers.push((TICKET_HEADER.to_owned(), t.to_string()));
        }
        Command::Refer { call: self.call, refer_to, headers }
    }

    /// The caller's key routes the ticket again (routing.toml's menu rules).
    async fn menu_choice(&mut self, key: char) {
        self.note("menu_choice", json!({"key": key.to_string()})).await;
        let Some(ticket) = &self.ticket else { return };
        let contact = NewContact {
            channel: Channel::Phone,
            menu_choices: Some(key.to_string()),
            dialed_number: self.dialed.clone(),
            caller: self.caller.clone(),
            ..Default::default()
        };
        let d = self.intake.rules().route(&contact);
        if d.rule.is_some() {
            self.tier = Some(d.tier);
            let change = TicketChange {
                status: Some(Status::New),
                tier: Some(d.tier),
                category: Some(d.category),
                priority: Some(d.priority),
                ..Default::default()
            };
            let system = crate::domain::user::Role::Operator;
            if let Err(e) = self.intake.update(ticket.clone(), change, "ivr".into(), system).await {
                tracing::warn!(ticket = %ticket, error = %e, "menu routing not recorded");
            }
        }
    }

    /// The maintenance announcement and the public notices' audio, as far as there is any.
    async fn notices(&self, media: &mut Media, barge_in: bool) -> Result<Option<char>, Stop> {
        for name in [MAINTENANCE, NOTICES] {
            let samples = self.prompts.get(name);
            if samples.is_empty() {
                continue;
            }
            if let Some(key) = media.play(samples, barge_in).await? {
                return Ok(Some(key));
            }
        }
        Ok(None)
    }

    async fn voicemail(&mut self, media: &mut Media, opening: Opening) -> Result<Ending, Stop> {
        let plan = self.plan.clone();
        let announcement = if opening == Opening::ClosedDay { &plan.holiday } else { &plan.closed };
        if plan.notices_closed == NoticeAt::First {
            self.notices(media, false).await?;
        }
        media.play(self.prompts.get(announcement), false).await?;
        if plan.notices_closed == NoticeAt::BeforeChoice {
            self.notices(media, false).await?;
        }
        media.play(self.prompts.get(&plan.voicemail), false).await?;
        media.play(Arc::new(beep()), false).await?;
        media.recording.store(true, Ordering::Relaxed);
        let (recording, stopped) = media
            .record(Duration::from_secs(plan.voicemail_max_secs), Duration::from_secs(plan.voicemail_silence_secs))
            .await;
        media.recording.store(false, Ordering::Relaxed);
        self.voicemail_stored = self.save_voicemail(&recording).await;
        match stopped {
            Some(Stop::MediaTimeout) => return Err(Stop::MediaTimeout),
            Some(Stop::Cancelled) => return Ok(Ending::Voicemail),
            None => {}
        }
        media.play(self.prompts.get(&plan.goodbye), false).await?;
        self.hang_up().await;
        Ok(Ending::Voicemail)
    }

    /// Whether the recording was stored on the ticket.
    async fn save_voicemail(&self, samples: &[i16]) -> bool {
        let Some(ticket) = &self.ticket else { return false };
        if samples.is_empty() {
            self.note("voicemail_empty", json!({})).await;
            return false;
        }
        let mut wav = std::io::Cursor::new(Vec::new());
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let written = hound::WavWriter::new(&mut wav, spec).and_then(|mut w| {
            for &s in samples {
                w.write_sample(s)?;
            }
            w.finalize()
        });
        if written.is_err() {
            return false;
        }
        let seconds = samples.len() as f64 / RATE as f64;
        let contact = NewContact {
            channel: Channel::Phone,
            join: Some(ticket.clone()),
            subject: Some("留守番電話 / Voicemail".into()),
            body: format!("留守番電話の録音 {seconds:.1} 秒 / voicemail, {seconds:.1} s"),
            caller: self.caller.clone(),
            dialed_number: self.dialed.clone(),
            received_at_ms: now_millis(),
            source_ref: Some(format!("{}#voicemail", self.call_id)),
            attachments: vec![AttachmentUpload {
                filename: "voicemail.wav".into(),
                content_type: "audio/wav".into(),
                bytes: wav.into_inner(),
            }],
            actor: "ivr".into(),
            dedupe_source: true,
            ..Default::default()
        };
        match self.intake.submit(contact).await {
            Ok(_) => {
                let data = json!({"call": self.call, "ticket": ticket, "seconds": (seconds * 10.0).round() / 10.0});
                self.intake.events().publish(Kind::CallVoicemail, self.tier, data);
                true
            }
            Err(e) => {
                tracing::warn!(ticket = %ticket, error = %e, "voicemail not stored");
                false
            }
        }
    }
}
