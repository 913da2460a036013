-- A proxy project's size cap (registry/proxy, evict.go): when the project's
-- storage (projects.storage_used) exceeds it, the least recently pulled
-- artifacts are removed until it is under 90 percent of it, and garbage
-- collection frees their bytes. 0 is no cap.
ALTER TABLE proxy_upstreams ADD COLUMN cap_bytes BIGINT NOT NULL DEFAULT 0;
