package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// GCRun is one pass of the garbage collector, as recorded.
type GCRun struct {
	ID               int64     `json:"id"`
	Cause            string    `json:"cause"` // schedule, api, cli
	DryRun           bool      `json:"dryRun"`
	Started          time.Time `json:"started"`
	Duration         float64   `json:"durationSeconds"`
	BlobsDeleted     int64     `json:"blobsDeleted"`
	BytesFreed       int64     `json:"bytesFreed"`
	ManifestsDeleted int64     `json:"manifestsDeleted"`
	LinksRemoved     int64     `json:"linksRemoved"`
	Postponed        int64     `json:"postponed"`
	Errors           int64     `json:"errors"`
	Error            string    `json:"error,omitempty"`
}

const keepRuns = 1000

// RecordGCRun stores a pass (keeping the last 1000) and returns its id.
func (db *DB) RecordGCRun(ctx context.Context, r GCRun) (int64, error) {
	var id int64
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO gc_runs (cause, dry_run, started_at, duration_ms, blobs_deleted, bytes_freed,
			manifests_deleted, links_removed, postponed, errors, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			r.Cause, r.DryRun, millis(r.Started), int64(r.Duration*1000), r.BlobsDeleted, r.BytesFreed,
			r.ManifestsDeleted, r.LinksRemoved, r.Postponed, r.Errors, r.Error).Scan(&id)
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, db.q(`DELETE FROM gc_runs WHERE id <= ?`), id-keepRuns); err != nil {
			return err
		}
		return db.emit(ctx, tx, Event{Type: EventGCRun, Target: strconv.FormatInt(id, 10), Data: toJSON(map[string]any{
			"run": id, "cause": r.Cause, "dryRun": r.DryRun, "blobsDeleted": r.BlobsDeleted, "bytesFreed": r.BytesFreed,
			"manifestsDeleted": r.ManifestsDeleted, "linksRemoved": r.LinksRemoved, "errors": r.Errors, "error": r.Error})})
	})
	if err != nil {
		return 0, fmt.Errorf("metadata: gc run: %w", err)
	}
	return id, nil
}

// GCRuns lists the most recent passes, newest first.
func (db *DB) GCRuns(ctx context.Context, limit int) ([]GCRun, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT id, cause, dry_run, started_at, duration_ms, blobs_deleted, bytes_freed,
		manifests_deleted, links_removed, postponed, errors, error FROM gc_runs ORDER BY id DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("metadata: gc runs: %w", err)
	}
	defer rows.Close()
	out := []GCRun{}
	for rows.Next() {
		var r GCRun
		var dry boolish
		var started, ms int64
		if err := rows.Scan(&r.ID, &r.Cause, &dry, &started, &ms, &r.BlobsDeleted, &r.BytesFreed,
			&r.ManifestsDeleted, &r.LinksRemoved, &r.Postponed, &r.Errors, &r.Error); err != nil {
			return nil, err
		}
		r.DryRun, r.Started, r.Duration = bool(dry), fromMillis(started), float64(ms)/1000
		out = append(out, r)
	}
	return out, rows.Err()
}

// GCQueue counts queued reviews (those in the log too) and those due
// before cutoff.
func (db *DB) GCQueue(ctx context.Context, cutoff time.Time) (queued, due int64, err error) {
	err = db.sql.QueryRowContext(ctx, db.q(`SELECT (SELECT count(*) FROM gc_reviews) + (SELECT count(*) FROM gc_review_log),
		(SELECT count(*) FROM gc_reviews WHERE queued_at <= ?) + (SELECT count(*) FROM gc_review_log WHERE queued_at <= ?)`),
		millis(cutoff), millis(cutoff)).Scan(&queued, &due)
	return queued, due, err
}

