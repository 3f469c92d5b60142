-- Working a ticket: who owns it (a user's login, or nobody), how it was resolved, and, once it
-- was merged into another ticket, which one (lookups follow it there).
ALTER TABLE tickets ADD COLUMN owner TEXT;
ALTER TABLE tickets ADD COLUMN resolution TEXT;
ALTER TABLE tickets ADD COLUMN merged_into TEXT;
-- A user's tickets, and the unassigned ones (owner IS NULL), newest first.
CREATE INDEX tickets_owner ON tickets (owner, id);
