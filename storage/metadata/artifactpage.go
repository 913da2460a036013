package metadata

import (
	"context"
	"fmt"
)

// Pages of artifacts for the management lists: the page's rows in one query,
// then their tags and references (fillArtifacts) or the artifacts behind a
// page of tags (ArtifactsByDigests) in one query each, never one per row.

// ListArtifacts returns one page of a repository's artifacts (newest first
// by default) with their tags and references, and the total count. Filter
// matches a substring of the digest or of a tag.
func (db *DB) ListArtifacts(ctx context.Context, repoID int64, opt ListOptions) ([]Artifact, int64, error) {
	where, args := "a.repository_id = ?", []any{repoID}
	if opt.Filter != "" {
		where += " AND (" + db.d.contains("a.digest") + " OR EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id AND " + db.d.contains("t.name") + "))"
		args = append(args, opt.Filter, opt.Filter)
	}
	var total int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM artifacts a WHERE `+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("metadata: count artifacts: %w", err)
	}
	if opt.Sort == "" {
		opt.Sort, opt.Desc = "push_time", true
	}
	order := orderBy(opt, map[string]string{"name": "a.digest", "push_time": "a.push_time", "pull_time": "a.pull_time", "size": "a.size"}, "a.id")
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+artifactCols+` FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE `+where+order+limit(opt)), args...)
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
	return out, total, db.fillArtifacts(ctx, out, false)
}

// fillArtifacts loads tags and references (and blobs when asked) for a page
// of artifacts in one query each.
func (db *DB) fillArtifacts(ctx context.Context, arts []Artifact, withBlobs bool) error {
	if len(arts) == 0 {
		return nil
	}
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
