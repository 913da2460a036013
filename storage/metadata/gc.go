package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// What online garbage collection knows (migration 012): blobs berth stored,
// which repositories link them, and reviews queued by the writes that may
// leave something unused. The collector itself is registry/gc.

// Kinds of GC reviews.
const (
	ReviewBlob     = "blob"     // a blob's data (repository "")
	ReviewLink     = "link"     // a repository's link of a blob
	ReviewManifest = "manifest" // an untagged manifest (gc.untagged delete)
)

// SyncLayer is the storage copy of a repository's link of a blob
// (distribution's _layers link), kept in line with repository_blobs.
const SyncLayer = "layer"

// ErrBlobDeleted is a blob whose data garbage collection removed: a
// manifest push naming it is refused (MANIFEST_BLOB_UNKNOWN), never
// recorded pointing at nothing.
var ErrBlobDeleted = errors.New("blob deleted by garbage collection")

// SetUntaggedReviews makes changes that leave a manifest without a tag
// queue a review of it (gc.untagged delete).
func (db *DB) SetUntaggedReviews(on bool) { db.untaggedReviews = on }

// queueReview queues (or re-queues, from now) a review.
func (db *DB) queueReview(ctx context.Context, q querier, kind, repo, digest string) error {
	_, err := db.hot(ctx, q).Exec(`INSERT INTO gc_reviews (kind, repository, digest, queued_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, repository, digest) DO UPDATE SET queued_at = excluded.queued_at, attempts = 0`,
		kind, repo, digest, millis(time.Now()))
	if err != nil {
		return fmt.Errorf("metadata: queue %s review: %w", kind, err)
	}
	return nil
}

// LinkBlob records a blob just committed to a repository (an upload or a
// mount): the blob is in use now, linked by repo, and its link and data
// are reviewed gc.delay from now (a layer no manifest ever uses goes). It
// reports whether garbage collection had deleted the blob's data before:
// the caller then checks the data is there (an upload racing the delete).
//
// how (EventBlobPush, EventBlobMount, or "" for none) is the audit record
// the same transaction writes.
//
// A link new to the index is recorded as a sync row of owner's, returned:
// distribution wrote the storage link before this call, and a collector
// that removed the link from the index meanwhile may have deleted that
// copy after it and checked the index before this commit; the caller
// brings storage in line again (Indexer.settle).
func (db *DB) LinkBlob(ctx context.Context, repo string, b Blob, how, owner string) (wasDeleted bool, rows []Sync, err error) {
	err = db.txShared(ctx, func(tx *sql.Tx) error {
		var err error
		rows = nil
		if wasDeleted, err = db.touchBlobTx(ctx, tx, b, true); err != nil {
			return err
		}
		added, err := db.linkRepoBlobTx(ctx, tx, repo, b.Digest)
		if err != nil {
			return err
		}
		if added {
			key := SyncKey{Repository: repo, Kind: SyncLayer, Name: b.Digest}
			ids, err := db.addSyncTx(ctx, tx, owner, key)
			if err != nil {
				return err
			}
			rows = SyncRows([]SyncKey{key}, ids)
		}
		if err := db.queueReview(ctx, tx, ReviewLink, repo, b.Digest); err != nil {
			return err
		}
		if err := db.queueReview(ctx, tx, ReviewBlob, "", b.Digest); err != nil || how == "" {
			return err
		}
		return db.emit(ctx, tx, Event{Type: how, Repository: repo, Digest: b.Digest, Size: b.Size, MediaType: b.MediaType})
	})
	if err == nil && how != "" {
		db.committed(ctx)
	}
	return wasDeleted, rows, err
}

// touchBlobTx marks a blob in use now, waiting for a collector deleting it
// to finish (its row lock). A blob the index does not know is recorded. A
// deleted blob is revived when revive is set (its data was just written
// again), else refused with ErrBlobDeleted. It reports whether the blob
// was deleted.
func (db *DB) touchBlobTx(ctx context.Context, tx *sql.Tx, b Blob, revive bool) (bool, error) {
	var deleted boolish
	err := db.hot(ctx, tx).QueryRow(`SELECT deleted FROM blobs WHERE digest = ?`+db.d.forUpdate, b.Digest).Scan(&deleted)
	now := millis(time.Now())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = db.hot(ctx, tx).Exec(`INSERT INTO blobs (digest, size, media_type, linked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET linked_at = excluded.linked_at, deleted = FALSE`, b.Digest, b.Size, b.MediaType, now)
	case err != nil:
	case bool(deleted) && !revive:
		return true, fmt.Errorf("blob %s: %w", b.Digest, ErrBlobDeleted)
	default:
		_, err = db.hot(ctx, tx).Exec(`UPDATE blobs SET linked_at = ?, deleted = FALSE WHERE digest = ?`, now, b.Digest)
	}
	if err != nil {
		return false, fmt.Errorf("metadata: blob %s: %w", b.Digest, err)
	}
	return bool(deleted), nil
}

