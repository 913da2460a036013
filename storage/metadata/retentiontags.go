package metadata

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"time"
)

// RetentionTag is one tag as retention weighs it.
type RetentionTag struct {
	ID       int64
	Name     string
	Digest   string
	PushTime time.Time
	PullTime time.Time // the later of the tag's and its manifest's last pull
	// Follows is true for a tag of a referrer (a signature, an SBOM) whose
	// subject the repository holds: it stays or goes with its subject.
	Follows bool
}

// TagCursor is where a walk of a repository's tags, newest push first,
// stands.
type TagCursor struct {
	PushTime int64
	ID       int64
}

// FirstTags starts a walk at the newest tag.
var FirstTags = TagCursor{PushTime: math.MaxInt64, ID: math.MaxInt64}

// RetentionTags returns up to limit tags of a repository after cursor,
// newest push first (ties by id), for retention to walk a repository of
// any size a page at a time.
func (db *DB) RetentionTags(ctx context.Context, repoID int64, after TagCursor, limit int) ([]RetentionTag, TagCursor, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT t.id, t.name, a.digest, t.push_time,
		CASE WHEN t.pull_time > a.pull_time THEN t.pull_time ELSE a.pull_time END,
		a.subject_digest <> '' AND EXISTS (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest)
		FROM tags t JOIN artifacts a ON a.id = t.artifact_id
		WHERE t.repository_id = ? AND (t.push_time < ? OR (t.push_time = ? AND t.id < ?))
		ORDER BY t.push_time DESC, t.id DESC LIMIT ?`), repoID, after.PushTime, after.PushTime, after.ID, limit)
	if err != nil {
		return nil, after, err
	}
	defer rows.Close()
	var out []RetentionTag
	for rows.Next() {
		var t RetentionTag
		var push, pull int64
		var follows boolish
		if err := rows.Scan(&t.ID, &t.Name, &t.Digest, &push, &pull, &follows); err != nil {
			return nil, after, err
		}
		t.PushTime, t.PullTime, t.Follows = fromMillis(push), fromMillis(pull), bool(follows)
		out = append(out, t)
		after = TagCursor{PushTime: push, ID: t.ID}
	}
	return out, after, rows.Err()
}

// RemoveTags deletes tags of repo, as RetentionTags returned them, in one
// transaction with their storage sync rows. A tag is removed only while it
// is still the one weighed: a tag since deleted, re-pushed or moved to
// another manifest is skipped (and counted in changed), so a run never
// removes a push it did not see.
func (db *DB) RemoveTags(ctx context.Context, repo string, tags []RetentionTag, owner string) (rows []Sync, changed int, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		rows, changed = nil, 0
		repoID, err := db.repoID(ctx, tx, repo)
		if errors.Is(err, ErrNotFound) {
			changed = len(tags)
			return nil
		}
		if err != nil {
			return err
		}
		var keys []SyncKey
		for _, t := range tags {
			var push int64
			var digest string
			err := tx.QueryRowContext(ctx, db.q(`SELECT t.push_time, a.digest FROM tags t JOIN artifacts a ON a.id = t.artifact_id
				WHERE t.id = ? AND t.repository_id = ? AND t.name = ?`), t.ID, repoID, t.Name).Scan(&push, &digest)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && (push != millis(t.PushTime) || digest != t.Digest)) {
				changed++
				continue
			}
			if err != nil {
				return err
			}
			if err := db.deleteTagTx(ctx, tx, repoID, t.Name); errors.Is(err, ErrNotFound) {
				changed++
				continue
			} else if err != nil {
				return err
			}
			keys = append(keys, SyncKey{repo, SyncTag, t.Name})
		}
		ids, err := db.addSyncTx(ctx, tx, owner, keys...)
		for i, id := range ids {
			rows = append(rows, Sync{SyncKey: keys[i], ID: id})
		}
		return err
	})
	return rows, changed, err
}

// RemoveUntagged deletes, in one transaction, the manifests of repo among
// digests that have no tag, no index of the repository refers to and are
// no referrer of a subject the repository holds, with their referrers
// (signatures, SBOMs). It returns what it removed.
func (db *DB) RemoveUntagged(ctx context.Context, repo string, digests []string, owner string) (Removed, error) {
	var all Removed
	err := db.tx(ctx, func(tx *sql.Tx) error {
		all = Removed{}
		repoID, err := db.repoID(ctx, tx, repo)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, d := range digests {
			var held boolish
			err := tx.QueryRowContext(ctx, db.q(`SELECT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)
				OR EXISTS (SELECT 1 FROM artifact_references ref JOIN artifacts p ON p.id = ref.parent_id
					WHERE p.repository_id = a.repository_id AND ref.child_digest = a.digest)
				OR (a.subject_digest <> '' AND EXISTS (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))
				FROM artifacts a WHERE a.repository_id = ? AND a.digest = ?`), repoID, d).Scan(&held)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && bool(held)) {
				continue
			}
			if err != nil {
				return err
			}
			r, err := db.deleteManifestTx(ctx, tx, repo, d, owner)
			if errors.Is(err, ErrNotFound) {
				continue // its repository went with an earlier manifest of the batch
			}
			if err != nil {
				return err
			}
			all.Digests = append(all.Digests, r.Digests...)
			all.Aliases = append(all.Aliases, r.Aliases...)
			all.Tags = append(all.Tags, r.Tags...)
			all.Keys = append(all.Keys, r.Keys...)
			all.SyncIDs = append(all.SyncIDs, r.SyncIDs...)
		}
		return nil
	})
	return all, err
}
