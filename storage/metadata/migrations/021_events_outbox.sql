-- The events not yet handed to the webhooks (the outbox's queue) get an
-- index of their own, holding just them. The index on (pending, seq) held
-- every event, and PostgreSQL's generic plan for "pending = $1" read the
-- handed-out ones first: 4.7 ms for each look at the queue (one per
-- commit) while a retention run removed a million tags beside pushes.
-- Queries name the queue as "WHERE pending", the index's own condition.
DROP INDEX events_pending;
CREATE INDEX events_outbox ON events (seq) WHERE pending;
