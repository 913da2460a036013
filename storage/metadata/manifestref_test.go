package metadata

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestDataVersion checks that SQLite's data version moves on every commit,
// through this DB's pool or through a second pool on the same file (as a
// second process would), and only then; the resolver answers after a move.
func TestDataVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	db, err := Open(ctx, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := Open(ctx, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	p := must[Project](t)(db.CreateProject(ctx, Project{Name: "library", Public: true}))
	a := must[Artifact](t)(db.PutArtifact(ctx, p.ID, "library/x", Artifact{Digest: "sha256:aa", MediaType: "m"}))
	must[Artifact](t)(db.PutArtifact(ctx, p.ID, "library/x", Artifact{Digest: "sha256:bb", MediaType: "m"}))
	if err := db.PutTag(ctx, a.RepositoryID, "v1", "sha256:aa", a.PushTime); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"wal-index header", "PRAGMA data_version"} {
		t.Run(mode, func(t *testing.T) {
			testDataVersion(t, db, other, a, mode == "PRAGMA data_version")
		})
	}
}

func testDataVersion(t *testing.T, db, other *DB, a Artifact, pragmaOnly bool) {
	ctx := context.Background()
	r, err := db.ManifestResolver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	if r.version.shm == nil {
		t.Fatal("the WAL-index header is not read: every check costs a read transaction")
	}
	if pragmaOnly {
		r.version.shm.Close()
		r.version.shm = nil
	}
	version := func() Version {
		t.Helper()
		v, ok, err := r.DataVersion(ctx)
		if err != nil || !ok {
			t.Fatalf("DataVersion: %v %v", ok, err)
		}
		return v
	}
	for _, c := range []struct {
		name    string
		write   func() error
		changed bool
		want    string
	}{
		{"no write", func() error { return nil }, false, "sha256:aa"},
		{"read only", func() error { _, err := db.GetTag(ctx, a.RepositoryID, "v1"); return err }, false, "sha256:aa"},
		{"tag moved through this pool", func() error { return db.PutTag(ctx, a.RepositoryID, "v1", "sha256:bb", a.PushTime) }, true, "sha256:bb"},
		{"tag moved through another pool", func() error { return other.PutTag(ctx, a.RepositoryID, "v1", "sha256:aa", a.PushTime) }, true, "sha256:aa"},
		{"unrelated write elsewhere", func() error {
			return other.UpdateTagAttrs(ctx, a.RepositoryID, "v1", map[string]string{"pragma": fmt.Sprint(pragmaOnly)})
		}, true, "sha256:aa"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := version()
			if err := c.write(); err != nil {
				t.Fatal(err)
			}
			if after := version(); (after != before) != c.changed {
				t.Errorf("version %x → %x, want changed=%v", before, after, c.changed)
			}
			if d, err := r.ManifestDigest(ctx, "library/x", "v1", false); err != nil || d != c.want {
				t.Errorf("ManifestDigest = %q, %v; want %q", d, err, c.want)
			}
		})
	}
}

// TestDataVersionPostgres: no data version there; callers resolve every time.
func TestDataVersionPostgres(t *testing.T) {
	db := openTestDB(t, "postgres")
	r, err := db.ManifestResolver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok, err := r.DataVersion(context.Background()); ok || err != nil {
		t.Errorf("DataVersion on PostgreSQL: ok=%v err=%v", ok, err)
	}
}
