package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Review is one queued garbage-collection review.
type Review struct {
	Kind       string // ReviewBlob, ReviewLink or ReviewManifest
	Repository string // "" for a blob
	Digest     string
	QueuedAt   time.Time
	Attempts   int64
}

// Outcomes of a review.
const (
	OutcomeDeleted   = "deleted"   // the blob's data, the link or the manifest is gone
	OutcomeKept      = "kept"      // still in use: the review is done
	OutcomePostponed = "postponed" // used since it was queued: due again gc.delay after that
)

// ReviewResult is what one review did (or, in a dry run, would do).
type ReviewResult struct {
	Review  Review
	Outcome string
	Bytes   int64 // a blob's size, when its data is (would be) deleted
	// Removed is what deleting a manifest took out of the index, and
	// Unlinked the storage link a removed blob link leaves: the caller
	// brings storage in line (their sync rows are recorded).
	Removed  Removed
	Unlinked []Sync
}

// DeleteBlobData removes a blob's data from storage. The collector calls
// it inside the transaction that holds the blob's row, so an upload or a
// push of the same blob waits for it and then finds the blob deleted.
type DeleteBlobData func(ctx context.Context, digest string) error

// ProcessReview takes one review due at cutoff (queued before it) that no
// other collector holds, carries it out and removes it, in one
// transaction. found is false when none is due.
func (db *DB) ProcessReview(ctx context.Context, cutoff time.Time, owner string, deleteData DeleteBlobData) (res ReviewResult, found bool, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		res, found = ReviewResult{}, false
		r, ok, err := db.nextReview(ctx, tx, cutoff)
		if err != nil || !ok {
			return err
		}
		found, res.Review = true, r
		switch r.Kind {
		case ReviewBlob:
			res.Outcome, res.Bytes, err = db.reviewBlobTx(ctx, tx, r.Digest, cutoff, deleteData)
		case ReviewLink:
			res.Outcome, res.Unlinked, err = db.reviewLinkTx(ctx, tx, r.Repository, r.Digest, cutoff, owner)
		case ReviewManifest:
			res.Outcome, res.Removed, err = db.reviewManifestTx(ctx, tx, r.Repository, r.Digest, cutoff, owner)
		default:
			res.Outcome = OutcomeKept // a kind this version does not know: drop it
		}
		if err != nil {
			return err
		}
		if res.Outcome == OutcomePostponed {
			return nil // re-queued by the review itself
		}
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM gc_reviews WHERE kind = ? AND repository = ? AND digest = ?`), r.Kind, r.Repository, r.Digest)
		return err
	})
	return res, found, err
}

func (db *DB) nextReview(ctx context.Context, tx *sql.Tx, cutoff time.Time) (Review, bool, error) {
	var r Review
	var at int64
	err := tx.QueryRowContext(ctx, db.q(`SELECT kind, repository, digest, queued_at, attempts FROM gc_reviews
		WHERE queued_at <= ? ORDER BY queued_at LIMIT 1`+db.d.skipLocked), millis(cutoff)).Scan(&r.Kind, &r.Repository, &r.Digest, &at, &r.Attempts)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	r.QueuedAt = fromMillis(at)
	return r, err == nil, err
}

// postpone re-queues a review for when what it reviews was last used, so
// it is due gc.delay after that.
func (db *DB) postpone(ctx context.Context, tx *sql.Tx, kind, repo, digest string, usedAt int64) (string, error) {
	_, err := tx.ExecContext(ctx, db.q(`UPDATE gc_reviews SET queued_at = ? WHERE kind = ? AND repository = ? AND digest = ?`), usedAt, kind, repo, digest)
	return OutcomePostponed, err
}

// reviewBlobTx deletes a blob's data when no repository links it, no
// manifest uses it and it was not used since cutoff.
func (db *DB) reviewBlobTx(ctx context.Context, tx *sql.Tx, digest string, cutoff time.Time, deleteData DeleteBlobData) (string, int64, error) {
	var size, linkedAt int64
	var deleted boolish
	err := tx.QueryRowContext(ctx, db.q(`SELECT size, linked_at, deleted FROM blobs WHERE digest = ?`+db.d.forUpdate), digest).Scan(&size, &linkedAt, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && bool(deleted)):
		return OutcomeKept, 0, nil
	case err != nil:
		return "", 0, err
	case linkedAt > millis(cutoff):
		o, err := db.postpone(ctx, tx, ReviewBlob, "", digest, linkedAt)
		return o, 0, err
	}
	used, err := db.blobUsed(ctx, tx, digest)
	if err != nil || used {
		return OutcomeKept, 0, err
	}
	// What released the blob may have committed without waiting for the
	// log (a retention run's removals): durable first (logflush.go).
	if err := db.flushLog(ctx); err != nil {
		return "", 0, err
	}
	if err := deleteData(ctx, digest); err != nil {
		return "", 0, fmt.Errorf("deleting the data of %s: %w", digest, err)
	}
	_, err = tx.ExecContext(ctx, db.q(`UPDATE blobs SET deleted = TRUE WHERE digest = ?`), digest)
	return OutcomeDeleted, size, err
}

// usedByArtifact is whether an artifact uses the blob digest (the one
// argument): its pairs in blob_users whose artifact is still there.
const usedByArtifact = `EXISTS (SELECT 1 FROM blob_users u JOIN artifacts a ON a.id = u.artifact_id WHERE u.blob_id IN (SELECT id FROM blob_ids WHERE digest = ?))`

// usedInRepository is whether an artifact of the repository named (the
// first argument) uses the blob digest (the second).
const usedInRepository = `EXISTS (SELECT 1 FROM blob_users u JOIN artifacts a ON a.id = u.artifact_id
	JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND u.blob_id IN (SELECT id FROM blob_ids WHERE digest = ?))`

// blobUsed reports whether any repository links a blob or any manifest
// uses it.
func (db *DB) blobUsed(ctx context.Context, q querier, digest string) (bool, error) {
	var used boolish
	err := q.QueryRowContext(ctx, db.q(`SELECT EXISTS (SELECT 1 FROM repository_blobs WHERE digest = ?) OR `+usedByArtifact), digest, digest).Scan(&used)
	return bool(used), err
}

// reviewLinkTx removes a repository's link of a blob when no manifest of
// the repository uses it and it was not linked again since cutoff, and
// queues the review of the blob's data.
func (db *DB) reviewLinkTx(ctx context.Context, tx *sql.Tx, repo, digest string, cutoff time.Time, owner string) (string, []Sync, error) {
	var linkedAt int64
	err := tx.QueryRowContext(ctx, db.q(`SELECT linked_at FROM repository_blobs WHERE repository = ? AND digest = ?`+db.d.forUpdate), repo, digest).Scan(&linkedAt)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return OutcomeKept, nil, nil
	case err != nil:
		return "", nil, err
	case linkedAt > millis(cutoff):
		o, err := db.postpone(ctx, tx, ReviewLink, repo, digest, linkedAt)
		return o, nil, err
	}
	var used boolish
	if err := tx.QueryRowContext(ctx, db.q(`SELECT `+usedInRepository), repo, digest).Scan(&used); err != nil || used {
		return OutcomeKept, nil, err
	}
	aliases, err := column[string](ctx, tx, db.q(`SELECT alias FROM digest_aliases WHERE repository = ? AND kind = ? AND digest = ?`), repo, AliasBlob, digest)
	if err != nil {
		return "", nil, err
	}
	for _, stmt := range []string{`DELETE FROM repository_blobs WHERE repository = ? AND digest = ?`,
		`DELETE FROM digest_aliases WHERE repository = ? AND kind = 'blob' AND digest = ?`} {
		if _, err := tx.ExecContext(ctx, db.q(stmt), repo, digest); err != nil {
			return "", nil, err
		}
	}
	keys := []SyncKey{{repo, SyncLayer, digest}}
	for _, a := range aliases {
		keys = append(keys, SyncKey{repo, SyncLayer, a})
	}
	ids, err := db.addSyncTx(ctx, tx, owner, keys...)
	if err != nil {
		return "", nil, err
	}
	rows := make([]Sync, len(ids))
	for i, id := range ids {
		rows[i] = Sync{SyncKey: keys[i], ID: id}
	}
	// Due at once: whether the data goes depends on the blob's own use.
	if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO gc_reviews (kind, repository, digest, queued_at) VALUES (?, '', ?, 0)
		ON CONFLICT (kind, repository, digest) DO UPDATE SET queued_at = 0`), ReviewBlob, digest); err != nil {
		return "", nil, err
	}
	return OutcomeDeleted, rows, nil
}

