package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ManifestDigest resolves a manifest reference of a repository in one
// indexed query: a tag to the digest it names now, or a digest to itself
// when the repository still holds that artifact. It is what a manifest GET
// asks the index, which the registry middleware writes before a push or
// delete answers, so every replica sees a moved tag or a deleted manifest
// at once. An unknown repository, tag or digest is ErrNotFound.
func (db *DB) ManifestDigest(ctx context.Context, repo, ref string, byDigest bool) (string, error) {
	query := `SELECT a.digest FROM repositories r JOIN tags t ON t.repository_id = r.id
		JOIN artifacts a ON a.id = t.artifact_id WHERE r.name = ? AND t.name = ?`
	if byDigest {
		query = `SELECT a.digest FROM repositories r JOIN artifacts a ON a.repository_id = r.id
			WHERE r.name = ? AND a.digest = ?`
	}
	var d string
	err := db.sql.QueryRowContext(ctx, db.q(query), repo, ref).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("manifest %s %s: %w", repo, ref, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("metadata: resolve manifest: %w", err)
	}
	return d, nil
}
