-- The bytes of every indexed manifest, so management lists that show them
-- (SWR's tag "manifest") read one page of them in one query instead of one
-- storage read per row. A table of its own keeps the artifacts table's rows
-- small for the list and count queries that never read the bytes.
-- Artifacts indexed before this migration have no row here: readers fall
-- back to storage and fill it in, and `berth reindex` fills all of them.
-- Manifests are content-addressed (the bytes hash to the artifact's digest)
-- and bounded at 4 MiB by distribution, typical ones are a few KiB.
-- (No semicolons in comments: statements are split on them.)
CREATE TABLE artifact_manifests (
    artifact_id BIGINT NOT NULL PRIMARY KEY REFERENCES artifacts(id) ON DELETE CASCADE,
    payload {{bytes}} NOT NULL
);
