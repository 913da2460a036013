package metadata

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Deferred blob releases (migration 024). A retention run removes
// manifests whose blobs are nearly all their own (each build's manifest and
// config), and while project_blobs and blob_users were keyed by digest,
// taking each of them off at once wrote a page at random. With
// DeferBlobReleases the removals log what they release; FoldBlobReleases
// applies the log in key order, so a page takes all of its releases in
// one write. Until the fold, a project's storage used still counts the
// removed manifests' blobs, and a push of one of them counts it once, as
// before the removal: refs are counts, and the fold takes off only what
// the removals released. The removed artifacts' blob_users pairs are
// logged and folded the same way (migration 025, blobusers.go).
//
// Keyed by blob id (migration 029), releases at once write the pages a
// run's walk empties anyway, and retention no longer defers them: the
// fold's rewrite of nearly every page of both tables, all at once, was
// what slowed pushes beside a run. The schedule check still folds any log
// an older berth left (a run it cut short).

type deferReleasesKey struct{}

// DeferBlobReleases makes the artifact removals made with ctx log the
// project blobs they release, and their blob users, rather than release
// them (see FoldBlobReleases, which whoever defers calls when done).
// Nothing in berth defers any more: the tests use it to write the logs an
// older berth left, which the schedule check still folds.
func DeferBlobReleases(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferReleasesKey{}, true)
}

func releasesDeferred(ctx context.Context) bool {
	v, _ := ctx.Value(deferReleasesKey{}).(bool)
	return v
}

// logReleasesTx appends uses (blob digest: how many removed artifacts of
// projectID used it) to the log.
func (db *DB) logReleasesTx(ctx context.Context, tx *sql.Tx, projectID int64, uses map[string]int64) error {
	digests := slices.Sorted(maps.Keys(uses))
	return pow2Chunks(digests, func(c []string) error {
		args := make([]any, 0, 3*len(c))
		for _, d := range c {
			args = append(args, projectID, d, uses[d])
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?),", len(c)), ",")
		if _, err := db.hot(ctx, tx).Exec(`INSERT INTO project_blob_releases (project_id, digest, n) VALUES `+values, args...); err != nil {
			return fmt.Errorf("metadata: log blob releases: %w", err)
		}
		return nil
	})
}

// releaseLease keeps folds from running twice at once (two replicas, or a
// run's fold beside another's): a release folded twice would be taken off
// twice.
const releaseLease = "blob-release-fold"

// release is one key of a fold: n removals of project's blob digest (of
// blob_user_releases: artifact project used digest, n times logged).
type release struct {
	project int64
	digest  string
	n       int64
}

// foldTarget is how long one of a fold's write transactions should hold
// the write lock (as a retention run's own, see registry/retention); the
// first applies foldFirst keys, the next are sized by it (Pace). Tests change
// foldFirst and foldChunk (see Step), and hook afterFoldStep (after each).
const foldTarget = 50 * time.Millisecond

var (
	foldFirst     = 1000
	foldChunk     = defaultFoldChunk
	afterFoldStep = func() {}
)

// foldSeq numbers a process's folds (see FoldBlobReleases).
var foldSeq atomic.Int64

// ErrFoldBusy is FoldBlobReleases while another holder folds, or while
// transactions still write to a log it would begin to fold (PostgreSQL):
// a later fold goes on.
var ErrFoldBusy = errors.New("metadata: blob release fold busy (another fold, or writers on its log)")

// Fold is what FoldBlobReleases did: keys applied (releases and blob
// users), the longest time one of its write transactions held the write
// lock, and the time it took to read the logs in key order (Spool) and
// to delete what it applied (Drop).
type Fold struct {
	Keys         int64
	LongestWrite time.Duration
	Spool, Drop  time.Duration
	// Logs is the same for each log folded, in the order folded (with
	// the fold's end, it places each phase in time).
	Logs []FoldLog
}

// FoldLog is what a fold did with one of its logs (Table): keys applied,
// and the time it took to read the log in key order, to apply it (its
// steps) and to delete it.
type FoldLog struct {
	Table              string
	Keys               int64
	Spool, Steps, Drop time.Duration
}

