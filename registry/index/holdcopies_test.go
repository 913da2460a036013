package index

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// While a retention run holds the storage copies, SettleAsync writes none
// of them: they wait in the table, and the drainer writes them all once
// every holder let go. A server stopping meanwhile does not wait for the
// holders: the rows stay for its next start.
func TestHoldCopies(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop bool // stop settling while held
	}{
		{"released", false},
		{"stopped while held", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ix, db, driver, repoID, m := settleFixture(t, nil)
			var keys []metadata.SyncKey
			for i := range 120 {
				name := fmt.Sprintf("t%04d", i)
				if err := db.PutTag(ctx, repoID, name, m, time.Time{}); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, metadata.SyncKey{Repository: "p/a", Kind: metadata.SyncTag, Name: name})
			}
			written := func() int {
				n := 0
				for _, k := range keys {
					if _, err := driver.GetContent(ctx, tagLinkPath("p/a", k.Name)); err == nil {
						n++
					}
				}
				return n
			}
			run, other := ix.HoldCopies(), ix.HoldCopies() // two runs at once
			for i := 0; i < len(keys); i += 30 {
				ids, err := db.AddSync(ctx, ix.Owner(), keys[i:i+30]...)
				if err != nil {
					t.Fatal(err)
				}
				ix.SettleAsync(ctx, metadata.SyncRows(keys[i:i+30], ids))
			}
			time.Sleep(100 * time.Millisecond)
			if n := written(); n != 0 {
				t.Fatalf("%d copies written while held", n)
			}
			run()
			run() // idempotent: the other run still holds
			time.Sleep(100 * time.Millisecond)
			if n := written(); n != 0 {
				t.Fatalf("%d copies written while the other run holds", n)
			}
			if left, err := db.PendingSync(ctx, 1000); err != nil || len(left) != len(keys) {
				t.Fatalf("rows waiting in the table: %d (%v), want %d", len(left), err, len(keys))
			}
			if tc.stop {
				stopped := make(chan struct{})
				go func() {
					defer close(stopped)
					ix.stopSettling()
				}()
				select {
				case <-stopped:
				case <-time.After(10 * time.Second):
					t.Fatal("stopping waited for the holder")
				}
				other()
				if n := written(); n != 0 {
					t.Fatalf("%d copies written after the drainer stopped", n)
				}
				if left, err := db.PendingSync(ctx, 1000); err != nil || len(left) != len(keys) {
					t.Fatalf("rows left for the next start: %d (%v), want %d", len(left), err, len(keys))
				}
				return
			}
			other()
			ix.WaitSettled()
			if n := written(); n != len(keys) {
				t.Fatalf("%d of %d copies written after the holders let go", n, len(keys))
			}
			ix.flushDone(ctx)
			if left, err := db.PendingSync(ctx, 10); err != nil || len(left) != 0 {
				t.Errorf("rows left: %d %v", len(left), err)
			}
		})
	}
}
