-- Users of berth: docker login, management APIs.
CREATE TABLE users (
    id {{id}},
    username {{text}} NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- Bumped on every password change: cached credentials of an older
    -- version stop working on every replica at once.
    credential_version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Project membership: admin, developer or guest.
CREATE TABLE members (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

-- Application credentials (robot accounts): an access key and a secret,
-- scoped to projects with a role in each.
CREATE TABLE app_credentials (
    id {{id}},
    access_key {{text}} NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    creator TEXT NOT NULL DEFAULT '',
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    credential_version BIGINT NOT NULL DEFAULT 1,
    expires_at BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE app_credential_scopes (
    credential_id BIGINT NOT NULL REFERENCES app_credentials(id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    PRIMARY KEY (credential_id, project_id)
);

-- Settings shared by replicas (the token signing key).
CREATE TABLE settings (
    name {{text}} PRIMARY KEY,
    value TEXT NOT NULL
);
