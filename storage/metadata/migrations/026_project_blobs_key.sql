-- project_blobs kept by its key alone (SQLite: one B-tree, not a rowid
-- table beside its key's index). The fold applies a run's releases in key
-- order, and in a rowid table each of them still wrote a page of the table
-- at random (rows are placed in the order pushed).
CREATE TABLE project_blobs_keyed (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    refs BIGINT NOT NULL,
    PRIMARY KEY (project_id, digest)
){{norowid}};
INSERT INTO project_blobs_keyed (project_id, digest, size, refs) SELECT project_id, digest, size, refs FROM project_blobs;
DROP TABLE project_blobs;
ALTER TABLE project_blobs_keyed RENAME TO project_blobs;
