//! A received message → a contact → the intake: sender, fax details, threading, the original
//! message kept as `message.eml`, and the acknowledgement requested when a person wrote.

use super::fax::{self, FaxInfo, FaxProfile};
use super::parse::{self, ParsedMail};
use crate::config::Settings;
use crate::domain::ack;
use crate::domain::time::now_millis;
use crate::domain::{AckLimits, AckRequest, AttachmentUpload, CallerInfo, Channel, NewContact, TicketNumber};
use crate::intake::{Intake, IntakeError};
use crate::store::{Recorded, Store};
use regex::Regex;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// The envelope sender of a message that arrives without one (`import-mail` from a pipe):
/// its Return-Path, else its From address. An empty Return-Path (`<>`) is a bounce.
pub fn sender_from_headers(raw: &[u8]) -> String {
    let Some(headers) = mail_parser::MessageParser::default().parse_headers(raw) else {
        return "unknown@invalid".into();
    };
    if let Some(rp) = headers.header_raw("Return-Path") {
        return rp.trim().trim_start_matches('<').trim_end_matches('>').trim().to_owned();
    }
    headers
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_owned)
        .unwrap_or_else(|| "unknown@invalid".into())
}

/// The fax gateway a parsed mail came from, if any (the profiles, then the generic detector).
fn recognise_fax(profiles: &[FaxProfile], generic: bool, envelope_from: &str, mail: &ParsedMail) -> Option<FaxInfo> {
    let fax_mail = fax::FaxMail {
        from: mail.from_addr.as_deref().unwrap_or(envelope_from),
        from_name: mail.from_name.as_deref().unwrap_or_default(),
        subject: mail.subject.as_deref().unwrap_or_default(),
        body: &mail.body,
        headers: &mail.headers,
        attachments: &mail.attachments,
    };
    if generic { fax::detect(profiles, &fax_mail) } else { fax::detect_by_profile(profiles, &fax_mail) }
}

#[derive(Clone)]
pub struct MailIntake {
    intake: Intake,
    store: Store,
    profiles: Arc<Vec<FaxProfile>>,
    /// The generic fax detector runs when no profile matches.
    generic_fax: bool,
    hostname: String,
    acknowledge: bool,
    ack_limits: AckLimits,
    ack_domains: Vec<String>,
    /// Woken when an acknowledgement was queued.
    outbox: Arc<Notify>,
    ticket_in_subject: Regex,
    trusted_domains: Vec<String>,
    /// `[intake] max_attachments_per_contact`, the original message included.
    max_attachments: usize,
}

static ACK_COUNTER: AtomicU64 = AtomicU64::new(0);

impl MailIntake {
    pub fn new(settings: &Settings, intake: Intake, store: Store, outbox: Arc<Notify>) -> MailIntake {
        let mut profiles: Vec<FaxProfile> = settings.fax.profiles.iter().map(FaxProfile::from_settings).collect();
        profiles.extend(fax::builtin_profiles());
        MailIntake {
            intake,
            store,
            profiles: Arc::new(profiles),
            generic_fax: settings.fax.generic,
            hostname: settings.mail.hostname.clone(),
            acknowledge: settings.mail.acknowledge,
            ack_limits: AckLimits {
                per_address_hour: settings.mail.ack_limit_per_hour,
                global_minute: settings.mail.ack_limit_global_per_minute,
                global_hour: settings.mail.ack_limit_global_per_hour,
            },
            ack_domains: if settings.mail.ack_domains.is_empty() {
                ack::domains_of(&settings.mail.recipients)
            } else {
                settings.mail.ack_domains.clone()
            },
            outbox,
            ticket_in_subject: Regex::new(r"\b(\d{8}-\d{4,})\b").expect("valid pattern"),
            trusted_domains: settings.mail.trusted_domains.clone(),
            max_attachments: (settings.intake.max_attachments_per_contact as usize).max(1),
        }
    }

