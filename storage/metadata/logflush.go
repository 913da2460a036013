package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Acting outside the database after commits that did not wait for the log.
//
// On PostgreSQL a transaction committed without waiting for its log to
// reach the disk (AsyncCommit, or every commit on a server whose
// synchronous_commit is off) is visible to other sessions at once, and a
// crash of the server before the log writer flushed it (a few hundred
// milliseconds) loses it. The garbage collector deletes a blob's data once
// it reads that nothing uses the blob: had an asynchronous removal
// released it and been lost that way, the manifest would come back
// without its data. So before deleting data the collector commits a write
// of its own synchronously (flushLog): the server's log is one sequence,
// and a flush takes everything before it, so every commit the
// collector's decision saw is durable by the time the data goes.
//
// The write goes through a pool of its own (two connections at most, closed
// after a minute idle): the collector calls it inside a transaction
// that holds a connection of the main pool, and a second connection from
// the same pool could wait forever once every connection was held by a
// transaction waiting the same way.

// openFlusher opens the pool flushLog uses (PostgreSQL). It connects on
// first use.
func openFlusher(dsn string, timeout time.Duration) (*sql.DB, error) {
	f, err := openBounded("pgx", dsn, timeout, pgSession(dsn)...)
	if err != nil {
		return nil, err
	}
	f.SetMaxOpenConns(2)
	f.SetMaxIdleConns(2)
	f.SetConnMaxIdleTime(time.Minute)
	return f, nil
}

// flushLog makes every transaction committed before it durable: on
// PostgreSQL it adds a row to log_flushes in a transaction that commits
// with synchronous_commit on, whatever the server's default (and takes
// away the rows of flushes a minute old that no other flush is taking:
// the table stays small, and flushes never wait for each other), in one
// statement, one round trip. On SQLite a commit is in the database's log
// file before it returns, so no crash of berth loses it, but a power loss
// can lose the last ones (synchronous=NORMAL syncs at checkpoints): there
// it syncs the log, as a request's answer does (durable.go).
func (db *DB) flushLog(ctx context.Context) error {
	if db.logSync != nil {
		if err := db.logSync.sync(); err != nil {
			return fmt.Errorf("metadata: syncing the log: %w", err)
		}
		return nil
	}
	if db.flusher == nil {
		return nil
	}
	now := millis(time.Now())
	// set_config(..., true) holds for the statement's own transaction,
	// whose commit reads it.
	_, err := db.flusher.ExecContext(ctx, `WITH sync AS (SELECT set_config('synchronous_commit', 'on', true)),
		gone AS (DELETE FROM log_flushes WHERE id IN (SELECT id FROM log_flushes WHERE at < $1 FOR UPDATE SKIP LOCKED))
		INSERT INTO log_flushes (at) SELECT $2 FROM sync`, now-time.Minute.Milliseconds(), now)
	if err != nil {
		return fmt.Errorf("metadata: flushing the log: %w", err)
	}
	return nil
}
