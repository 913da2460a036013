package metadata

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// blob_users (migrations 025, 030) holds which artifacts use a blob, keyed
// by the blob's id (blob_ids): what the collector asks before it deletes a
// blob or a repository's link of one. A push adds its artifact's pairs with its
// artifact_blobs rows; a removal takes them out in the same transaction,
// or, with DeferBlobReleases, logs them to blob_user_releases for the
// fold, which takes them out in key order. A
// pair whose artifact is gone counts for nothing meanwhile: every query of
// blob_users joins artifacts.
//
// That is SQLite's. On PostgreSQL blob_users is a view of artifact_blobs
// (migrations 027, 033; dialect.blobUsersTable): its pairs come and go with
// their artifacts, and the functions below have nothing to write.

// blobUser is one pair: artifact uses the blob digest (whose id is blob,
// once known).
type blobUser struct {
	digest   string
	artifact int64
	blob     int64
}

func compareBlobUsers(a, b blobUser) int {
	return cmp.Or(strings.Compare(a.digest, b.digest), cmp.Compare(a.artifact, b.artifact))
}

func compareBlobUserIDs(a, b blobUser) int {
	return cmp.Or(cmp.Compare(a.blob, b.blob), cmp.Compare(a.artifact, b.artifact))
}

// pow2Chunks calls f on items in chunks of at most 256, each a power of
// two long: a multi-row statement then has a handful of texts, each
// prepared once (see padIn).
func pow2Chunks[T any](items []T, f func([]T) error) error {
	for len(items) > 0 {
		n := 256
		for n > len(items) {
			n /= 2
		}
		if err := f(items[:n]); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// insertBlobUsersTx records that artifact uses blobs (ids: their ids).
func (db *DB) insertBlobUsersTx(ctx context.Context, tx *sql.Tx, artifact int64, blobs []Blob, ids map[string]int64) error {
	if !db.d.blobUsersTable {
		return nil
	}
	if len(blobs) == 0 {
		return nil
	}
	args := make([]any, 0, 2*len(blobs))
	for _, b := range blobs {
		args = append(args, ids[b.Digest], artifact)
	}
	rows := strings.TrimSuffix(strings.Repeat("(?, ?),", len(blobs)), ",")
	_, err := tx.ExecContext(ctx, db.q(`INSERT INTO blob_users (blob_id, artifact_id) VALUES `+rows), args...)
	return err
}

// releaseBlobUsersTx takes pairs out of blob_users, or, with
// DeferBlobReleases, logs them for the fold.
func (db *DB) releaseBlobUsersTx(ctx context.Context, tx *sql.Tx, pairs []blobUser) error {
	if !db.d.blobUsersTable {
		return nil
	}
	if releasesDeferred(ctx) {
		slices.SortFunc(pairs, compareBlobUsers)
		return pow2Chunks(pairs, func(c []blobUser) error {
			_, err := db.hot(ctx, tx).Exec(`INSERT INTO blob_user_releases (digest, artifact_id) VALUES `+pairValues(len(c)), pairArgs(c)...)
			if err != nil {
				return fmt.Errorf("metadata: log blob users: %w", err)
			}
			return nil
		})
	}
	return db.dropBlobUsersTx(ctx, tx, pairs)
}

// dropBlobUsersTx deletes pairs from blob_users (those whose blob id is
// not known yet are looked up; a digest without one has no pairs).
func (db *DB) dropBlobUsersTx(ctx context.Context, tx *sql.Tx, pairs []blobUser) error {
	if !db.d.blobUsersTable {
		return nil
	}
	var unknown []string
	for _, p := range pairs {
		if p.blob == 0 {
			unknown = append(unknown, p.digest)
		}
	}
	if len(unknown) > 0 {
		ids, err := db.blobIDsTx(ctx, tx, unknown)
		if err != nil {
			return err
		}
		known := make([]blobUser, 0, len(pairs))
		for _, p := range pairs {
			if p.blob == 0 {
				p.blob = ids[p.digest]
			}
			if p.blob != 0 {
				known = append(known, p)
			}
		}
		pairs = known
	} else {
		pairs = slices.Clone(pairs)
	}
	slices.SortFunc(pairs, compareBlobUserIDs) // one lock order; neighbouring keys together
	return pow2Chunks(pairs, func(c []blobUser) error {
		args := make([]any, 0, 2*len(c))
		for _, p := range c {
			args = append(args, p.blob, p.artifact)
		}
		_, err := db.hot(ctx, tx).Exec(dropBlobUsers(len(c)), args...)
		return err
	})
}

// dropBlobUsers is the statement that deletes n pairs (blob id, artifact
// id; SQLite only).
func dropBlobUsers(n int) string {
	return `DELETE FROM blob_users WHERE (blob_id, artifact_id) IN (VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?),", n), ",") + `)`
}

// pairValues is n rows of a VALUES list of (digest, artifact id); the cast
// types the id on PostgreSQL, where a VALUES list's parameters are text.
func pairValues(n int) string {
	return strings.TrimSuffix(strings.Repeat("(?, CAST(? AS BIGINT)),", n), ",")
}

func pairArgs(pairs []blobUser) []any {
	args := make([]any, 0, 2*len(pairs))
	for _, p := range pairs {
		args = append(args, p.digest, p.artifact)
	}
	return args
}

// dropProjectBlobUsersTx deletes the pairs of every artifact of a project
// (before the project goes, its artifacts with it by foreign key).
func (db *DB) dropProjectBlobUsersTx(ctx context.Context, tx *sql.Tx, projectID int64) error {
	if !db.d.blobUsersTable {
		return nil
	}
	_, err := tx.ExecContext(ctx, db.q(dropProjectBlobUsers), projectID)
	return err
}

const dropProjectBlobUsers = `DELETE FROM blob_users WHERE (blob_id, artifact_id) IN (
	SELECT ab.blob_id, ab.artifact_id FROM artifact_blobs ab JOIN artifacts a ON a.id = ab.artifact_id
	JOIN repositories r ON r.id = a.repository_id WHERE r.project_id = ?)`
