-- The global acknowledgement limit counts the last hour's acknowledgements.
CREATE INDEX outbox_kind_created ON outbox (kind, created_at);
