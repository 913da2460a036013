-- Helm charts: one row per chart manifest (an OCI artifact whose config is
-- application/vnd.cncf.helm.config.v1+json), gone with its artifact. A
-- version is live while the tag named after it (+ as _) points at the row's
-- artifact, so a re-pushed version replaces the old one in every view.
CREATE TABLE chart_versions (
    artifact_id BIGINT PRIMARY KEY REFERENCES artifacts(id) ON DELETE CASCADE,
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name {{text}} NOT NULL,
    version {{text}} NOT NULL,
    tag {{text}} NOT NULL,
    app_version TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    home TEXT NOT NULL DEFAULT '',
    icon TEXT NOT NULL DEFAULT '',
    keywords TEXT NOT NULL DEFAULT '[]',
    maintainers TEXT NOT NULL DEFAULT '[]',
    deprecated BOOLEAN NOT NULL DEFAULT FALSE,
    created BIGINT NOT NULL,
    chart_digest TEXT NOT NULL,
    chart_size BIGINT NOT NULL,
    prov_digest TEXT NOT NULL DEFAULT '',
    prov_size BIGINT NOT NULL DEFAULT 0,
    -- The chart's Chart.yaml as helm's config JSON, for index.yaml entries.
    metadata TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX chart_versions_project ON chart_versions (project_id, name);
CREATE INDEX chart_versions_repository ON chart_versions (repository_id, tag);

-- A per-project change counter: every chart-affecting write in a project
-- bumps it, so any replica knows when its cached index.yaml is stale.
CREATE TABLE chart_repos (
    project_id BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    generation BIGINT NOT NULL DEFAULT 0
);