    /// Stores one message. `Ok` means it is committed (or was already, for a repeated
    /// Message-ID); only then may the sender be told 250.
    /// The service's counters (mail results are counted by the listener).
    pub(crate) fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        self.store.metrics()
    }

    pub async fn deliver(&self, envelope_from: &str, raw: Vec<u8>) -> Result<Recorded, IntakeError> {
        let size = raw.len();
        let envelope = envelope_from.to_owned();
        let (profiles, generic) = (self.profiles.clone(), self.generic_fax);
        // Parsing, counting fax pages and hashing are CPU work: off the async threads.
        let (mail, fax, raw, source_ref) = tokio::task::spawn_blocking(move || {
            let mail = parse::parse(&raw, &envelope);
            let fax = recognise_fax(&profiles, generic, &envelope, &mail);
            let source_ref =
                mail.message_id.clone().unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(&raw))));
            (mail, fax, raw, source_ref)
        })
        .await
        .map_err(|e| IntakeError::Store(format!("parser stopped: {e}")))?;
        let contact = self.contact(envelope_from, mail, fax, raw, source_ref).await;
        let channel = contact.channel;
        let automatic = contact.ack_skip_reason.clone();
        let ack = contact.acknowledge.is_some();
        let attachments = contact.attachments.len();
        let (recorded, _) = self.intake.submit(contact).await?;
        if ack && !recorded.duplicate {
            self.outbox.notify_one();
        }
        tracing::info!(
            ticket = %recorded.ticket, created = recorded.created, duplicate = recorded.duplicate, channel = %channel,
            bytes = size, attachments, no_ack = automatic.as_deref().unwrap_or("-"), "mail received"
        );
        Ok(recorded)
    }

    async fn contact(
        &self,
        envelope_from: &str,
        mail: ParsedMail,
        fax: Option<FaxInfo>,
        raw: Vec<u8>,
        source_ref: String,
    ) -> NewContact {
        let from = mail.from_addr.clone().unwrap_or_else(|| envelope_from.to_owned());
        let subject = mail.subject.clone().unwrap_or_default();
        let channel = if fax.is_some() { Channel::Fax } else { Channel::Email };
        let fax_number = fax.as_ref().and_then(|f| f.number.clone());
        let email = (!from.is_empty()).then(|| from.clone());
        let directory = self
            .store
            .directory_lookup(if fax.is_some() { None } else { email.as_deref() }, fax_number.as_deref())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "directory lookup failed");
                None
            });

        let mut thread_refs = mail.in_reply_to.clone();
        thread_refs.extend(mail.references.iter().cloned());
        let subject_ticket = self.ticket_in_subject.captures(&subject).and_then(|c| c[1].parse::<TicketNumber>().ok());
        let thread_trusted =
            email.as_deref().is_some_and(|e| crate::domain::thread::in_domains(e, &self.trusted_domains));

        let to = ack::recipient(envelope_from, mail.from_addr.as_deref(), &self.ack_domains);
        let skip = if fax.is_some() {
            Some("fax gateway mail".to_owned())
        } else if let Some(why) = mail.automatic {
            Some(why.to_owned())
        } else if !self.acknowledge {
            Some("acknowledgements are turned off".to_owned())
        } else {
            to.as_ref().err().map(|withheld| withheld.reason().to_owned())
        };
        let acknowledge = match (&skip, to) {
            (None, Ok(to)) => Some(AckRequest {
                to,
                in_reply_to: mail.message_id.clone(),
                subject: subject.clone(),
                message_id: format!(
                    "ack.{}.{}@{}",
                    now_millis(),
                    ACK_COUNTER.fetch_add(1, Ordering::Relaxed),
                    self.hostname
                ),
                limits: self.ack_limits,
            }),
            _ => None,
        };

        let mut details = serde_json::Map::new();
        // The mail is stored whatever it carries (250 was, or will be, said): the original
        // message and the first parts up to the limit; the history says how many were left out.
        let mut parts = mail.attachments;
        let room = self.max_attachments.saturating_sub(1);
        if parts.len() > room {
            let left_out = parts.len() - room;
            parts.truncate(room);
            tracing::warn!(left_out, kept = room, "mail has more attachments than max_attachments_per_contact");
            details.insert(
                "attachments_left_out".into(),
                json!({"count": left_out, "kept": room, "limit": self.max_attachments, "original": "message.eml"}),
            );
        }
        if let Some(f) = &fax {
            details.insert("fax".into(), json!(f));
        }
        if let Some(p) = &mail.problem {
            details.insert("problem".into(), json!(p));
        }
        if let Some(why) = mail.automatic {
            details.insert("automatic".into(), json!(why));
        }
        if !mail.charset_guess.is_empty() {
            details.insert("charset_guess".into(), json!(mail.charset_guess));
        }
        let mut body = mail.body;
        if let Some(f) = &fax {
            let summary = format!(
                "[FAX] 送信元 / from: {}  ページ数 / pages: {}  受信 / received: {}",
                f.number.as_deref().unwrap_or("不明 / unknown"),
                f.pages.map(|p| p.to_string()).unwrap_or_else(|| "不明 / unknown".into()),
                f.received.as_deref().unwrap_or("-"),
            );
            body = format!("{summary}\n\n{body}");
        }
        let mut attachments = vec![AttachmentUpload {
            filename: "message.eml".into(),
            content_type: "message/rfc822".into(),
            bytes: raw,
        }];
        attachments.extend(parts);

        NewContact {
            channel,
            subject: mail.subject,
            body,
            caller: CallerInfo {
                number: None,
                name: mail.from_name.or_else(|| directory.as_ref().map(|d| d.name.clone())),
                email,
                fax: fax_number,
                organisation: directory.map(|d| d.department),
            },
            received_at_ms: now_millis(),
            source_ref: Some(source_ref),
            raw: Some(mail.headers),
            attachments,
            actor: "mail".into(),
            thread_refs,
            subject_ticket,
            thread_trusted,
            dedupe_source: true,
            ack_skip_reason: skip.filter(|_| acknowledge.is_none()),
            acknowledge,
            details: (!details.is_empty()).then_some(serde_json::Value::Object(details)),
            ..Default::default()
        }
    }
}