// reviewManifestTx deletes an untagged manifest nothing holds: no tag, no
// index of its repository that refers to it, no subject it describes that
// still exists, and not pushed since cutoff.
func (db *DB) reviewManifestTx(ctx context.Context, tx *sql.Tx, repo, digest string, cutoff time.Time, owner string) (string, Removed, error) {
	var id, repoID, pushed int64
	var subject string
	err := tx.QueryRowContext(ctx, db.q(`SELECT a.id, a.repository_id, a.push_time, a.subject_digest FROM artifacts a
		JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND a.digest = ?`), repo, digest).Scan(&id, &repoID, &pushed, &subject)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return OutcomeKept, Removed{}, nil
	case err != nil:
		return "", Removed{}, err
	}
	if err := db.lockRepos(ctx, tx, repoID); err != nil {
		return "", Removed{}, err
	}
	if pushed > millis(cutoff) {
		o, err := db.postpone(ctx, tx, ReviewManifest, repo, digest, pushed)
		return o, Removed{}, err
	}
	var held boolish
	err = tx.QueryRowContext(ctx, db.q(`SELECT EXISTS (SELECT 1 FROM tags WHERE artifact_id = ?)
		OR EXISTS (SELECT 1 FROM artifact_references ref CROSS JOIN artifacts p
			WHERE p.id = ref.parent_id AND p.repository_id = ? AND ref.child_digest = ?)
		OR (? <> '' AND EXISTS (SELECT 1 FROM artifacts s WHERE s.repository_id = ? AND s.digest = ?))`),
		id, repoID, digest, subject, repoID, subject).Scan(&held)
	if err != nil || held {
		return OutcomeKept, Removed{}, err
	}
	removed, err := db.deleteManifestTx(ctx, tx, repo, digest, owner)
	return OutcomeDeleted, removed, err
}
