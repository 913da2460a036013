-- artifact_blobs carries each blob's id (migration 029). A removal reads
-- the ids of what it releases with its artifact's rows, which sit
-- together in the order pushed, rather than looking each digest up in
-- blob_ids, a page of its index at random each (in a million-tag
-- retention run that did, the pushes beside it were slowed for the run's
-- first 40 s, likely those pages read cold).
ALTER TABLE artifact_blobs ADD COLUMN blob_id BIGINT NOT NULL DEFAULT 0;
UPDATE artifact_blobs SET blob_id = coalesce((SELECT b.id FROM blob_ids b WHERE b.digest = artifact_blobs.digest), 0);
