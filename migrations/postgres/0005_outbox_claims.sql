-- An outbox item is claimed before it is sent (status 'sending', claimed_at = when), so two
-- nodes never send it both; a claim older than the lease (a node that died mid-send) is taken
-- over by another.
ALTER TABLE outbox ADD COLUMN claimed_at BIGINT;
CREATE INDEX outbox_claimed ON outbox (status, claimed_at);
