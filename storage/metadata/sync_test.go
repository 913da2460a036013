package metadata

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// The rows no live writer will finish are a stopped writer's (still in
// the instances table or gone from it) and any old enough; a live writer's
// backlog is passed over (and its old rows are not counted as more to
// come). OwnSync pages through one writer's rows in id order.
func TestOrphanedAndOwnSync(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		now := time.Now()
		if err := db.Heartbeat(ctx, "live", now); err != nil {
			t.Fatal(err)
		}
		if err := db.Heartbeat(ctx, "stopped", now); err != nil {
			t.Fatal(err)
		}
		add := func(owner string, n int) []int64 {
			var keys []SyncKey
			for i := range n {
				keys = append(keys, SyncKey{Repository: "p/" + owner, Kind: SyncTag, Name: fmt.Sprintf("t%d", i)})
			}
			return must[[]int64](t)(db.AddSync(ctx, owner, keys...))
		}
		liveIDs := add("live", 30)
		stoppedIDs := add("stopped", 3)
		goneIDs := add("gone", 2) // no instance row at all
		// "stopped" stops heartbeating: its heartbeat is older than the
		// deadline given below.
		staleAfter := time.Now().Add(time.Millisecond)
		time.Sleep(5 * time.Millisecond)
		if err := db.Heartbeat(ctx, "live", time.Now()); err != nil {
			t.Fatal(err)
		}
		ids := func(rows []Sync) []int64 {
			var out []int64
			for _, r := range rows {
				out = append(out, r.ID)
			}
			return out
		}
		orphans := slices.Concat(stoppedIDs, goneIDs)
		for _, tc := range []struct {
			name      string
			abandoned time.Time // rows created before: orphans too
			limit     int
			want      []int64
			more      bool
		}{
			{"stopped and gone writers", now.Add(-time.Hour), 100, orphans, false},
			{"a page of them", now.Add(-time.Hour), 4, orphans[:4], true},
			{"exactly a page", now.Add(-time.Hour), 5, orphans, true},
			{"old rows of the live writer too", time.Now().Add(time.Hour), 100, slices.Concat(liveIDs, orphans), false},
			{"old rows do not make more", time.Now().Add(time.Hour), 10, slices.Concat(liveIDs[:5], orphans)[:10], false},
		} {
			got, more, err := db.OrphanedSync(ctx, staleAfter, tc.abandoned, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(ids(got), want) || more != tc.more {
				t.Errorf("%s: %v more=%v, want %v more=%v", tc.name, ids(got), more, want, tc.more)
			}
		}
		var paged []int64
		for after := int64(0); ; {
			page := must[[]Sync](t)(db.OwnSync(ctx, "live", after, 7))
			if len(page) == 0 {
				break
			}
			for _, r := range page {
				if r.Owner != "live" || r.Repository != "p/live" {
					t.Fatalf("OwnSync gave %+v", r)
				}
			}
			paged = append(paged, ids(page)...)
			after = page[len(page)-1].ID
		}
		if !slices.Equal(paged, liveIDs) {
			t.Errorf("OwnSync pages: %v, want %v", paged, liveIDs)
		}
		all := must[[]Sync](t)(db.PendingSync(ctx, 1000))
		if len(all) != 35 || !slices.IsSortedFunc(all, func(a, b Sync) int { return int(a.ID - b.ID) }) {
			t.Errorf("PendingSync: %d rows", len(all))
		}
	})
}
