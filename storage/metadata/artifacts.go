package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const artifactCols = `a.id, a.repository_id, r.name, a.digest, a.media_type, a.artifact_type, a.config_media_type,
	a.config_digest, a.manifest_size, a.size, a.content_size, a.os, a.arch, a.variant, a.subject_digest, a.annotations, a.extra,
	a.pushed_by, a.push_time, a.pull_time, a.pull_count`

func scanArtifact(sc interface{ Scan(...any) error }) (Artifact, error) {
	var a Artifact
	var ann, extra string
	var push, pull int64
	err := sc.Scan(&a.ID, &a.RepositoryID, &a.Repository, &a.Digest, &a.MediaType, &a.ArtifactType, &a.ConfigMediaType,
		&a.ConfigDigest, &a.ManifestSize, &a.Size, &a.ContentSize, &a.OS, &a.Arch, &a.Variant, &a.SubjectDigest, &ann, &extra,
		&a.PushedBy, &push, &pull, &a.PullCount)
	if err != nil {
		return a, err
	}
	a.Annotations, a.Extra = strMap(ann), anyMap(extra)
	a.PushTime, a.PullTime = fromMillis(push), fromMillis(pull)
	return a, nil
}

// PutArtifact records a pushed manifest in repo (created in project when
// absent). Pushing the same digest again only refreshes who pushed it and
// when. Blobs are counted once per project in the project's storage used.
func (db *DB) PutArtifact(ctx context.Context, projectID int64, repo string, a Artifact) (Artifact, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := db.putArtifactTx(ctx, tx, projectID, repo, &a, true)
		return err
	})
	if err != nil {
		return a, fmt.Errorf("metadata: put artifact %s@%s: %w", repo, a.Digest, err)
	}
	return a, nil
}

// putArtifactTx is PutArtifact in tx, filling in a's ids. It returns the
// storage links of blobs the push made new to the index (see useBlobsTx).
// revive accepts blobs garbage collection deleted (their data was found
// again); a push refuses them.
func (db *DB) putArtifactTx(ctx context.Context, tx *sql.Tx, projectID int64, repo string, a *Artifact, revive bool) ([]SyncKey, error) {
	if a.PushTime.IsZero() {
		a.PushTime = time.Now()
	}
	repoID, err := db.lockedRepo(ctx, tx, projectID, repo, a.PushTime)
	if err != nil {
		return nil, fmt.Errorf("metadata: repository %q: %w", repo, err)
	}
	a.RepositoryID, a.Repository = repoID, repo
	h := db.hot(ctx, tx)
	err = h.QueryRow(`SELECT id FROM artifacts WHERE repository_id = ? AND digest = ?`, repoID, a.Digest).Scan(&a.ID)
	if errors.Is(err, sql.ErrNoRows) {
		// Inserted unless a concurrent push of the same digest won (then: updated).
		inserted, keys, ierr := db.insertArtifact(ctx, tx, projectID, a, revive)
		if ierr != nil || inserted {
			return keys, ierr
		}
		err = h.QueryRow(`SELECT id FROM artifacts WHERE repository_id = ? AND digest = ?`, repoID, a.Digest).Scan(&a.ID)
	}
	if err != nil {
		return nil, err
	}
	if _, err = h.Exec(`UPDATE artifacts SET push_time = ?, pushed_by = ? WHERE id = ?`, millis(a.PushTime), a.PushedBy, a.ID); err != nil {
		return nil, err
	}
	return nil, db.putManifestTx(ctx, tx, a.ID, a.Manifest) // fills rows indexed before 006
}

// lockedRepo is the id of repo (created in project when absent), with its
// row locked for the transaction (PostgreSQL): writers of one repository
// queue there, and a delete that empties and removes the repository
// meanwhile is followed by a new row.
func (db *DB) lockedRepo(ctx context.Context, tx *sql.Tx, projectID int64, repo string, now time.Time) (int64, error) {
	for {
		repoID, err := db.ensureRepo(ctx, tx, projectID, repo, now)
		if err != nil || db.d.name != "postgres" {
			return repoID, err
		}
		var id int64
		err = tx.QueryRowContext(ctx, db.q(`SELECT id FROM repositories WHERE id = ? FOR UPDATE`), repoID).Scan(&id)
		if err == nil {
			db.txState(tx).locked[repoID] = true
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return repoID, err
		}
	}
}