// linkRepoBlobTx records that repo links a blob (now), reporting whether
// the link is new to the index.
func (db *DB) linkRepoBlobTx(ctx context.Context, tx *sql.Tx, repo, digest string) (bool, error) {
	now := millis(time.Now())
	res, err := db.hot(ctx, tx).Exec(`UPDATE repository_blobs SET linked_at = ? WHERE repository = ? AND digest = ?`, now, repo, digest)
	if err != nil {
		return false, fmt.Errorf("metadata: repository blob: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return false, nil
	}
	_, err = db.hot(ctx, tx).Exec(`INSERT INTO repository_blobs (repository, digest, linked_at) VALUES (?, ?, ?)
		ON CONFLICT (repository, digest) DO UPDATE SET linked_at = excluded.linked_at`, repo, digest, now)
	if err != nil {
		return false, fmt.Errorf("metadata: repository blob: %w", err)
	}
	return true, nil
}

type lazyBlobsKey struct{}

// WithLazyBlobs marks a manifest push whose config and layers arrive after
// it: the pull-through cache (registry/proxy) stores a manifest from its
// upstream before clients ask for the layers, which it then fetches. A
// blob garbage collection deleted (the cache evicted the image and a
// collector freed its bytes) is then recorded as not stored yet, as one
// the index never saw is, instead of refusing the push.
func WithLazyBlobs(ctx context.Context) context.Context {
	return context.WithValue(ctx, lazyBlobsKey{}, true)
}

func lazyBlobs(ctx context.Context) bool {
	lazy, _ := ctx.Value(lazyBlobsKey{}).(bool)
	return lazy
}

// useBlobsTx marks the blobs a new manifest of repo uses in use now: its
// own bytes, and its config and layers, which repo links. A config or layer
// garbage collection deleted refuses the push (ErrBlobDeleted) unless
// revive is set (reindex found it in storage); links new to the index are
// returned, so storage gets them back if a collector removed them meanwhile.
func (db *DB) useBlobsTx(ctx context.Context, tx *sql.Tx, repo, manifest string, blobs []Blob, revive bool) ([]SyncKey, error) {
	sorted := append([]Blob(nil), blobs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Digest < sorted[j].Digest }) // one lock order
	var keys []SyncKey
	for _, b := range sorted {
		own := b.Digest == manifest // stored just before this push by it
		if _, err := db.touchBlobTx(ctx, tx, b, revive || own || lazyBlobs(ctx)); err != nil {
			return nil, err
		}
		if own {
			continue
		}
		added, err := db.linkRepoBlobTx(ctx, tx, repo, b.Digest)
		if err != nil {
			return nil, err
		}
		if added {
			keys = append(keys, SyncKey{Repository: repo, Kind: SyncLayer, Name: b.Digest})
		}
	}
	return keys, nil
}

// reviewsAfterDelete are the reviews of what a deleted artifact leaves
// possibly unused: its manifest's bytes, its repository's links of its
// blobs, and (with untagged reviews) the manifests it referred to as an
// index.
func (db *DB) reviewsAfterDelete(repo, artDigest string, blobs []string, children []string) []review {
	var out []review
	for _, d := range blobs {
		kind, r := ReviewLink, repo
		if d == artDigest {
			kind, r = ReviewBlob, ""
		}
		out = append(out, review{kind: kind, repo: r, digest: d})
	}
	if !db.untaggedReviews {
		return out
	}
	for _, c := range children {
		out = append(out, review{kind: ReviewManifest, repo: repo, digest: c})
	}
	return out
}

// untaggedByID reads which of a list of artifacts (ids, the "(%s)" list)
// have no tag. Their repository is checked by the caller (see
// artifactsByID: "a.repository_id = ?" here made SQLite read the whole
// repository for lists of five or more).
const untaggedByID = `SELECT a.repository_id, r.name, a.digest FROM artifacts a JOIN repositories r ON r.id = a.repository_id
	WHERE a.id IN (%s) AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)`

// queueUntagged queues the reviews of manifests (artifacts artIDs of the
// repository repoID) a change left without tags.
func (db *DB) queueUntagged(ctx context.Context, tx *sql.Tx, repoID int64, artIDs ...int64) error {
	if !db.untaggedReviews {
		return nil
	}
	ids := slices.DeleteFunc(slices.Clone(artIDs), func(id int64) bool { return id == 0 })
	if len(ids) == 0 {
		return nil
	}
	var repo string
	var digests []string
	err := db.queryIn(ctx, tx, untaggedByID, nil, idArgs(ids), func(r *sql.Rows) error {
		var name, d string
		var repoOf int64
		if err := r.Scan(&repoOf, &name, &d); err != nil {
			return err
		}
		if repoOf == repoID {
			repo, digests = name, append(digests, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	reviews := make([]review, len(digests))
	for i, d := range digests {
		reviews[i] = review{kind: ReviewManifest, repo: repo, digest: d}
	}
	return db.queueReviews(ctx, tx, reviews)
}

// LinkedBlob is the canonical digest of the blob repo links under digest
// (itself or an alias of it), for the storage copy of the link
// (ErrNotFound).
func (db *DB) LinkedBlob(ctx context.Context, repo, digest string) (string, error) {
	var d string
	err := db.hot(ctx, db.sql).QueryRow(`SELECT b.digest FROM repository_blobs b WHERE b.repository = ? AND b.digest = ?
		UNION ALL SELECT b.digest FROM digest_aliases x JOIN repository_blobs b ON b.repository = x.repository AND b.digest = x.digest
		WHERE x.repository = ? AND x.kind = 'blob' AND x.alias = ? LIMIT 1`,
		repo, digest, repo, digest).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("blob %s@%s: %w", repo, digest, ErrNotFound)
	}
	return d, err
}

// TouchLink restarts the review of repo's link of a blob (a client found
// it there and is about to refer to it). It reports whether the index
// still has the link: a collector that removed it meanwhile (its storage
// copy goes next) wins, and the blob is not in the repository. The
// request does not wait for the touch to be durable (untracked): a touch
// lost to a power loss mattered only to the push the power loss cut short,
// whose client starts again, and its HEAD touches the link again.
func (db *DB) TouchLink(ctx context.Context, repo, digest string) (bool, error) {
	res, err := db.execHot(untracked(ctx), `UPDATE repository_blobs SET linked_at = ? WHERE repository = ? AND digest = ?`, millis(time.Now()), repo, digest)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
