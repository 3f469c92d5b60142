//! Outgoing mail: a worker that sends what the outbox holds (acknowledgements with the ticket
//! number, operators' replies) through the configured relay with lettre, and retries with backoff while the relay
//! is down. Intake never waits for it: the outbox row is committed with the contact, and the
//! worker is only woken.

use crate::config::{NotifySettings, RelaySecurity};
use crate::domain::time::{jst_rfc3339, now_millis};
use crate::store::{OutboxItem, Store};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The acknowledgement used when no `[notify] ack_template` is configured.
pub const BUILTIN_ACK_TEMPLATE: &str = include_str!("../templates/ack.txt");
/// Items sent per round before the outbox is looked at again.
const ROUND: i64 = 20;
/// The longest the worker sleeps without looking at the outbox.
const IDLE: Duration = Duration::from_secs(5);
/// How long a claimed item is left to the worker that claimed it (one message's SMTP exchange,
/// with its 30-second timeouts), before another worker may take it over.
const CLAIM_LEASE_MS: i64 = 5 * 60_000;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}: the template must start with a 'Subject: …' line, then an empty line, then the body")]
    Template(String),
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("relay '{0}' is not host:port")]
    Relay(String),
    #[error("from address '{0}' is not valid")]
    From(String),
}

impl NotifyError {
    /// The `[notify]` setting to change.
    pub fn setting(&self) -> &'static str {
        match self {
            NotifyError::Template(_) | NotifyError::Read { .. } => "ack_template",
            NotifyError::Relay(_) => "relay",
            NotifyError::From(_) => "from",
        }
    }
}

/// `Subject: …`, an empty line, the body; `{ticket}`, `{subject}`, `{received_at}` are filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckTemplate {
    subject: String,
    body: String,
}

impl AckTemplate {
    pub fn parse(name: &str, text: &str) -> Result<AckTemplate, NotifyError> {
        let text = text.replace("\r\n", "\n");
        let (first, body) = text.split_once("\n\n").ok_or_else(|| NotifyError::Template(name.into()))?;
        let subject = first.strip_prefix("Subject:").ok_or_else(|| NotifyError::Template(name.into()))?;
        Ok(AckTemplate { subject: subject.trim().to_owned(), body: body.to_owned() })
    }

    pub fn load(path: &str) -> Result<AckTemplate, NotifyError> {
        if path.is_empty() {
            return AckTemplate::parse("(built-in templates/ack.txt)", BUILTIN_ACK_TEMPLATE);
        }
        let text =
            std::fs::read_to_string(path).map_err(|source| NotifyError::Read { path: path.to_owned(), source })?;
        AckTemplate::parse(path, &text)
    }

    pub fn render(&self, item: &OutboxItem) -> (String, String) {
        let fill = |s: &str| {
            // The sender's subject is repeated only here, without links, whatever the template.
            let subject = crate::domain::ack::safe_subject(&item.subject);
            let subject = if subject.is_empty() { "(件名なし / no subject)" } else { &subject };
            let ticket = item.ticket.as_ref().map_or("", |t| t.as_str());
            s.replace("{ticket}", ticket)
                .replace("{subject}", subject)
                .replace("{received_at}", &jst_rfc3339(item.created_at))
        };
        (fill(&self.subject), fill(&self.body))
    }
}

#[derive(Clone)]
struct AutoSubmitted;

impl lettre::message::header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), "auto-replied".into())
    }
}

pub struct Notifier {
    store: Store,
    settings: NotifySettings,
    template: AckTemplate,
    from: Mailbox,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    wake: Arc<Notify>,
}

/// What sending needs from `[notify]`, built (not connected) so that `check` finds what `serve`
/// would refuse.
pub(crate) struct Outgoing {
    template: AckTemplate,
    from: Mailbox,
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Notifier {
    pub(crate) fn new(store: Store, settings: &NotifySettings, outgoing: Outgoing, wake: Arc<Notify>) -> Notifier {
        let Outgoing { template, from, transport } = outgoing;
        Notifier { store, settings: settings.clone(), template, from, transport, wake }
    }
}

impl Outgoing {
    pub(crate) fn prepare(settings: &NotifySettings) -> Result<Outgoing, NotifyError> {
        let template = AckTemplate::load(&settings.ack_template)?;
        let from = format!("{} <{}>", settings.from_name, settings.from)
            .parse::<Mailbox>()
            .or_else(|_| settings.from.parse::<Mailbox>())
            .map_err(|_| NotifyError::From(settings.from.clone()))?;
        let transport = if settings.relay.is_empty() {
            None
        } else {
            let (host, port) = settings
                .relay
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| NotifyError::Relay(settings.relay.clone()))?;
            let builder = match settings.relay_security {
                RelaySecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host),
                RelaySecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host),
                RelaySecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())),
            }
            .map_err(|_| NotifyError::Relay(settings.relay.clone()))?;
            let mut builder = builder.port(port).timeout(Some(Duration::from_secs(30)));
            // Configuration refuses a password over plain SMTP; never send one there regardless.
            if !settings.username.is_empty() && settings.relay_security != RelaySecurity::None {
                let password = settings.password.expose().to_owned();
                builder = builder.credentials(Credentials::new(settings.username.clone(), password));
            }
            Some(builder.build())
        };
        Ok(Outgoing { template, from, transport })
    }
}

