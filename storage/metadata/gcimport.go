package metadata

import (
	"context"
	"database/sql"
)

// ImportBlobs records blobs found in storage that the index does not know
// (a store from before garbage collection, or data a crash left behind),
// each with a review: whatever nothing uses goes after gc.delay. It
// returns how many were new.
func (db *DB) ImportBlobs(ctx context.Context, blobs []Blob) (int, error) {
	n := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, b := range blobs {
			res, err := db.hot(ctx, tx).Exec(`INSERT INTO blobs (digest, size, linked_at) VALUES (?, ?, 0) ON CONFLICT (digest) DO NOTHING`, b.Digest, b.Size)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				continue
			}
			n++
			if err := db.queueReview(ctx, tx, ReviewBlob, "", b.Digest); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// ImportLinks records repositories' links of blobs found in storage that
// the index does not know, each with a review. It returns how many were new.
func (db *DB) ImportLinks(ctx context.Context, links []SyncKey) (int, error) {
	n := 0
	err := db.tx(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, l := range links {
			res, err := db.hot(ctx, tx).Exec(`INSERT INTO repository_blobs (repository, digest, linked_at) VALUES (?, ?, 0)
				ON CONFLICT (repository, digest) DO NOTHING`, l.Repository, l.Name)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 0 {
				continue
			}
			n++
			if err := db.queueReview(ctx, tx, ReviewLink, l.Repository, l.Name); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
