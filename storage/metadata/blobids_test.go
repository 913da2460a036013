package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

// blobIDs reads every digest's id.
func blobIDs(t *testing.T, db *DB) map[string]int64 {
	t.Helper()
	ids := map[string]int64{}
	rows, err := db.sql.QueryContext(context.Background(), `SELECT digest, id FROM blob_ids`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d string
		var id int64
		if err := rows.Scan(&d, &id); err != nil {
			t.Fatal(err)
		}
		ids[d] = id
	}
	return ids
}

// indexState is what the blob accounting says, by digest: each project's
// refs and size of it, and which artifacts use it.
type indexState struct {
	refs  map[string]string // "project digest": "refs size"
	users map[string]string // digest: artifact ids
}

func readIndexState(t *testing.T, db *DB) indexState {
	t.Helper()
	ctx := context.Background()
	s := indexState{refs: map[string]string{}, users: map[string]string{}}
	rows, err := db.sql.QueryContext(ctx, `SELECT p.project_id, b.digest, p.refs, p.size FROM project_blobs p JOIN blob_ids b ON b.id = p.blob_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var project, refs, size int64
		var d string
		if err := rows.Scan(&project, &d, &refs, &size); err != nil {
			t.Fatal(err)
		}
		s.refs[fmt.Sprint(project, " ", d)] = fmt.Sprint(refs, " ", size)
	}
	rows.Close()
	rows, err = db.sql.QueryContext(ctx, `SELECT b.digest, u.artifact_id FROM blob_users u JOIN blob_ids b ON b.id = u.blob_id ORDER BY b.digest, u.artifact_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var d string
		var a int64
		if err := rows.Scan(&d, &a); err != nil {
			t.Fatal(err)
		}
		s.users[d] += fmt.Sprint(a, " ")
	}
	rows.Close()
	return s
}

// artifactBlobIDsAgree fails t unless every artifact_blobs row carries its
// digest's id.
func artifactBlobIDsAgree(t *testing.T, db *DB) {
	t.Helper()
	var n int
	err := db.sql.QueryRowContext(context.Background(), `SELECT count(*) FROM artifact_blobs ab LEFT JOIN blob_ids b ON b.digest = ab.digest
		WHERE b.id IS NULL OR b.id <> ab.blob_id`).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("%d artifact_blobs rows without their digest's id (%v)", n, err)
	}
}

// A blob gets its id at its first push, in the order pushed, and keeps it:
// pushed again in another project, or after every artifact using it went.
func TestBlobIDsInPushOrder(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a := must[Project](t)(db.CreateProject(ctx, Project{Name: "ida"}))
		b := must[Project](t)(db.CreateProject(ctx, Project{Name: "idb"}))
		pushImage(t, db, a.ID, "ida/app", "sha256:id-m1", "v1", blob("sha256:id-z", 10), blob("sha256:id-a", 1))
		pushImage(t, db, a.ID, "ida/app", "sha256:id-m2", "v2", blob("sha256:id-z", 10), blob("sha256:id-b", 1))
		first := blobIDs(t, db)
		if first["sha256:id-m1"] >= first["sha256:id-m2"] || first["sha256:id-a"] >= first["sha256:id-b"] || first["sha256:id-z"] >= first["sha256:id-b"] {
			t.Errorf("ids not in the order pushed: %v", first)
		}
		pushImage(t, db, b.ID, "idb/app", "sha256:id-m3", "v3", blob("sha256:id-a", 1))
		app := must[Repository](t)(db.GetRepository(ctx, "ida/app"))
		if err := db.DeleteArtifact(ctx, app.ID, "sha256:id-m2"); err != nil {
			t.Fatal(err)
		}
		pushImage(t, db, a.ID, "ida/app", "sha256:id-m2", "v2", blob("sha256:id-z", 10), blob("sha256:id-b", 1))
		again := blobIDs(t, db)
		for d, id := range first {
			if again[d] != id {
				t.Errorf("%s: id %d, then %d", d, id, again[d])
			}
		}
		if len(again) != len(first)+1 {
			t.Errorf("ids %v after %v", again, first)
		}
		artifactBlobIDsAgree(t, db)
		if used := must[Project](t)(db.GetProject(ctx, "ida")).StorageUsed; used != 100+10+1+100+1 {
			t.Errorf("storage used %d", used)
		}
	})
}

// Pushes side by side that bring the same new blobs (in any order) get one
// id each and count them in their projects.
func TestBlobIDsGivenOnceUnderConcurrentPushes(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		const pushes = 8
		var projects []Project
		for i := range pushes {
			projects = append(projects, must[Project](t)(db.CreateProject(ctx, Project{Name: fmt.Sprintf("idc%d", i)})))
		}
		shared := []Blob{blob("sha256:idc-1", 1), blob("sha256:idc-2", 2), blob("sha256:idc-3", 3)}
		var wg sync.WaitGroup
		errs := make([]error, pushes)
		for i := range pushes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				blobs := slices.Clone(shared)
				if i%2 == 1 {
					slices.Reverse(blobs)
				}
				m := fmt.Sprintf("sha256:idc-m%d", i)
				_, errs[i] = db.PutArtifact(ctx, projects[i].ID, fmt.Sprintf("idc%d/app", i), Artifact{
					Digest: m, MediaType: "application/vnd.oci.image.manifest.v1+json", ManifestSize: 100,
					Blobs: append([]Blob{{Digest: m, Size: 100}}, blobs...),
				})
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("push %d: %v", i, err)
			}
		}
		if ids := blobIDs(t, db); len(ids) != 3+pushes {
			t.Errorf("%d ids, want %d: %v", len(ids), 3+pushes, ids)
		}
		for _, p := range projects {
			if used := must[Project](t)(db.GetProject(ctx, p.Name)).StorageUsed; used != 106 {
				t.Errorf("%s: storage used %d, want 106", p.Name, used)
			}
		}
	})
}

