package metadata

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
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
