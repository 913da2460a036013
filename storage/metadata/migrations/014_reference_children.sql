-- Retention, garbage collection and deletes ask whether an index of a
-- repository refers to a manifest by its digest: an index on it keeps that
-- from reading every reference of the database.
CREATE INDEX artifact_references_child_digest ON artifact_references (child_digest)
