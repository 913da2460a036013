package metadata

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// listedDigests lists a repository's artifacts as the management lists
// see them, and checks the total against the page.
func listedDigests(t *testing.T, db *DB, repoID int64) []string {
	t.Helper()
	arts, total := must2[Artifact](t)(db.ListArtifacts(context.Background(), repoID, ListOptions{Sort: "name"}))
	var out []string
	for _, a := range arts {
		out = append(out, a.Digest)
	}
	if int(total) != len(out) {
		t.Errorf("total %d for %d artifacts %v", total, len(out), out)
	}
	return out
}

// TestListedArtifacts: children of an index are listed only while tagged
// or once no index refers to them, whatever order things happen in, and
// Recount agrees with what the writes kept.
func TestListedArtifacts(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		index := func(digest string, children ...string) Artifact {
			a := Artifact{Digest: digest, MediaType: "application/vnd.oci.image.index.v1+json", ManifestSize: 200,
				Blobs: []Blob{{Digest: digest, Size: 200}}}
			for _, c := range children {
				a.References = append(a.References, Reference{ChildDigest: c, OS: "linux", Arch: c[len(c)-3:]})
			}
			return must[Artifact](t)(db.PutArtifact(ctx, p.ID, "p/app", a))
		}
		amd := pushImage(t, db, p.ID, "p/app", "sha256:amd", "", blob("sha256:l1", 10))
		pushImage(t, db, p.ID, "p/app", "sha256:arm", "", blob("sha256:l2", 20))
		repo := amd.RepositoryID
		check := func(step string, want ...string) {
			t.Helper()
			if got := listedDigests(t, db, repo); len(got) != len(want) || (len(got) > 0 && !equal(got, want)) {
				t.Errorf("%s: listed %v, want %v", step, got, want)
			}
		}
		check("two images", "sha256:amd", "sha256:arm")
		idx := index("sha256:idx", "sha256:amd", "sha256:arm")
		check("an index over them", "sha256:idx")
		must0(t, db.PutTag(ctx, repo, "v1", "sha256:idx", time.Time{}))
		must0(t, db.PutTag(ctx, repo, "amd-only", "sha256:amd", time.Time{}))
		check("a child tagged", "sha256:amd", "sha256:idx")
		must0(t, db.PutTag(ctx, repo, "amd-only", "sha256:idx", time.Time{}))
		check("its tag moved away", "sha256:idx")
		must0(t, db.PutTag(ctx, repo, "arm-only", "sha256:arm", time.Time{}))
		must0(t, db.DeleteTag(ctx, repo, "arm-only"))
		check("a child's tag deleted", "sha256:idx")

		// TaggedParent finds the tagged index, through an untagged one too.
		if parent, tag, found, err := db.TaggedParent(ctx, repo, "sha256:amd"); err != nil || !found || parent != "sha256:idx" || tag != "amd-only" {
			t.Errorf("tagged parent of amd: %q %q %v %v", parent, tag, found, err)
		}
		index("sha256:outer", "sha256:inner")
		index("sha256:inner", "sha256:deep") // pushed before its child
		pushImage(t, db, p.ID, "p/app", "sha256:deep", "")
		check("nested, child last", "sha256:idx", "sha256:outer")
		if _, _, found, _ := db.TaggedParent(ctx, repo, "sha256:deep"); found {
			t.Error("deep has no tagged ancestor yet")
		}
		must0(t, db.PutTag(ctx, repo, "outer", "sha256:outer", time.Time{}))
		if parent, tag, found, _ := db.TaggedParent(ctx, repo, "sha256:deep"); !found || parent != "sha256:outer" || tag != "outer" {
			t.Errorf("tagged ancestor of deep: %q %q %v", parent, tag, found)
		}
		if _, _, found, _ := db.TaggedParent(ctx, repo, "sha256:outer"); found {
			t.Error("outer has no parent")
		}

		must0(t, db.DeleteArtifact(ctx, repo, idx.Digest))
		check("the index deleted", "sha256:amd", "sha256:arm", "sha256:outer")
		must0(t, db.Recount(ctx))
		check("after Recount", "sha256:amd", "sha256:arm", "sha256:outer")
	})
}

