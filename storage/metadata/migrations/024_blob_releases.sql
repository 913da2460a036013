-- Blob releases a retention run defers (DeferBlobReleases). Taking a
-- removed manifest's blobs off project_blobs at once touches a random page
-- of its digest-keyed index for every blob (two or three per manifest):
-- over half of what a run removing a million tags spent in SQLite. The
-- run appends them here instead, in the order removed, and folds the log
-- when it ends (FoldBlobReleases): in project and digest order, so that
-- each page of project_blobs is written once for all its releases.
CREATE TABLE project_blob_releases (
    id {{id}},
    project_id BIGINT NOT NULL,
    digest {{text}} NOT NULL,
    n BIGINT NOT NULL -- how many artifacts that used it were removed
);
-- The fold in progress (at most one row, id 1): every release up to max_id
-- is folded in (project_id, digest) order, and those up to the key
-- (project_id, digest) are in project_blobs already. A fold cut short
-- (a crash, a restart) goes on from there.
CREATE TABLE project_blob_fold (
    id BIGINT NOT NULL PRIMARY KEY,
    max_id BIGINT NOT NULL,
    project_id BIGINT NOT NULL,
    digest {{text}} NOT NULL
);
