package metadata

import (
	"context"
	"database/sql"
	"sync"
	"testing"
)

// TestWritesShareTheWritersConnection checks that on SQLite every write
// transaction, alone or shared, runs on the writer's own connection (its
// page cache stays warm: no other connection writes), and reads on the
// pool's connections keep the default cache.
func TestWritesShareTheWritersConnection(t *testing.T) {
	db := openTestDB(t, "sqlite")
	ctx := context.Background()
	cacheIn := func(q querier) int {
		var n int
		if err := q.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var mu sync.Mutex
	seen := map[int]int{}
	note := func(tx *sql.Tx) error {
		mu.Lock()
		defer mu.Unlock()
		seen[cacheIn(tx)]++
		return nil
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			write := db.tx
			if i%2 == 0 {
				write = db.txShared
			}
			if err := write(ctx, note); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(seen) != 1 || seen[-writerCacheKiB] != 40 {
		t.Errorf("page cache sizes seen by 40 writes: %v, want -%d for each", seen, writerCacheKiB)
	}
	if n := cacheIn(db.sql); n == -writerCacheKiB {
		t.Errorf("a read on the pool has the writer's cache size %d", n)
	}
}
