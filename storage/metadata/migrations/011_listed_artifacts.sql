-- An artifact is listed (an artifact of its own in the management lists)
-- unless an index of its repository refers to it and it has no tag of its
-- own: Harbor's rule, so a multi-arch image is one artifact with its
-- children under references. Every write that changes either side keeps
-- the flag and the repository's listed_count in the same transaction, so
-- lists page on an index and count from a counter. berth reindex
-- recomputes both (Recount).
ALTER TABLE artifacts ADD COLUMN listed BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE repositories ADD COLUMN listed_count BIGINT NOT NULL DEFAULT 0;
UPDATE artifacts SET listed = FALSE
    WHERE EXISTS (SELECT 1 FROM artifact_references r WHERE r.child_id = artifacts.id)
    AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = artifacts.id);
UPDATE repositories SET listed_count = (SELECT count(*) FROM artifacts a WHERE a.repository_id = repositories.id AND a.listed);
-- Pages of listed artifacts by push time walk this index alone (it
-- replaces the one without the flag, which only that list used).
CREATE INDEX artifacts_listed_push_time ON artifacts (repository_id, listed, push_time, id);
DROP INDEX artifacts_push_time_id;
