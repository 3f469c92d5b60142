-- System facts (障害情報収集・システム情報): what a monitoring system listed in
-- [[status_sources]] answered when asked about a ticket: by itself when a ticket of one of the
-- source's categories was opened, or when an operator asked. One row per answer, failures too
-- (`ok` 0, with `error`: a timeout, a refused connection, bad TLS, a non-2xx status, an answer
-- larger than the source's max_bytes, or a fetch skipped because too many were waiting).
-- `url` is the source's as configured (it may carry a token; never shown or logged); `body` the
-- answer as text (JSON pretty-printed; at most max_bytes of it, `truncated` 1 when there was
-- more); `http_status` null when nothing was answered; `requested_by` the operator who asked,
-- null when it was fetched for a new ticket. Each row also has a `system_facts` history entry.

CREATE TABLE system_facts (
    id           BIGSERIAL PRIMARY KEY,
    ticket_id    BIGINT NOT NULL REFERENCES tickets (id),
    source       TEXT NOT NULL,
    url          TEXT NOT NULL,
    fetched_at   BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    ok           BIGINT NOT NULL,
    http_status  BIGINT,
    content_type TEXT,
    body         TEXT,
    truncated    BIGINT NOT NULL DEFAULT 0,
    error        TEXT,
    requested_by TEXT
);

-- A ticket's answers, newest first.
CREATE INDEX system_facts_ticket ON system_facts (ticket_id, id);
