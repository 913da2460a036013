-- PostgreSQL answers "which artifacts use this blob" from artifact_blobs
-- again, through its digest index, and blob_users becomes a view of it
-- (the collector's queries read the same name on both). Its deletes leave
-- index entries for vacuum rather than writing pages, so the index cost a
-- removal little there, and blob_users was rows to write and delete on
-- top: a retention run over 100,000 tags took about a fifth longer with
-- it. SQLite keeps the table (migration 025).
DROP TABLE blob_users;
CREATE INDEX artifact_blobs_digest ON artifact_blobs (digest);
CREATE VIEW blob_users AS SELECT digest, artifact_id FROM artifact_blobs;
-- A replica still running the berth before this one writes blob_users as
-- a table: its writes do nothing (artifact_blobs has what they meant).
CREATE RULE blob_users_insert AS ON INSERT TO blob_users DO INSTEAD NOTHING;
CREATE RULE blob_users_delete AS ON DELETE TO blob_users DO INSTEAD NOTHING;
