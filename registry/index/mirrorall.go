package index

import (
	"context"

	"github.com/distribution/reference"

	"github.com/berth-registry/berth/storage/metadata"
)

// mirrorBatchMin is the least number of keys mirrorAll reads together.
const mirrorBatchMin = 8

// mirrorAll is mirror for many keys (a bulk change's): the index is read
// for all of them in a statement per repository and kind, before and after
// their storage copies are written, rather than twice per key. A key
// whose value changed meanwhile, whose copy failed to write, or any key
// when a batched read fails, goes through mirror on its own. It returns
// the keys that could not be mirrored. Fewer than mirrorBatchMin keys (a
// push's) go key by key: each read is then one prepared statement.
func (ix *Indexer) mirrorAll(ctx context.Context, keys []metadata.SyncKey) map[metadata.SyncKey]error {
	failed := map[metadata.SyncKey]error{}
	alone := func(ks []metadata.SyncKey) {
		for _, k := range ks {
			if err := ix.mirror(ctx, k); err != nil {
				failed[k] = err
			}
		}
	}
	if len(keys) < mirrorBatchMin {
		alone(keys)
		return failed
	}
	want, err := ix.indexValues(ctx, keys)
	if err != nil {
		ix.log.DebugContext(ctx, "index: batched read failed; mirroring key by key", "err", err)
		alone(keys)
		return failed
	}
	var written, retry []metadata.SyncKey
	for _, k := range keys {
		named, err := reference.WithName(k.Repository)
		if err != nil {
			continue // no storage copy can exist for a name distribution refuses
		}
		if err := ix.writeCopy(ctx, named, k, want[k]); err != nil {
			retry = append(retry, k)
			continue
		}
		written = append(written, k)
	}
	again, err := ix.indexValues(ctx, written)
	if err != nil {
		retry = append(retry, written...)
	} else {
		for _, k := range written {
			if again[k] != want[k] {
				retry = append(retry, k)
			}
		}
	}
	if len(retry) > 0 {
		ix.log.DebugContext(ctx, "index: keys changed or failed while mirrored; again key by key", "keys", len(retry))
	}
	alone(retry)
	return failed
}

// indexValues is indexValue for many keys: "" for those the index does
// not hold.
func (ix *Indexer) indexValues(ctx context.Context, keys []metadata.SyncKey) (map[metadata.SyncKey]string, error) {
	type group struct{ repo, kind string }
	names := map[group][]string{}
	var order []group
	out := make(map[metadata.SyncKey]string, len(keys))
	for _, k := range keys {
		if k.Kind != metadata.SyncTag && k.Kind != metadata.SyncManifest {
			v, err := ix.indexValue(ctx, k)
			if err != nil {
				return nil, err
			}
			out[k] = v
			continue
		}
		g := group{k.Repository, k.Kind}
		if _, ok := names[g]; !ok {
			order = append(order, g)
		}
		names[g] = append(names[g], k.Name)
	}
	for _, g := range order {
		read := ix.db.TagTargets
		if g.kind == metadata.SyncManifest {
			read = ix.db.LinkedManifests
		}
		values, err := read(ctx, g.repo, names[g])
		if err != nil {
			return nil, err
		}
		for _, n := range names[g] {
			out[metadata.SyncKey{Repository: g.repo, Kind: g.kind, Name: n}] = values[n]
		}
	}
	return out, nil
}
