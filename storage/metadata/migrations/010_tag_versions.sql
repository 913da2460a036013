-- A tag is a version (bk-repo's word): it keeps when it was first pushed,
-- which pushing the same manifest again or under another tag does not move
-- (push_time is when the tag last moved), and how often it was downloaded
-- by name (a manifest GET by this tag, through /v2 or a dialect).
-- Rows tagged before this migration start from their last push and from
-- their artifact's download count, the count shown for them until now.
ALTER TABLE tags ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tags ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0;
UPDATE tags SET created_at = push_time,
    pull_count = COALESCE((SELECT a.pull_count FROM artifacts a WHERE a.id = tags.artifact_id), 0);
