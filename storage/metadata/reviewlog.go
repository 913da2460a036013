package metadata

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// review is one garbage-collection review to queue, at (Unix ms).
type review struct {
	kind, repo, digest string
	at                 int64
}

func (r review) key() [3]string { return [3]string{r.kind, r.repo, r.digest} }

// queueReviews queues reviews due gc.delay from now. Those of blobs and
// links are appended to gc_review_log (migration 020), which a pass folds
// into gc_reviews once they are due: reviewing them then instead of at the
// time of a later queueing of the same review is harmless, since each
// checks when its blob or link was last used against gc.delay itself. A
// manifest's review (gc.untagged delete) is due gc.delay after the change
// that left it unheld, so it goes into gc_reviews at once.
func (db *DB) queueReviews(ctx context.Context, q querier, reviews []review) error {
	now := millis(time.Now())
	var logged, keyed []review
	for _, r := range reviews {
		r.at = now
		if r.kind == ReviewManifest {
			keyed = append(keyed, r)
		} else {
			logged = append(logged, r)
		}
	}
	if err := db.upsertReviews(ctx, q, keyed); err != nil {
		return err
	}
	return db.appendReviews(ctx, q, logged)
}

// reviewValues is the VALUES list of an INSERT of reviews, with its
// arguments.
func reviewValues(rs []review) (string, []any) {
	args := make([]any, 0, 4*len(rs))
	for _, r := range rs {
		args = append(args, r.kind, r.repo, r.digest, r.at)
	}
	return strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?),", len(rs)), ","), args
}

// reviewChunk is how many reviews one statement writes.
const reviewChunk = 500

// appendReviews appends reviews to the log, each once.
func (db *DB) appendReviews(ctx context.Context, q querier, reviews []review) error {
	seen := make(map[[3]string]bool, len(reviews))
	uniq := reviews[:0:0]
	for _, r := range reviews {
		if !seen[r.key()] {
			seen[r.key()] = true
			uniq = append(uniq, r)
		}
	}
	// Powers of two, at most 256 rows: a handful of texts, each prepared
	// once (see padIn).
	return pow2Chunks(uniq, func(c []review) error {
		values, args := reviewValues(c)
		if _, err := db.hot(ctx, q).Exec(`INSERT INTO gc_review_log (kind, repository, digest, queued_at) VALUES `+values, args...); err != nil {
			return fmt.Errorf("metadata: log reviews: %w", err)
		}
		return nil
	})
}

// upsertReviews queues reviews in gc_reviews, a statement per 500; a
// review already queued keeps the later of the two times, and its
// attempts start over. Each key once (one statement may not update a row
// twice), in key order (one lock order on PostgreSQL).
func (db *DB) upsertReviews(ctx context.Context, q querier, reviews []review) error {
	latest := make(map[[3]string]review, len(reviews))
	for _, r := range reviews {
		if old, ok := latest[r.key()]; !ok || r.at > old.at {
			latest[r.key()] = r
		}
	}
	uniq := make([]review, 0, len(latest))
	for _, r := range latest {
		uniq = append(uniq, r)
	}
	slices.SortFunc(uniq, func(a, b review) int {
		return cmp.Or(strings.Compare(a.kind, b.kind), strings.Compare(a.repo, b.repo), strings.Compare(a.digest, b.digest))
	})
	for len(uniq) > 0 {
		n := min(len(uniq), reviewChunk)
		values, args := reviewValues(uniq[:n])
		if _, err := q.ExecContext(ctx, db.q(`INSERT INTO gc_reviews (kind, repository, digest, queued_at) VALUES `+values+`
			ON CONFLICT (kind, repository, digest) DO UPDATE SET attempts = 0,
			queued_at = CASE WHEN excluded.queued_at > gc_reviews.queued_at THEN excluded.queued_at ELSE gc_reviews.queued_at END`), args...); err != nil {
			return fmt.Errorf("metadata: queue reviews: %w", err)
		}
		uniq = uniq[n:]
	}
	return nil
}

// FoldReviews moves the logged reviews due at cutoff into gc_reviews, the
// oldest first, 500 a transaction, and returns how many it moved. A
// collector's pass folds before it reviews (a dry one too, so it sees
// them: folding changes what is queued, not what a review decides).
// Replicas fold side by side: on PostgreSQL each takes rows no other holds.
func (db *DB) FoldReviews(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var n int
		err := db.tx(ctx, func(tx *sql.Tx) error {
			n = 0
			var due []review
			var ids []any
			rows, err := tx.QueryContext(ctx, db.q(`SELECT id, kind, repository, digest, queued_at FROM gc_review_log
				ORDER BY id LIMIT ?`+db.d.skipLocked), reviewChunk)
			if err != nil {
				return err
			}
			for rows.Next() {
				var id int64
				var r review
				if err := rows.Scan(&id, &r.kind, &r.repo, &r.digest, &r.at); err != nil {
					rows.Close()
					return err
				}
				if r.at > millis(cutoff) {
					break // the rest was queued later still
				}
				due, ids = append(due, r), append(ids, id)
			}
			rows.Close()
			if err := rows.Err(); err != nil || len(due) == 0 {
				return err
			}
			if err := db.upsertReviews(ctx, tx, due); err != nil {
				return err
			}
			n = len(due)
			return db.execIn(ctx, tx, `DELETE FROM gc_review_log WHERE id IN (%s)`, nil, ids)
		})
		if err != nil {
			return total, fmt.Errorf("metadata: fold reviews: %w", err)
		}
		total += int64(n)
		if n < reviewChunk {
			return total, nil
		}
	}
}
