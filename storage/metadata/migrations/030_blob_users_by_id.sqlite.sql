-- blob_users keyed by blob id (see migration 029). A pair whose digest
-- has no id was left by a removed artifact (every artifact's blobs have
-- one) and counted for nothing: it is not carried over.
CREATE TABLE blob_users_by_id (
    blob_id BIGINT NOT NULL,
    artifact_id BIGINT NOT NULL,
    PRIMARY KEY (blob_id, artifact_id)
){{norowid}};
INSERT INTO blob_users_by_id (blob_id, artifact_id)
    SELECT b.id, u.artifact_id FROM blob_users u JOIN blob_ids b ON b.digest = u.digest ORDER BY 1, 2;
DROP TABLE blob_users;
ALTER TABLE blob_users_by_id RENAME TO blob_users;
