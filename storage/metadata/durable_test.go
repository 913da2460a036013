package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hookLogSync replaces the log's sync for the test: each call runs f
// (nil: the real sync) and is counted.
func hookLogSync(t *testing.T, f func(path string) error) *atomic.Int64 {
	t.Helper()
	real := syncLogFile
	var calls atomic.Int64
	syncLogFile = func(path string) error {
		calls.Add(1)
		if !strings.HasSuffix(path, "berth.db-wal") {
			t.Errorf("synced %s, not the database's log", path)
		}
		if f != nil {
			return f(path)
		}
		return real(path)
	}
	t.Cleanup(func() { syncLogFile = real })
	return &calls
}

// A request's success waits for the log's sync when, and only when, a
// statement of it may have written: through the writer, directly, a
// prepared statement, or a query that writes (INSERT ... RETURNING).
func TestDurableSyncsTheLogOfWrites(t *testing.T) {
	db := openTestDB(t, "sqlite")
	calls := hookLogSync(t, nil)
	n := 0
	key := func() string { n++; return fmt.Sprintf("durable-%d", n) }
	for _, tc := range []struct {
		name string
		do   func(ctx context.Context) error
		sync bool
	}{
		{"nothing", func(context.Context) error { return nil }, false},
		{"a recursive read", func(ctx context.Context) error {
			var n int
			return db.sql.QueryRowContext(ctx, `WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3) SELECT count(*) FROM c`).Scan(&n)
		}, false},
		{"a read", func(ctx context.Context) error {
			var v string
			err := db.sql.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, "none").Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}, false},
		{"a write through the writer", func(ctx context.Context) error {
			_, err := db.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, key(), "v")
			return err
		}, true},
		{"a prepared write", func(ctx context.Context) error {
			_, err := db.execHot(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, key(), "v")
			return err
		}, true},
		{"a write of its own transaction", func(ctx context.Context) error {
			_, err := db.sql.ExecContext(ctx, `UPDATE settings SET value = ? WHERE name = ?`, "w", "durable-1")
			return err
		}, true},
		{"a query that writes", func(ctx context.Context) error {
			var name string
			return db.sql.QueryRowContext(ctx, ` insert INTO settings (name, value) VALUES (?, ?) RETURNING name`, key(), "v").Scan(&name)
		}, true},
		{"a write that changed nothing", func(ctx context.Context) error {
			_, err := db.exec(ctx, `DELETE FROM settings WHERE name = ?`, "none")
			return err
		}, false},
		{"a write whose loss costs nothing (untracked)", func(ctx context.Context) error {
			_, err := db.exec(untracked(ctx), `UPDATE settings SET value = ? WHERE name = ?`, "u", "durable-1")
			return err
		}, false},
		{"a write that failed (synced anyway: cheap, and never wrong)", func(ctx context.Context) error {
			_, err := db.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, "durable-1", "again")
			if err == nil {
				return errors.New("a duplicate key was inserted")
			}
			return nil
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := TrackCommits(context.Background(), db)
			if err := tc.do(ctx); err != nil {
				t.Fatal(err)
			}
			if Wrote(ctx) != tc.sync {
				t.Errorf("Wrote %v, want %v", Wrote(ctx), tc.sync)
			}
			before := calls.Load()
			if err := Durable(ctx); err != nil {
				t.Fatal(err)
			}
			if got := calls.Load() - before; got != map[bool]int64{true: 1}[tc.sync] {
				t.Errorf("%d syncs, want sync %v", got, tc.sync)
			}
			// A second Durable with nothing written since has nothing to do.
			if err := Durable(ctx); err != nil || calls.Load()-before > 1 {
				t.Errorf("second Durable: %v, %d syncs in all", err, calls.Load()-before)
			}
		})
	}
	// A context without TrackCommits marks nothing.
	if _, err := db.exec(context.Background(), `INSERT INTO settings (name, value) VALUES (?, ?)`, key(), "v"); err != nil {
		t.Fatal(err)
	}
	if Wrote(context.Background()) || Durable(context.Background()) != nil {
		t.Error("an untracked context asked for a sync")
	}
}

// A caller waits for a sync that began after it asked: one under way may
// have begun before its commit. Callers waiting together share the next.
func TestDurableWaitsForASyncBegunAfterIt(t *testing.T) {
	db := openTestDB(t, "sqlite")
	// The first sync is held until the test lets it go; later ones pass.
	entered, release := make(chan struct{}), make(chan struct{})
	var begun, ended atomic.Int64
	calls := hookLogSync(t, func(string) error {
		if begun.Add(1) == 1 {
			close(entered)
			<-release
		}
		ended.Add(1)
		return nil
	})
	write := func() context.Context {
		ctx := TrackCommits(context.Background(), db)
		if _, err := db.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, fmt.Sprint(time.Now().UnixNano()), "v"); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	// durable reports Durable's error and how many syncs had ended when it
	// returned.
	type result struct {
		err   error
		ended int64
	}
	durable := func(ctx context.Context) <-chan result {
		done := make(chan result, 1)
		go func() {
			err := Durable(ctx)
			done <- result{err, ended.Load()}
		}()
		return done
	}
	first := durable(write())
	<-entered
	// Two more callers while the first sync runs: it may have begun before
	// their commits, so it cannot answer them.
	second, third := durable(write()), durable(write())
	time.Sleep(50 * time.Millisecond) // most often they wait on it by now
	close(release)
	for i, c := range []<-chan result{first, second, third} {
		r := <-c
		if r.err != nil {
			t.Fatal(r.err)
		}
		if want := min(int64(i), 1) + 1; r.ended < want {
			t.Errorf("caller %d returned when %d syncs had ended, want at least %d", i+1, r.ended, want)
		}
	}
	// The two waiting together share the second sync (three when one of
	// them came after it began).
	if n := calls.Load(); n < 2 || n > 3 {
		t.Errorf("%d syncs for three callers, two of them waiting together; want 2 (or 3)", n)
	}
}

// A failed sync fails every caller it was to cover, and only those.
func TestDurableReportsAFailedSync(t *testing.T) {
	db := openTestDB(t, "sqlite")
	fail := errors.New("EIO")
	var failing atomic.Bool
	hookLogSync(t, func(path string) error {
		if failing.Load() {
			return fail
		}
		return nil
	})
	for _, tc := range []struct {
		name string
		fail bool
	}{
		{"failed", true},
		{"the next succeeds", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failing.Store(tc.fail)
			ctx := TrackCommits(context.Background(), db)
			if _, err := db.exec(ctx, `INSERT INTO settings (name, value) VALUES (?, ?)`, tc.name, "v"); err != nil {
				t.Fatal(err)
			}
			err := Durable(ctx)
			if tc.fail != errors.Is(err, fail) {
				t.Errorf("Durable: %v, want failure %v", err, tc.fail)
			}
		})
	}
}
