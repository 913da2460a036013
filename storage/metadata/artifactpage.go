package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Pages of artifacts for the management lists: the page's rows in one query,
// then their tags and references (fillArtifacts) or the artifacts behind a
// page of tags (ArtifactsByDigests) in one query each, never one per row.

// ListArtifacts returns one page of a repository's listed artifacts (the
// children of an index are its references, not artifacts of their own,
// unless tagged: see listed.go), newest first by default, with their tags
// and references, and the total count. Filter matches a substring of the
// digest or of a tag.
func (db *DB) ListArtifacts(ctx context.Context, repoID int64, opt ListOptions) ([]Artifact, int64, error) {
	where, args := "a.repository_id = ? AND a.listed = ?", []any{repoID, true}
	if opt.Filter != "" {
		where += " AND (" + db.d.contains("a.digest") + " OR EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id AND " + db.d.contains("t.name") + "))"
		args = append(args, opt.Filter, opt.Filter)
	}
	// Without a filter the total is the repository's counter, not a count.
	var total int64
	countQuery, countArgs := `SELECT count(*) FROM artifacts a WHERE `+where, args
	if opt.Filter == "" {
		countQuery, countArgs = `SELECT listed_count FROM repositories WHERE id = ?`, args[:1]
	}
	if err := db.sql.QueryRowContext(ctx, db.q(countQuery), countArgs...).Scan(&total); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("metadata: count artifacts: %w", err)
	}
	if opt.Sort == "" {
		opt.Sort, opt.Desc = "push_time", true
	}
	// Deferred join (as ListTags): the subquery walks the (repository_id,
	// listed, push_time, id) index for the page's ids alone, from whichever end
	// of the list is nearer; only the page's rows are read and joined.
	page, flipped := nearerEnd(opt, total)
	order := orderBy(page, map[string]string{"name": "a.digest", "push_time": "a.push_time", "pull_time": "a.pull_time", "size": "a.size"}, "a.id")
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+artifactCols+` FROM artifacts a JOIN repositories r ON r.id = a.repository_id
		WHERE a.id IN (SELECT a.id FROM artifacts a WHERE `+where+order+limit(page)+`)`+order), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: list artifacts: %w", err)
	}
	var out []Artifact
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if flipped {
		slices.Reverse(out)
	}
	return out, total, db.fillArtifacts(ctx, out, false)
}

// nearerEnd turns a page in the second half of a list of total rows into
// the same rows counted from the other end, in the opposite order (flipped:
// the caller reverses them): OFFSET skips rows one by one, so the deepest
// page walks half the index, not all of it. Orders end in a unique
// tiebreaker, so the reverse order is exactly the reverse. total is read
// apart from the page, as consecutive pages are: a write in between shifts
// the page by as much as it shifts the next one.
func nearerEnd(opt ListOptions, total int64) (ListOptions, bool) {
	off := int64(opt.Offset)
	if opt.Limit <= 0 || off <= total/2 || off >= total {
		return opt, false
	}
	end := min(off+int64(opt.Limit), total)
	opt.Desc = !opt.Desc
	opt.Offset, opt.Limit = int(total-end), int(end-off)
	return opt, true
}

// fillArtifacts loads tags and references (and blobs when asked) for a page
// of artifacts in one query each (per maxInArgs artifacts).
func (db *DB) fillArtifacts(ctx context.Context, arts []Artifact, withBlobs bool) error {
	for start := 0; start < len(arts); start += maxInArgs {
		if err := db.fillChunk(ctx, arts[start:min(start+maxInArgs, len(arts))], withBlobs); err != nil {
			return err
		}
	}
	return nil
}

