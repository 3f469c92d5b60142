-- Periodic reports (定期報告). Each scheduled report (daily, monthly) is claimed by inserting its
-- row in the transaction that queues its mail, so among several services on one database, and
-- across restarts, one sends it, once. `period_start`: the period's first instant (UTC ms).
CREATE TABLE report_runs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    period_end   INTEGER NOT NULL,
    recipients   INTEGER NOT NULL,
    queued_at    INTEGER NOT NULL,
    UNIQUE (kind, period_start)
);

-- A report's mail belongs to no ticket: the outbox's ticket becomes optional. SQLite cannot drop
-- NOT NULL in place, so the table is rebuilt with the same rows, ids and indexes.
CREATE TABLE outbox_new (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER REFERENCES tickets (id),
    kind            TEXT NOT NULL,
    to_addr         TEXT NOT NULL,
    to_key          TEXT NOT NULL,
    message_id      TEXT NOT NULL,
    in_reply_to     TEXT,
    subject         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    claimed_at      INTEGER,
    body            TEXT
);
INSERT INTO outbox_new (id, ticket_id, kind, to_addr, to_key, message_id, in_reply_to, subject, status, attempts,
                        next_attempt_at, last_error, created_at, sent_at, claimed_at, body)
SELECT id, ticket_id, kind, to_addr, to_key, message_id, in_reply_to, subject, status, attempts,
       next_attempt_at, last_error, created_at, sent_at, claimed_at, body FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_to ON outbox (to_key, created_at);
CREATE INDEX outbox_message_id ON outbox (message_id);
CREATE INDEX outbox_kind_created ON outbox (kind, created_at);
CREATE INDEX outbox_claimed ON outbox (status, claimed_at);
