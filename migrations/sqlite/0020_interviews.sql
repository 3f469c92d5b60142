-- 問診: a ticket's interview, the answers by question id (JSON) of one template (interviews.toml).
-- Saved as the operator enters them; `complete` once every required question asked is answered.
-- Each save is also a history entry (`interview_saved`: which answers changed, by whom, when).

CREATE TABLE interviews (
    ticket_id  INTEGER PRIMARY KEY REFERENCES tickets (id),
    template   TEXT NOT NULL,
    answers    TEXT NOT NULL,
    complete   INTEGER NOT NULL DEFAULT 0,
    updated_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX interviews_template ON interviews (template);

-- The interview templates as admins edit them in the console, like contact_lists: each save a
-- version, the newest in force over `[interviews] file`, each audited.
CREATE TABLE interview_sets (
    version   INTEGER PRIMARY KEY,
    source    TEXT NOT NULL,
    edited_by TEXT NOT NULL,
    edited_at INTEGER NOT NULL,
    reason    TEXT NOT NULL
);
