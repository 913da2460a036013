package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
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
	if err := db.queryIn(ctx, q, blobIDsByDigest, nil, anySlice(digests), scanBlobIDs(ids)); err != nil {
		return nil, fmt.Errorf("metadata: blob ids: %w", err)
	}
	return ids, nil
}

// scanBlobIDs scans rows of (digest, id) into ids.
func scanBlobIDs(ids map[string]int64) func(*sql.Rows) error {
	return func(r *sql.Rows) error {
		var d string
		var id int64
		if err := r.Scan(&d, &id); err != nil {
			return err
		}
		ids[d] = id
		return nil
	}
}

// giveBlobIDsTx gives the digests that have no id one, in digest order
// (one lock order for pushes side by side), and returns all their ids.
// A push pays one statement for it on PostgreSQL (a round trip each) and
// at most two on SQLite.
func (db *DB) giveBlobIDsTx(ctx context.Context, tx *sql.Tx, digests []string) (map[string]int64, error) {
	sorted := slices.Compact(slices.Sorted(slices.Values(digests)))
	ids := make(map[string]int64, len(sorted))
	scan := scanBlobIDs(ids)
	var err error
	if db.d.name == postgresDialect.name {
		// The statement's SELECT does not see what its INSERT adds (one
		// snapshot), so each digest comes once, from one or the other.
		err = pow2Chunks(sorted, func(c []string) error {
			return db.queryRows(ctx, tx, `WITH given AS (INSERT INTO blob_ids (digest) VALUES `+strings.TrimSuffix(strings.Repeat("(?),", len(c)), ",")+`
				ON CONFLICT (digest) DO NOTHING RETURNING digest, id)
				SELECT digest, id FROM given UNION ALL SELECT digest, id FROM blob_ids WHERE digest IN (`+placeholders(len(c))+`)`,
				append(anySlice(c), anySlice(c)...), scan)
		})
	} else {
		var known map[string]int64
		known, err = db.blobIDsTx(ctx, tx, sorted)
		maps.Copy(ids, known)
		if missing := withoutID(sorted, ids); err == nil && len(missing) > 0 {
			err = pow2Chunks(missing, func(c []string) error {
				return db.queryRows(ctx, tx, `INSERT INTO blob_ids (digest) VALUES `+strings.TrimSuffix(strings.Repeat("(?),", len(c)), ",")+`
					ON CONFLICT (digest) DO NOTHING RETURNING digest, id`, anySlice(c), scan)
			})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("metadata: give blob ids: %w", err)
	}
	// A push side by side may have given one an id after this statement
	// began (PostgreSQL): its row is kept, and read now.
	if missing := withoutID(sorted, ids); len(missing) > 0 {
		more, err := db.blobIDsTx(ctx, tx, missing)
		if err != nil {
			return nil, err
		}
		maps.Copy(ids, more)
		if len(more) != len(missing) {
			return nil, fmt.Errorf("metadata: give blob ids: %d of %d have none", len(missing)-len(more), len(missing))
		}
	}
	return ids, nil
}

// queryRows runs a query through tx's prepared statements and scans each
// row.
func (db *DB) queryRows(ctx context.Context, tx *sql.Tx, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.hot(ctx, tx).Query(query, args...)
	return eachRow(rows, err, scan)
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
