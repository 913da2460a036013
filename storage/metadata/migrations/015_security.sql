-- Security hardening (issue 19).

-- Failed logins, per user and client address together: a guesser locks
-- out only itself (its address), never the user from elsewhere. Replicas
-- share the counts here. failures counts within the window that started
-- at window_start, lockouts the locks in a row (each twice as long as the
-- one before), locked_until ends the current one (ms since the epoch).
CREATE TABLE login_failures (
    username {{text}} NOT NULL,
    client {{text}} NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    window_start BIGINT NOT NULL,
    lockouts INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (username, client)
);
CREATE INDEX login_failures_updated ON login_failures (updated_at);

-- A project's owner is a user id, not a name: a user deleted and created
-- again under the same name is another user and inherits nothing. Existing
-- projects are bound to the user of their creator's name only when that
-- user existed when the project was created (a user re-created since is
-- not the creator), else to nobody (0).
ALTER TABLE projects ADD COLUMN creator_id BIGINT NOT NULL DEFAULT 0;
UPDATE projects SET creator_id = COALESCE((SELECT u.id FROM users u
    WHERE u.username = projects.creator AND u.created_at <= projects.created_at), 0)
    WHERE creator <> '';
CREATE INDEX projects_creator_id ON projects (creator_id);
