package gc

import (
	"context"
	"errors"
	"path"
	"strings"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// ImportReport counts what an import found new.
type ImportReport struct {
	Blobs int `json:"blobs"` // blob data the index did not know
	Links int `json:"links"` // repository links of blobs the index did not know
}

const importBatch = 500

// Import walks storage once and records the blobs and repositories' blob
// links the index does not know, each queued for review: the way an
// existing store (or one a crash left stray data in) comes under garbage
// collection. Memory stays bounded: findings are written in batches as
// the walk goes. It is safe while berth serves.
func (c *Collector) Import(ctx context.Context) (ImportReport, error) {
	var rep ImportReport
	var blobs []metadata.Blob
	flushBlobs := func() error {
		n, err := c.db.ImportBlobs(ctx, blobs)
		rep.Blobs += n
		blobs = blobs[:0]
		return err
	}
	err := c.driver.Walk(ctx, "/docker/registry/v2/blobs", func(fi storagedriver.FileInfo) error {
		if fi.IsDir() || path.Base(fi.Path()) != "data" {
			return nil
		}
		// .../blobs/<algorithm>/<2 hex>/<hex>/data
		parts := strings.Split(fi.Path(), "/")
		if len(parts) < 4 {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(parts[len(parts)-4]), parts[len(parts)-2])
		if d.Validate() != nil {
			return nil
		}
		blobs = append(blobs, metadata.Blob{Digest: d.String(), Size: fi.Size()})
		if len(blobs) >= importBatch {
			return flushBlobs()
		}
		return nil
	})
	if err != nil && !notFound(err) {
		return rep, err
	}
	if err := flushBlobs(); err != nil {
		return rep, err
	}
	var links []metadata.SyncKey
	flushLinks := func() error {
		n, err := c.db.ImportLinks(ctx, links)
		rep.Links += n
		links = links[:0]
		return err
	}
	const root = "/docker/registry/v2/repositories/"
	err = c.driver.Walk(ctx, strings.TrimSuffix(root, "/"), func(fi storagedriver.FileInfo) error {
		p := fi.Path()
		base := path.Base(p)
		if fi.IsDir() && (base == "_manifests" || base == "_uploads") {
			return storagedriver.ErrSkipDir
		}
		if fi.IsDir() || base != "link" || !strings.Contains(p, "/_layers/") {
			return nil
		}
		// <root><repository>/_layers/<algorithm>/<hex>/link
		repo, rest, _ := strings.Cut(strings.TrimPrefix(p, root), "/_layers/")
		alg, hex, _ := strings.Cut(strings.TrimSuffix(rest, "/link"), "/")
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), hex)
		if d.Validate() != nil || d.Algorithm() != digest.Canonical {
			return nil // alias links follow their sha256 link
		}
		links = append(links, metadata.SyncKey{Repository: repo, Kind: metadata.SyncLayer, Name: d.String()})
		if len(links) >= importBatch {
			return flushLinks()
		}
		return nil
	})
	if err != nil && !notFound(err) {
		return rep, err
	}
	return rep, flushLinks()
}

func notFound(err error) bool {
	var nf storagedriver.PathNotFoundError
	return errors.As(err, &nf)
}
