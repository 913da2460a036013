package metadata

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// eachDB runs fn against a fresh SQLite database and a fresh PostgreSQL
// database: the same suite for both backends.
func eachDB(t *testing.T, fn func(t *testing.T, db *DB)) {
	t.Helper()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			fn(t, openTestDB(t, name))
		})
	}
}

func openTestDB(t testing.TB, name string) *DB {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "berth.db")
	if name == "postgres" {
		dsn = berthtest.SharedPostgres(t).NewDatabase(t)
	}
	// A generous bound per call: these tests are not about it, and under
	// the whole suite's load a 1,200-blob push's commit on PostgreSQL once
	// took longer than the default 5 s (TestManyBlobs).
	db, err := Open(context.Background(), dsn, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		if err := db.migrate(ctx); err != nil {
			t.Fatal(err)
		}
		migs, err := loadMigrations()
		if err != nil {
			t.Fatal(err)
		}
		want := migs[len(migs)-1].version // the newest migration file
		v, err := db.SchemaVersion(ctx)
		if err != nil || v != want {
			t.Fatalf("schema version %d, want %d, %v", v, want, err)
		}
	})
}

func TestProjects(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		for _, n := range []string{"library", "team-a", "team-b", "base"} {
			must[Project](t)(db.CreateProject(ctx, Project{Name: n, Public: n == "library", Creator: "admin"}))
		}
		if _, err := db.CreateProject(ctx, Project{Name: "library"}); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate: %v", err)
		}
		p := must[Project](t)(db.GetProject(ctx, "library"))
		if !p.Public || p.QuotaBytes != -1 || p.Creator != "admin" || p.CreatedAt.IsZero() {
			t.Fatalf("got %+v", p)
		}
		page, total, err := db.ListProjects(ctx, ProjectFilter{}, ListOptions{Filter: "team", Limit: 1, Offset: 1})
		if err != nil || total != 2 || len(page) != 1 || page[0].Name != "team-b" {
			t.Fatalf("filtered page: %v %d %v", page, total, err)
		}
		pub := true
		page, total, _ = db.ListProjects(ctx, ProjectFilter{Public: &pub}, ListOptions{})
		if total != 1 || page[0].Name != "library" {
			t.Fatalf("public filter: %v", page)
		}
		page, _, _ = db.ListProjects(ctx, ProjectFilter{Names: []string{"base", "team-a"}}, ListOptions{Desc: true})
		if len(page) != 2 || page[0].Name != "team-a" {
			t.Fatalf("names filter desc: %v", page)
		}
		tb := must[Project](t)(db.GetProject(ctx, "team-b"))
		page, total, _ = db.ListProjects(ctx, ProjectFilter{IDs: []int64{p.ID, tb.ID}, Creator: "admin"}, ListOptions{})
		if total != 2 || page[0].Name != "library" || page[1].Name != "team-b" {
			t.Fatalf("ids + creator filter: %v", page)
		}
		if _, total, _ = db.ListProjects(ctx, ProjectFilter{Creator: "nobody"}, ListOptions{}); total != 0 {
			t.Fatalf("creator filter matched %d", total)
		}
		p.QuotaBytes, p.Public = 1000, false
		if err := db.UpdateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		if got := must[Project](t)(db.GetProject(ctx, "library")); got.QuotaBytes != 1000 || got.Public {
			t.Fatalf("update lost: %+v", got)
		}
		pushImage(t, db, p.ID, "library/app", "sha256:aa", "v1", blob("sha256:l1", 10))
		if err := db.DeleteProject(ctx, p.ID, false); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("non-empty delete: %v", err)
		}
		if err := db.DeleteProject(ctx, p.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetProject(ctx, "library"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if _, err := db.GetRepository(ctx, "library/app"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("repository survived its project: %v", err)
		}
	})
}

func blob(d string, size int64) Blob {
	return Blob{Digest: d, Size: size, MediaType: "application/octet-stream"}
}

