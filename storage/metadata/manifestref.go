package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ManifestResolver resolves manifest references with statements prepared
// once, for the hot manifest path.
type ManifestResolver struct {
	byTag, byDigest *sql.Stmt
}

// ManifestResolver prepares the two lookups of ManifestDigest.
func (db *DB) ManifestResolver(ctx context.Context) (*ManifestResolver, error) {
	byTag, err := db.sql.PrepareContext(ctx, db.q(`SELECT a.digest FROM repositories r
		JOIN tags t ON t.repository_id = r.id JOIN artifacts a ON a.id = t.artifact_id
		WHERE r.name = ? AND t.name = ?`))
	if err != nil {
		return nil, fmt.Errorf("metadata: prepare manifest lookup: %w", err)
	}
	byDigest, err := db.sql.PrepareContext(ctx, db.q(`SELECT a.digest FROM repositories r
		JOIN artifacts a ON a.repository_id = r.id WHERE r.name = ? AND a.digest = ?`))
	if err != nil {
		byTag.Close()
		return nil, fmt.Errorf("metadata: prepare manifest lookup: %w", err)
	}
	return &ManifestResolver{byTag: byTag, byDigest: byDigest}, nil
}

// ManifestDigest resolves a manifest reference of a repository in one
// indexed query: a tag to the digest it names now, or a digest to itself
// when the repository still holds that artifact. It is what a manifest GET
// asks the index, which the registry middleware writes before a push or
// delete answers, so every replica sees a moved tag or a deleted manifest
// at once. An unknown repository, tag or digest is ErrNotFound.
func (m *ManifestResolver) ManifestDigest(ctx context.Context, repo, ref string, byDigest bool) (string, error) {
	stmt := m.byTag
	if byDigest {
		stmt = m.byDigest
	}
	var d string
	err := stmt.QueryRowContext(ctx, repo, ref).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("manifest %s %s: %w", repo, ref, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("metadata: resolve manifest: %w", err)
	}
	return d, nil
}

// Close releases the prepared statements.
func (m *ManifestResolver) Close() error {
	return errors.Join(m.byTag.Close(), m.byDigest.Close())
}
