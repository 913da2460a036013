package retention_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// bigProject is what the scale benchmark seeds: repos repositories of
// tagsPer tags each, every tag on a manifest of its own that uses its own
// manifest and config blobs and a layer its repository shares, as a CI
// that pushes every build would leave. Push times increase with the tag
// number: tag t%07d of a repository is its (tagsPer-t)-th newest.
type bigProject struct {
	name           string
	repos, tagsPer int
}

func (p bigProject) repo(r int) string { return fmt.Sprintf("%s/svc%03d", p.name, r) }

func digestOf(parts ...any) string {
	sum := sha256.Sum256([]byte(fmt.Sprint(parts...)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// seedIndex inserts the project into an index that Open has migrated, in
// multi-row INSERTs (through PutArtifact a million tags would take an
// hour), filling what pushes fill: artifacts with their blobs, the
// project's blob accounting, tags, counts.
func seedIndex(t *testing.T, dsn string, p bigProject) {
	ctx := context.Background()
	db, err := metadata.Open(ctx, dsn, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	db.Close() // migrated
	pg := strings.HasPrefix(dsn, "postgres")
	var raw *sql.DB
	if pg {
		raw, err = sql.Open("pgx", dsn)
	} else {
		raw, err = sql.Open("sqlite", "file:"+dsn+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	q := func(s string) string {
		if !pg {
			return s
		}
		var b strings.Builder
		n := 0
		for _, c := range s {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(c)
		}
		return b.String()
	}
	base := time.Now().Add(-365 * 24 * time.Hour).UnixMilli()
	var projectID int64
	if err := raw.QueryRowContext(ctx, q(`INSERT INTO projects (name, created_at, updated_at) VALUES (?, ?, ?) RETURNING id`), p.name, base, base).Scan(&projectID); err != nil {
		t.Fatal(err)
	}
	insert := func(tx *sql.Tx, head string, cols int, rows [][]any) {
		for len(rows) > 0 {
			n := min(len(rows), 4000/cols)
			var b strings.Builder
			b.WriteString(head + " VALUES ")
			args := make([]any, 0, n*cols)
			for i, r := range rows[:n] {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")")
				args = append(args, r...)
			}
			if _, err := tx.ExecContext(ctx, q(b.String()), args...); err != nil {
				t.Fatalf("%s: %v", head, err)
			}
			rows = rows[n:]
		}
	}
	for r := range p.repos {
		repo := p.repo(r)
		tx, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var repoID int64
		if err := tx.QueryRowContext(ctx, q(`INSERT INTO repositories (project_id, name, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id`),
			projectID, repo, base, base).Scan(&repoID); err != nil {
			t.Fatal(err)
		}
		var arts, blobs, tags, pblobs [][]any
		// Artifact ids are assigned in order: read the first one back.
		layer := digestOf(repo, "layer")
		pblobs = append(pblobs, []any{projectID, layer, int64(30 << 20), int64(p.tagsPer)})
		for i := range p.tagsPer {
			at := base + int64(r)*int64(p.tagsPer)*1000 + int64(i)*1000
			size := int64(30<<20 + 1500)
			arts = append(arts, []any{repoID, digestOf(repo, i, "manifest"), "application/vnd.oci.image.manifest.v1+json", int64(500), size, size, at})
		}
		insert(tx, `INSERT INTO artifacts (repository_id, digest, media_type, manifest_size, size, content_size, push_time)`, 7, arts)
		var first int64
		if err := tx.QueryRowContext(ctx, q(`SELECT min(id) FROM artifacts WHERE repository_id = ?`), repoID).Scan(&first); err != nil {
			t.Fatal(err)
		}
		for i := range p.tagsPer {
			id, at := first+int64(i), arts[i][6]
			m, c := digestOf(repo, i, "manifest"), digestOf(repo, i, "config")
			blobs = append(blobs, []any{id, m, int64(500), "application/vnd.oci.image.manifest.v1+json", nil},
				[]any{id, c, int64(1000), "application/vnd.oci.image.config.v1+json", nil},
				[]any{id, layer, int64(30 << 20), "application/vnd.oci.image.layer.v1.tar+gzip", nil}) // blob ids below
			pblobs = append(pblobs, []any{projectID, m, int64(500), int64(1)}, []any{projectID, c, int64(1000), int64(1)})
			tags = append(tags, []any{repoID, id, fmt.Sprintf("t%07d", i), at, at})
		}
		// Blob ids in the order pushed (the layer with the first tag).
		var lastID int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM blob_ids`).Scan(&lastID); err != nil {
			t.Fatal(err)
		}
		digests := make([][]any, len(pblobs))
		for i, b := range pblobs {
			digests[i] = b[1:2]
		}
		insert(tx, `INSERT INTO blob_ids (digest)`, 1, digests)
		ids := map[string]int64{}
		rows, err := tx.QueryContext(ctx, q(`SELECT digest, id FROM blob_ids WHERE id > ?`), lastID)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var d string
			var id int64
			if err := rows.Scan(&d, &id); err != nil {
				t.Fatal(err)
			}
			ids[d] = id
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		for _, b := range pblobs {
			b[1] = ids[b[1].(string)]
		}
		for _, b := range blobs {
			b[4] = ids[b[1].(string)]
		}
		insert(tx, `INSERT INTO artifact_blobs (artifact_id, digest, size, media_type, blob_id)`, 5, blobs)
		if !pg { // on PostgreSQL blob_users is a view of artifact_blobs (migrations 027, 033)
			if _, err := tx.ExecContext(ctx, q(`INSERT INTO blob_users (blob_id, artifact_id)
				SELECT blob_id, artifact_id FROM artifact_blobs WHERE artifact_id >= ?`), first); err != nil {
				t.Fatal(err)
			}
		}
		insert(tx, `INSERT INTO project_blobs (project_id, blob_id, size, refs)`, 4, pblobs)
		insert(tx, `INSERT INTO tags (repository_id, artifact_id, name, push_time, created_at)`, 5, tags)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{
		`UPDATE projects SET storage_used = (SELECT coalesce(sum(size), 0) FROM project_blobs WHERE project_id = projects.id)`,
		`UPDATE repositories SET artifact_count = (SELECT count(*) FROM artifacts a WHERE a.repository_id = repositories.id),
			tag_count = (SELECT count(*) FROM tags t WHERE t.repository_id = repositories.id)`,
	} {
		if _, err := raw.ExecContext(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if pg {
		if _, err := raw.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			t.Fatal(err)
		}
	}
}

// seedStorage writes what berth keeps for each tag on the filesystem: the
// tag's current link (not distribution's per-tag index, which berth does
// not write) and the manifest's revision link, so a run removes real files
// as it would in production.
func seedStorage(t *testing.T, root string, p bigProject) {
	link := func(path, content string) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, []byte(content), 0o644)
	}
	var wg sync.WaitGroup
	errs := make(chan error, p.repos)
	sem := make(chan struct{}, 8)
	for r := range p.repos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			repo := p.repo(r)
			dir := filepath.Join(root, "docker/registry/v2/repositories", repo, "_manifests")
			for i := range p.tagsPer {
				d := digestOf(repo, i, "manifest")
				hexd := strings.TrimPrefix(d, "sha256:")
				tag := filepath.Join(dir, "tags", fmt.Sprintf("t%07d", i))
				for _, l := range [][2]string{
					{filepath.Join(tag, "current/link"), d}, // what berth writes of a tag
					{filepath.Join(dir, "revisions/sha256", hexd, "link"), d},
				} {
					if err := link(l[0], l[1]); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
