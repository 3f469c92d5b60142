-- Announcement slots (welcome, menu, closed, …) and their versions. Version 1 of a slot is the
-- shipped announcement (its audio is the prompts directory's or the built-in one: `audio` NULL);
-- later versions are requested with their audio (8 kHz mono 16-bit WAV), approved or rejected by
-- a supervisor who did not request them, and play only when approved and within their window.
-- `activated_at`: when it was approved or rolled back to; the latest activation plays.

CREATE TABLE prompt_versions (
    id           BIGSERIAL PRIMARY KEY,
    slot         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    state        TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    valid_from   BIGINT,
    valid_until  BIGINT,
    decided_by   TEXT,
    decided_at   BIGINT,
    comment      TEXT,
    activated_at BIGINT,
    audio        BYTEA,
    duration_ms  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    UNIQUE (slot, version)
);
