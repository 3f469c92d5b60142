-- The contact list (連絡先一覧) as admins edit it in the console: each save is a new version
-- holding the whole TOML source, validated before it is stored. The newest version is in force
-- and overrides `[escalation] contacts` (or the built-in list); older ones are kept to compare
-- and restore. Each save is also in `audit`.

CREATE TABLE contact_lists (
    version   INTEGER PRIMARY KEY,
    source    TEXT NOT NULL,
    edited_by TEXT NOT NULL,
    edited_at INTEGER NOT NULL,
    reason    TEXT NOT NULL
);
