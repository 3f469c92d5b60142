-- A file written for a contact that was not stored is removed only when no attachment names it.
CREATE INDEX attachments_sha256 ON attachments (sha256);