// FoldBlobReleases applies the logged blob releases to project_blobs and
// the projects' storage used, and takes the logged blob users out of
// blob_users: every entry logged when it starts (or, when a fold was cut
// short, when that one started), in key order, in write transactions of
// about 50 ms that each record how far the fold got, so a fold cut short
// goes on where it stopped and nothing is taken off twice. Entries logged
// meanwhile wait for the next fold. ErrFoldBusy when another fold is
// running (owner names this process; it may run one fold at a time too).
func (db *DB) FoldBlobReleases(ctx context.Context, owner string) (Fold, error) {
	var f Fold
	var pending bool
	if err := db.sql.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM project_blob_releases) OR EXISTS (SELECT 1 FROM blob_user_releases)
		OR EXISTS (SELECT 1 FROM project_blob_fold)`).Scan(&pending); err != nil || !pending {
		return f, err
	}
	// The holder is this call, not the process: a process's run and its
	// schedule check may fold at once, and TryLease lets a holder in again.
	owner = fmt.Sprintf("%s/fold/%d", owner, foldSeq.Add(1))
	held, err := db.TryLease(ctx, releaseLease, owner, time.Minute)
	if err != nil {
		return f, err
	}
	if !held {
		return f, ErrFoldBusy
	}
	defer func() { _ = db.ReleaseLease(context.WithoutCancel(ctx), releaseLease, owner) }()
	for _, l := range foldLogs {
		if err := db.foldOne(ctx, owner, l, &f); err != nil {
			return f, fmt.Errorf("metadata: blob release fold (%s): %w", l.table, err)
		}
	}
	return f, nil
}

// foldLog is one log a fold applies: its table, its place (its row of
// project_blob_fold), how to read it summed by key in key order from
// after a key, and how to apply a batch of keys.
type foldLog struct {
	table string
	place int64
	spool string
	after func(after release) []any
	apply func(db *DB, ctx context.Context, tx *sql.Tx, batch []release) error
}

// foldLogs are the project blob releases (key: project, digest; n
// removals) and the blob users (key: digest, artifact in project).
var foldLogs = []foldLog{{
	table: "project_blob_releases",
	place: 1,
	spool: `SELECT project_id, digest, sum(n) FROM project_blob_releases
		WHERE id <= ? AND (project_id > ? OR (project_id = ? AND digest > ?))
		GROUP BY project_id, digest ORDER BY project_id, digest`,
	after: func(a release) []any { return []any{a.project, a.project, a.digest} },
	apply: func(db *DB, ctx context.Context, tx *sql.Tx, batch []release) error {
		for lo := 0; lo < len(batch); {
			hi := lo
			uses := map[string]int64{}
			for ; hi < len(batch) && batch[hi].project == batch[lo].project; hi++ {
				uses[batch[hi].digest] = batch[hi].n
			}
			if err := db.applyReleasesTx(ctx, tx, batch[lo].project, uses, nil); err != nil {
				return err
			}
			lo = hi
		}
		return nil
	},
}, {
	table: "blob_user_releases",
	place: 2,
	spool: `SELECT artifact_id, digest, count(*) FROM blob_user_releases
		WHERE id <= ? AND (digest > ? OR (digest = ? AND artifact_id > ?))
		GROUP BY digest, artifact_id ORDER BY digest, artifact_id`,
	after: func(a release) []any { return []any{a.digest, a.digest, a.project} },
	apply: func(db *DB, ctx context.Context, tx *sql.Tx, batch []release) error {
		pairs := make([]blobUser, len(batch))
		for i, r := range batch {
			pairs[i] = blobUser{digest: r.digest, artifact: r.project}
		}
		return db.dropBlobUsersTx(ctx, tx, pairs)
	},
}}

// foldOne folds l: from its place when a fold of it was cut short, else
// everything logged now.
func (db *DB) foldOne(ctx context.Context, owner string, l foldLog, f *Fold) error {
	if held, err := db.TryLease(ctx, releaseLease, owner, time.Minute); err != nil || !held {
		return fmt.Errorf("renewing the fold's lease: held %v, %v", held, err)
	}
	var maxID int64
	var after release
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT max_id, project_id, digest FROM project_blob_fold WHERE id = ?`), l.place).Scan(&maxID, &after.project, &after.digest)
	if errors.Is(err, sql.ErrNoRows) {
		// Every entry up to the highest id must be committed when it is
		// read: the fold reads up to it and then deletes up to it, so an
		// entry committed after the read would be deleted unapplied (on
		// PostgreSQL, two transactions logging at once, a run's two lanes
		// or two projects' runs, may commit out of id order).
		err = db.tx(ctx, func(tx *sql.Tx) error {
			for _, w := range db.d.waitWriters {
				if _, err := tx.ExecContext(ctx, strings.ReplaceAll(w, "{table}", l.table)); err != nil {
					if hasSQLState(err, "55P03") { // lock_timeout
						return ErrFoldBusy // writers (or a vacuum) still on it: the next fold goes on
					}
					return err
				}
			}
			if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM `+l.table).Scan(&maxID); err != nil || maxID == 0 {
				return err
			}
			_, err := db.hot(ctx, tx).Exec(`INSERT INTO project_blob_fold (id, max_id, project_id, digest) VALUES (?, ?, 0, '')`, l.place, maxID)
			return err
		})
	}
	if err != nil || maxID == 0 {
		return err
	}
	ph := FoldLog{Table: l.table}
	keys, spool, began := f.Keys, f.Spool, time.Now()
	defer func() { f.Logs = append(f.Logs, ph) }()
	err = db.foldReleases(ctx, owner, l, maxID, after, f)
	ph.Keys, ph.Spool = f.Keys-keys, f.Spool-spool
	ph.Steps = time.Since(began) - ph.Spool
	if err != nil {
		return err
	}
	began = time.Now()
	err = db.dropFolded(ctx, l, maxID, f)
	ph.Drop = time.Since(began)
	f.Drop += ph.Drop
	return err
}

// foldReleases applies the releases up to maxID whose key is after after.
// It reads them in key order in one statement into a spool file and applies
// them from there: a read left open while the fold writes would hold its
// snapshot for the whole fold (on SQLite, the log could not be checkpointed
// past it, and the writer would then copy all of it at once, stalling every
// write behind it for seconds); memory stays flat.
func (db *DB) foldReleases(ctx context.Context, owner string, l foldLog, maxID int64, after release, f *Fold) error {
	if after.project == math.MaxInt64 {
		return nil // all applied; the log was being dropped
	}
	began := time.Now()
	spool, err := db.spoolReleases(ctx, l, maxID, after)
	f.Spool += time.Since(began)
	if err != nil {
		return err
	}
	defer spool.close()
	size, renewed := Pace{N: foldFirst, Min: min(50, foldFirst), Max: 20_000}, time.Now()
	var batch []release
	var held Held
	hctx := TimeHeld(ctx, &held)
	step := func() error {
		if err := giveWay(ctx); err != nil {
			return err
		}
		// Under a Step (a retention run's), a step may end before the end
		// of its batch; the rest stays for the next.
		var done int
		err := db.tx(hctx, func(tx *sql.Tx) error {
			var err error
			done, err = chunked(ctx, time.Now(), batch, db.chunk(foldChunk), func(c []release) error { return l.apply(db, ctx, tx, c) })
			if err != nil {
				return err
			}
			return db.moveFold(ctx, tx, l.place, after, batch[done-1])
		})
		if err != nil {
			return err
		}
		after = batch[done-1]
		f.Keys += int64(done)
		f.LongestWrite = max(f.LongestWrite, held.Took)
		size.Took(held.Took, foldTarget, done < len(batch))
		batch = append(batch[:0], batch[done:]...)
		afterFoldStep()
		if time.Since(renewed) > 10*time.Second {
			renewed = time.Now()
			if held, err := db.TryLease(ctx, releaseLease, owner, time.Minute); err != nil || !held {
				return fmt.Errorf("renewing the fold's lease: held %v, %v", held, err)
			}
		}
		return nil
	}
	for {
		r, err := spool.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if batch = append(batch, r); len(batch) >= size.N {
			if err := step(); err != nil {
				return err
			}
		}
	}
	for len(batch) > 0 {
		if err := step(); err != nil {
			return err
		}
	}
	// Everything up to maxID is applied: say so before the log goes, so a
	// fold cut short while it drops the log does not apply it again.
	return db.tx(ctx, func(tx *sql.Tx) error {
		return db.moveFold(ctx, tx, l.place, after, release{project: math.MaxInt64})
	})
}

// errFoldMoved is a fold that found its place moved by another: its lease
// ran out and another holder went on with it.
var errFoldMoved = errors.New("another holder went on with the fold")

// moveFold records in tx that the fold got from key from to key to, unless
// another holder moved it meanwhile (then tx must not commit).
func (db *DB) moveFold(ctx context.Context, tx *sql.Tx, place int64, from, to release) error {
	res, err := db.hot(ctx, tx).Exec(`UPDATE project_blob_fold SET project_id = ?, digest = ? WHERE id = ? AND project_id = ? AND digest = ?`,
		to.project, to.digest, place, from.project, from.digest)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return cmp.Or(err, errFoldMoved)
	}
	return nil
}

// dropFolded deletes the folded log (ids up to maxID) in steps of
// consecutive ids (ranges of dropRange ids, dropStep of them a
// transaction, fewer when a Step ends it), then the fold's row.
func (db *DB) dropFolded(ctx context.Context, l foldLog, maxID int64, f *Fold) error {
	var lo int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT coalesce(min(id), 0) FROM `+l.table)).Scan(&lo); err != nil {
		return err
	}
	const dropRange, dropStep = 1000, 20
	var held Held
	hctx := TimeHeld(ctx, &held)
	for lo > 0 && lo <= maxID {
		if err := giveWay(ctx); err != nil {
			return err
		}
		var ranges []int64
		for r := lo; r <= maxID && len(ranges) < dropStep; r += dropRange {
			ranges = append(ranges, r)
		}
		var done int
		if err := db.tx(hctx, func(tx *sql.Tx) error {
			var err error
			done, err = chunked(ctx, time.Now(), ranges, db.chunk(1), func(chunk []int64) error {
				for _, r := range chunk { // one range where Steps end transactions, all of them elsewhere
					if _, err := db.hot(ctx, tx).Exec(`DELETE FROM `+l.table+` WHERE id >= ? AND id < ? AND id <= ?`, r, r+dropRange, maxID); err != nil {
						return err
					}
				}
				return nil
			})
			return err
		}); err != nil {
			return err
		}
		f.LongestWrite = max(f.LongestWrite, held.Took)
		lo += int64(done) * dropRange
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := db.hot(ctx, tx).Exec(`DELETE FROM project_blob_fold WHERE id = ?`, l.place)
		return err
	})
}
