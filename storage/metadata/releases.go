package metadata

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Deferred blob releases (migration 024). A retention run removes
// manifests whose blobs are nearly all their own (each build's manifest and
// config), and taking each of them off project_blobs at once writes a page
// of its digest-keyed index of its own. With DeferBlobReleases the removals
// log what they release; FoldBlobReleases applies the log in key order, so
// a page takes all of its releases in one write. Until the fold, a
// project's storage used still counts the removed manifests' blobs (a quota
// errs on the side of refusing), and a push of one of them counts it once,
// as before the removal: refs are counts, and the fold takes off only what
// the removals released.

type deferReleasesKey struct{}

// DeferBlobReleases makes the artifact removals made with ctx log the
// project blobs they release rather than release them (see
// FoldBlobReleases, which whoever defers calls when done).
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
	digests := make([]string, 0, len(uses))
	for d := range uses {
		digests = append(digests, d)
	}
	slices.Sort(digests)
	for len(digests) > 0 {
		n := 256 // powers of two: a handful of statement texts (see appendReviews)
		for n > len(digests) {
			n /= 2
		}
		args := make([]any, 0, 3*n)
		for _, d := range digests[:n] {
			args = append(args, projectID, d, uses[d])
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?),", n), ",")
		if _, err := db.hot(ctx, tx).Exec(`INSERT INTO project_blob_releases (project_id, digest, n) VALUES `+values, args...); err != nil {
			return fmt.Errorf("metadata: log blob releases: %w", err)
		}
		digests = digests[n:]
	}
	return nil
}

// releaseLease keeps folds from running twice at once (two replicas, or a
// run's fold beside another's): a release folded twice would be taken off
// twice.
const releaseLease = "blob-release-fold"

// release is one key of a fold: n removals of project's blob digest.
type release struct {
	project int64
	digest  string
	n       int64
}

// defaultFoldTarget is how long one of a fold's write transactions should
// hold the write lock (as a retention run's own, see registry/retention);
// the first applies foldFirst keys, the next are sized by it. Tests change
// foldTarget and foldFirst, and hook afterFoldStep (after each).
const defaultFoldTarget = 50 * time.Millisecond

var (
	foldTarget    = defaultFoldTarget
	foldFirst     = 1000
	afterFoldStep = func() {}
)

// foldSeq numbers a process's folds (see FoldBlobReleases).
var foldSeq atomic.Int64

// ErrFoldBusy is FoldBlobReleases while another holder folds.
var ErrFoldBusy = errors.New("metadata: another blob release fold is running")

// Fold is what FoldBlobReleases did: keys applied, and the longest time
// one of its write transactions held the write lock.
type Fold struct {
	Keys         int64
	LongestWrite time.Duration
}

// FoldBlobReleases applies the logged blob releases to project_blobs and
// the projects' storage used: every release logged when it starts (or, when
// a fold was cut short, when that one started), in (project, digest) order,
// in write transactions of about 50 ms that each record how far the fold
// got, so a fold cut short goes on where it stopped and nothing is taken
// off twice. Releases logged meanwhile wait for the next fold.
// ErrFoldBusy when another fold is running (owner names this process; it
// may run one fold at a time too).
func (db *DB) FoldBlobReleases(ctx context.Context, owner string) (Fold, error) {
	var f Fold
	var pending bool
	if err := db.sql.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM project_blob_releases) OR EXISTS (SELECT 1 FROM project_blob_fold)`).Scan(&pending); err != nil || !pending {
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
	var maxID int64
	var after release
	err = db.sql.QueryRowContext(ctx, db.q(`SELECT max_id, project_id, digest FROM project_blob_fold WHERE id = 1`)).Scan(&maxID, &after.project, &after.digest)
	if errors.Is(err, sql.ErrNoRows) {
		if err := db.sql.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM project_blob_releases`).Scan(&maxID); err != nil || maxID == 0 {
			return f, err
		}
		err = db.tx(ctx, func(tx *sql.Tx) error {
			_, err := db.hot(ctx, tx).Exec(`INSERT INTO project_blob_fold (id, max_id, project_id, digest) VALUES (1, ?, 0, '')`, maxID)
			return err
		})
	}
	if err != nil {
		return f, fmt.Errorf("metadata: blob release fold: %w", err)
	}
	if err := db.foldReleases(ctx, owner, maxID, after, &f); err != nil {
		return f, fmt.Errorf("metadata: blob release fold: %w", err)
	}
	return f, db.dropFolded(ctx, maxID)
}

