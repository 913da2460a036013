-- blob_users, still a view of artifact_blobs on PostgreSQL (migration
-- 027), answers by blob id like SQLite's table (migration 030), through
-- an index on artifact_blobs' blob id (migration 032) that replaces the
-- one on its digest. The rules that kept an older replica's writes to it
-- harmless go with the old view: this schema needs every replica to run
-- this berth or a later one (project_blobs is keyed by blob id too,
-- migration 029).
DROP VIEW blob_users;
CREATE INDEX artifact_blobs_blob ON artifact_blobs (blob_id);
DROP INDEX artifact_blobs_digest;
CREATE VIEW blob_users AS SELECT blob_id, artifact_id FROM artifact_blobs;
