-- Projects: the first path component of every repository name.
CREATE TABLE projects (
    id {{id}},
    name {{text}} NOT NULL UNIQUE,
    public BOOLEAN NOT NULL DEFAULT FALSE,
    quota_bytes BIGINT NOT NULL DEFAULT -1,
    storage_used BIGINT NOT NULL DEFAULT 0,
    creator TEXT NOT NULL DEFAULT '',
    attrs TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE repositories (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name {{text}} NOT NULL UNIQUE,
    summary TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    attrs TEXT NOT NULL DEFAULT '{}',
    pull_count BIGINT NOT NULL DEFAULT 0,
    -- Counters kept by every write, so lists never count rows.
    artifact_count BIGINT NOT NULL DEFAULT 0,
    tag_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX repositories_project ON repositories (project_id, name);

CREATE TABLE artifacts (
    id {{id}},
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest {{text}} NOT NULL,
    media_type TEXT NOT NULL,
    artifact_type TEXT NOT NULL DEFAULT '',
    config_media_type TEXT NOT NULL DEFAULT '',
    config_digest TEXT NOT NULL DEFAULT '',
    manifest_size BIGINT NOT NULL,
    size BIGINT NOT NULL,
    os TEXT NOT NULL DEFAULT '',
    arch TEXT NOT NULL DEFAULT '',
    variant TEXT NOT NULL DEFAULT '',
    subject_digest TEXT NOT NULL DEFAULT '',
    annotations TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    pushed_by TEXT NOT NULL DEFAULT '',
    push_time BIGINT NOT NULL,
    pull_time BIGINT NOT NULL DEFAULT 0,
    pull_count BIGINT NOT NULL DEFAULT 0,
    UNIQUE (repository_id, digest)
);
CREATE INDEX artifacts_push_time ON artifacts (repository_id, push_time);
CREATE INDEX artifacts_subject ON artifacts (repository_id, subject_digest);

CREATE TABLE tags (
    id {{id}},
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    artifact_id BIGINT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    name {{text}} NOT NULL,
    push_time BIGINT NOT NULL,
    pull_time BIGINT NOT NULL DEFAULT 0,
    immutable BOOLEAN NOT NULL DEFAULT FALSE,
    attrs TEXT NOT NULL DEFAULT '{}',
    UNIQUE (repository_id, name)
);
CREATE INDEX tags_push_time ON tags (repository_id, push_time);
CREATE INDEX tags_artifact ON tags (artifact_id);

-- An index (parent) and its children, with their platforms.
CREATE TABLE artifact_references (
    parent_id BIGINT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    child_digest TEXT NOT NULL,
    child_id BIGINT REFERENCES artifacts(id) ON DELETE SET NULL,
    media_type TEXT NOT NULL DEFAULT '',
    size BIGINT NOT NULL DEFAULT 0,
    os TEXT NOT NULL DEFAULT '',
    arch TEXT NOT NULL DEFAULT '',
    variant TEXT NOT NULL DEFAULT '',
    annotations TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (parent_id, child_digest)
);
CREATE INDEX artifact_references_child ON artifact_references (child_id);

-- Every blob an artifact needs (its manifest, config and layers).
CREATE TABLE artifact_blobs (
    artifact_id BIGINT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    media_type TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (artifact_id, digest)
);
CREATE INDEX artifact_blobs_digest ON artifact_blobs (digest);

-- Each blob counted once per project, for storage used and quotas.
CREATE TABLE project_blobs (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    refs BIGINT NOT NULL,
    PRIMARY KEY (project_id, digest)
);
