-- blob_users, still a view of artifact_blobs on PostgreSQL (migration
-- 027), answers by blob id like SQLite's table (migration 030). The rules
-- that kept an older replica's writes to it harmless go with the view:
-- this schema needs every replica to run this berth or a later one
-- (project_blobs is keyed by blob id too, migration 029).
DROP VIEW blob_users;
CREATE VIEW blob_users AS
    SELECT b.id AS blob_id, ab.artifact_id FROM artifact_blobs ab JOIN blob_ids b ON b.digest = ab.digest;
