package retention_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/registry/retention"
)

// On PostgreSQL a real run's removals commit without waiting for the log's
// flush: their transactions set synchronous_commit off for themselves
// (metadata.AsyncCommit); a dry run removes nothing, and none of its
// transactions does.
func TestRunCommitsRemovalsAsync(t *testing.T) {
	t.Setenv(berthtest.PGStatsEnv, "1")
	t.Setenv(berthtest.PGDurableEnv, "1")
	pg := berthtest.StartPostgres(t)
	p := bigProject{name: "big", repos: 2, tagsPer: 40}
	for _, dry := range []bool{true, false} {
		var dsn string
		be := indexBackend{"PostgreSQL", func(string) string { dsn = pg.NewDatabase(t); return dsn }}
		_, ix, _ := seededPolicy(t, be, p, 4)
		pg.ResetStatements(t, dsn)
		run, err := retention.NewRunner(ix, quiet).Run(context.Background(), p.name, retention.Options{Cause: "api", DryRun: dry})
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