func pushImage(t testing.TB, db *DB, projectID int64, repo, digest, tag string, blobs ...Blob) Artifact {
	t.Helper()
	ctx := context.Background()
	a, err := db.PutArtifact(ctx, projectID, repo, Artifact{
		Digest: digest, MediaType: "application/vnd.oci.image.manifest.v1+json", ManifestSize: 100,
		Blobs: append([]Blob{{Digest: digest, Size: 100}}, blobs...), OS: "linux", Arch: "amd64", PushedBy: "alice",
	})
	if err != nil {
		t.Fatal(err)
	}
	if tag != "" {
		if err := db.PutTag(ctx, a.RepositoryID, tag, digest, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// Storage used counts each blob once per project, and deletes give back
// exactly what no other artifact still needs.
func TestStorageUsedCountsBlobsOnce(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		used := func() int64 { return must[Project](t)(db.GetProject(ctx, "p")).StorageUsed }
		a1 := pushImage(t, db, p.ID, "p/one", "sha256:m1", "v1", blob("sha256:base", 1000), blob("sha256:l1", 10))
		if a1.Size != 1110 || used() != 1110 {
			t.Fatalf("first push: size %d used %d", a1.Size, used())
		}
		pushImage(t, db, p.ID, "p/two", "sha256:m2", "v1", blob("sha256:base", 1000), blob("sha256:l2", 20))
		if used() != 1230 {
			t.Fatalf("shared base counted twice: %d", used())
		}
		pushImage(t, db, p.ID, "p/one", "sha256:m1", "v1-again") // same digest again: no change
		if used() != 1230 {
			t.Fatalf("re-push changed usage: %d", used())
		}
		n, err := db.NewBlobBytes(ctx, p.ID, []Blob{blob("sha256:base", 1000), blob("sha256:new", 7), blob("sha256:new", 7)})
		if err != nil || n != 7 {
			t.Fatalf("NewBlobBytes = %d, %v", n, err)
		}
		r1 := must[Repository](t)(db.GetRepository(ctx, "p/one"))
		if err := db.DeleteArtifact(ctx, r1.ID, "sha256:m1"); err != nil {
			t.Fatal(err)
		}
		if used() != 1120 {
			t.Fatalf("after delete: %d, want 1120 (base still used by two)", used())
		}
		r2 := must[Repository](t)(db.GetRepository(ctx, "p/two"))
		if err := db.DeleteRepository(ctx, r2.ID); err != nil {
			t.Fatal(err)
		}
		if used() != 0 {
			t.Fatalf("after deleting everything: %d", used())
		}
		if err := db.DeleteArtifact(ctx, r1.ID, "sha256:m1"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}

func TestIndexReferences(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		amd := pushImage(t, db, p.ID, "p/multi", "sha256:amd", "", blob("sha256:la", 50))
		arm := pushImage(t, db, p.ID, "p/multi", "sha256:arm", "", blob("sha256:lb", 60))
		idx := must[Artifact](t)(db.PutArtifact(ctx, p.ID, "p/multi", Artifact{
			Digest: "sha256:idx", MediaType: "application/vnd.oci.image.index.v1+json", ManifestSize: 300,
			Blobs: []Blob{{Digest: "sha256:idx", Size: 300}},
			References: []Reference{
				{ChildDigest: "sha256:arm", OS: "linux", Arch: "arm64", Variant: "v8", Size: 100},
				{ChildDigest: "sha256:amd", OS: "linux", Arch: "amd64", Size: 100},
			},
		}))
		if err := db.PutTag(ctx, idx.RepositoryID, "latest", "sha256:idx", time.Time{}); err != nil {
			t.Fatal(err)
		}
		got := must[Artifact](t)(db.GetArtifact(ctx, idx.RepositoryID, "sha256:idx"))
		if got.Size != 300+amd.Size+arm.Size {
			t.Errorf("index size %d, want %d", got.Size, 300+amd.Size+arm.Size)
		}
		want := []Reference{
			{ParentID: idx.ID, ChildID: amd.ID, ChildDigest: "sha256:amd", OS: "linux", Arch: "amd64", Size: 100, Annotations: map[string]string{}},
			{ParentID: idx.ID, ChildID: arm.ID, ChildDigest: "sha256:arm", OS: "linux", Arch: "arm64", Variant: "v8", Size: 100, Annotations: map[string]string{}},
		}
		if !reflect.DeepEqual(got.References, want) {
			t.Errorf("references:\n got %+v\nwant %+v", got.References, want)
		}
		if len(got.Tags) != 1 || got.Tags[0].Name != "latest" || len(got.Blobs) != 1 {
			t.Errorf("tags %v blobs %v", got.Tags, got.Blobs)
		}
		if got.ContentSize != amd.ContentSize+arm.ContentSize || amd.ContentSize != 50 {
			t.Errorf("index content size %d (children %d + %d)", got.ContentSize, amd.ContentSize, arm.ContentSize)
		}
		// The children are the index's references, not artifacts of their own.
		arts, total := must2[Artifact](t)(db.ListArtifacts(ctx, idx.RepositoryID, ListOptions{}))
		if total != 1 || len(arts) != 1 || arts[0].Digest != "sha256:idx" || len(arts[0].References) != 2 {
			t.Errorf("list: total %d, %d artifacts, first %+v", total, len(arts), arts[0])
		}
	})
}

func must2[T any](t testing.TB) func([]T, int64, error) ([]T, int64) {
	return func(v []T, n int64, err error) ([]T, int64) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, n
	}
}

func TestTags(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		a := pushImage(t, db, p.ID, "p/r", "sha256:a", "")
		pushImage(t, db, p.ID, "p/r", "sha256:b", "")
		base := time.Now().Add(-time.Hour)
		// Byte order: upper case, then '_', then lower case.
		for i, name := range []string{"v1.0", "B", "_x", "a", "v1.1", "v2.0"} {
			if err := db.PutTag(ctx, a.RepositoryID, name, "sha256:a", base.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		names := func(ts []Tag) []string {
			var out []string
			for _, t := range ts {
				out = append(out, t.Name)
			}
			return out
		}
		cases := []struct {
			opt   ListOptions
			want  []string
			total int64
		}{
			{ListOptions{}, []string{"B", "_x", "a", "v1.0", "v1.1", "v2.0"}, 6},
			{ListOptions{Desc: true, Limit: 2}, []string{"v2.0", "v1.1"}, 6},
			{ListOptions{Sort: "push_time"}, []string{"v1.0", "B", "_x", "a", "v1.1", "v2.0"}, 6},
			{ListOptions{Sort: "push_time", Desc: true, Offset: 1, Limit: 2}, []string{"v1.1", "a"}, 6},
			{ListOptions{Filter: "v1"}, []string{"v1.0", "v1.1"}, 2},
			{ListOptions{Filter: "V1"}, nil, 0}, // case-sensitive
			{ListOptions{Offset: 10, Limit: 5}, nil, 6},
		}
		for _, c := range cases {
			got, total := must2[Tag](t)(db.ListTags(ctx, a.RepositoryID, c.opt))
			if !reflect.DeepEqual(names(got), c.want) || total != c.total {
				t.Errorf("%+v: got %v (%d), want %v (%d)", c.opt, names(got), total, c.want, c.total)
			}
		}
		page := must[[]string](t)(db.TagPage(ctx, a.RepositoryID, "_x", 2))
		if !reflect.DeepEqual(page, []string{"a", "v1.0"}) {
			t.Errorf("TagPage after _x: %v", page)
		}
		// Moving a tag.
		if err := db.PutTag(ctx, a.RepositoryID, "a", "sha256:b", time.Time{}); err != nil {
			t.Fatal(err)
		}
		if tg := must[Tag](t)(db.GetTag(ctx, a.RepositoryID, "a")); tg.Digest != "sha256:b" {
			t.Errorf("tag not moved: %+v", tg)
		}
		if err := db.PutTag(ctx, a.RepositoryID, "x", "sha256:missing", time.Time{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("tag to a missing artifact: %v", err)
		}
		if err := db.DeleteTag(ctx, a.RepositoryID, "a"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteTag(ctx, a.RepositoryID, "a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second tag delete: %v", err)
		}
		// Deleting an artifact takes its tags with it.
		if err := db.DeleteArtifact(ctx, a.RepositoryID, "sha256:a"); err != nil {
			t.Fatal(err)
		}
		if _, total := must2[Tag](t)(db.ListTags(ctx, a.RepositoryID, ListOptions{})); total != 0 {
			t.Errorf("%d tags survived their artifact", total)
		}
	})
}

func TestPullsAndCatalog(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		q := must[Project](t)(db.CreateProject(ctx, Project{Name: "q"}))
		a := pushImage(t, db, p.ID, "p/b", "sha256:a", "v1")
		pushImage(t, db, p.ID, "p/a", "sha256:a", "v1")
		pushImage(t, db, q.ID, "q/c", "sha256:c", "v1")
		must[Repository](t)(db.CreateRepository(ctx, Repository{ProjectID: p.ID, Name: "p/empty"}))
		at := time.Now().Truncate(time.Millisecond).UTC()
		err := db.RecordPulls(ctx, []Pull{
			{Repository: "p/b", Digest: "sha256:a", Tag: "v1", Count: 3, At: at},
			{Repository: "gone/x", Digest: "sha256:zz", Count: 1, At: at},
		})
		if err != nil {
			t.Fatal(err)
		}
		got := must[Artifact](t)(db.GetArtifact(ctx, a.RepositoryID, "sha256:a"))
		if got.PullCount != 3 || !got.PullTime.Equal(at) || !got.Tags[0].PullTime.Equal(at) {
			t.Errorf("pulls: count %d time %v tag time %v", got.PullCount, got.PullTime, got.Tags[0].PullTime)
		}
		if r := must[Repository](t)(db.GetRepository(ctx, "p/b")); r.PullCount != 3 || r.TagCount != 1 || r.ArtifactCount != 1 {
			t.Errorf("repository counts: %+v", r)
		}
		for _, c := range []struct {
			last string
			n    int
			ids  []int64
			want []string
		}{
			{"", 10, nil, []string{"p/a", "p/b", "q/c"}},
			{"p/a", 1, nil, []string{"p/b"}},
			{"", 10, []int64{q.ID}, []string{"q/c"}},
			{"", 10, []int64{}, nil},
		} {
			if got := must[[]string](t)(db.CatalogPage(ctx, c.last, c.n, c.ids)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("catalog(%q,%d,%v) = %v, want %v", c.last, c.n, c.ids, got, c.want)
			}
		}
		// With a prefix, the filter matches only what follows it.
		repos, total := must2[Repository](t)(db.ListRepositories(ctx, RepoFilter{ProjectID: p.ID, Prefix: "p/"}, ListOptions{Filter: "p"}))
		if total != 1 || repos[0].Name != "p/empty" {
			t.Errorf("prefix p/ with filter p: %d %v", total, repos)
		}
		repos, total = must2[Repository](t)(db.ListRepositories(ctx, RepoFilter{ProjectID: p.ID}, ListOptions{Filter: "p/"}))
		if total != 3 || len(repos) != 3 || repos[0].Name != "p/a" {
			t.Errorf("list repositories: %d %v", total, repos)
		}
	})
}

func TestOpenReportsUnreachableDatabase(t *testing.T) {
	port := berthtest.FreePort(t)
	_, err := Open(context.Background(), fmt.Sprintf("postgres://u:p@127.0.0.1:%d/db?sslmode=disable&connect_timeout=2", port), 0)
	if err == nil {
		t.Fatal("want error")
	}
}
