package metadata

import (
	"context"
	"database/sql"
	"maps"
	"slices"
)

// A project's accounting of its blobs (project_blobs: refs and size per
// digest; projects.storage_used), as removals release them.

// releaseBlobsTx takes uses (blob digest: how many deleted artifacts used
// it) off the project's accounting, dropping the blobs it no longer uses
// from its storage_used. Those the deletes leave unused are deleted in one
// statement (not updated to zero refs, then deleted): a retention run
// releases two or three per manifest, nearly all for good.
//
// Changes made with DeferBlobReleases log the releases instead (see
// FoldBlobReleases).
func (db *DB) releaseBlobsTx(ctx context.Context, tx *sql.Tx, projectID int64, uses map[string]int64) error {
	if releasesDeferred(ctx) {
		return db.logReleasesTx(ctx, tx, projectID, uses)
	}
	return db.applyReleasesTx(ctx, tx, projectID, uses)
}

// applyReleasesTx is releaseBlobsTx at once.
func (db *DB) applyReleasesTx(ctx context.Context, tx *sql.Tx, projectID int64, uses map[string]int64) error {
	if db.d.forUpdate != "" {
		// Releases side by side (a run's two lanes, deletes beside them)
		// may share blobs (a common base layer). Each first locks its rows,
		// in one order (no deadlock, and no second's wait to be told of
		// one), so that what it decides below reads the refs it changes:
		// else two could each find refs above their own count, and both
		// take theirs off, leaving a row of no refs counted for good.
		err := db.execIn(ctx, tx, `SELECT 1 FROM project_blobs WHERE project_id = ? AND digest IN (%s) ORDER BY digest`+db.d.forUpdate,
			[]any{projectID}, anySlice(slices.Sorted(maps.Keys(uses))))
		if err != nil {
			return err
		}
	}
	byCount := map[int64][]string{}
	for d, n := range uses {
		byCount[n] = append(byCount[n], d)
	}
	var freed int64
	for _, n := range slices.Sorted(maps.Keys(byCount)) {
		digests := byCount[n]
		slices.Sort(digests) // one lock order
		gone := map[string]bool{}
		err := db.queryIn(ctx, tx, `DELETE FROM project_blobs WHERE project_id = ? AND refs <= ? AND digest IN (%s) RETURNING digest, size`,
			[]any{projectID, n}, anySlice(digests), func(r *sql.Rows) error {
				var d string
				var size int64
				if err := r.Scan(&d, &size); err != nil {
					return err
				}
				gone[d] = true
				freed += size
				return nil
			})
		if err != nil {
			return err
		}
		rest := slices.DeleteFunc(digests, func(d string) bool { return gone[d] })
		if err := db.execIn(ctx, tx, `UPDATE project_blobs SET refs = refs - ? WHERE project_id = ? AND digest IN (%s)`,
			[]any{n, projectID}, anySlice(rest)); err != nil {
			return err
		}
	}
	return db.addUsage(ctx, tx, projectID, -freed)
}
