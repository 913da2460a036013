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

// A passive checkpoint asks the writer to finish it once the log is long
// enough, unless readers kept the writer's last finish from starting the
// log over and nothing has been copied past where that one stopped since.
func TestMayAsk(t *testing.T) {
	for _, tc := range []struct {
		name             string
		stuckAt          int64
		logPages, copied int64
		want, unstuck    bool
	}{
		{"short log", -1, 63, 63, false, true},
		{"long log", -1, 64, 10, true, true},
		{"long log, the last finish held where it stopped", 40, 200, 40, false, false},
		{"long log, copied past where it stopped", 40, 200, 41, true, true},
		{"the log started over since", 400, 100, 100, true, true},
		{"short log, copied past where it stopped", 40, 50, 50, false, true},
	} {
		c := newCheckpointer()
		c.restartPages.Store(64)
		c.stuckAt.Store(tc.stuckAt)
		if got := c.mayAsk(tc.logPages, tc.copied); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if unstuck := c.stuckAt.Load() == -1; unstuck != tc.unstuck {
			t.Errorf("%s: stuckAt %d afterwards", tc.name, c.stuckAt.Load())
		}
	}
}

// A reader holding an old snapshot (a fold's sorted read of its log) keeps
// the log from being started over. The writer tries once, finds it so, and
// does not try again (each try holds it, and every write queued behind it,
// for finishWait) until the reader has gone; then the log starts over.
func TestCheckpointerLeavesTheWriterAloneWhileAReaderHoldsTheLog(t *testing.T) {
	db := groupTestDB(t)
	db.ckpt.restartPages.Store(64)
	ctx := context.Background()
	value := strings.Repeat("x", 2000)
	write := func(i int) {
		if _, err := db.exec(ctx, `INSERT INTO gt (k, v) VALUES (?, ?)`, fmt.Sprintf("%d-%s", i, value), i); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(WithTimeout(ctx, 0), `SELECT k FROM gt`)
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() { // the snapshot is held from here until rows close
		t.Fatal(rows.Err())
	}
	finished, runs := db.ckpt.finished.Load(), db.ckpt.runs.Load()
	i := 1
	// Writes past the restart threshold many times over, for long enough
	// that the checkpointer would ask again and again (every checkpointGap).
	for ; i <= 400 || db.ckpt.runs.Load() < runs+10; i++ {
		write(i)
		time.Sleep(2 * time.Millisecond)
	}
	switch n := db.ckpt.finished.Load() - finished; {
	case n == 0:
		t.Errorf("the writer never tried to start the log over (%d pages): the reader was never in its way", db.ckpt.lastLog.Load())
	case n > 2:
		// One finds the reader; a second may have been asked for before
		// the first said so.
		t.Errorf("the writer tried %d times to start the log over while a reader held it (over %d checkpoints), want at most 2", n, db.ckpt.runs.Load()-runs)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	restarts := db.ckpt.restarts.Load()
	deadline := time.Now().Add(10 * time.Second)
	for ; db.ckpt.restarts.Load() == restarts; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("the log was not started over once the reader had gone (%d pages)", db.ckpt.lastLog.Load())
		}
		write(i)
		time.Sleep(2 * time.Millisecond)
	}
	if got := gtCount(t, db, "1=1"); got != i {
		t.Errorf("%d rows, want %d", got, i)
	}
}
