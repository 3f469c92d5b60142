-- Small attachments (most mails' original message, small scans) kept inside the database:
-- committed with their contact, no file to create and sync. Larger ones stay files under
-- <data_dir>/attachments/. Both are found by the attachment's sha256.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    data   BYTEA NOT NULL
);
