-- System operation notices (failures, maintenance): drafted by an operator or supervisor,
-- approved (and so published) or rejected by a supervisor who did not draft them, withdrawn by
-- a supervisor when no longer true. A published notice is public (`/notices`, its feed, and,
-- with audio, played to callers) only within its window [valid_from, valid_until).
-- `audio`: 8 kHz mono 16-bit WAV, from an upload or from `audio_text` spoken by the synthesiser.

CREATE TABLE notices (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL,
    title        TEXT NOT NULL,
    title_en     TEXT NOT NULL DEFAULT '',
    body         TEXT NOT NULL,
    body_en      TEXT NOT NULL DEFAULT '',
    valid_from   INTEGER,
    valid_until  INTEGER,
    drafted_by   TEXT NOT NULL,
    decided_by   TEXT,
    decided_at   INTEGER,
    comment      TEXT,
    withdrawn_by TEXT,
    withdrawn_at INTEGER,
    audio        BLOB,
    audio_text   TEXT NOT NULL DEFAULT '',
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE INDEX notices_state ON notices (state, valid_until);