// insertArtifact adds a new artifact with its references and blobs (in use
// from now for garbage collection, see useBlobsTx). It reports false,
// changing nothing, when the repository holds the digest already (a
// concurrent push of it committed first).
func (db *DB) insertArtifact(ctx context.Context, tx *sql.Tx, projectID int64, a *Artifact, revive bool) (bool, []SyncKey, error) {
	blobs := uniqueBlobs(a.Blobs)
	a.Size, a.ContentSize = 0, 0
	for _, b := range blobs {
		a.Size += b.Size
		if b.Digest != a.Digest {
			a.ContentSize += b.Size
		}
	}
	if a.ManifestSize > 0 && !hasBlob(blobs, a.Digest) {
		a.Size += a.ManifestSize
	}
	// An index weighs what its children weigh.
	childIDs := make([]sql.NullInt64, len(a.References))
	var relist []int64
	for i, ref := range a.References {
		var id, size, content int64
		err := tx.QueryRowContext(ctx, db.q(`SELECT id, size, content_size FROM artifacts WHERE repository_id = ? AND digest = ?`), a.RepositoryID, ref.ChildDigest).Scan(&id, &size, &content)
		if err == nil {
			childIDs[i] = sql.NullInt64{Int64: id, Valid: true}
			a.Size += size
			a.ContentSize += content
			relist = append(relist, id)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return false, nil, err
		}
	}
	h := db.hot(ctx, tx)
	err := h.QueryRow(`INSERT INTO artifacts (repository_id, digest, media_type, artifact_type, config_media_type,
		config_digest, manifest_size, size, content_size, os, arch, variant, subject_digest, annotations, extra, pushed_by, push_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (repository_id, digest) DO NOTHING RETURNING id`,
		a.RepositoryID, a.Digest, a.MediaType, a.ArtifactType, a.ConfigMediaType, a.ConfigDigest, a.ManifestSize, a.Size, a.ContentSize,
		a.OS, a.Arch, a.Variant, a.SubjectDigest, toJSON(a.Annotations), toJSON(a.Extra), a.PushedBy, millis(a.PushTime)).Scan(&a.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, err
	}
	if err := db.putManifestTx(ctx, tx, a.ID, a.Manifest); err != nil {
		return false, nil, err
	}
	for i, ref := range a.References {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO artifact_references (parent_id, child_digest, child_id, media_type, size, os, arch, variant, annotations)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (parent_id, child_digest) DO NOTHING`),
			a.ID, ref.ChildDigest, childIDs[i], ref.MediaType, ref.Size, ref.OS, ref.Arch, ref.Variant, toJSON(ref.Annotations)); err != nil {
			return false, nil, err
		}
		a.References[i].ParentID, a.References[i].ChildID = a.ID, childIDs[i].Int64
	}
	// Parents pushed before this child (possible with validation off) now find it.
	if _, err := h.Exec(`UPDATE artifact_references SET child_id = ? WHERE child_id IS NULL AND child_digest = ?
		AND parent_id IN (SELECT id FROM artifacts WHERE repository_id = ?)`, a.ID, a.Digest, a.RepositoryID); err != nil {
		return false, nil, err
	}
	// Inserted listed (and counted below); its children, and itself when a
	// parent came first, are listed no more.
	if err := db.relist(ctx, tx, append(relist, a.ID)...); err != nil {
		return false, nil, err
	}
	added, err := db.insertBlobs(ctx, tx, projectID, a.ID, blobs)
	if err != nil {
		return false, nil, err
	}
	if err := db.addUsage(ctx, tx, projectID, added); err != nil {
		return false, nil, err
	}
	if _, err = h.Exec(`UPDATE repositories SET updated_at = ?, artifact_count = artifact_count + 1, listed_count = listed_count + 1 WHERE id = ?`, millis(a.PushTime), a.RepositoryID); err != nil {
		return false, nil, err
	}
	keys, err := db.useBlobsTx(ctx, tx, a.Repository, a.Digest, blobs, revive)
	return err == nil, keys, err
}

func uniqueBlobs(in []Blob) []Blob {
	seen := map[string]bool{}
	var out []Blob
	for _, b := range in {
		if b.Digest == "" || seen[b.Digest] {
			continue
		}
		seen[b.Digest] = true
		out = append(out, b)
	}
	return out
}

func hasBlob(bs []Blob, d string) bool {
	for _, b := range bs {
		if b.Digest == d {
			return true
		}
	}
	return false
}

// NewBlobBytes returns how many bytes of blobs project does not hold yet:
// what a push of them would add to its storage used.
func (db *DB) NewBlobBytes(ctx context.Context, projectID int64, blobs []Blob) (int64, error) {
	var n int64
	for _, b := range uniqueBlobs(blobs) {
		var one int
		err := db.hot(ctx, db.sql).QueryRow(`SELECT 1 FROM project_blobs WHERE project_id = ? AND blob_id IN (SELECT id FROM blob_ids WHERE digest = ?)`, projectID, b.Digest).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			n += b.Size
		} else if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// DeleteArtifact removes an artifact, its tags and references, and releases
// its blobs from the project's storage used.
func (db *DB) DeleteArtifact(ctx context.Context, repoID int64, digest string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.lockRepos(ctx, tx, repoID); err != nil {
			return err
		}
		var id int64
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM artifacts WHERE repository_id = ? AND digest = ?`), repoID, digest).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("artifact %s: %w", digest, ErrNotFound)
		}
		if err != nil {
			return err
		}
		return db.deleteArtifactTx(ctx, tx, id, repoID)
	})
}

