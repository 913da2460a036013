package metadata

import (
	"context"
	"database/sql"
	"fmt"
)

// On SQLite the writer runs every write transaction of the process on a
// connection of its own, with a page cache of writerCacheKiB.
//
// SQLite keeps a page cache per connection and empties it whenever it
// finds that another connection wrote since its last transaction. With
// writes spread over the pool's connections, each found its cache emptied
// at nearly every write, and read the B-tree pages it was about to change
// again from the file (a system call each: random pages of the blob and
// digest indexes, for every manifest a retention run removes). On a
// connection no one else writes through, the pages stay: interior pages of
// every index and the leaves written recently. A 100,000-tag retention run
// took 62-64 s instead of 72-85 s (alternated, docs/benchmarks.md); the
// cache costs at most its size, on one connection (the pool's keep
// SQLite's 2 MB).
const writerCacheKiB = 64 << 10

// begin starts a write transaction: on SQLite on the writer's connection
// (only the writer goroutine calls it there), on PostgreSQL from the pool.
func (db *DB) begin(ctx context.Context) (*sql.Tx, error) {
	if db.writer == nil {
		return db.sql.BeginTx(ctx, nil)
	}
	wr := db.writer
	if wr.conn == nil {
		c, err := db.sql.Conn(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)); err != nil {
			_ = c.Close()
			return nil, err
		}
		wr.conn = c
	}
	tx, err := wr.conn.BeginTx(ctx, nil)
	if err != nil {
		// Maybe broken: given back (database/sql drops a broken one), and
		// another taken for the next write.
		db.releaseWriterConn()
	}
	return tx, err
}

// releaseWriterConn gives the writer's connection back to the pool, with
// the pool's page cache size.
func (db *DB) releaseWriterConn() {
	wr := db.writer
	if wr == nil || wr.conn == nil {
		return
	}
	_, _ = wr.conn.ExecContext(WithTimeout(context.Background(), 0), "PRAGMA cache_size = -2000")
	_ = wr.conn.Close()
	wr.conn = nil
}
