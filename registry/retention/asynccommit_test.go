package retention_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/storage/metadata"
)

// On PostgreSQL a real run's removals commit without waiting for the log's
// flush: their transactions set synchronous_commit off for themselves
// (metadata.AsyncCommit), a dry run's do not write at all.
func TestRunCommitsRemovalsAsync(t *testing.T) {
	t.Setenv(berthtest.PGStatsEnv, "1")
	t.Setenv(berthtest.PGDurableEnv, "1")
	pg := berthtest.StartPostgres(t)
	ctx := context.Background()
	p := bigProject{name: "big", repos: 2, tagsPer: 40}
	for _, dry := range []bool{true, false} {
		dsn := pg.NewDatabase(t)
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
		rules, _ := json.Marshal(map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": 4, "repositories": "svc*"}}})
		if err := db.PutRetentionPolicy(ctx, metadata.RetentionPolicy{ProjectID: project.ID, Rules: rules}); err != nil {
			t.Fatal(err)
		}
		pg.ResetStatements(t, dsn)
		run, err := retention.NewRunner(ix, quiet).Run(ctx, p.name, retention.Options{Cause: "api", DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(p.repos * (p.tagsPer - 4)); run.TagsRemoved != want {
			t.Fatalf("dry run %v: removed %d tags, want %d", dry, run.TagsRemoved, want)
		}
		var async string
		for _, l := range strings.Split(pg.Statements(t, dsn, 1000), "\n") {
			if strings.Contains(l, "synchronous_commit") {
				async = l
			}
		}
		if dry && async != "" {
			t.Errorf("a dry run committed asynchronously: %s", async)
		}
		if !dry && async == "" {
			t.Errorf("no removal of the run committed asynchronously (no synchronous_commit set among its statements)")
		}
		t.Logf("dry run %v: %s", dry, async)
	}
}
