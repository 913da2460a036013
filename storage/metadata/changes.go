package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The changes a push or delete makes to the index, each one transaction
// that also records the storage keys it leaves to bring in line (see
// sync.go). The index decides: concurrent writers of one tag or manifest
// are ordered by the database, and storage follows it.

// PushManifest records a pushed manifest in repo (created in project when
// absent) and, when tag is not empty, points tag at it, in one transaction,
// with storage sync rows for the tag and for blob links the push made new
// to the index. It returns the artifact and those rows. A config or layer
// garbage collection deleted meanwhile refuses the push: ErrBlobDeleted.
func (db *DB) PushManifest(ctx context.Context, projectID int64, repo string, a Artifact, tag, owner string) (Artifact, []Sync, error) {
	var rows []Sync
	err := db.txShared(ctx, func(tx *sql.Tx) error {
		keys, err := db.putArtifactTx(ctx, tx, projectID, repo, &a, false)
		if err != nil {
			return err
		}
		if tag != "" {
			if err := db.putTagTx(ctx, tx, a.RepositoryID, a.ID, tag, a.PushTime); err != nil {
				return err
			}
			keys = append(keys, SyncKey{repo, SyncTag, tag})
		} else if err := db.queueUntagged(ctx, tx, a.RepositoryID, a.ID); err != nil {
			return err
		}
		ids, err := db.addSyncTx(ctx, tx, owner, keys...)
		rows = make([]Sync, len(ids))
		for i, id := range ids {
			rows[i] = Sync{SyncKey: keys[i], ID: id}
		}
		if err != nil {
			return err
		}
		e := Event{Type: EventArtifactPush, Repository: repo, Tag: tag, Digest: a.Digest, MediaType: a.MediaType, Size: a.Size}
		if a.ConfigMediaType == helmConfigMediaType && tag != "" {
			e.Type, e.Target = EventChartUpload, chartName(repo)
		}
		return db.emit(ctx, tx, e)
	})
	if err != nil {
		return a, nil, fmt.Errorf("metadata: push %s@%s: %w", repo, a.Digest, err)
	}
	db.committed(ctx)
	return a, rows, nil
}

// MoveTag points tag at an indexed manifest of repo, with a sync row for the
// tag. ErrNotFound when the repository or the manifest is not indexed.
func (db *DB) MoveTag(ctx context.Context, repo, tag, digest, owner string, at time.Time) ([]int64, error) {
	var ids []int64
	err := db.txShared(ctx, func(tx *sql.Tx) error {
		repoID, err := db.repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		artID, err := db.artifactID(ctx, tx, repoID, digest)
		if err != nil {
			return err
		}
		if err := db.putTagTx(ctx, tx, repoID, artID, tag, at); err != nil {
			return err
		}
		if ids, err = db.addSyncTx(ctx, tx, owner, SyncKey{repo, SyncTag, tag}); err != nil {
			return err
		}
		e := Event{Type: EventArtifactPush, Repository: repo, Tag: tag, Digest: digest}
		var config string
		_ = tx.QueryRowContext(ctx, db.q(`SELECT media_type, size, config_media_type FROM artifacts WHERE id = ?`), artID).
			Scan(&e.MediaType, &e.Size, &config)
		if config == helmConfigMediaType {
			e.Type, e.Target = EventChartUpload, chartName(repo)
		}
		return db.emit(ctx, tx, e)
	})
	if err == nil {
		db.committed(ctx)
	}
	return ids, err
}

// RemoveTag deletes a tag of repo, with a sync row for it. ErrNotFound when
// the tag is not indexed.
func (db *DB) RemoveTag(ctx context.Context, repo, tag, owner string) ([]int64, error) {
	var ids []int64
	err := db.txShared(ctx, func(tx *sql.Tx) error {
		repoID, err := db.repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		var digest string
		_ = tx.QueryRowContext(ctx, db.q(`SELECT a.digest FROM tags t JOIN artifacts a ON a.id = t.artifact_id
			WHERE t.repository_id = ? AND t.name = ?`), repoID, tag).Scan(&digest)
		if err := db.deleteTagTx(ctx, tx, repoID, tag); err != nil {
			return err
		}
		if ids, err = db.addSyncTx(ctx, tx, owner, SyncKey{repo, SyncTag, tag}); err != nil {
			return err
		}
		return db.emit(ctx, tx, Event{Type: EventTagDelete, Repository: repo, Tag: tag, Digest: digest})
	})
	if err == nil {
		db.committed(ctx)
	}
	return ids, err
}

// Removed is what a manifest delete took out of the index.
type Removed struct {
	Digests []string // the manifest and its referrers, recursively
	Aliases []string // other digests they were linked by (sha512)
	Tags    []string // tags that pointed at any of them
	Keys    []SyncKey
	SyncIDs []int64
}

