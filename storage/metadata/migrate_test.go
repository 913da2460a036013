package metadata

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Replicas of a Deployment start together on an empty PostgreSQL database:
// every one of them opens it (and migrates it) without an error.
func TestConcurrentOpenOnEmptyPostgres(t *testing.T) {
	for round := range 3 {
		dsn := berthtest.SharedPostgres(t).NewDatabase(t)
		const replicas = 6
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db, err := Open(context.Background(), dsn, 0)
				if err == nil {
					db.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: concurrent Open: %v", round, err)
		}
		db, err := Open(context.Background(), dsn, 0)
		if err != nil {
			t.Fatal(err)
		}
		migs, _ := loadMigrations()
		v, err := db.SchemaVersion(context.Background())
		db.Close()
		if err != nil || v != migs[len(migs)-1].version {
			t.Fatalf("round %d: schema version %d %v, want %d", round, v, err, migs[len(migs)-1].version)
		}
	}
}

// A migration's statements end at a ";" outside comments only.
func TestSplitStatements(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		want      []string
	}{
		{"two statements", "CREATE TABLE a (x INT);\nDROP TABLE b;\n", []string{"CREATE TABLE a (x INT)", "DROP TABLE b"}},
		{"a comment with a ;", "-- first; then\nCREATE TABLE a (x INT);\n-- done;\n", []string{"CREATE TABLE a (x INT)"}},
		{"a comment between lines", "INSERT INTO a\n  -- the rows; all of them\n  SELECT 1;", []string{"INSERT INTO a\n  SELECT 1"}},
		{"only comments", "-- nothing; here\n\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := splitStatements(tc.sql); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