// DueReviews pages through the reviews due at cutoff, in key order after
// after (for a dry run, which deletes nothing).
func (db *DB) DueReviews(ctx context.Context, cutoff time.Time, after Review, limit int) ([]Review, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT kind, repository, digest, queued_at, attempts FROM gc_reviews
		WHERE queued_at <= ? AND (kind > ? OR (kind = ? AND (repository > ? OR (repository = ? AND digest > ?))))
		ORDER BY kind, repository, digest LIMIT ?`),
		millis(cutoff), after.Kind, after.Kind, after.Repository, after.Repository, after.Digest, limit)
	if err != nil {
		return nil, fmt.Errorf("metadata: due reviews: %w", err)
	}
	defer rows.Close()
	var out []Review
	for rows.Next() {
		var r Review
		var at int64
		if err := rows.Scan(&r.Kind, &r.Repository, &r.Digest, &at, &r.Attempts); err != nil {
			return nil, err
		}
		r.QueuedAt = fromMillis(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// EvaluateReview says what a review would do now, changing nothing (dry
// run). A link it would remove counts the blob's bytes too when nothing
// else would then hold the blob.
func (db *DB) EvaluateReview(ctx context.Context, r Review, cutoff time.Time) (ReviewResult, error) {
	res := ReviewResult{Review: r, Outcome: OutcomeKept}
	c := millis(cutoff)
	switch r.Kind {
	case ReviewBlob:
		var size, linked int64
		var deleted boolish
		err := db.sql.QueryRowContext(ctx, db.q(`SELECT size, linked_at, deleted FROM blobs WHERE digest = ?`), r.Digest).Scan(&size, &linked, &deleted)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && bool(deleted)) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if linked > c {
			res.Outcome = OutcomePostponed
			return res, nil
		}
		used, err := db.blobUsed(ctx, db.sql, r.Digest)
		if err == nil && !used {
			res.Outcome, res.Bytes = OutcomeDeleted, size
		}
		return res, err
	case ReviewLink:
		var linked, size, blobLinked int64
		var deleted boolish
		var usedHere, usedElsewhere boolish
		err := db.sql.QueryRowContext(ctx, db.q(`SELECT rb.linked_at, COALESCE(b.size, 0), COALESCE(b.linked_at, 0), COALESCE(b.deleted, FALSE),
			EXISTS (SELECT 1 FROM blob_users u JOIN artifacts a ON a.id = u.artifact_id JOIN repositories r ON r.id = a.repository_id
				WHERE r.name = rb.repository AND u.blob_id IN (SELECT id FROM blob_ids WHERE digest = rb.digest)),
			EXISTS (SELECT 1 FROM repository_blobs o WHERE o.digest = rb.digest AND o.repository <> rb.repository)
				OR EXISTS (SELECT 1 FROM blob_users u2 JOIN artifacts a2 ON a2.id = u2.artifact_id WHERE u2.blob_id IN (SELECT id FROM blob_ids WHERE digest = rb.digest))
			FROM repository_blobs rb LEFT JOIN blobs b ON b.digest = rb.digest WHERE rb.repository = ? AND rb.digest = ?`),
			r.Repository, r.Digest).Scan(&linked, &size, &blobLinked, &deleted, &usedHere, &usedElsewhere)
		if errors.Is(err, sql.ErrNoRows) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		switch {
		case linked > c:
			res.Outcome = OutcomePostponed
		case !bool(usedHere):
			res.Outcome = OutcomeDeleted
			if !bool(usedElsewhere) && !bool(deleted) && blobLinked <= c {
				res.Bytes = size // the blob goes with its last link
			}
		}
		return res, nil
	case ReviewManifest:
		var pushed int64
		var held boolish
		err := db.sql.QueryRowContext(ctx, db.q(`SELECT a.push_time,
			EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)
			OR EXISTS (SELECT 1 FROM artifact_references ref CROSS JOIN artifacts p
				WHERE p.id = ref.parent_id AND p.repository_id = a.repository_id AND ref.child_digest = a.digest)
			OR (a.subject_digest <> '' AND EXISTS (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))
			FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND a.digest = ?`), r.Repository, r.Digest).Scan(&pushed, &held)
		if errors.Is(err, sql.ErrNoRows) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		switch {
		case pushed > c:
			res.Outcome = OutcomePostponed
		case !bool(held):
			res.Outcome = OutcomeDeleted
		}
		return res, nil
	}
	return res, nil
}

// FailedReview re-queues a review whose storage delete failed, backing off
// (it is due again after 2^attempts seconds, at most an hour, past its
// delay).
func (db *DB) FailedReview(ctx context.Context, r Review, delay time.Duration) error {
	backoff := min(time.Duration(1<<min(r.Attempts, 12))*time.Second, time.Hour)
	_, err := db.exec(ctx, `UPDATE gc_reviews SET attempts = attempts + 1, queued_at = ? WHERE kind = ? AND repository = ? AND digest = ?`,
		millis(time.Now().Add(backoff-delay)), r.Kind, r.Repository, r.Digest)
	return err
}
