package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Kinds of digest alias: a repository links blobs and manifests separately.
const (
	AliasBlob     = "blob"
	AliasManifest = "manifest"
)

// putAlias records (or moves) an alias.
const putAlias = `INSERT INTO digest_aliases (repository, kind, alias, digest, created_at)
	VALUES (?, ?, ?, ?, ?) ON CONFLICT (repository, kind, alias) DO UPDATE SET digest = excluded.digest`

// PutDigestAlias records that repo holds the blob or manifest (kind) with
// the canonical digest under alias too. Recording it again is a no-op.
func (db *DB) PutDigestAlias(ctx context.Context, repo, kind, alias, digest string) error {
	_, err := db.sql.ExecContext(ctx, db.q(putAlias),
		repo, kind, alias, digest, millis(time.Now()))
	if err != nil {
		return fmt.Errorf("metadata: put digest alias %s: %w", alias, err)
	}
	return nil
}

// PutDigestAliasSync is PutDigestAlias and AddSync of key (the storage
// copy of the alias's link) in one transaction, so that a crash between the
// two cannot leave the alias recorded with no row to check its link by.
func (db *DB) PutDigestAliasSync(ctx context.Context, repo, kind, alias, digest, owner string, key SyncKey) ([]int64, error) {
	var ids []int64
	err := db.txShared(ctx, func(tx *sql.Tx) error {
		if _, err := db.hot(ctx, tx).Exec(putAlias,
			repo, kind, alias, digest, millis(time.Now())); err != nil {
			return err
		}
		var err error
		ids, err = db.addSyncTx(ctx, tx, owner, key)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: put digest alias %s: %w", alias, err)
	}
	return ids, nil
}

// DigestAliases lists the aliases under which repo holds the blob or
// manifest (kind) with the canonical digest, in byte order.
func (db *DB) DigestAliases(ctx context.Context, repo, kind, digest string) ([]string, error) {
	out, err := column[string](ctx, db.sql, db.q(`SELECT alias FROM digest_aliases
		WHERE repository = ? AND kind = ? AND digest = ? ORDER BY alias`), repo, kind, digest)
	if err != nil {
		return nil, fmt.Errorf("metadata: digest aliases of %s: %w", digest, err)
	}
	return out, nil
}

// DeleteDigestAliases forgets every alias of the blob or manifest (kind)
// with the canonical digest in repo.
func (db *DB) DeleteDigestAliases(ctx context.Context, repo, kind, digest string) error {
	_, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM digest_aliases WHERE repository = ? AND kind = ? AND digest = ?`),
		repo, kind, digest)
	if err != nil {
		return fmt.Errorf("metadata: delete digest aliases of %s: %w", digest, err)
	}
	return nil
}

// DeleteRepositoryDigestAliases forgets every alias in repo.
func (db *DB) DeleteRepositoryDigestAliases(ctx context.Context, repo string) error {
	_, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM digest_aliases WHERE repository = ?`), repo)
	if err != nil {
		return fmt.Errorf("metadata: delete digest aliases of %s: %w", repo, err)
	}
	return nil
}
