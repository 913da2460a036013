-- Image market (seed 001 part 1): build definitions, their plugins and
-- attributes, uploaded build-context files and the build history.

-- A build project: the image <cluster>/<name> is built from its definition.
CREATE TABLE build_projects (
    id {{id}},
    name {{text}} NOT NULL UNIQUE,
    cluster TEXT NOT NULL,
    -- edit, tool or download ('' until saved)
    file_type TEXT NOT NULL DEFAULT '',
    creator TEXT NOT NULL DEFAULT '',
    last_operator TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The plugins of a project, in pipeline order.
CREATE TABLE build_plugins (
    project_id BIGINT NOT NULL REFERENCES build_projects(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    plugin TEXT NOT NULL,
    PRIMARY KEY (project_id, position),
    UNIQUE (project_id, plugin)
);

-- Plugin settings: a repeated attribute is several rows (seq 0, 1, ...).
CREATE TABLE build_plugin_attrs (
    project_id BIGINT NOT NULL REFERENCES build_projects(id) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    attr TEXT NOT NULL,
    seq INTEGER NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (project_id, plugin, attr, seq)
);

-- Build-context files uploaded to a project (size-limited by the builder).
CREATE TABLE build_files (
    project_id BIGINT NOT NULL REFERENCES build_projects(id) ON DELETE CASCADE,
    name {{text}} NOT NULL,
    size BIGINT NOT NULL,
    digest TEXT NOT NULL,
    content BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, name)
);

-- Builds: state 0 building (queued or running), 1 success, 2 failed. A
-- running build refreshes heartbeat_at, and a building row whose heartbeat is
-- stale belongs to a process that died and is marked failed.
CREATE TABLE build_history (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES build_projects(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    operator TEXT NOT NULL DEFAULT '',
    image TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT '',
    logs TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    started_at BIGINT NOT NULL DEFAULT 0,
    finished_at BIGINT NOT NULL DEFAULT 0,
    heartbeat_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX build_history_project ON build_history (project_id, id);
CREATE INDEX build_history_state ON build_history (state, heartbeat_at);