// TestTagVersions: a tag keeps its first push time whatever is pushed
// again, and counts downloads by its name.
func TestTagVersions(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		a := pushImage(t, db, p.ID, "p/app", "sha256:one", "", blob("sha256:l1", 10))
		pushImage(t, db, p.ID, "p/app", "sha256:two", "", blob("sha256:l2", 10))
		first := time.UnixMilli(1_600_000_000_000)
		must0(t, db.PutTag(ctx, a.RepositoryID, "v1", "sha256:one", first))
		must0(t, db.PutTag(ctx, a.RepositoryID, "v2", "sha256:one", first.Add(time.Hour)))
		must0(t, db.PutTag(ctx, a.RepositoryID, "v1", "sha256:one", first.Add(2*time.Hour)))
		must0(t, db.PutTag(ctx, a.RepositoryID, "v1", "sha256:two", first.Add(3*time.Hour)))
		v1 := must[Tag](t)(db.GetTag(ctx, a.RepositoryID, "v1"))
		if !v1.CreatedAt.Equal(first) || !v1.PushTime.Equal(first.Add(3*time.Hour)) {
			t.Errorf("v1 created %v pushed %v", v1.CreatedAt, v1.PushTime)
		}
		must0(t, db.RecordPulls(ctx, []Pull{
			{Repository: "p/app", Digest: "sha256:two", Tag: "v1", Count: 3, At: time.Now()},
			{Repository: "p/app", Digest: "sha256:one", Tag: "v2", Count: 1, At: time.Now()},
			{Repository: "p/app", Digest: "sha256:one", Count: 5, At: time.Now()},
		}))
		v1 = must[Tag](t)(db.GetTag(ctx, a.RepositoryID, "v1"))
		v2 := must[Tag](t)(db.GetTag(ctx, a.RepositoryID, "v2"))
		one := must[Artifact](t)(db.GetArtifact(ctx, a.RepositoryID, "sha256:one"))
		if v1.PullCount != 3 || v2.PullCount != 1 || one.PullCount != 6 {
			t.Errorf("downloads: v1 %d v2 %d artifact one %d", v1.PullCount, v2.PullCount, one.PullCount)
		}
	})
}

func must0(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSeedSemanticsBackfill runs the UPDATEs migrations 009-011 fill rows
// indexed before them with, on rows whose new columns are reset, and wants
// what the writes themselves keep.
func TestSeedSemanticsBackfill(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		a := pushImage(t, db, p.ID, "p/app", "sha256:amd", "amd", blob("sha256:l1", 10), blob("sha256:cfg", 7))
		pushImage(t, db, p.ID, "p/app", "sha256:arm", "", blob("sha256:l2", 20))
		must[Artifact](t)(db.PutArtifact(ctx, p.ID, "p/app", Artifact{Digest: "sha256:idx", MediaType: "application/vnd.oci.image.index.v1+json",
			ManifestSize: 200, Blobs: []Blob{{Digest: "sha256:idx", Size: 200}},
			References: []Reference{{ChildDigest: "sha256:amd"}, {ChildDigest: "sha256:arm"}}}))
		must0(t, db.PutTag(ctx, a.RepositoryID, "v1", "sha256:idx", time.Time{}))
		type state struct {
			content map[string]int64
			listed  map[string]bool
			count   int64
		}
		read := func() state {
			s := state{content: map[string]int64{}, listed: map[string]bool{}}
			rows, err := db.sql.QueryContext(ctx, `SELECT digest, content_size, listed FROM artifacts`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var d string
				var c int64
				var l boolish
				if err := rows.Scan(&d, &c, &l); err != nil {
					t.Fatal(err)
				}
				s.content[d], s.listed[d] = c, bool(l)
			}
			if err := db.sql.QueryRowContext(ctx, `SELECT listed_count FROM repositories`).Scan(&s.count); err != nil {
				t.Fatal(err)
			}
			return s
		}
		want := read()
		if want.content["sha256:amd"] != 17 || want.content["sha256:idx"] != 37 || want.listed["sha256:amd"] != true || want.listed["sha256:arm"] || want.count != 2 {
			t.Fatalf("written: %+v", want)
		}
		for _, stmt := range []string{`UPDATE artifacts SET content_size = 0, listed = TRUE`, `UPDATE repositories SET listed_count = 0`, `UPDATE tags SET created_at = 0`} {
			if _, err := db.sql.ExecContext(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
		migs, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range migs {
			if m.version < 9 || m.version > 11 {
				continue
			}
			for _, stmt := range splitStatements(m.sql) {
				if strings.HasPrefix(stmt, "UPDATE") {
					if _, err := db.sql.ExecContext(ctx, stmt); err != nil {
						t.Fatalf("%s: %v", m.name, err)
					}
				}
			}
		}
		if got := read(); !reflect.DeepEqual(got, want) {
			t.Errorf("backfilled %+v, written %+v", got, want)
		}
		v1 := must[Tag](t)(db.GetTag(ctx, a.RepositoryID, "v1"))
		if !v1.CreatedAt.Equal(v1.PushTime) {
			t.Errorf("backfilled created_at %v, push time %v", v1.CreatedAt, v1.PushTime)
		}
	})
}
