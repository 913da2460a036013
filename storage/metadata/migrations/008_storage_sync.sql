-- The index is the source of truth for repositories, manifests and tags.
-- Storage keeps a copy of their links (for disaster recovery and reindex),
-- written after the change is committed here. Each change records the keys
-- whose storage copy it must bring in line in the same transaction (a
-- manifest push records its key before it writes storage): a row stays until
-- its writer has made storage match the index, so after a crash the rows
-- left behind name exactly what to repair.
CREATE TABLE storage_sync (
    id {{id}},
    repository {{text}} NOT NULL,
    kind TEXT NOT NULL, -- tag or manifest
    name {{text}} NOT NULL, -- the tag, or the manifest digest
    owner TEXT NOT NULL, -- the instance that wrote the row
    created_at BIGINT NOT NULL
);
CREATE INDEX storage_sync_created ON storage_sync (created_at);
-- Running berth processes: a row whose owner stopped heartbeating is left
-- over from a crash and is repaired by any other instance.
CREATE TABLE instances (
    id TEXT NOT NULL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL
);
-- Jobs one instance at a time should run (the upload purge, later GC and
-- retention schedules): held by an owner until expires_at.
CREATE TABLE leases (
    name TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
