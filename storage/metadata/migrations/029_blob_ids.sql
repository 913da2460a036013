-- Blob ids: a number for each digest, given at its first push, so in the
-- order pushed. project_blobs (and blob_users on SQLite, migration 030)
-- are keyed by it rather than by the digest. A digest is a random key:
-- a removal that released a blob wrote a page of those tables at random,
-- and a retention run removing the oldest of a million tags rewrote
-- nearly every page of them (the fold of migration 024 wrote each page
-- once, but all at once, and requests beside it waited on the disk). By
-- id, what was pushed together sits together, and what a run removes
-- (the oldest first) empties neighbouring pages. A digest keeps its id
-- for good (a row here is small and a blob pushed again gets it back).
CREATE TABLE blob_ids (
    id {{id}},
    digest {{text}} NOT NULL UNIQUE
);
-- Blobs already pushed, in the order of the first artifact using them.
INSERT INTO blob_ids (digest) SELECT digest FROM artifact_blobs GROUP BY digest ORDER BY min(artifact_id), digest;
INSERT INTO blob_ids (digest) SELECT DISTINCT p.digest FROM project_blobs p
    WHERE NOT EXISTS (SELECT 1 FROM blob_ids b WHERE b.digest = p.digest);
CREATE TABLE project_blobs_by_id (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    blob_id BIGINT NOT NULL,
    size BIGINT NOT NULL,
    refs BIGINT NOT NULL,
    PRIMARY KEY (project_id, blob_id)
){{norowid}};
INSERT INTO project_blobs_by_id (project_id, blob_id, size, refs)
    SELECT p.project_id, b.id, p.size, p.refs FROM project_blobs p JOIN blob_ids b ON b.digest = p.digest
    ORDER BY p.project_id, b.id;
DROP TABLE project_blobs;
ALTER TABLE project_blobs_by_id RENAME TO project_blobs;
