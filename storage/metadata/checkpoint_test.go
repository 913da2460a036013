package metadata

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The checkpointer (checkpoint.go): SQLite's automatic checkpoints are off,
// the log is still copied into the database file and started over while
// writes and reads go on, nothing written is lost, and closing leaves no log.
func TestCheckpointer(t *testing.T) {
	db := groupTestDB(t)
	var dbPath string
	rows, err := db.sql.Query(`PRAGMA database_list`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int
		var name, file string
		if err := rows.Scan(&seq, &name, &file); err != nil {
			t.Fatal(err)
		}
		if name == "main" {
			dbPath = file
		}
	}
	rows.Close()
	if dbPath == "" {
		t.Fatal("no path for the main database")
	}
	// Every connection of the pool: hold them all at once.
	ctx := context.Background()
	var conns []interface{ Close() error }
	for range 8 {
		c, err := db.sql.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pages int
		if err := c.QueryRowContext(ctx, `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != 0 {
			t.Fatalf("wal_autocheckpoint = %d, %v; want 0 on every connection", pages, err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}

	// A small restart threshold, so a short test crosses it many times.
	db.ckpt.restartPages.Store(64)
	const writers, perWriter = 4, 1500
	value := strings.Repeat("x", 2000) // about half a page per row
	stopReads := make(chan struct{})
	var reads sync.WaitGroup
	reads.Add(1)
	go func() { // readers keep snapshots open all along
		defer reads.Done()
		for {
			select {
			case <-stopReads:
				return
			default:
			}
			var n int
			_ = db.sql.QueryRow(`SELECT count(*) FROM gt`).Scan(&n)
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := db.exec(ctx, `INSERT INTO gt (k, v) VALUES (?, ?)`, fmt.Sprintf("%d-%d-%s", w, i, value), i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stopReads)
	reads.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := gtCount(t, db, "1 = 1"); n != writers*perWriter {
		t.Fatalf("%d rows, want %d", n, writers*perWriter)
	}
	if db.ckpt.runs.Load() == 0 || db.ckpt.finished.Load() == 0 {
		t.Fatalf("checkpoints run %d, finished by the writer %d: want some of each", db.ckpt.runs.Load(), db.ckpt.finished.Load())
	}

	// The log was started over while readers kept coming (without the
	// writer's finishing checkpoint it grows to hold every commit).
	t.Logf("runs %d finished %d restarts %d", db.ckpt.runs.Load(), db.ckpt.finished.Load(), db.ckpt.restarts.Load())
	if db.ckpt.restarts.Load() == 0 {
		t.Fatalf("the log was never started over: %d checkpoints, the last saw %d pages", db.ckpt.runs.Load(), db.ckpt.lastLog.Load())
	}
	var ok string
	if err := db.sql.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dbPath + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("the log is left after Close: %v", err)
	}
}

// With CheckpointsGiveWay the checkpointer runs no checkpoint while the
// wait it was given holds it (the server's: requests in flight), and goes
// on once it returns; writes are not held meanwhile.
func TestCheckpointsGiveWay(t *testing.T) {
	db := groupTestDB(t)
	ctx := context.Background()
	held, waiting := make(chan struct{}), make(chan struct{}, 1)
	db.CheckpointsGiveWay(func(ctx context.Context) error {
		select {
		case waiting <- struct{}{}:
		default:
		}
		select {
		case <-held:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	write := func(i int) {
		if _, err := db.exec(ctx, `INSERT INTO gt (k, v) VALUES (?, ?)`, fmt.Sprintf("k%d", i), i); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	select { // the checkpointer, told of the commit, waits to give way
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the checkpointer never asked to give way")
	}
	before := db.ckpt.runs.Load()
	for i := 1; i <= 50; i++ {
		write(i) // commits go on while it waits
	}
	time.Sleep(3 * checkpointGap)
	if n := db.ckpt.runs.Load(); n != before {
		t.Fatalf("%d checkpoints ran while the checkpointer was to give way", n-before)
	}
	close(held)
	deadline := time.Now().Add(10 * time.Second)
	for db.ckpt.runs.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint once the wait returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := gtCount(t, db, "1=1"); got != 51 {
		t.Errorf("%d rows, want 51", got)
	}
}

// The writer puts off a finishing checkpoint while a request's write waits
// for it, never past finishDefer after it was asked for.
func TestMayFinish(t *testing.T) {
	asked := time.Unix(1000, 0)
	for _, tc := range []struct {
		name           string
		restart        bool
		requestWaiting bool
		since          time.Duration
		want           bool
	}{
		{"not asked for", false, false, time.Hour, false},
		{"asked, no request waits", true, false, 0, true},
		{"asked, a request waits", true, true, finishDefer / 2, false},
		{"asked finishDefer ago, a request waits", true, true, finishDefer, true},
	} {
		c := newCheckpointer()
		c.restart.Store(tc.restart)
		c.asked.Store(asked.UnixNano())
		if got := c.mayFinish(tc.requestWaiting, asked.Add(tc.since)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
