package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Manifest bytes kept in the index (table artifact_manifests, migration
// 006), so a page of a list that shows them reads them in one query.

// scanArtifactManifest scans artifactCols followed by the manifest bytes.
func scanArtifactManifest(sc interface{ Scan(...any) error }) (Artifact, error) {
	var payload []byte
	a, err := scanArtifact(scanPlus{sc, &payload})
	if err != nil {
		return a, err
	}
	if len(payload) > 0 {
		a.Manifest = payload
	}
	return a, nil
}

// scanPlus appends destinations to a Scan call.
type scanPlus struct {
	sc   interface{ Scan(...any) error }
	more any
}

func (s scanPlus) Scan(dest ...any) error { return s.sc.Scan(append(dest, s.more)...) }

// putManifestTx stores an artifact's manifest bytes, as pushed or read from
// storage by reindex. The bytes of a digest never change, so a row that
// differs was damaged: it is replaced (nothing is written when equal). An
// empty payload stores nothing.
func (db *DB) putManifestTx(ctx context.Context, q querier, artifactID int64, payload []byte) error {
	if len(payload) == 0 {
		return nil
	}
	_, err := db.hot(ctx, q).Exec(`INSERT INTO artifact_manifests (artifact_id, payload) VALUES (?, ?)
		ON CONFLICT (artifact_id) DO UPDATE SET payload = excluded.payload WHERE artifact_manifests.payload <> excluded.payload`, artifactID, payload)
	if err != nil {
		return fmt.Errorf("metadata: manifest bytes: %w", err)
	}
	return nil
}

// PutManifest fills in the manifest bytes of an artifact indexed before the
// index kept them. Callers pass bytes they checked against the digest. An
// artifact the repository does not hold (deleted meanwhile) is no error.
func (db *DB) PutManifest(ctx context.Context, repoID int64, digest string, payload []byte) error {
	if len(payload) == 0 {
		return nil
	}
	_, err := db.exec(ctx, `INSERT INTO artifact_manifests (artifact_id, payload)
		SELECT id, ? FROM artifacts WHERE repository_id = ? AND digest = ?
		ON CONFLICT (artifact_id) DO NOTHING`, payload, repoID, digest)
	if err != nil {
		return fmt.Errorf("metadata: put manifest %s: %w", digest, err)
	}
	return nil
}

// EachManifest calls fn with every artifact digest of a repository whose
// manifest bytes the index holds, one row at a time (for check).
func (db *DB) EachManifest(ctx context.Context, repoID int64, fn func(digest string, payload []byte) error) error {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT a.digest, m.payload FROM artifacts a
		JOIN artifact_manifests m ON m.artifact_id = a.id WHERE a.repository_id = ? ORDER BY a.digest`), repoID)
	if err != nil {
		return fmt.Errorf("metadata: manifests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		var payload []byte
		if err := rows.Scan(&d, &payload); err != nil {
			return fmt.Errorf("metadata: manifests: %w", err)
		}
		if err := fn(d, payload); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ManifestBytes returns the media type and bytes of a manifest of repo by
// its digest (ErrNotFound when the repository does not hold it; empty bytes
// when the index does not keep them, see migration 006).
func (db *DB) ManifestBytes(ctx context.Context, repo, digest string) (string, []byte, error) {
	var mt string
	var payload []byte
	err := db.hot(ctx, db.sql).QueryRow(`SELECT a.media_type, m.payload FROM artifacts a
		JOIN repositories r ON r.id = a.repository_id LEFT JOIN artifact_manifests m ON m.artifact_id = a.id
		WHERE r.name = ? AND a.digest = ?`, repo, digest).Scan(&mt, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("manifest %s@%s: %w", repo, digest, ErrNotFound)
	}
	return mt, payload, err
}
