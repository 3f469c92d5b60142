-- The live event stream shared by several nodes on one PostgreSQL database (`events::bus`). A
-- SQLite database serves one node, whose events stay in its memory: the table is here so both
-- schemas are the same, and stays empty.
CREATE TABLE events (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   INTEGER NOT NULL,
    node TEXT NOT NULL,
    kind TEXT NOT NULL,
    tier INTEGER,
    body TEXT NOT NULL
);
