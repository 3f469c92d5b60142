-- Console sign-ins. Only a SHA-256 of each session id is kept (the id is the cookie); the CSRF
-- token is the one a state-changing request of the session must send back.

CREATE TABLE sessions (
    id           BIGSERIAL PRIMARY KEY,
    id_hash      TEXT NOT NULL UNIQUE,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    csrf         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
CREATE INDEX sessions_created ON sessions (created_at);