// add appends what another delete removed (its keys and ids stay paired).
func (r *Removed) add(o Removed) {
	r.Digests, r.Aliases, r.Tags = append(r.Digests, o.Digests...), append(r.Aliases, o.Aliases...), append(r.Tags, o.Tags...)
	r.Keys, r.SyncIDs = append(r.Keys, o.Keys...), append(r.SyncIDs, o.SyncIDs...)
}

// SyncRows pairs the keys the delete left to bring in line with the ids
// of their storage sync rows (for the indexer's Settle).
func (r Removed) SyncRows() []Sync { return SyncRows(r.Keys, r.SyncIDs) }

// SyncRows pairs the keys of a change with the ids of their storage sync
// rows, in order (a key without an id, or an id without a key, is left
// out).
func SyncRows(keys []SyncKey, ids []int64) []Sync {
	rows := make([]Sync, 0, min(len(keys), len(ids)))
	for i, id := range ids[:min(len(keys), len(ids))] {
		rows = append(rows, Sync{SyncKey: keys[i], ID: id})
	}
	return rows
}

// DeleteManifest removes a manifest of repo from the index with, as Harbor
// does with accessories, every manifest whose subject it is (signatures,
// SBOMs, recursively) and every tag on them, in one transaction, with sync
// rows for each manifest, alias and tag. ErrNotFound when the manifest is
// not indexed.
func (db *DB) DeleteManifest(ctx context.Context, repo, digest, owner string) (Removed, error) {
	var out Removed
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		e := Event{Type: EventArtifactDelete, Repository: repo, Digest: digest}
		var chart, version string
		if tx.QueryRowContext(ctx, db.q(`SELECT c.name, c.version FROM chart_versions c JOIN artifacts a ON a.id = c.artifact_id
			JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? AND a.digest = ?`), repo, digest).Scan(&chart, &version) == nil {
			e.Type, e.Target, e.Tag = EventChartDelete, chart, version
		}
		var err error
		if out, err = db.deleteManifestTx(ctx, tx, repo, digest, owner); err != nil {
			return err
		}
		e.Data = toJSON(map[string]any{"digests": out.Digests, "tags": out.Tags})
		return db.emit(ctx, tx, e)
	})
	return out, err
}

func (db *DB) deleteManifestTx(ctx context.Context, tx *sql.Tx, repo, digest, owner string) (Removed, error) {
	return db.deleteManifestsTx(ctx, tx, repo, []string{digest}, owner)
}

// TagTarget is the digest repo's tag points at (ErrNotFound).
func (db *DB) TagTarget(ctx context.Context, repo, tag string) (string, error) {
	var d string
	err := db.hot(ctx, db.sql).QueryRow(`SELECT a.digest FROM tags t JOIN artifacts a ON a.id = t.artifact_id
		JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND t.name = ?`, repo, tag).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("tag %s:%s: %w", repo, tag, ErrNotFound)
	}
	return d, err
}

// LinkedManifest is the canonical digest of the manifest repo holds under
// digest, itself or an alias of it (ErrNotFound).
func (db *DB) LinkedManifest(ctx context.Context, repo, digest string) (string, error) {
	var d string
	err := db.hot(ctx, db.sql).QueryRow(`SELECT a.digest FROM artifacts a JOIN repositories r ON r.id = a.repository_id
		WHERE r.name = ? AND a.digest = ?
		UNION ALL SELECT a.digest FROM digest_aliases x JOIN repositories r ON r.name = x.repository
		JOIN artifacts a ON a.repository_id = r.id AND a.digest = x.digest
		WHERE x.repository = ? AND x.kind = 'manifest' AND x.alias = ? LIMIT 1`, repo, digest, repo, digest).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("manifest %s@%s: %w", repo, digest, ErrNotFound)
	}
	return d, err
}

// TagsOf lists the tags of repo that point at digest.
func (db *DB) TagsOf(ctx context.Context, repo, digest string) ([]string, error) {
	return db.strings(ctx, `SELECT t.name FROM tags t JOIN artifacts a ON a.id = t.artifact_id
		JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? AND a.digest = ? ORDER BY t.name`, repo, digest)
}

// AllTags lists every tag name of repo, sorted.
func (db *DB) AllTags(ctx context.Context, repo string) ([]string, error) {
	return db.strings(ctx, `SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = ? ORDER BY t.name`, repo)
}

func (db *DB) repoID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := db.hot(ctx, q).QueryRow(`SELECT id FROM repositories WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("repository %s: %w", name, ErrNotFound)
	}
	return id, err
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
