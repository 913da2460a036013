-- Online garbage collection (registry/gc). The index knows every blob
-- storage holds that berth stored (uploads, mounts, manifests), which
-- repositories link it (distribution's _layers links, the copy storage
-- keeps of repository_blobs) and which manifests use it (artifact_blobs).
-- Every write that may leave something unused queues a review of it. A
-- review is due gc.delay after it was queued, and a worker then deletes
-- what nothing uses, under the row lock of what it deletes.
CREATE TABLE blobs (
    digest {{text}} NOT NULL PRIMARY KEY,
    size BIGINT NOT NULL DEFAULT 0,
    media_type TEXT NOT NULL DEFAULT '',
    -- the last upload, mount or manifest push that used it
    linked_at BIGINT NOT NULL,
    -- its data was deleted (kept as a tombstone: a push racing the delete
    -- sees it and refuses rather than pointing at nothing)
    deleted BOOLEAN NOT NULL DEFAULT FALSE
);
-- Which repositories link which blobs, by repository name (blobs are
-- uploaded before the repository's first manifest creates its row).
CREATE TABLE repository_blobs (
    repository {{text}} NOT NULL,
    digest {{text}} NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);
-- Reviews: kind blob (repository ''), link (a repository's link of a
-- blob) or manifest (an untagged manifest, with gc.untagged delete).
CREATE TABLE gc_reviews (
    kind TEXT NOT NULL,
    repository {{text}} NOT NULL,
    digest {{text}} NOT NULL,
    queued_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, repository, digest)
);
CREATE INDEX gc_reviews_queued ON gc_reviews (queued_at);
-- Passes of the collector, for the operator (GET /api/berth/v1/gc).
CREATE TABLE gc_runs (
    id {{id}},
    cause TEXT NOT NULL, -- schedule, api, cli
    dry_run BOOLEAN NOT NULL DEFAULT FALSE,
    started_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    blobs_deleted BIGINT NOT NULL,
    bytes_freed BIGINT NOT NULL,
    manifests_deleted BIGINT NOT NULL,
    links_removed BIGINT NOT NULL,
    postponed BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
-- An existing store enters GC with what the index knows: every blob its
-- manifests use, linked by their repositories (not the manifests
-- themselves: they are revisions, not layer links).
INSERT INTO blobs (digest, size, media_type, linked_at)
    SELECT digest, max(size), max(media_type), 0 FROM artifact_blobs GROUP BY digest;
INSERT INTO repository_blobs (repository, digest, linked_at)
    SELECT DISTINCT r.name, b.digest, 0 FROM artifact_blobs b
    JOIN artifacts a ON a.id = b.artifact_id JOIN repositories r ON r.id = a.repository_id
    WHERE b.digest <> a.digest;
