package retention_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/storage/metadata"
)

// TestRunWalksEveryRepository runs a policy over a project of several
// repositories, on SQLite (one repository at a time) and on PostgreSQL
// (one, or several at once, whatever this machine's cores would give):
// the run's counts are the sums over all of them, every repository keeps
// exactly what the policy keeps, and every removal is an item of the run,
// numbered once.
func TestRunWalksEveryRepository(t *testing.T) {
	ctx := context.Background()
	p := bigProject{name: "lanes", repos: 7, tagsPer: 60}
	const keep = 6
	removed := int64(p.repos * (p.tagsPer - keep))
	type walk struct {
		be    indexBackend
		lanes int // on PostgreSQL; SQLite walks with one
	}
	var walks []walk
	for _, be := range indexBackends(t) {
		walks = append(walks, walk{be, 1})
		if be.name == "PostgreSQL" {
			walks = append(walks, walk{be, 3})
		}
	}
	for _, w := range walks {
		be := w.be
		t.Run(fmt.Sprintf("%s/lanes=%d", be.name, w.lanes), func(t *testing.T) {
			db, ix, project := seededPolicy(t, be, p, keep)
			rn := retention.NewRunner(ix, quiet)
			retention.SetLanes(rn, w.lanes)
			run, err := rn.Run(ctx, p.name, retention.Options{Cause: "api"})
			if err != nil {
				t.Fatal(err)
			}
			kept := map[string]int64{"#1 6 most recently pushed": int64(p.repos * keep)}
			if run.TagsSeen != int64(p.repos*p.tagsPer) || run.TagsRemoved != removed || run.ManifestsRemoved != removed || !maps.Equal(run.Kept, kept) {
				t.Errorf("run: seen %d, removed %d tags and %d manifests, kept %v; want %d, %d, %d, %v",
					run.TagsSeen, run.TagsRemoved, run.ManifestsRemoved, run.Kept, p.repos*p.tagsPer, removed, removed, kept)
			}
			repos, _, err := db.ListRepositories(ctx, metadata.RepoFilter{ProjectID: project.ID}, metadata.ListOptions{Limit: 100})
			if err != nil || len(repos) != p.repos {
				t.Fatalf("repositories: %d, %v", len(repos), err)
			}
			for _, r := range repos {
				if r.TagCount != keep || r.ArtifactCount != keep {
					t.Errorf("%s: %d tags and %d artifacts left, want %d", r.Name, r.TagCount, r.ArtifactCount, keep)
				}
			}
			// The project's accounting, released by the run's own
			// transactions on both (nothing left logged for a fold): each
			// repository's layer and the kept manifests and configs
			// (seedIndex's sizes).
			if got, err := db.LookupProject(ctx, p.name); err != nil || got.StorageUsed != int64(p.repos)*(30<<20+keep*1500) {
				t.Errorf("storage used %d after the run (%v), want %d", got.StorageUsed, err, int64(p.repos)*(30<<20+keep*1500))
			}
			if f, err := db.FoldBlobReleases(ctx, "after the run"); err != nil || f.Keys != 0 {
				t.Errorf("a fold after the run applied %d keys (%v): the run logged its releases", f.Keys, err)
			}
			items, err := db.RetentionItems(ctx, run.ID, 0, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			tags, manifests := map[string]bool{}, map[string]bool{}
			for i, it := range items {
				if it.Seq != int64(i+1) {
					t.Fatalf("item %d numbered %d", i, it.Seq)
				}
				if it.Tag != "" {
					tags[it.Repository+":"+it.Tag] = true
				} else {
					manifests[it.Digest] = true
				}
			}
			if int64(len(tags)) != removed || int64(len(manifests)) != removed {
				t.Errorf("items: %d tags and %d manifests, want %d of each", len(tags), len(manifests), removed)
			}
		})
	}
}

// seededPolicy seeds p into a new index of be, with storage in memory, and
// gives the project a policy that keeps each repository's newest keep
// tags: the database and the index close with the test.
func seededPolicy(t *testing.T, be indexBackend, p bigProject, keep int) (*metadata.DB, *index.Indexer, metadata.Project) {
	t.Helper()
	ctx := context.Background()
	dsn := be.dsn(t.TempDir())
	seedIndex(t, dsn, p)
	db, err := metadata.Open(ctx, dsn, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ix, err := index.Standalone(ctx, db, quiet, inmemory.New(), true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.StopSync(ctx) })
	project, err := db.LookupProject(ctx, p.name)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := json.Marshal(map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": keep}}})
	if err := db.PutRetentionPolicy(ctx, metadata.RetentionPolicy{ProjectID: project.ID, Rules: rules}); err != nil {
		t.Fatal(err)
	}
	return db, ix, project
}

// quiet is the logger of in-process runs.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestPGLanes: a run on PostgreSQL walks one repository at a time per two
// cores, one at least and two at most.
func TestPGLanes(t *testing.T) {
	for _, c := range []struct{ procs, lanes int }{{1, 1}, {2, 1}, {3, 1}, {4, 2}, {64, 2}} {
		if got := retention.PGLanes(c.procs); got != c.lanes {
			t.Errorf("%d cores: %d lanes, want %d", c.procs, got, c.lanes)
		}
	}
}
