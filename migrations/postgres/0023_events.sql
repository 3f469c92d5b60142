-- The live event stream shared by every node on this database (`events::bus`): each node writes
-- the events it publishes here, in id order (one writer at a time, under an advisory lock, so ids
-- commit in the order they are given), and every node follows the table by id, woken by
-- NOTIFY madoguchi_events. A console may so reconnect to any node with its Last-Event-ID.
-- `body` is the event's JSON object without its id; `at` is UTC milliseconds since the epoch.
-- Old rows are pruned: only the recent ones are ever read.
CREATE TABLE events (
    id   BIGSERIAL PRIMARY KEY,
    at   BIGINT NOT NULL,
    node TEXT NOT NULL,
    kind TEXT NOT NULL,
    tier BIGINT,
    body TEXT NOT NULL
);
