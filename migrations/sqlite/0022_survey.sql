-- The satisfaction survey (ユーザ満足度調査): one per ticket, queued in the transaction that first
-- resolves it. Only a SHA-256 of the link's token is kept (the token is in the mail alone);
-- `sent_to` is the requester's address (personal data); `rating` 1–5 and `comment` are set once,
-- with `answered_at`, and the ticket's history says so (`survey_sent`, `survey_answered`).
-- Times are UTC milliseconds since the epoch.
CREATE TABLE surveys (
    id          INTEGER PRIMARY KEY,
    ticket_id   INTEGER NOT NULL UNIQUE REFERENCES tickets (id),
    token_hash  TEXT NOT NULL UNIQUE,
    sent_to     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    answered_at INTEGER,
    rating      INTEGER CHECK (rating BETWEEN 1 AND 5),
    comment     TEXT
);
-- The reports: surveys sent, and answers given, in a period.
CREATE INDEX surveys_created ON surveys (created_at);
CREATE INDEX surveys_answered ON surveys (answered_at);
