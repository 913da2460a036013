package retention_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/storage/metadata"
)

// TestRetentionIndexOnly runs the scale benchmark's policy over the same
// seeded project in this process, with storage in memory and nothing
// beside the run: what the index's removal costs alone, the floor under
// TestRetentionScale's figure (which adds a server, pushes and the
// filesystem's unlinks). BERTH_BENCH=1 runs it; BERTH_BENCH_RET_TAGS,
// _REPOS and _DB as for TestRetentionScale; BERTH_BENCH_RET_CPUPROFILE
// names a file for the run's CPU profile. It fails when the run removes
// anything but what the policy says.
func TestRetentionIndexOnly(t *testing.T) {
	if os.Getenv("BERTH_BENCH") == "" {
		t.Skip("a benchmark: run with BERTH_BENCH=1")
	}
	ctx := context.Background()
	repos := envInt("BERTH_BENCH_RET_REPOS", 100)
	p := bigProject{name: "big", repos: repos, tagsPer: envInt("BERTH_BENCH_RET_TAGS", 1_000_000) / repos}
	keep := max(1, p.tagsPer/10)
	for _, be := range indexBackends(t) {
		if only := os.Getenv("BERTH_BENCH_RET_DB"); only != "" && only != be.name {
			continue
		}
		dsn := be.dsn(t.TempDir())
		seedIndex(t, dsn, p)
		db, err := metadata.Open(ctx, dsn, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		ix, err := index.Standalone(ctx, db, quiet, inmemory.New(), true)
		if err != nil {
			t.Fatal(err)
		}
		project, err := db.LookupProject(ctx, p.name)
		if err != nil {
			t.Fatal(err)
		}
		rules, _ := json.Marshal(map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": keep, "repositories": "svc*"}}})
		if err := db.PutRetentionPolicy(ctx, metadata.RetentionPolicy{ProjectID: project.ID, Rules: rules}); err != nil {
			t.Fatal(err)
		}
		if path := os.Getenv("BERTH_BENCH_RET_CPUPROFILE"); path != "" {
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		run, err := retention.NewRunner(ix, quiet).Run(ctx, p.name, retention.Options{Cause: "api"})
		took := time.Since(start)
		pprof.StopCPUProfile()
		if err != nil {
			t.Fatalf("%s: %v", be.name, err)
		}
		want := int64(p.repos * (p.tagsPer - keep))
		if run.TagsRemoved != want || run.ManifestsRemoved != want {
			t.Errorf("%s: removed %d tags and %d manifests, want %d of each", be.name, run.TagsRemoved, run.ManifestsRemoved, want)
		}
		t.Logf("%s, index alone: %d tags, %d removed in %s (%.0f tags/s), longest write %d ms", be.name, run.TagsSeen, run.TagsRemoved,
			took.Round(100*time.Millisecond), float64(run.TagsRemoved)/took.Seconds(), run.LongestWriteMs)
		ix.StopSync(ctx)
		db.Close()
	}
}

// indexBackend is a database an in-process test seeds and runs over: its
// name and a new one's DSN (dir: the test's directory).
type indexBackend struct {
	name string
	dsn  func(dir string) string
}

func indexBackends(t *testing.T) []indexBackend {
	return []indexBackend{
		{"SQLite", func(dir string) string { return filepath.Join(dir, "berth.db") }},
		{"PostgreSQL", func(string) string { return berthtest.SharedPostgres(t).NewDatabase(t) }},
	}
}
