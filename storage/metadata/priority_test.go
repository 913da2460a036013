package metadata

import (
	"context"
	"database/sql"
	"slices"
	"sync"
	"testing"
	"time"
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
