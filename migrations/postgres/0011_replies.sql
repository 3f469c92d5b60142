-- Operators' replies to requesters go out through the outbox like acknowledgements (kind
-- 'reply'); their text is written by the operator, so it is kept with the item. The caller log
-- lists phone contacts newest first.
ALTER TABLE outbox ADD COLUMN body TEXT;
CREATE INDEX contacts_channel ON contacts (channel, id);
