-- The incident database (インシデント管理データベース): tickets, their contacts, attachments and
-- an append-only history. Times are UTC milliseconds since the epoch.

CREATE TABLE ticket_sequences (
    day  TEXT PRIMARY KEY,           -- JST day, YYYYMMDD
    last INTEGER NOT NULL
);

CREATE TABLE tickets (
    id            INTEGER PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    subject       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    category      TEXT NOT NULL,
    priority      TEXT NOT NULL,
    tier          INTEGER NOT NULL,
    status        TEXT NOT NULL,
    contact_count INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    search_text   TEXT NOT NULL       -- folded (NFKC, lower case) text that search looks in
);
CREATE INDEX tickets_status   ON tickets (status, id);
CREATE INDEX tickets_channel  ON tickets (channel, id);
CREATE INDEX tickets_tier     ON tickets (tier, id);
CREATE INDEX tickets_category ON tickets (category, id);

CREATE TABLE contacts (
    id            INTEGER PRIMARY KEY,
    ticket_id     INTEGER NOT NULL REFERENCES tickets (id),
    channel       TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL,
    subject       TEXT,
    body          TEXT NOT NULL,
    caller_number TEXT,
    caller_key    TEXT,              -- normalised phone number, for matching
    display_name  TEXT,
    email         TEXT,
    email_key     TEXT,              -- lower-cased address, for matching
    fax_number    TEXT,
    fax_key       TEXT,
    dialed_number TEXT,
    organisation  TEXT,
    menu_choices  TEXT,
    source_ref    TEXT,              -- Message-ID, Call-ID
    raw           TEXT,              -- the source as received
    actor         TEXT NOT NULL
);
CREATE INDEX contacts_ticket     ON contacts (ticket_id, id);
CREATE INDEX contacts_caller_key ON contacts (caller_key);
CREATE INDEX contacts_email_key  ON contacts (email_key);
CREATE INDEX contacts_fax_key    ON contacts (fax_key);
CREATE INDEX contacts_source_ref ON contacts (source_ref);

CREATE TABLE attachments (
    id           INTEGER PRIMARY KEY,
    ticket_id    INTEGER NOT NULL REFERENCES tickets (id),
    contact_id   INTEGER REFERENCES contacts (id),
    sha256       TEXT NOT NULL,      -- the file under <data_dir>/attachments/
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX attachments_ticket ON attachments (ticket_id, id);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE history (
    id        INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL          -- JSON
);
CREATE INDEX history_ticket ON history (ticket_id, id);
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;

-- Trigram full-text index over tickets.search_text (rowid = tickets.id): substring search that
-- works for Japanese, which has no spaces between words.
CREATE VIRTUAL TABLE ticket_fts USING fts5 (search_text, content = '', contentless_delete = 1, tokenize = 'trigram');

-- Distinct two-character pairs of Japanese text (rowid = tickets.id): answers two-character
-- searches (障害, 印刷), which the trigram index cannot.
CREATE VIRTUAL TABLE ticket_grams USING fts5 (grams, content = '', contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 0');
