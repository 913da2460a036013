package metadata

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
)

// insertBlobs records an artifact's blobs (unique) and counts them in the
// project, in one statement each for all of them, and returns the bytes the
// project did not hold before.
func (db *DB) insertBlobs(ctx context.Context, tx *sql.Tx, projectID, artifactID int64, blobs []Blob) (int64, error) {
	const batch = 500 // well under both databases' limits on bound parameters
	var added int64
	for len(blobs) > batch {
		n, err := db.insertBlobs(ctx, tx, projectID, artifactID, blobs[:batch])
		if err != nil {
			return 0, err
		}
		added, blobs = added+n, blobs[batch:]
	}
	if len(blobs) == 0 {
		return added, nil
	}
	digests := make([]string, len(blobs))
	for i, b := range blobs {
		digests[i] = b.Digest
	}
	ids, err := db.giveBlobIDsTx(ctx, tx, digests)
	if err != nil {
		return 0, err
	}
	rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", len(blobs)), ",")
	args := make([]any, 0, 5*len(blobs))
	for _, b := range blobs {
		args = append(args, artifactID, b.Digest, b.Size, b.MediaType, ids[b.Digest])
	}
	if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO artifact_blobs (artifact_id, digest, size, media_type, blob_id) VALUES `+rows), args...); err != nil {
		return 0, err
	}
	if err := db.insertBlobUsersTx(ctx, tx, artifactID, blobs, ids); err != nil {
		return 0, err
	}
	rows = strings.TrimSuffix(strings.Repeat("(?, ?, ?, 1),", len(blobs)), ",")
	args = args[:0]
	// The project's rows in key order (each batch), as releases lock them
	// (applyReleasesTx): writers sharing blobs never wait in a circle.
	for _, b := range slices.SortedFunc(slices.Values(blobs), func(a, b Blob) int { return cmp.Compare(ids[a.Digest], ids[b.Digest]) }) {
		args = append(args, projectID, ids[b.Digest], b.Size)
	}
	res, err := tx.QueryContext(ctx, db.q(`INSERT INTO project_blobs (project_id, blob_id, size, refs) VALUES `+rows+`
		ON CONFLICT (project_id, blob_id) DO UPDATE SET refs = project_blobs.refs + 1 RETURNING refs, size`), args...)
	if err != nil {
		return 0, err
	}
	defer res.Close()
	for res.Next() {
		var refs, size int64
		if err := res.Scan(&refs, &size); err != nil {
			return 0, err
		}
		if refs == 1 {
			added += size
		}
	}
	return added, res.Err()
}
