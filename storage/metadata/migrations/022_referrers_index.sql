-- The referrers index holds referrers only. Keyed (repository_id,
-- subject_digest, digest), it held every artifact, and those with no
-- subject (nearly all) under (repository, '', digest): a random page of it
-- written by every push and every delete of one, for an entry no query
-- reads. Queries name it as "subject_digest <> ''", its own condition.
DROP INDEX artifacts_subject_digest;
CREATE INDEX artifacts_subject_digest ON artifacts (repository_id, subject_digest, digest) WHERE subject_digest <> '';
