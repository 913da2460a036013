package registry

import (
	"context"
	"sync"

	"github.com/berth-registry/berth/storage/metadata"
)

// maxRefs bounds the reference cache; it is emptied when full.
const maxRefs = 1 << 16

// refKey is a repository and a tag or digest.
type refKey struct{ name, ref string }

// refCache remembers what the index answered for a reference (a tag's
// digest, or a digest the repository holds) for as long as the database
// has not changed since: on SQLite, whose PRAGMA data_version moves with
// every commit by any connection of any process on the file, a cached
// answer is exactly as fresh as a query. Any commit (a push, a tag, a
// delete, a pull-count flush) empties it; the next request per reference
// asks the index again. Without a data version (PostgreSQL) every request
// asks the index.
type refCache struct {
	mu      sync.Mutex
	version metadata.Version
	refs    map[refKey]string
}

// resolve is ManifestDigest through the cache.
func (h *hotManifests) resolve(ctx context.Context, name, ref string, byDigest bool) (string, error) {
	v, ok, err := h.index.DataVersion(ctx)
	if err != nil || !ok {
		return h.index.ManifestDigest(ctx, name, ref, byDigest)
	}
	c, key := &h.refs, refKey{name, ref}
	c.mu.Lock()
	if c.refs == nil || c.version != v {
		clear(c.refs)
		if c.refs == nil {
			c.refs = map[refKey]string{}
		}
		c.version = v
	}
	d, hit := c.refs[key]
	c.mu.Unlock()
	if hit {
		return d, nil
	}
	// Asked after reading v, so the answer is at least as new as v: it may
	// be kept under v (a later commit moves the version and drops it).
	d, err = h.index.ManifestDigest(ctx, name, ref, byDigest)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.version == v {
		if len(c.refs) >= maxRefs {
			clear(c.refs)
		}
		c.refs[key] = d
	}
	c.mu.Unlock()
	return d, nil
}
