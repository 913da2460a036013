-- Sessions of the web console (ext/console): a browser that logged in holds
-- a random token in a cookie, and only its SHA-256 is kept here, so a copy
-- of the database does not log anyone in. Every replica reads the same
-- rows. A session ends when it expires, at logout, when the user is deleted
-- or disabled, or when the user's credential version moves (a password
-- change ends every other session).
CREATE TABLE console_sessions (
    token_hash TEXT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_version BIGINT NOT NULL,
    csrf TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
-- The referrers of a manifest (the console's referrers tree, and
-- /v2/<name>/referrers/<digest>) are read in digest order: with only
-- (repository_id, subject_digest) SQLite walked the repository's every
-- artifact through the (repository_id, digest) key instead (137 ms at
-- 100,000 artifacts, 0.3 ms with this index, which also holds the order).
CREATE INDEX artifacts_subject_digest ON artifacts (repository_id, subject_digest, digest);
DROP INDEX artifacts_subject;
