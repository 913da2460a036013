-- Tag retention and immutable tags, per project (registry/retention).
-- A policy is a list of rules (JSON) that together decide which tags of the
-- project's repositories stay: whatever no rule keeps is removed, then the
-- manifests that lost their last tag. A run records what it removed (or, dry,
-- would remove) and why.
CREATE TABLE retention_policies (
    project_id BIGINT NOT NULL PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    rules TEXT NOT NULL DEFAULT '[]',
    schedule TEXT NOT NULL DEFAULT '',
    next_run_at BIGINT NOT NULL DEFAULT 0,
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);
CREATE TABLE retention_runs (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    dry_run BOOLEAN NOT NULL,
    cause TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    started_at BIGINT NOT NULL,
    finished_at BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    tags_seen BIGINT NOT NULL DEFAULT 0,
    tags_removed BIGINT NOT NULL DEFAULT 0,
    manifests_removed BIGINT NOT NULL DEFAULT 0,
    kept TEXT NOT NULL DEFAULT '{}',
    longest_write_ms BIGINT NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX retention_runs_project ON retention_runs (project_id, id);
-- What a run removed (or would), each with the decision: at most a bounded
-- number per run (the counts above are complete).
CREATE TABLE retention_items (
    run_id BIGINT NOT NULL REFERENCES retention_runs(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    digest TEXT NOT NULL,
    decision TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
-- Immutable tags: a tag whose repository (the path after the project) and
-- name match a rule can be neither moved nor deleted, by anyone, until the
-- rule is removed.
CREATE TABLE immutable_rules (
    id {{id}},
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    repositories TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX immutable_rules_project ON immutable_rules (project_id);
