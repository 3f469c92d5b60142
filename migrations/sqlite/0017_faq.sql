-- FAQ upkeep: entries drafted from the incidents that asked the same thing, approved step by step
-- (`[faq] approvals`, by default the general manager 統括責任者 then the business division
-- 業務課) by a supervisor who did not write them, then published; `audience` public entries are
-- on the public page `/faq`, internal ones only in the console.
-- `state`: draft | submitted | approved | published | withdrawn. `review_round` counts submissions: the
-- approvals of an earlier round (before a rejection or an edit) no longer count.
-- `search_text`: question, answer and category folded (NFKC, lower case) for the console's search.

CREATE TABLE faq_entries (
    id           INTEGER PRIMARY KEY,
    question     TEXT NOT NULL,
    answer       TEXT NOT NULL,
    category     TEXT NOT NULL,
    audience     TEXT NOT NULL,
    state        TEXT NOT NULL,
    review_round INTEGER NOT NULL DEFAULT 0,
    author       TEXT NOT NULL,
    edited_by    TEXT NOT NULL,
    search_text  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    submitted_at INTEGER,
    submitted_by TEXT,
    published_at INTEGER,
    published_by TEXT,
    withdrawn_at INTEGER,
    withdrawn_by TEXT
);
CREATE INDEX faq_entries_state ON faq_entries (state, id);
-- The weekly additions: entries published in a period.
CREATE INDEX faq_entries_published ON faq_entries (published_at);

-- The tickets an entry was drafted from; they stay linked whatever becomes of the entry.
CREATE TABLE faq_entry_tickets (
    entry_id  INTEGER NOT NULL REFERENCES faq_entries (id),
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    PRIMARY KEY (entry_id, ticket_id)
);
CREATE INDEX faq_entry_tickets_ticket ON faq_entry_tickets (ticket_id);

-- Each decision on a submitted entry: a step approved (`decision` approved, `step` its name) or
-- the entry rejected back to draft (`decision` rejected, `step` the one that was awaited).
CREATE TABLE faq_approvals (
    id         INTEGER PRIMARY KEY,
    entry_id   INTEGER NOT NULL REFERENCES faq_entries (id),
    review_round INTEGER NOT NULL,
    step       TEXT NOT NULL,
    decision   TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    decided_at INTEGER NOT NULL,
    comment    TEXT
);
CREATE INDEX faq_approvals_entry ON faq_approvals (entry_id, id);

-- Tickets answered from an entry (one row per entry and ticket): the entry's `uses`.
CREATE TABLE faq_uses (
    id        INTEGER PRIMARY KEY,
    entry_id  INTEGER NOT NULL REFERENCES faq_entries (id),
    ticket_id INTEGER NOT NULL REFERENCES tickets (id),
    used_by   TEXT NOT NULL,
    used_at   INTEGER NOT NULL,
    UNIQUE (entry_id, ticket_id)
);
