package metadata

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// The collector makes what it read durable before it deletes a blob's
// data (logflush.go): a blob whose last link went in an asynchronous
// commit that the server's log writer has not flushed yet loses its data
// only once that commit is flushed. The server here flushes on its own
// only every 10 s (wal_writer_delay) and its background writer writes no
// pages (each would flush the log up to the page first), so whatever
// flushes the release's commit in between is the collector's.
func TestCollectorFlushesLogBeforeDeleting(t *testing.T) {
	t.Setenv(berthtest.PGSettingsEnv, "wal_writer_delay=10s bgwriter_lru_maxpages=0")
	pg := berthtest.StartPostgres(t)
	ctx := context.Background()
	db, err := Open(ctx, pg.NewDatabase(t), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.sql.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	d := "sha256:" + strings.Repeat("ab", 32)
	old := millis(time.Now().Add(-time.Hour))
	exec(`INSERT INTO blobs (digest, size, media_type, linked_at) VALUES ($1, 3, 'application/octet-stream', $2)`, d, old)
	exec(`INSERT INTO gc_reviews (kind, repository, digest, queued_at) VALUES ($1, '', $2, $3)`, ReviewBlob, d, old)

	// The blob's last link goes in an asynchronous commit; release is
	// where the log ends after it. The log writer, woken by such a commit
	// long after its last flush, flushes at once: then again.
	var release string
	for try := 0; try < 5 && release == ""; try++ {
		exec(`INSERT INTO repository_blobs (repository, digest, linked_at) VALUES ('p/r', $1, $2)`, d, old)
		if err := db.tx(AsyncCommit(ctx), func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM repository_blobs WHERE repository = 'p/r' AND digest = $1`, d)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var lsn string
		var flushed bool
		if err := db.sql.QueryRowContext(ctx, `SELECT l::text, pg_current_wal_flush_lsn() >= l FROM pg_current_wal_insert_lsn() l`).Scan(&lsn, &flushed); err != nil {
			t.Fatal(err)
		}
		if !flushed {
			release = lsn
		}
	}
	if release == "" {
		t.Fatal("the release's commit was flushed at once five times: the test cannot tell what flushes it")
	}

	var calls int
	var flushedFirst bool
	res, found, err := db.ProcessReview(ctx, time.Now(), "collector", func(ctx context.Context, digest string) error {
		calls++
		return db.sql.QueryRowContext(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, release).Scan(&flushedFirst)
	})
	if err != nil || !found {
		t.Fatalf("ProcessReview: found %v, %v", found, err)
	}
	if res.Outcome != OutcomeDeleted || calls != 1 {
		t.Fatalf("the review: %s with %d deletions of data, want %s with one", res.Outcome, calls, OutcomeDeleted)
	}
	if !flushedFirst {
		t.Error("the blob's data was deleted before the commit that released it was flushed")
	}
	// Its row stays a minute, and goes with a later flush.
	exec(`UPDATE log_flushes SET at = at - 61000`)
	if err := db.flushLog(ctx); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM log_flushes`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("log_flushes has %d rows (%v) after a flush a minute later, want its own only", rows, err)
	}
}

// On SQLite the collector syncs the database's log before it deletes a
// blob's data: a power loss cannot bring back, without its data, a
// manifest whose removal released the blob a moment before.
func TestCollectorSyncsSQLiteLogBeforeDeleting(t *testing.T) {
	db := openTestDB(t, "sqlite")
	ctx := context.Background()
	syncs := hookLogSync(t, nil)
	d := "sha256:" + strings.Repeat("cd", 32)
	old := millis(time.Now().Add(-time.Hour))
	for _, q := range []string{
		`INSERT INTO blobs (digest, size, media_type, linked_at) VALUES (?, 3, 'application/octet-stream', ?)`,
		`INSERT INTO gc_reviews (kind, repository, digest, queued_at) VALUES ('` + ReviewBlob + `', '', ?, ?)`,
	} {
		if _, err := db.exec(ctx, q, d, old); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	before := syncs.Load()
	var syncedFirst bool
	res, found, err := db.ProcessReview(ctx, time.Now(), "collector", func(ctx context.Context, digest string) error {
		syncedFirst = syncs.Load() > before
		return nil
	})
	if err != nil || !found || res.Outcome != OutcomeDeleted {
		t.Fatalf("ProcessReview: %s, found %v, %v; want %s", res.Outcome, found, err, OutcomeDeleted)
	}
	if !syncedFirst {
		t.Error("the blob's data was deleted before the database's log was synced")
	}
}
