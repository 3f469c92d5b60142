-- Outgoing mail (acknowledgements, later escalation notices): written in the same transaction
-- as the contact that causes it, sent by a worker, retried with backoff.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES tickets (id),
    kind            TEXT NOT NULL,       -- ack
    to_addr         TEXT NOT NULL,
    to_key          TEXT NOT NULL,       -- lower-cased, for the per-sender rate limit
    message_id      TEXT NOT NULL,       -- ours, so replies to it thread onto the ticket
    in_reply_to     TEXT,
    subject         TEXT NOT NULL,       -- the subject being answered
    status          TEXT NOT NULL,       -- pending, sent, failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_to ON outbox (to_key, created_at);
CREATE INDEX outbox_message_id ON outbox (message_id);

-- The staff directory (imported from CSV): who a sender or caller is.
CREATE TABLE directory (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    department  TEXT NOT NULL,
    phone       TEXT,
    phone_key   TEXT,
    email       TEXT,
    email_key   TEXT
);
CREATE INDEX directory_phone ON directory (phone_key);
CREATE INDEX directory_email ON directory (email_key);