// fillChunk is fillArtifacts for at most maxInArgs artifacts.
func (db *DB) fillChunk(ctx context.Context, arts []Artifact, withBlobs bool) error {
	idx := map[int64]int{}
	ids := make([]any, len(arts))
	for i, a := range arts {
		idx[a.ID] = i
		ids[i] = a.ID
		arts[i].Tags, arts[i].References = []Tag{}, []Reference{}
	}
	in := "(" + placeholders(len(ids)) + ")"
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+tagCols+` FROM tags t JOIN artifacts a ON a.id = t.artifact_id WHERE t.artifact_id IN `+in+` ORDER BY t.name`), ids...)
	if err != nil {
		return fmt.Errorf("metadata: artifact tags: %w", err)
	}
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			rows.Close()
			return err
		}
		i := idx[t.ArtifactID]
		arts[i].Tags = append(arts[i].Tags, t)
	}
	rows.Close()
	rows, err = db.sql.QueryContext(ctx, db.q(`SELECT parent_id, COALESCE(child_id, 0), child_digest, media_type, size, os, arch, variant, annotations
		FROM artifact_references WHERE parent_id IN `+in+` ORDER BY parent_id, arch, os, variant, child_digest`), ids...)
	if err != nil {
		return fmt.Errorf("metadata: artifact references: %w", err)
	}
	for rows.Next() {
		var r Reference
		var ann string
		if err := rows.Scan(&r.ParentID, &r.ChildID, &r.ChildDigest, &r.MediaType, &r.Size, &r.OS, &r.Arch, &r.Variant, &ann); err != nil {
			rows.Close()
			return err
		}
		r.Annotations = strMap(ann)
		i := idx[r.ParentID]
		arts[i].References = append(arts[i].References, r)
	}
	rows.Close()
	if !withBlobs {
		return rows.Err()
	}
	rows, err = db.sql.QueryContext(ctx, db.q(`SELECT artifact_id, digest, size, media_type FROM artifact_blobs WHERE artifact_id IN `+in), ids...)
	if err != nil {
		return fmt.Errorf("metadata: artifact blobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var b Blob
		if err := rows.Scan(&id, &b.Digest, &b.Size, &b.MediaType); err != nil {
			return err
		}
		i := idx[id]
		arts[i].Blobs = append(arts[i].Blobs, b)
	}
	return rows.Err()
}

// maxInArgs bounds the placeholders of one IN (...) list; longer lists are
// queried in chunks (pages are far shorter).
const maxInArgs = 500

// ArtifactsByDigests returns the artifacts of a repository with these
// digests, keyed by digest, in one query per maxInArgs digests; digests the
// repository does not hold are absent. Tags, references and blobs are not
// filled. withManifest also reads each manifest's bytes into Manifest (nil
// for an artifact indexed before migration 006 and not refilled yet).
func (db *DB) ArtifactsByDigests(ctx context.Context, repoID int64, digests []string, withManifest bool) (map[string]Artifact, error) {
	out := make(map[string]Artifact, len(digests))
	uniq := make([]string, 0, len(digests))
	seen := make(map[string]bool, len(digests))
	for _, d := range digests {
		if !seen[d] {
			seen[d] = true
			uniq = append(uniq, d)
		}
	}
	cols, join := artifactCols, ""
	if withManifest {
		cols += ", m.payload"
		join = " LEFT JOIN artifact_manifests m ON m.artifact_id = a.id"
	}
	for start := 0; start < len(uniq); start += maxInArgs {
		chunk := uniq[start:min(start+maxInArgs, len(uniq))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, repoID)
		for _, d := range chunk {
			args = append(args, d)
		}
		rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+cols+` FROM artifacts a JOIN repositories r ON r.id = a.repository_id`+join+`
			WHERE a.repository_id = ? AND a.digest IN (`+placeholders(len(chunk))+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("metadata: artifacts by digest: %w", err)
		}
		for rows.Next() {
			var a Artifact
			if withManifest {
				a, err = scanArtifactManifest(rows)
			} else {
				a, err = scanArtifact(rows)
			}
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("metadata: artifacts by digest: %w", err)
			}
			out[a.Digest] = a
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("metadata: artifacts by digest: %w", err)
		}
	}
	return out, nil
}
