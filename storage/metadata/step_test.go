package metadata

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A Step ends a removal's transaction between chunks, committing what it
// did; the caller passes the rest again, and in the end every tag and
// manifest is removed exactly once, whatever ended the transactions. On
// PostgreSQL (no Steps) a removal is one transaction whatever its Step.
func TestStepEndsRemovals(t *testing.T) {
	const tags, manifests = 100, 20
	always := func() bool { return true }
	// A request begins after each transaction's first chunk: quiet at its
	// beginning, busy at the next look.
	comes := func() func() bool {
		looks := 0
		return func() bool { looks++; return looks%2 == 0 }
	}
	for _, tc := range []struct {
		name string
		step func(context.Context) context.Context
		// transactions each removal takes (tags, manifests)
		tagTxs, manifestTxs int
	}{
		{"no step: one transaction", func(ctx context.Context) context.Context { return ctx }, 1, 1},
		{"a step that never ends early", func(ctx context.Context) context.Context {
			return Step(ctx, time.Hour, time.Hour, func() bool { return false })
		}, 1, 1},
		{"a request began: a chunk a transaction", func(ctx context.Context) context.Context {
			return Step(ctx, time.Hour, time.Hour, comes())
		}, 4, 3},
		{"the budget spent: a chunk a transaction", func(ctx context.Context) context.Context {
			return Step(ctx, time.Nanosecond, time.Hour, nil)
		}, 4, 3},
		{"begun busy: its busy budget spent", func(ctx context.Context) context.Context {
			return Step(ctx, time.Hour, time.Nanosecond, always)
		}, 4, 3},
		{"begun busy: not cut for requests", func(ctx context.Context) context.Context {
			return Step(ctx, time.Nanosecond, time.Hour, always)
		}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, db *DB) {
				ctx := context.Background()
				p := must[Project](t)(db.CreateProject(ctx, Project{Name: "s"}))
				a := pushImage(t, db, p.ID, "s/app", "sha256:tagged", "")
				for i := range tags {
					must0(t, db.PutTag(ctx, a.RepositoryID, fmt.Sprintf("t%03d", i), "sha256:tagged", time.Time{}))
				}
				var digests []string
				for i := range manifests {
					d := fmt.Sprintf("sha256:loose%02d", i)
					pushImage(t, db, p.ID, "s/app", d, "")
					digests = append(digests, d)
				}
				walked, _ := walkTags(t)(db.RetentionTags(ctx, a.RepositoryID, FirstTags, 1000))
				if len(walked) != tags {
					t.Fatalf("walked %d tags, want %d", len(walked), tags)
				}

				tagTxs, manifestTxs := tc.tagTxs, tc.manifestTxs
				if !db.Steps() {
					tagTxs, manifestTxs = 1, 1
				}
				removed, txs := map[string]int{}, 0
				for rest := walked; len(rest) > 0; txs++ {
					rows, changed, done, err := db.RemoveTags(tc.step(ctx), "s/app", rest, "test")
					if err != nil || changed != 0 || done == 0 || len(rows) != done {
						t.Fatalf("remove tags: %d rows, %d changed, %d done, %v", len(rows), changed, done, err)
					}
					for _, r := range rows {
						removed[r.Name]++
					}
					rest = rest[done:]
				}
				if txs != tagTxs || len(removed) != tags {
					t.Errorf("%d tags removed in %d transactions, want %d in %d", len(removed), txs, tags, tagTxs)
				}
				for name, n := range removed {
					if n != 1 {
						t.Errorf("tag %s removed %d times", name, n)
					}
				}
				if left, _ := walkTags(t)(db.RetentionTags(ctx, a.RepositoryID, FirstTags, 1000)); len(left) != 0 {
					t.Errorf("%d tags left", len(left))
				}

				digests = append(digests, "sha256:tagged") // untagged now too
				gone, txs := map[string]int{}, 0
				for rest := digests; len(rest) > 0; txs++ {
					r, done, err := db.RemoveUntagged(tc.step(ctx), "s/app", rest, "test")
					if err != nil || done == 0 || len(r.Keys) != len(r.SyncIDs) {
						t.Fatalf("remove untagged: %+v, %d done, %v", r, done, err)
					}
					for _, d := range r.Digests {
						gone[d]++
					}
					rest = rest[done:]
				}
				if txs != manifestTxs || len(gone) != len(digests) {
					t.Errorf("%d manifests removed in %d transactions, want %d in %d", len(gone), txs, len(digests), manifestTxs)
				}
				for d, n := range gone {
					if n != 1 {
						t.Errorf("manifest %s removed %d times", d, n)
					}
				}
			})
		})
	}
}
