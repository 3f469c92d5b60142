-- Periodic reports (定期報告). Each scheduled report (daily, monthly) is claimed by inserting its
-- row in the transaction that queues its mail, so among several services on one database, and
-- across restarts, one sends it, once. `period_start`: the period's first instant (UTC ms).
CREATE TABLE report_runs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end   BIGINT NOT NULL,
    recipients   BIGINT NOT NULL,
    queued_at    BIGINT NOT NULL,
    UNIQUE (kind, period_start)
);

-- A report's mail belongs to no ticket.
ALTER TABLE outbox ALTER COLUMN ticket_id DROP NOT NULL;
