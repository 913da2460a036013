-- Proxy projects (registry/proxy): a project bound to an upstream registry
-- serves pulls through it, storing and indexing what it fetched like a
-- push. The secret is the upstream password or token: the management API
-- never returns it.
CREATE TABLE proxy_upstreams (
    project_id BIGINT NOT NULL PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    username TEXT NOT NULL DEFAULT '',
    secret TEXT NOT NULL DEFAULT '',
    namespace TEXT NOT NULL DEFAULT '',
    ttl_ms BIGINT NOT NULL DEFAULT 0,
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);
-- When a proxied tag was last checked against its upstream (a HEAD), so
-- every replica re-validates it once per ttl.
CREATE TABLE proxy_tag_checks (
    repository {{text}} NOT NULL,
    tag {{text}} NOT NULL,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (repository, tag)
);
