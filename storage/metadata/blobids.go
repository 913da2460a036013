package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Blob ids (migration 029): project_blobs and blob_users are keyed by a
// number each digest gets at its first push, so that what a removal
// releases sits beside what was pushed with it. The digests stay the
// names everything else goes by; these functions turn them into ids.

// blobIDsByDigest reads the ids of a list of digests.
const blobIDsByDigest = `SELECT digest, id FROM blob_ids WHERE digest IN (%s)`

// blobIDsTx returns the ids of digests (those that have one) as tx sees
// them.
func (db *DB) blobIDsTx(ctx context.Context, q querier, digests []string) (map[string]int64, error) {
	ids := make(map[string]int64, len(digests))
	err := db.queryIn(ctx, q, blobIDsByDigest, nil, anySlice(digests), func(r *sql.Rows) error {
		var d string
		var id int64
		if err := r.Scan(&d, &id); err != nil {
			return err
		}
		ids[d] = id
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: blob ids: %w", err)
	}
	return ids, nil
}

// giveBlobIDsTx gives the digests that have no id one, in digest order
// (one lock order for pushes side by side), and returns all their ids.
func (db *DB) giveBlobIDsTx(ctx context.Context, tx *sql.Tx, digests []string) (map[string]int64, error) {
	ids, err := db.blobIDsTx(ctx, tx, digests)
	if err != nil {
		return nil, err
	}
	missing := withoutID(digests, ids)
	if len(missing) == 0 {
		return ids, nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	// Another push may give one of them an id meanwhile (PostgreSQL):
	// its row is kept, and read back below.
	err = pow2Chunks(missing, func(c []string) error {
		_, err := db.hot(ctx, tx).Exec(`INSERT INTO blob_ids (digest) VALUES `+strings.TrimSuffix(strings.Repeat("(?),", len(c)), ",")+` ON CONFLICT (digest) DO NOTHING`, anySlice(c)...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: give blob ids: %w", err)
	}
	more, err := db.blobIDsTx(ctx, tx, missing)
	if err != nil {
		return nil, err
	}
	for d, id := range more {
		ids[d] = id
	}
	if len(more) != len(missing) {
		return nil, fmt.Errorf("metadata: give blob ids: %d of %d have none", len(missing)-len(more), len(missing))
	}
	return ids, nil
}

// blobIDsOf returns the ids of digests, ids holding those known already
// (may be nil); a digest without one is left out.
func (db *DB) blobIDsOf(ctx context.Context, q querier, digests []string, ids map[string]int64) (map[string]int64, error) {
	missing := withoutID(digests, ids)
	if len(missing) == 0 {
		return ids, nil
	}
	more, err := db.blobIDsTx(ctx, q, missing)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(ids)+len(more))
	for d, id := range ids {
		out[d] = id
	}
	for d, id := range more {
		out[d] = id
	}
	return out, nil
}

// withoutID returns the digests ids has no id of.
func withoutID(digests []string, ids map[string]int64) []string {
	var out []string
	for _, d := range digests {
		if _, ok := ids[d]; !ok {
			out = append(out, d)
		}
	}
	return out
}
