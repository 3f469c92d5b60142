-- A contact's attachments, read a page at a time.
CREATE INDEX attachments_contact ON attachments (contact_id, id);
