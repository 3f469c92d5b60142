//! An operator's reply, written by the single writer: the recipient is picked (or checked) among
//! the addresses that wrote to the ticket, the mail is queued in the outbox, and the history says
//! who sent what to whom, all in the batch's transaction.

use super::write::Pending;
use super::{ReplyDraft, ReplyQueued, Store, StoreError, WriteOutcome};
use crate::domain::Status;
use crate::domain::reply::{self, ReplyRefusal};
use serde_json::json;
use sqlx::AnyConnection;

/// A contact of the ticket that came from an address.
#[derive(sqlx::FromRow)]
struct Sender {
    email: String,
    email_key: String,
    subject: Option<String>,
}

impl Store {
    pub(super) async fn reply(
        &self,
        conn: &mut AnyConnection,
        pending: &mut Pending,
        draft: &ReplyDraft,
        now: i64,
    ) -> Result<WriteOutcome, StoreError> {
        let refused = |why: ReplyRefusal| -> Result<WriteOutcome, StoreError> { Ok(WriteOutcome::Refused(why.into())) };
        let Some(ticket) = self.find_ticket(conn, &draft.number).await? else {
            return Ok(WriteOutcome::Refused(super::Refusal::NoSuchTicket(draft.number.clone())));
        };
        if ticket.status == Status::Closed {
            return refused(ReplyRefusal::Closed(draft.number.clone()));
        }
        let sender: Option<Sender> = match &draft.to {
            Some(to) => {
                sqlx::query_as(
                    "SELECT email, email_key, subject FROM contacts WHERE ticket_id = $1 AND email_key = $2 \
                     ORDER BY id DESC LIMIT 1",
                )
                .bind(ticket.ticket)
                .bind(to.trim().to_ascii_lowercase())
                .fetch_optional(&mut *conn)
                .await?
            }
            None => {
                sqlx::query_as(
                    "SELECT email, email_key, subject FROM contacts WHERE ticket_id = $1 AND email_key IS NOT NULL \
                     AND channel IN ('email', 'fax') ORDER BY id DESC LIMIT 1",
                )
                .bind(ticket.ticket)
                .fetch_optional(&mut *conn)
                .await?
            }
        };
        let Some(sender) = sender else {
            return refused(if draft.to.is_some() { ReplyRefusal::NotAParticipant } else { ReplyRefusal::NoAddress });
        };
        // The requester's own last message, for their mail client to thread the reply under.
        let in_reply_to: Option<String> = sqlx::query_scalar(
            "SELECT source_ref FROM contacts WHERE ticket_id = $1 AND email_key = $2 AND channel IN ('email', 'fax') \
             AND source_ref IS NOT NULL AND source_ref NOT LIKE 'sha256:%' ORDER BY id DESC LIMIT 1",
        )
        .bind(ticket.ticket)
        .bind(&sender.email_key)
        .fetch_optional(&mut *conn)
        .await?;
        let original = match sender.subject.filter(|s| !s.trim().is_empty()) {
            Some(s) => s,
            None => {
                sqlx::query_scalar("SELECT subject FROM tickets WHERE id = $1")
                    .bind(ticket.ticket)
                    .fetch_one(&mut *conn)
                    .await?
            }
        };
        let subject = reply::subject(&original, &draft.number);
        let outbox_id: i64 = sqlx::query_scalar(
            "INSERT INTO outbox (ticket_id, kind, to_addr, to_key, message_id, in_reply_to, subject, body, status, \
             next_attempt_at, created_at) VALUES ($1, 'reply', $2, $3, $4, $5, $6, $7, 'pending', $8, $8) RETURNING id",
        )
        .bind(ticket.ticket)
        .bind(&sender.email)
        .bind(&sender.email_key)
        .bind(&draft.message_id)
        .bind(in_reply_to.as_deref())
        .bind(&subject)
        .bind(&draft.text)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(ticket.ticket)
            .execute(&mut *conn)
            .await?;
        let detail = json!({
            "to": sender.email, "subject": subject, "body": draft.text, "message_id": draft.message_id,
            "in_reply_to": in_reply_to, "outbox_id": outbox_id, "by": draft.actor_name,
        });
        pending.history(ticket.ticket, now, &draft.actor, "reply_sent", &detail);
        Ok(WriteOutcome::Replied(ReplyQueued {
            outbox_id,
            to: sender.email,
            subject,
            message_id: draft.message_id.clone(),
            in_reply_to,
        }))
    }
}