impl Notifier {
    /// Sends until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let Some(transport) = &self.transport else {
            tracing::warn!("[notify] relay is not set: acknowledgements stay queued in the outbox");
            stop.cancelled().await;
            return;
        };
        loop {
            let sent = match self.round(transport).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox round failed");
                    0
                }
            };
            if sent as i64 == ROUND {
                continue;
            }
            let wait = match self.store.outbox_next_due(CLAIM_LEASE_MS).await {
                Ok(Some(at)) => Duration::from_millis((at - now_millis()).max(0) as u64).min(IDLE),
                _ => IDLE,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Claims and sends up to [`ROUND`] items, one at a time, so that each claim is held only
    /// as long as its own message takes.
    async fn round(&self, transport: &AsyncSmtpTransport<Tokio1Executor>) -> Result<usize, crate::store::StoreError> {
        let mut sent = 0;
        while sent < ROUND as usize {
            let Some(item) = self.store.outbox_claim(now_millis(), CLAIM_LEASE_MS, 1).await?.pop() else { break };
            sent += 1;
            let held = match self.send(transport, &item).await {
                Ok(()) => {
                    tracing::info!(ticket = ?item.ticket, kind = %item.kind, "outgoing mail sent");
                    self.store.outbox_sent(&item, now_millis()).await?
                }
                Err(error) => {
                    let attempts = item.attempts + 1;
                    let retry_at = (attempts < i64::from(self.settings.max_attempts)).then(|| {
                        let backoff = self.settings.retry_initial_secs.saturating_mul(1 << (attempts - 1).min(20));
                        now_millis() + backoff.min(self.settings.retry_max_secs) as i64 * 1000
                    });
                    tracing::warn!(ticket = ?item.ticket, kind = %item.kind, attempts, error = %error, gave_up = retry_at.is_none(), "outgoing mail not sent");
                    self.store.outbox_failed(&item, &error, retry_at).await?
                }
            };
            if !held {
                tracing::warn!(ticket = ?item.ticket, "the outbox item's claim ran out before its result was recorded");
            } else if matches!(item.kind.as_str(), "escalation" | "sla_warning") {
                // A relay's delivery is part of the relay: the ticket's history says how it went.
                self.store.note_delivery(&item, now_millis()).await?;
            }
        }
        Ok(sent)
    }

    async fn send(&self, transport: &AsyncSmtpTransport<Tokio1Executor>, item: &OutboxItem) -> Result<(), String> {
        let to: Mailbox = item.to_addr.parse().map_err(|_| "the recipient address is not valid".to_owned())?;
        // An operator's reply is a person's mail, sent as written; the rest are automatic.
        let (subject, body, automatic) = match (item.kind.as_str(), &item.body) {
            ("reply", Some(body)) => (item.subject.clone(), body.clone(), false),
            // Relays and SLA warnings come rendered, from the service.
            (_, Some(body)) => (item.subject.clone(), body.clone(), true),
            _ => {
                let (subject, body) = self.template.render(item);
                (subject, body, true)
            }
        };
        let mut message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{}>", item.message_id)));
        if automatic {
            message = message.header(AutoSubmitted);
        }
        if let Some(ticket) = &item.ticket {
            message = message
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Madoguchi-Ticket"), ticket.to_string()));
        }
        if let Some(original) = &item.in_reply_to {
            message = message.in_reply_to(format!("<{original}>")).references(format!("<{original}>"));
        }
        let message = message
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|e| format!("cannot build the message: {e}"))?;
        transport.send(message).await.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_template_speaks_japanese_first_and_fills_the_ticket() {
        let t = AckTemplate::load("").unwrap();
        let item = OutboxItem {
            id: 1,
            kind: "ack".into(),
            ticket: Some("20261121-0007".parse().unwrap()),
            to_addr: "a@x.jp".into(),
            message_id: "ack.1@h".into(),
            in_reply_to: None,
            subject: "VPNにつながらない".into(),
            body: None,
            attempts: 0,
            created_at: 1_795_000_000_000,
            claimed_at: 1_795_000_000_001,
        };
        let (subject, body) = t.render(&item);
        assert!(subject.starts_with("【受付番号 20261121-0007】"), "{subject}");
        assert!(
            body.find("受付番号は 20261121-0007").unwrap() < body.find("Your ticket number is 20261121-0007").unwrap()
        );
        assert!(body.contains("VPNにつながらない") && body.contains("+09:00"), "{body}");
        assert!(AckTemplate::parse("t", "no subject line").is_err());
    }
}
