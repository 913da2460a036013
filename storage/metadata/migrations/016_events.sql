-- Events and the audit log (registry/events). A change writes its event in
-- its own transaction (the outbox), so an event exists exactly for the
-- changes that committed. Refused and failed attempts are rows too, for the
-- audit log, but are never delivered. pending marks the events not yet
-- handed to the webhooks (webhook_deliveries).
CREATE TABLE events (
    seq {{id}},
    id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor_kind TEXT NOT NULL DEFAULT '',
    actor_id BIGINT NOT NULL DEFAULT 0,
    actor_name TEXT NOT NULL DEFAULT '',
    client_addr TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    project TEXT NOT NULL DEFAULT '',
    repository TEXT NOT NULL DEFAULT '',
    tag TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT '',
    media_type TEXT NOT NULL DEFAULT '',
    size BIGINT NOT NULL DEFAULT 0,
    target TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT 'ok',
    data TEXT NOT NULL DEFAULT '',
    pending BOOLEAN NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE INDEX events_pending ON events (pending, seq);
CREATE INDEX events_project_at ON events (project, at);
CREATE INDEX events_actor_at ON events (actor_name, at);
-- Webhooks: per project, or global (project_id NULL). types lists the
-- action names delivered, separated by commas (empty: all).
CREATE TABLE webhooks (
    id {{id}},
    project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL DEFAULT '',
    types TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_project ON webhooks (project_id);
-- One event for one webhook. Deliveries of one webhook and ordering key
-- (the repository, else the project) go out in order, each after the one
-- before is delivered or given up. A worker holds a delivery while
-- lease_until is in the future. The payload is the CloudEvent, kept so
-- that pruning old events never loses a delivery.
CREATE TABLE webhook_deliveries (
    id {{id}},
    webhook_id BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_seq BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    ordering TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    lease_until BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, ordering, id);
-- Every attempt of a delivery and how it ended.
CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status_code BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    duration_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (delivery_id, attempt)
);
