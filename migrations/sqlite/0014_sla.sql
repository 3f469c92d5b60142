-- SLA clocks: per ticket, one of each kind (first_response, next_update, resolution, callback).
-- Business time is counted by madoguchi; the row keeps what was used before the current run,
-- when the run began, and when it warns and breaches. `next_at` is when the scheduler must look
-- at it next (the warning, then the breach; NULL when not running). A warning or breach is
-- claimed by setting `warned_at` / `breached_at` in the transaction that acts on it, so one
-- service among several on the same database acts, once.

CREATE TABLE sla_clocks (
    id               INTEGER PRIMARY KEY,
    ticket_id        INTEGER NOT NULL REFERENCES tickets (id),
    kind             TEXT NOT NULL,
    policy           TEXT NOT NULL,
    state            TEXT NOT NULL,
    target_ms        INTEGER NOT NULL,
    consumed_ms      INTEGER NOT NULL DEFAULT 0,
    running_since    INTEGER,
    due_at           INTEGER,
    warn_at          INTEGER,
    around_the_clock INTEGER NOT NULL DEFAULT 0,
    warned_at        INTEGER,
    breached_at      INTEGER,
    ended_at         INTEGER,
    next_at          INTEGER,
    UNIQUE (ticket_id, kind)
);

CREATE INDEX sla_clocks_next ON sla_clocks (next_at);
