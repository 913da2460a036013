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
// from its storage_used; ids holds the blobs' ids where known (may be
// nil: they are looked up). Those the deletes leave unused are deleted in
// one statement (not updated to zero refs, then deleted): a retention run
// releases two or three per manifest, nearly all for good. Rows are keyed
// by blob id (migration 029), so the releases of what was pushed together
// write neighbouring rows.
//
// Changes made with DeferBlobReleases log the releases instead (see
// FoldBlobReleases).
func (db *DB) releaseBlobsTx(ctx context.Context, tx *sql.Tx, projectID int64, uses, ids map[string]int64) error {
	if releasesDeferred(ctx) {
		return db.logReleasesTx(ctx, tx, projectID, uses)
	}
	return db.applyReleasesTx(ctx, tx, projectID, uses, ids)
}

// releasedBlobs deletes a project's rows of a list of blob ids that
// releasing n (the second argument) more uses leaves unused.
const releasedBlobs = `DELETE FROM project_blobs WHERE project_id = ? AND refs <= ? AND blob_id IN (%s) RETURNING blob_id, size`

// applyReleasesTx is releaseBlobsTx at once.
func (db *DB) applyReleasesTx(ctx context.Context, tx *sql.Tx, projectID int64, uses, ids map[string]int64) error {
	ids, err := db.blobIDsOf(ctx, tx, slices.Collect(maps.Keys(uses)), ids)
	if err != nil {
		return err
	}
	byCount := map[int64][]int64{}
	for d, n := range uses {
		if id, ok := ids[d]; ok { // a digest without an id has no rows
			byCount[n] = append(byCount[n], id)
		}
	}
	if db.d.forUpdate != "" {
		// Releases side by side (a run's two lanes, deletes beside them)
		// may share blobs (a common base layer). Each first locks its rows,
		// in one order (no deadlock, and no second's wait to be told of
		// one), so that what it decides below reads the refs it changes:
		// else two could each find refs above their own count, and both
		// take theirs off, leaving a row of no refs counted for good.
		var all []int64
		for _, list := range byCount {
			all = append(all, list...)
		}
		slices.Sort(all)
		err := db.execIn(ctx, tx, `SELECT 1 FROM project_blobs WHERE project_id = ? AND blob_id IN (%s) ORDER BY blob_id`+db.d.forUpdate,
			[]any{projectID}, idArgs(all))
		if err != nil {
			return err
		}
	}
	var freed int64
	for _, n := range slices.Sorted(maps.Keys(byCount)) {
		list := byCount[n]
		slices.Sort(list) // one lock order
		gone := map[int64]bool{}
		err := db.queryIn(ctx, tx, releasedBlobs,
			[]any{projectID, n}, idArgs(list), func(r *sql.Rows) error {
				var id, size int64
				if err := r.Scan(&id, &size); err != nil {
					return err
				}
				gone[id] = true
				freed += size
				return nil
			})
		if err != nil {
			return err
		}
		rest := slices.DeleteFunc(list, func(id int64) bool { return gone[id] })
		if err := db.execIn(ctx, tx, `UPDATE project_blobs SET refs = refs - ? WHERE project_id = ? AND blob_id IN (%s)`,
			[]any{n, projectID}, idArgs(rest)); err != nil {
			return err
		}
	}
	return db.addUsage(ctx, tx, projectID, -freed)
}