// foldReleases applies the releases up to maxID whose key is after after.
// It reads them in key order in one statement into a spool file and applies
// them from there: a read left open while the fold writes would hold its
// snapshot for the whole fold (on SQLite, the log could not be checkpointed
// past it, and the writer would then copy all of it at once, stalling every
// write behind it for seconds); memory stays flat.
func (db *DB) foldReleases(ctx context.Context, owner string, maxID int64, after release, f *Fold) error {
	if after.project == math.MaxInt64 {
		return nil // all applied; the log was being dropped
	}
	spool, err := db.spoolReleases(ctx, maxID, after)
	if err != nil {
		return err
	}
	defer spool.close()
	size, renewed := foldFirst, time.Now()
	var batch []release
	var held Held
	hctx := TimeHeld(ctx, &held)
	step := func() error {
		err := db.tx(hctx, func(tx *sql.Tx) error {
			for lo := 0; lo < len(batch); {
				hi := lo
				uses := map[string]int64{}
				for ; hi < len(batch) && batch[hi].project == batch[lo].project; hi++ {
					uses[batch[hi].digest] = batch[hi].n
				}
				if err := db.applyReleasesTx(ctx, tx, batch[lo].project, uses); err != nil {
					return err
				}
				lo = hi
			}
			last := batch[len(batch)-1]
			return db.moveFold(ctx, tx, after, last)
		})
		if err != nil {
			return err
		}
		after = batch[len(batch)-1]
		f.Keys += int64(len(batch))
		f.LongestWrite = max(f.LongestWrite, held.Took)
		batch = batch[:0]
		switch took := held.Took; {
		case took > foldTarget:
			size = max(min(50, foldFirst), size/2)
		case took < foldTarget/2:
			size = min(20_000, size+size/4+1)
		}
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
		if batch = append(batch, r); len(batch) >= size {
			if err := step(); err != nil {
				return err
			}
		}
	}
	if len(batch) > 0 {
		if err := step(); err != nil {
			return err
		}
	}
	// Everything up to maxID is applied: say so before the log goes, so a
	// fold cut short while it drops the log does not apply it again.
	return db.tx(ctx, func(tx *sql.Tx) error {
		return db.moveFold(ctx, tx, after, release{project: math.MaxInt64})
	})
}

// releaseSpool is a fold's keys, in order, in a temporary file.
type releaseSpool struct {
	f *os.File
	r *bufio.Reader
}

// spoolReleases writes the releases up to maxID whose key is after after,
// summed by key and in key order, to a temporary file (a million removals'
// log takes seconds to sort: the read is unbounded).
func (db *DB) spoolReleases(ctx context.Context, maxID int64, after release) (*releaseSpool, error) {
	f, err := os.CreateTemp("", "berth-blob-releases-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name()) // gone with the descriptor, whatever happens
	s := &releaseSpool{f: f}
	err = func() error {
		rows, err := db.sql.QueryContext(WithTimeout(ctx, 0), db.q(`SELECT project_id, digest, sum(n) FROM project_blob_releases
			WHERE id <= ? AND (project_id > ? OR (project_id = ? AND digest > ?))
			GROUP BY project_id, digest ORDER BY project_id, digest`), maxID, after.project, after.project, after.digest)
		if err != nil {
			return err
		}
		defer rows.Close()
		w := bufio.NewWriterSize(f, 1<<16)
		var buf []byte
		for rows.Next() {
			var r release
			if err := rows.Scan(&r.project, &r.digest, &r.n); err != nil {
				return err
			}
			buf = binary.AppendVarint(buf[:0], r.project)
			buf = binary.AppendVarint(buf, r.n)
			buf = binary.AppendUvarint(buf, uint64(len(r.digest)))
			buf = append(buf, r.digest...)
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		_, err = f.Seek(0, io.SeekStart)
		return err
	}()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.r = bufio.NewReaderSize(f, 1<<16)
	return s, nil
}

// next is the spool's next key (io.EOF after the last).
func (s *releaseSpool) next() (release, error) {
	var r release
	var err error
	if r.project, err = binary.ReadVarint(s.r); err != nil {
		return r, err // io.EOF at the end
	}
	if r.n, err = binary.ReadVarint(s.r); err != nil {
		return r, io.ErrUnexpectedEOF
	}
	n, err := binary.ReadUvarint(s.r)
	if err != nil || n > 1024 {
		return r, fmt.Errorf("blob release spool: bad digest length %d (%v)", n, err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		return r, io.ErrUnexpectedEOF
	}
	r.digest = string(b)
	return r, nil
}

func (s *releaseSpool) close() { s.f.Close() }

// errFoldMoved is a fold that found its place moved by another: its lease
// ran out and another holder went on with it.
var errFoldMoved = errors.New("another holder went on with the fold")

// moveFold records in tx that the fold got from key from to key to, unless
// another holder moved it meanwhile (then tx must not commit).
func (db *DB) moveFold(ctx context.Context, tx *sql.Tx, from, to release) error {
	res, err := db.hot(ctx, tx).Exec(`UPDATE project_blob_fold SET project_id = ?, digest = ? WHERE id = 1 AND project_id = ? AND digest = ?`,
		to.project, to.digest, from.project, from.digest)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return cmp.Or(err, errFoldMoved)
	}
	return nil
}

// dropFolded deletes the folded log (ids up to maxID) in steps of
// consecutive ids, then the fold's row.
func (db *DB) dropFolded(ctx context.Context, maxID int64) error {
	var lo int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT coalesce(min(id), 0) FROM project_blob_releases`)).Scan(&lo); err != nil {
		return err
	}
	const step = 20_000
	for ; lo > 0 && lo <= maxID; lo += step {
		if err := db.tx(ctx, func(tx *sql.Tx) error {
			_, err := db.hot(ctx, tx).Exec(`DELETE FROM project_blob_releases WHERE id >= ? AND id < ? AND id <= ?`, lo, lo+step, maxID)
			return err
		}); err != nil {
			return err
		}
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := db.hot(ctx, tx).Exec(`DELETE FROM project_blob_fold WHERE id = 1`)
		return err
	})
}
