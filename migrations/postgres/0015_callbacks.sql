-- Callback tasks (折り返し): a call that reached nobody (the caller hung up in the announcements or
-- the menu, before the transfer) and every voicemail, to be called back from the console's work
-- list. One task per call and reason, so a retransmitted BYE or a retried write never makes two.
-- `tier`: the ticket's tier when the task was made. `caller_number` as the PBX sent it,
-- `caller_key` normalised (see domain/phone.rs). `reason`: abandoned | voicemail; `state`:
-- open | done. Each attempt is also a `callback_attempt` entry in the ticket's history.

CREATE TABLE callbacks (
    id              BIGSERIAL PRIMARY KEY,
    ticket_id       BIGINT NOT NULL REFERENCES tickets (id),
    tier            BIGINT NOT NULL,
    call_id         TEXT NOT NULL,
    caller_number   TEXT,
    caller_key      TEXT,
    caller_name     TEXT,
    reason          TEXT NOT NULL,
    state           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_attempt_at BIGINT,
    last_result     TEXT,
    last_note       TEXT,
    closed_at       BIGINT,
    closed_by       TEXT,
    UNIQUE (call_id, reason)
);

-- The work list: open tasks of a tier, oldest first.
CREATE INDEX callbacks_work ON callbacks (state, tier, created_at);
CREATE INDEX callbacks_ticket ON callbacks (ticket_id);
