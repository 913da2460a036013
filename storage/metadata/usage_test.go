package metadata

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"
)

// TestUsageWrittenAtCommit: a transaction's storage_used changes are
// summed and written when it commits, dropped when it fails or panics, and
// on PostgreSQL the project's row is not locked while the transaction
// still runs: another writer of the project goes on.
func TestUsageWrittenAtCommit(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		used := func() int64 { return must[Project](t)(db.GetProject(ctx, "p")).StorageUsed }
		boom := errors.New("boom")
		for _, tc := range []struct {
			name  string
			end   func() error // how fn ends after adding 100 and 50
			panic bool
			want  int64
		}{
			{"commit", func() error { return nil }, false, 150},
			{"error", func() error { return boom }, false, 150},
			{"panic", func() error { panic(boom) }, true, 150},
			{"commit again", func() error { return nil }, false, 300},
		} {
			func() {
				defer func() {
					if v := recover(); (v != nil) != tc.panic {
						t.Fatalf("%s: recovered %v", tc.name, v)
					}
				}()
				err := db.tx(ctx, func(tx *sql.Tx) error {
					if err := db.addUsage(ctx, tx, p.ID, 100); err != nil {
						return err
					}
					if err := db.addUsage(ctx, tx, p.ID, 50); err != nil {
						return err
					}
					if db.writer == nil { // PostgreSQL: the row is free until the commit
						other, cancel := context.WithTimeout(ctx, 5*time.Second)
						defer cancel()
						if _, err := db.sql.ExecContext(other, `UPDATE projects SET updated_at = updated_at WHERE id = $1`, p.ID); err != nil {
							t.Errorf("%s: another writer of the project: %v", tc.name, err)
						}
					}
					return tc.end()
				})
				if (err != nil) != (tc.name == "error") {
					t.Errorf("%s: tx = %v", tc.name, err)
				}
			}()
			if got := used(); got != tc.want {
				t.Errorf("%s: storage_used %d, want %d", tc.name, got, tc.want)
			}
			pending := 0
			db.txs.Range(func(any, any) bool { pending++; return true })
			if pending != 0 {
				t.Errorf("%s: %d transactions' usage left behind", tc.name, pending)
			}
		}
	})
}
