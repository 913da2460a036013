package metadata

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// The writer takes requests' writes before background work (priority.go),
// unless the background write has waited long enough; a shared transaction
// takes shared writes past a background one waiting.
func TestWriterBackground(t *testing.T) {
	type ask struct {
		key        string
		background bool
		shared     bool
		pause      time.Duration // before asking the next
	}
	for _, tc := range []struct {
		name      string
		wait      time.Duration // the writer's backgroundWait
		asks      []ask
		wantOrder []string
		wantTx    int // transactions after the held one
	}{
		{name: "requests first", wait: time.Minute,
			asks:      []ask{{key: "gc", background: true}, {key: "push"}, {key: "push2", shared: true}},
			wantOrder: []string{"push", "push2", "gc"}, wantTx: 3},
		{name: "a background write that waited long enough goes first", wait: 20 * time.Millisecond,
			asks:      []ask{{key: "gc", background: true, pause: 60 * time.Millisecond}, {key: "push"}},
			wantOrder: []string{"gc", "push"}, wantTx: 2},
		{name: "background writes keep their order", wait: time.Minute,
			asks:      []ask{{key: "gc1", background: true}, {key: "gc2", background: true}, {key: "push"}},
			wantOrder: []string{"push", "gc1", "gc2"}, wantTx: 3},
		{name: "shared writes share past a background one", wait: time.Minute,
			asks:      []ask{{key: "a", shared: true}, {key: "gc", background: true}, {key: "b", shared: true}},
			wantOrder: []string{"a", "b", "gc"}, wantTx: 2},
		{name: "a shared background write shares when its turn comes", wait: time.Minute,
			asks:      []ask{{key: "sync", shared: true, background: true}, {key: "a", shared: true}},
			wantOrder: []string{"a", "sync"}, wantTx: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := groupTestDB(t)
			db.writer.backgroundWait = tc.wait
			release, held := holdWriter(t, db)
			batches0, _ := db.writeGrouping()
			var mu sync.Mutex
			var order []string
			errs := make(chan error, len(tc.asks))
			for i, a := range tc.asks {
				go func() {
					ctx := context.Background()
					if a.background {
						ctx = Background(ctx)
					}
					fn := func(tx *sql.Tx) error {
						mu.Lock()
						order = append(order, a.key)
						mu.Unlock()
						_, err := tx.Exec(`INSERT INTO gt (k, v) VALUES (?, 1)`, a.key)
						return err
					}
					if a.shared {
						errs <- db.txShared(ctx, fn)
					} else {
						errs <- db.tx(ctx, fn)
					}
				}()
				queued(t, db, i+1)
				time.Sleep(a.pause)
			}
			release()
			if err := <-held; err != nil {
				t.Fatal(err)
			}
			for range tc.asks {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(order, tc.wantOrder) {
				t.Errorf("ran %v, want %v", order, tc.wantOrder)
			}
			// (The held write was counted when the writer took it.)
			batches, _ := db.writeGrouping()
			if got := int(batches - batches0); got != tc.wantTx {
				t.Errorf("%d transactions, want %d", got, tc.wantTx)
			}
			if n := gtCount(t, db, "1 = 1"); n != len(tc.asks) {
				t.Errorf("%d rows, want %d", n, len(tc.asks))
			}
		})
	}
}

// A transaction made with AsyncCommit runs with synchronous_commit off on
// PostgreSQL, and only that transaction (SET LOCAL): the next one on the
// same connection has the server's setting again. On SQLite it changes
// nothing.
func TestAsyncCommit(t *testing.T) {
	t.Setenv(berthtest.PGDurableEnv, "1") // a server whose commits wait for the log
	pg := berthtest.StartPostgres(t)
	ctx := context.Background()
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dsn := filepath.Join(t.TempDir(), "berth.db")
			if name == "postgres" {
				dsn = pg.NewDatabase(t)
			}
			db, err := Open(ctx, dsn, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			db.sql.SetMaxOpenConns(1) // one connection: what a transaction leaves on it shows in the next
			for _, tc := range []struct {
				name string
				ctx  context.Context
				want string // PostgreSQL's synchronous_commit in the transaction
			}{
				{"plain", ctx, "on"},
				{"async", AsyncCommit(ctx), "off"},
				{"plain after async", ctx, "on"},
				{"async background", AsyncCommit(Background(ctx)), "off"},
				{"background", Background(ctx), "on"},
			} {
				var got string
				err := db.tx(tc.ctx, func(tx *sql.Tx) error {
					if db.writer != nil {
						_, err := tx.ExecContext(ctx, `UPDATE projects SET public = public WHERE id = 0`)
						return err
					}
					return tx.QueryRowContext(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&got)
				})
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if db.writer == nil && got != tc.want {
					t.Errorf("%s: synchronous_commit %q, want %q", tc.name, got, tc.want)
				}
			}
		})
	}
}
