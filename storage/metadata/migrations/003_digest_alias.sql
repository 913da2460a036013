-- Digests of another algorithm than sha256 (sha512) that a repository's
-- blobs and manifests were pushed or mounted by. Distribution stores content
-- under its sha256 digest and keeps an alias link per repository in storage;
-- this index of those links lets a delete by either digest remove the others.
-- Rows are keyed by repository name: blobs are uploaded before the first
-- manifest creates the repository's row.
CREATE TABLE digest_aliases (
    repository {{text}} NOT NULL,
    kind TEXT NOT NULL, -- blob or manifest
    alias {{text}} NOT NULL,
    digest {{text}} NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, kind, alias)
);
CREATE INDEX digest_aliases_digest ON digest_aliases (repository, kind, digest);
