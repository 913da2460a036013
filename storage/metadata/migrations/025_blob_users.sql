-- Which artifacts use a blob, keyed by the blob's digest: what the garbage
-- collector asks before it deletes a blob or a repository's link of one.
-- artifact_blobs answered it through an index on its digest, and every
-- removed manifest took its own manifest and config digests out of that
-- index at random pages: about a third of what a retention run removing a
-- million tags spent in SQLite. A run now logs the pairs its removals free
-- (blob_user_releases) and folds them in with the blob releases, in key
-- order (see FoldBlobReleases). Until then a pair whose artifact is gone
-- stays here, and the collector's queries join artifacts, so it counts for
-- nothing. Every other removal takes its pairs out at once.
CREATE TABLE blob_users (
    digest {{text}} NOT NULL,
    artifact_id BIGINT NOT NULL,
    PRIMARY KEY (digest, artifact_id)
){{norowid}};
INSERT INTO blob_users (digest, artifact_id) SELECT digest, artifact_id FROM artifact_blobs;
DROP INDEX artifact_blobs_digest;
-- The pairs a retention run's removals freed, in the order removed. The
-- fold's place in them is project_blob_fold's row 2 (its project_id
-- holding the artifact id: the key is digest, then artifact).
CREATE TABLE blob_user_releases (
    id {{id}},
    digest {{text}} NOT NULL,
    artifact_id BIGINT NOT NULL
);
