-- What an artifact holds besides its own manifest: an image's config and
-- layers, an index's children's (what SWR and bk-repo call an image's
-- size). artifacts.size stays the total (manifest + unique blobs, children
-- included, as Harbor and CCR count it). Rows indexed before this migration
-- get it from the sizes already kept: the total less the manifest, and for
-- an index less its children's manifests too.
ALTER TABLE artifacts ADD COLUMN content_size BIGINT NOT NULL DEFAULT 0;
UPDATE artifacts SET content_size = size - manifest_size;
UPDATE artifacts SET content_size = content_size - COALESCE((SELECT sum(c.manifest_size)
    FROM artifact_references r JOIN artifacts c ON c.id = r.child_id WHERE r.parent_id = artifacts.id), 0)
    WHERE EXISTS (SELECT 1 FROM artifact_references r WHERE r.parent_id = artifacts.id);
