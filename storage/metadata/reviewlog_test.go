package metadata

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// TestReviewLogFolds: a delete's reviews of blobs and links are appended to
// the log, counted as queued, and join gc_reviews only when a fold finds
// them due: each once, at the later of its times, the oldest first and in
// transactions of 500.
func TestReviewLogFolds(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		due := func(cutoff time.Time) map[string]time.Time {
			t.Helper()
			out := map[string]time.Time{}
			for after := (Review{}); ; {
				page := must[[]Review](t)(db.DueReviews(ctx, cutoff, after, 100))
				if len(page) == 0 {
					return out
				}
				for _, r := range page {
					out[r.Kind+" "+r.Repository+" "+r.Digest] = r.QueuedAt
				}
				after = page[len(page)-1]
			}
		}
		queue := func(queued, due int64, err error) (int64, int64) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			return queued, due
		}
		fold := func(cutoff time.Time) int64 { t.Helper(); return must[int64](t)(db.FoldReviews(ctx, cutoff)) }
		pushImage(t, db, p.ID, "p/app", "sha256:m1", "v1", blob("sha256:cfg", 10))
		before := due(time.Now().Add(time.Hour)) // the push's own reviews (upload-time links and data)
		queued, _ := queue(db.GCQueue(ctx, time.Now().Add(time.Hour)))
		r := must[Repository](t)(db.GetRepository(ctx, "p/app"))
		deleted := time.Now()
		if err := db.DeleteArtifact(ctx, r.ID, "sha256:m1"); err != nil {
			t.Fatal(err)
		}
		after, _ := queue(db.GCQueue(ctx, time.Now().Add(time.Hour)))
		if got := due(time.Now().Add(time.Hour)); len(got) != len(before) || after != queued+2 {
			t.Fatalf("after the delete: %d reviews keyed (want the %d before), %d queued (want %d + the 2 logged)", len(got), len(before), after, queued)
		}
		if n := fold(deleted.Add(-time.Minute)); n != 0 {
			t.Fatalf("folded %d reviews not due yet", n)
		}
		if n := fold(time.Now().Add(time.Hour)); n != 2 {
			t.Fatalf("folded %d, want the delete's 2", n)
		}
		got := due(time.Now().Add(time.Hour))
		for _, key := range []string{"blob  sha256:m1", "link p/app sha256:cfg"} {
			if at, ok := got[key]; !ok || at.Before(deleted.Add(-time.Second)) {
				t.Errorf("%s: queued %v (%v), want from the delete on (%v)", key, at, ok, deleted)
			}
		}
		if left, _ := queue(db.GCQueue(ctx, time.Now().Add(time.Hour))); left != int64(len(got)) {
			t.Errorf("%d queued after the fold, want the %d keyed", left, len(got))
		}

		// Many, repeated, and against keyed reviews queued earlier and later.
		base := time.Now().Add(-time.Hour)
		early, late := millis(base.Add(-time.Minute)), millis(base.Add(time.Hour))
		if err := db.tx(ctx, func(tx *sql.Tx) error {
			return db.upsertReviews(ctx, tx, []review{
				{kind: ReviewBlob, digest: "sha256:d0000", at: early},
				{kind: ReviewBlob, digest: "sha256:d0001", at: late},
			})
		}); err != nil {
			t.Fatal(err)
		}
		var logged []review
		for i := range 1200 {
			logged = append(logged, review{kind: ReviewBlob, digest: fmt.Sprintf("sha256:d%04d", i%1100), at: millis(base) + int64(i)})
		}
		for start := 0; start < len(logged); start += 300 { // duplicates land in other statements
			if err := db.tx(ctx, func(tx *sql.Tx) error { return db.appendReviews(ctx, tx, logged[start:start+300]) }); err != nil {
				t.Fatal(err)
			}
		}
		if n := fold(base.Add(time.Minute)); n != 1200 {
			t.Fatalf("folded %d, want all 1200 log rows", n)
		}
		got = due(base.Add(2 * time.Hour))
		for _, tc := range []struct {
			digest string
			want   int64
		}{
			{"sha256:d0000", millis(base) + 1100}, // the later log row wins over the earlier keyed one
			{"sha256:d0001", late},                // a later keyed time stays
			{"sha256:d0099", millis(base) + 1199},
			{"sha256:d0100", millis(base) + 100},
			{"sha256:d1099", millis(base) + 1099},
		} {
			if at, ok := got["blob  "+tc.digest]; !ok || millis(at) != tc.want {
				t.Errorf("%s: due at %v (%v), want %v", tc.digest, at, ok, fromMillis(tc.want))
			}
		}
		if n := fold(time.Now().Add(time.Hour)); n != 0 {
			t.Errorf("a second fold moved %d", n)
		}
	})
}
