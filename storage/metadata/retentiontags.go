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

// weighedTags reads tags by id (the "(%s)" list). Their repository is
// checked by the caller: with "t.repository_id = ?" in the query, SQLite's
// planner read every tag of the repository through its push-time index
// for each batch instead of looking the ids up.
const weighedTags = `SELECT t.id, t.repository_id, t.name, t.push_time, a.digest
	FROM tags t JOIN artifacts a ON a.id = t.artifact_id WHERE t.id IN (%s)`

// RemoveTags deletes tags of repo, as RetentionTags returned them, with
// their storage sync rows, in one transaction: all of them, or, under a
// Step, those of the chunks it went through before the Step ended it
// (done says how many of tags; the caller passes the rest again). A tag
// is removed only while it is still the one weighed: a tag since deleted,
// re-pushed or moved to another manifest is skipped (and counted in
// changed), so a run never removes a push it did not see.
func (db *DB) RemoveTags(ctx context.Context, repo string, tags []RetentionTag, owner string) (rows []Sync, changed, done int, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		start := time.Now()
		rows, changed, done = nil, 0, 0
		repoID, err := db.repoID(ctx, tx, repo)
		if errors.Is(err, ErrNotFound) {
			changed, done = len(tags), len(tags)
			return nil
		}
		if err != nil {
			return err
		}
		if err := db.lockRepos(ctx, tx, repoID); err != nil { // the rows read below stay as read
			return err
		}
		done, err = chunked(ctx, start, tags, db.chunk(tagChunk), func(chunk []RetentionTag) error {
			got, err := db.removeWeighed(ctx, tx, repo, repoID, chunk, owner)
			rows, changed = append(rows, got...), changed+len(chunk)-len(got)
			return err
		})
		return err
	})
	return rows, changed, done, err
}

// removeWeighed is RemoveTags for one chunk of tags: it returns the sync
// rows of those it deleted, one each.
func (db *DB) removeWeighed(ctx context.Context, tx *sql.Tx, repo string, repoID int64, tags []RetentionTag, owner string) ([]Sync, error) {
	weighed := map[int64]RetentionTag{}
	ids := make([]int64, len(tags))
	for i, t := range tags {
		weighed[t.ID], ids[i] = t, t.ID
	}
	var names []string
	if err := db.queryIn(ctx, tx, weighedTags, nil, idArgs(ids), func(r *sql.Rows) error {
		var id, repo, push int64
		var name, digest string
		if err := r.Scan(&id, &repo, &name, &push, &digest); err != nil {
			return err
		}
		if w := weighed[id]; repo == repoID && w.Name == name && millis(w.PushTime) == push && w.Digest == digest {
			names = append(names, name)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	deleted, err := db.deleteTagsTx(ctx, tx, repoID, names)
	if err != nil {
		return nil, err
	}
	keys := make([]SyncKey, len(deleted))
	for i, name := range deleted {
		keys[i] = SyncKey{repo, SyncTag, name}
	}
	ids, err = db.addSyncTx(ctx, tx, owner, keys...)
	if err != nil {
		return nil, err
	}
	rows := make([]Sync, len(ids))
	for i, id := range ids {
		rows[i] = Sync{SyncKey: keys[i], ID: id}
	}
	return rows, nil
}

// looseManifests selects, among digests of a repository (the "(%s)" list),
// the manifests nothing holds: no tag, no index of the repository, no
// subject the repository has. The digests are looked up through the
// repository's (repository_id, digest) index in a subquery: written as
// "a.repository_id = ? AND a.digest IN (...)", SQLite's planner picked the
// index on (repository_id, subject_digest, digest), which covers the whole
// query, and read every manifest of the repository for each batch.
const looseManifests = `SELECT a.digest FROM artifacts a
	WHERE a.id IN (SELECT id FROM artifacts WHERE repository_id = ? AND digest IN (%s))
	AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)
	AND NOT EXISTS (SELECT 1 FROM artifact_references ref CROSS JOIN artifacts p
		WHERE p.id = ref.parent_id AND p.repository_id = a.repository_id AND ref.child_digest = a.digest)
	AND NOT (a.subject_digest <> '' AND EXISTS (SELECT 1 FROM artifacts s WHERE s.repository_id = a.repository_id AND s.digest = a.subject_digest))`

// RemoveUntagged deletes, in one transaction, the manifests of repo among
// digests that have no tag, no index of the repository refers to and are
// no referrer of a subject the repository holds, with their referrers
// (signatures, SBOMs). It returns what it removed, and how many of digests
// it went through (all of them, unless a Step ended it early: see
// RemoveTags).
func (db *DB) RemoveUntagged(ctx context.Context, repo string, digests []string, owner string) (Removed, int, error) {
	var all Removed
	var done int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		start := time.Now()
		all, done = Removed{}, 0
		repoID, err := db.repoID(ctx, tx, repo)
		if errors.Is(err, ErrNotFound) {
			done = len(digests)
			return nil
		}
		if err != nil {
			return err
		}
		if err := db.lockRepos(ctx, tx, repoID); err != nil {
			return err
		}
		done, err = chunked(ctx, start, digests, db.chunk(manifestChunk), func(chunk []string) error {
			var loose []string
			if err := db.queryIn(ctx, tx, looseManifests, []any{repoID}, anySlice(chunk), func(r *sql.Rows) error {
				var d string
				err := r.Scan(&d)
				loose = append(loose, d)
				return err
			}); err != nil {
				return err
			}
			if len(loose) == 0 {
				return nil
			}
			r, err := db.deleteManifestsTx(ctx, tx, repo, loose, owner)
			all.add(r)
			return err
		})
		return err
	})
	return all, done, err
}
