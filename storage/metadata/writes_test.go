package metadata

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestLookupProject(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "team", Public: true, QuotaBytes: 500, Creator: "alice"}))
		pushImage(t, db, p.ID, "team/app", "sha256:m1", "v1", blob("sha256:l1", 10))
		for _, tc := range []struct {
			name    string
			wantErr error
		}{
			{"team", nil},
			{"nobody", ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := db.LookupProject(ctx, tc.name)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("LookupProject(%q) error %v, want %v", tc.name, err, tc.wantErr)
				}
				if tc.wantErr != nil {
					return
				}
				full := must[Project](t)(db.GetProject(ctx, tc.name))
				if full.RepoCount != 1 || got.RepoCount != 0 {
					t.Fatalf("repo counts: GetProject %d, LookupProject %d (want 1 and 0: not counted)", full.RepoCount, got.RepoCount)
				}
				full.RepoCount = 0
				if fmt.Sprint(got) != fmt.Sprint(full) {
					t.Fatalf("LookupProject = %+v\nGetProject   = %+v", got, full)
				}
			})
		}
	})
}

// Many concurrent pushes (the 16 seeding clients of the benchmark) all land:
// on SQLite they queue for the one write lock instead of failing busy.
func TestConcurrentPushes(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		const clients, each = 16, 10
		var wg sync.WaitGroup
		errs := make(chan error, clients*each)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					repo := fmt.Sprintf("p/r%d", c)
					d := fmt.Sprintf("sha256:m%d-%d", c, i)
					a, err := db.PutArtifact(ctx, p.ID, repo, Artifact{Digest: d, ManifestSize: 10,
						Blobs: []Blob{{Digest: d, Size: 10}, blob("sha256:shared", 1000)}})
					if err == nil {
						err = db.PutTag(ctx, a.RepositoryID, fmt.Sprintf("t%d", i), d, a.PushTime)
					}
					if err == nil {
						err = db.TouchCharts(ctx, "p")
					}
					if err != nil {
						errs <- err
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := must[Project](t)(db.GetProject(ctx, "p")); got.StorageUsed != clients*each*10+1000 || got.RepoCount != clients {
			t.Fatalf("storage used %d, repositories %d", got.StorageUsed, got.RepoCount)
		}
		r := must[Repository](t)(db.GetRepository(ctx, "p/r3"))
		if r.ArtifactCount != each || r.TagCount != each {
			t.Fatalf("counts %d artifacts, %d tags", r.ArtifactCount, r.TagCount)
		}
	})
}

func TestTouchCharts(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		plain := must[Project](t)(db.CreateProject(ctx, Project{Name: "plain"}))
		charts := must[Project](t)(db.CreateProject(ctx, Project{Name: "charts"}))
		if err := bumpCharts(ctx, db, db.sql, charts.ID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			project string
			id      int64
			want    int64 // generation after one touch
		}{
			{"plain", plain.ID, 0}, // never held a chart: nothing written
			{"charts", charts.ID, 2},
			{"missing", -1, 0},
		} {
			if err := db.TouchCharts(ctx, tc.project); err != nil {
				t.Fatalf("TouchCharts(%q): %v", tc.project, err)
			}
			if g := must[int64](t)(db.ChartGeneration(ctx, tc.id)); g != tc.want {
				t.Fatalf("%s: generation %d, want %d", tc.project, g, tc.want)
			}
		}
	})
}

func TestProjectMemo(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "team", QuotaBytes: 100}))
		memo := WithProjectMemo(ctx)
		if WithProjectMemo(memo) != memo {
			t.Fatal("a second memo replaced the first")
		}
		if _, err := db.LookupProject(memo, "later"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("missing project: %v", err)
		}
		must[Project](t)(db.LookupProject(memo, "team"))
		p.QuotaBytes = 200
		if err := db.UpdateProject(ctx, p); err != nil {
			t.Fatal(err)
		}
		must[Project](t)(db.CreateProject(ctx, Project{Name: "later"}))
		for _, tc := range []struct {
			name      string
			ctx       context.Context
			project   string
			wantQuota int64
		}{
			{"memo answers what it found", memo, "team", 100},
			{"without a memo, fresh", ctx, "team", 200},
			{"not found is not remembered", memo, "later", -1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if got := must[Project](t)(db.LookupProject(tc.ctx, tc.project)); got.QuotaBytes != tc.wantQuota {
					t.Fatalf("quota %d, want %d", got.QuotaBytes, tc.wantQuota)
				}
			})
		}
	})
}

// An artifact's blobs go in by batches: more than one batch is counted right.
func TestManyBlobs(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		for _, tc := range []struct {
			repo, digest string
			layers       int
			wantUsed     int64
		}{
			{"p/a", "sha256:a", 1200, 100 + 1200},
			{"p/b", "sha256:b", 1300, 100 + 1200 + 100 + 100}, // 1,200 layers shared, 100 new
		} {
			var blobs []Blob
			for i := range tc.layers {
				blobs = append(blobs, blob(fmt.Sprintf("sha256:l%05d", i), 1))
			}
			a := pushImage(t, db, p.ID, tc.repo, tc.digest, "", blobs...)
			got := must[Artifact](t)(db.GetArtifact(ctx, a.RepositoryID, tc.digest))
			if len(got.Blobs) != tc.layers+1 {
				t.Fatalf("%s: %d blobs indexed, want %d", tc.repo, len(got.Blobs), tc.layers+1)
			}
			if used := must[Project](t)(db.LookupProject(ctx, "p")).StorageUsed; used != tc.wantUsed {
				t.Fatalf("%s: storage used %d, want %d", tc.repo, used, tc.wantUsed)
			}
		}
	})
}
