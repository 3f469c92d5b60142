-- The incident database (インシデント管理データベース): tickets, their contacts, attachments and
-- an append-only history. Times are UTC milliseconds since the epoch.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE ticket_sequences (
    day  TEXT PRIMARY KEY,           -- JST day, YYYYMMDD
    last BIGINT NOT NULL
);

CREATE TABLE tickets (
    id            BIGSERIAL PRIMARY KEY,
    number        TEXT NOT NULL UNIQUE,
    subject       TEXT NOT NULL,
    channel       TEXT NOT NULL,
    category      TEXT NOT NULL,
    priority      TEXT NOT NULL,
    tier          BIGINT NOT NULL,
    status        TEXT NOT NULL,
    contact_count BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    search_text   TEXT NOT NULL,      -- folded (NFKC, lower case) text that search looks in
    search_grams  TSVECTOR NOT NULL DEFAULT ''::tsvector  -- its Japanese two-character pairs
);
CREATE INDEX tickets_status   ON tickets (status, id);
CREATE INDEX tickets_channel  ON tickets (channel, id);
CREATE INDEX tickets_tier     ON tickets (tier, id);
CREATE INDEX tickets_category ON tickets (category, id);
-- Substring search that works for Japanese, which has no spaces between words.
CREATE INDEX tickets_search   ON tickets USING gin (search_text gin_trgm_ops);
-- Two-character words (障害, 印刷), which trigrams cannot answer.
CREATE INDEX tickets_grams    ON tickets USING gin (search_grams);
-- Detailed statistics of the pairs, so a rare word is looked up in the index rather than found
-- by reading tickets newest-first until the page fills.
ALTER TABLE tickets ALTER COLUMN search_grams SET STATISTICS 10000;

CREATE TABLE contacts (
    id            BIGSERIAL PRIMARY KEY,
    ticket_id     BIGINT NOT NULL REFERENCES tickets (id),
    channel       TEXT NOT NULL,
    received_at   BIGINT NOT NULL,
    recorded_at   BIGINT NOT NULL,
    subject       TEXT,
    body          TEXT NOT NULL,
    caller_number TEXT,
    caller_key    TEXT,
    display_name  TEXT,
    email         TEXT,
    email_key     TEXT,
    fax_number    TEXT,
    fax_key       TEXT,
    dialed_number TEXT,
    organisation  TEXT,
    menu_choices  TEXT,
    source_ref    TEXT,
    raw           TEXT,
    actor         TEXT NOT NULL
);
CREATE INDEX contacts_ticket     ON contacts (ticket_id, id);
CREATE INDEX contacts_caller_key ON contacts (caller_key);
CREATE INDEX contacts_email_key  ON contacts (email_key);
CREATE INDEX contacts_fax_key    ON contacts (fax_key);
CREATE INDEX contacts_source_ref ON contacts (source_ref);

CREATE TABLE attachments (
    id           BIGSERIAL PRIMARY KEY,
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    contact_id   BIGINT REFERENCES contacts (id),
    sha256       TEXT NOT NULL,
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX attachments_ticket ON attachments (ticket_id, id);

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE history (
    id        BIGSERIAL PRIMARY KEY,
    ticket_id BIGINT NOT NULL REFERENCES tickets (id),
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL          -- JSON
);
CREATE INDEX history_ticket ON history (ticket_id, id);
CREATE FUNCTION history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'history is append-only'; END $$;
CREATE TRIGGER history_no_change BEFORE UPDATE OR DELETE ON history
FOR EACH ROW EXECUTE FUNCTION history_append_only();
