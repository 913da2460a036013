-- Lists sorted by push time break ties by id, so pages never overlap. With
-- the id in the index, the page subquery of a deep page walks the index
-- alone in that exact order (an index-only scan on PostgreSQL, no sort on
-- SQLite) instead of sorting or reading every row before the page.
CREATE INDEX tags_push_time_id ON tags (repository_id, push_time, id);
DROP INDEX tags_push_time;
CREATE INDEX artifacts_push_time_id ON artifacts (repository_id, push_time, id);
DROP INDEX artifacts_push_time;