// Migrations 029–032 carry an index keyed by digest over: every project's
// refs and sizes and every blob user, with ids in the order of the first
// artifact that used each blob.
func TestBlobIDsMigration(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		a := must[Project](t)(db.CreateProject(ctx, Project{Name: "idm"}))
		b := must[Project](t)(db.CreateProject(ctx, Project{Name: "idn"}))
		pushImage(t, db, a.ID, "idm/app", "sha256:idm-m1", "v1", blob("sha256:idm-z", 10), blob("sha256:idm-c1", 1))
		pushImage(t, db, a.ID, "idm/app", "sha256:idm-m2", "v2", blob("sha256:idm-z", 10), blob("sha256:idm-c2", 1))
		pushImage(t, db, b.ID, "idn/app", "sha256:idm-m3", "v3", blob("sha256:idm-z", 10))
		want := readIndexState(t, db)
		// The index as it was before migration 029.
		old := []string{
			`CREATE TABLE project_blobs_old (project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
				digest TEXT NOT NULL, size BIGINT NOT NULL, refs BIGINT NOT NULL, PRIMARY KEY (project_id, digest))` + db.d.noRowid,
			`INSERT INTO project_blobs_old SELECT p.project_id, b.digest, p.size, p.refs FROM project_blobs p JOIN blob_ids b ON b.id = p.blob_id`,
			`DROP TABLE project_blobs`,
			`ALTER TABLE project_blobs_old RENAME TO project_blobs`,
		}
		if db.d.blobUsersTable {
			old = append(old,
				`CREATE TABLE blob_users_old (digest TEXT NOT NULL, artifact_id BIGINT NOT NULL, PRIMARY KEY (digest, artifact_id))`+db.d.noRowid,
				`INSERT INTO blob_users_old SELECT b.digest, u.artifact_id FROM blob_users u JOIN blob_ids b ON b.id = u.blob_id`,
				// a pair of an artifact gone, whose blob no artifact uses
				`INSERT INTO blob_users_old VALUES ('sha256:idm-gone', 999999)`,
				`DROP TABLE blob_users`,
				`ALTER TABLE blob_users_old RENAME TO blob_users`)
		} else {
			old = append(old, `DROP VIEW blob_users`, `DROP INDEX artifact_blobs_blob`, `CREATE INDEX artifact_blobs_digest ON artifact_blobs (digest)`,
				`CREATE VIEW blob_users AS SELECT digest, artifact_id FROM artifact_blobs`)
		}
		old = append(old, `ALTER TABLE artifact_blobs DROP COLUMN blob_id`, `DROP TABLE blob_ids`, `DELETE FROM schema_migrations WHERE version >= 29`)
		err := db.tx(ctx, func(tx *sql.Tx) error {
			for _, stmt := range old {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", strings.Fields(stmt)[:3], err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		artifactBlobIDsAgree(t, db)
		got := readIndexState(t, db)
		if !maps.Equal(got.refs, want.refs) || !maps.Equal(got.users, want.users) {
			t.Errorf("migrated %+v, was %+v", got, want)
		}
		ids := blobIDs(t, db)
		for _, pair := range [][2]string{{"m1", "m2"}, {"c1", "c2"}, {"z", "c2"}, {"m2", "m3"}} {
			before, after := "sha256:idm-"+pair[0], "sha256:idm-"+pair[1]
			if ids[before] >= ids[after] {
				t.Errorf("%s's id %d is not before %s's %d", before, ids[before], after, ids[after])
			}
		}
		// The index works on as before: a removal releases what it used.
		app := must[Repository](t)(db.GetRepository(ctx, "idm/app"))
		if err := db.DeleteArtifact(ctx, app.ID, "sha256:idm-m1"); err != nil {
			t.Fatal(err)
		}
		if used := must[Project](t)(db.GetProject(ctx, "idm")).StorageUsed; used != 100+10+1 {
			t.Errorf("storage used %d after the removal, want 111", used)
		}
		pushImage(t, db, b.ID, "idn/app", "sha256:idm-m4", "v4", blob("sha256:idm-c1", 1))
		if again := blobIDs(t, db); len(again) != len(ids)+1 || again["sha256:idm-c1"] != ids["sha256:idm-c1"] {
			t.Errorf("ids %v after a push of one new blob and one known, were %v", again, ids)
		}
	})
}

// On PostgreSQL the collector's questions read blob_users (a view of
// artifact_blobs) through an index: with sequential scans priced out, no
// plan step scans artifact_blobs (a row per blob of every manifest), and
// whether any manifest uses a blob is read through its blob id.
func TestBlobUsersPlansPostgres(t *testing.T) {
	db := openTestDB(t, "postgres")
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  string // an index the plan reads artifact_blobs through
	}{
		{"blob used", `SELECT ` + usedByArtifact, []any{"sha256:x"}, "artifact_blobs_blob"},
		// by the repository's artifacts, or by the blob
		{"blob used in a repository", `SELECT ` + usedInRepository, []any{"p/r", "sha256:x"}, "on artifact_blobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			conn, err := db.sql.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, `SET enable_seqscan = off`); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(ctx, `RESET enable_seqscan`)
			rows, err := conn.QueryContext(ctx, `EXPLAIN `+db.q(tc.query), tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			rows.Close()
			text := strings.Join(plan, "\n")
			if strings.Contains(text, "Seq Scan on artifact_blobs") || !strings.Contains(text, tc.want) {
				t.Errorf("artifact_blobs scanned, or not read through %q:\n%s", tc.want, text)
			}
		})
	}
}