func (db *DB) deleteArtifactTx(ctx context.Context, tx *sql.Tx, id, repoID int64) error {
	return db.deleteArtifactsTx(ctx, tx, repoID, []int64{id})
}

// GetArtifact returns an artifact by digest with its tags, references and blobs.
func (db *DB) GetArtifact(ctx context.Context, repoID int64, digest string) (Artifact, error) {
	row := db.sql.QueryRowContext(ctx, db.q(`SELECT `+artifactCols+` FROM artifacts a JOIN repositories r ON r.id = a.repository_id
		WHERE a.repository_id = ? AND a.digest = ?`), repoID, digest)
	a, err := scanArtifact(row)
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("artifact %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return a, fmt.Errorf("metadata: get artifact: %w", err)
	}
	arts := []Artifact{a}
	if err := db.fillArtifacts(ctx, arts, true); err != nil {
		return a, err
	}
	return arts[0], nil
}

// ArtifactDigests lists every artifact digest of a repository (for check).
func (db *DB) ArtifactDigests(ctx context.Context, repoID int64) ([]string, error) {
	return db.strings(ctx, `SELECT digest FROM artifacts WHERE repository_id = ? ORDER BY digest`, repoID)
}

func (db *DB) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	return column[string](ctx, db.sql, db.q(query), args...)
}

// column runs a query selecting one column and returns its values.
func column[T any](ctx context.Context, q querier, query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// referrersAfter selects a subject's referrers after a digest. Its test
// that the subject is not empty is the condition of the referrers index,
// artifacts_subject_digest (a manifest with no subject is nobody's
// referrer): without it the index cannot be used.
const referrersAfter = "a.repository_id = ? AND a.subject_digest <> '' AND a.subject_digest = ? AND a.digest > ?"

// Referrers lists the artifacts of a repository whose subject is digest
// (optionally only those of one artifact type), in digest order after last,
// at most limit.
func (db *DB) Referrers(ctx context.Context, repoID int64, subject, artifactType, last string, limit int) ([]Artifact, error) {
	where, args := referrersAfter, []any{repoID, subject, last}
	if artifactType != "" {
		where += " AND (a.artifact_type = ? OR (a.artifact_type = '' AND a.config_media_type = ?))"
		args = append(args, artifactType, artifactType)
	}
	args = append(args, limit)
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+artifactCols+` FROM artifacts a JOIN repositories r ON r.id = a.repository_id
		WHERE `+where+` ORDER BY a.digest LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("metadata: referrers: %w", err)
	}
	defer rows.Close()
	var out []Artifact
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ReindexArtifact records a manifest found in storage: a new artifact is
// inserted as a push would; an existing one keeps its management data (who
// pushed and when, pulls) and only gets its manifest bytes corrected.
func (db *DB) ReindexArtifact(ctx context.Context, projectID int64, repo string, a Artifact) (Artifact, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		repoID, err := db.ensureRepo(ctx, tx, projectID, repo, time.Now())
		if err != nil {
			return err
		}
		a.RepositoryID, a.Repository = repoID, repo
		if err := db.lockRepos(ctx, tx, repoID); err != nil {
			return err
		}
		a.ID, err = db.artifactID(ctx, tx, repoID, a.Digest)
		if errors.Is(err, ErrNotFound) {
			if a.PushTime.IsZero() {
				a.PushTime = time.Now()
			}
			_, _, err = db.insertArtifact(ctx, tx, projectID, &a, true)
			return err
		}
		if err != nil {
			return err
		}
		return db.putManifestTx(ctx, tx, a.ID, a.Manifest)
	})
	if err != nil {
		return a, fmt.Errorf("metadata: reindex %s@%s: %w", repo, a.Digest, err)
	}
	return a, nil
}
