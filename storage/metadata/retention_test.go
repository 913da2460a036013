package metadata

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Retention removes only the tags it weighed: a tag re-pushed, moved or
// deleted between the walk and the removal is skipped, and a tag guard
// (immutability) refuses inside the transaction.
func TestRemoveTagsOnlyWhatWasWeighed(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		a := pushImage(t, db, p.ID, "p/app", "sha256:m1", "old")
		pushImage(t, db, p.ID, "p/app", "sha256:m2", "")
		for _, tag := range []string{"moved", "gone", "kept", "guarded"} {
			must0(t, db.PutTag(ctx, a.RepositoryID, tag, "sha256:m1", time.Now().Add(-time.Hour)))
		}
		walked, _ := walkTags(t)(db.RetentionTags(ctx, a.RepositoryID, FirstTags, 100))
		if len(walked) != 5 {
			t.Fatalf("walked %d tags, want 5", len(walked))
		}
		// After the walk: "moved" now names another manifest, "gone" is
		// deleted, "old" is re-pushed (a later push time).
		must0(t, db.PutTag(ctx, a.RepositoryID, "moved", "sha256:m2", time.Time{}))
		must0(t, db.DeleteTag(ctx, a.RepositoryID, "gone"))
		must0(t, db.PutTag(ctx, a.RepositoryID, "old", "sha256:m1", time.Now().Add(time.Minute)))

		guard := WithTagGuard(ctx, func(repo, tag string) error {
			if tag == "guarded" {
				return errors.New("immutable")
			}
			return nil
		})
		var all []RetentionTag
		for _, w := range walked {
			if w.Name != "guarded" {
				all = append(all, w)
			}
		}
		rows, changed, done, err := db.RemoveTags(guard, "p/app", all, "test")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Name != "kept" || changed != 3 || done != len(all) {
			t.Fatalf("removed %+v, %d changed, %d of %d done; want only kept removed, 3 changed, all done", rows, changed, done, len(all))
		}
		for _, w := range walked {
			if w.Name == "guarded" {
				if _, _, _, err := db.RemoveTags(guard, "p/app", []RetentionTag{w}, "test"); err == nil {
					t.Fatal("the guard let retention remove a guarded tag")
				}
			}
		}
		left, _ := walkTags(t)(db.RetentionTags(ctx, a.RepositoryID, FirstTags, 100))
		names := map[string]string{}
		for _, l := range left {
			names[l.Name] = l.Digest
		}
		if len(names) != 3 || names["moved"] != "sha256:m2" || names["old"] != "sha256:m1" || names["guarded"] != "sha256:m1" {
			t.Fatalf("tags left: %v", names)
		}
	})
}

func walkTags(t testing.TB) func([]RetentionTag, TagCursor, error) ([]RetentionTag, TagCursor) {
	return func(v []RetentionTag, c TagCursor, err error) ([]RetentionTag, TagCursor) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v, c
	}
}

// A run's items are written a thousand to a transaction (on SQLite a
// run's 100,000 in one held the write lock over a second), and read back
// whole and in order.
func TestRetentionItemsInSteps(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		run := must[RetentionRun](t)(db.StartRetentionRun(ctx, RetentionRun{ProjectID: p.ID}))
		items := make([]RetentionItem, 2*itemsPerTx+500)
		for i := range items {
			items[i] = RetentionItem{Seq: int64(i + 1), Repository: "p/app", Tag: fmt.Sprintf("t%d", i), Digest: "sha256:m", Decision: "no rule keeps it"}
		}
		var before int64
		if db.writer != nil {
			before = db.writer.batches.Load()
		}
		waits := 0 // the run's way of giving way to requests: before each step
		must0(t, db.AddRetentionItems(GiveWay(ctx, func(context.Context) error { waits++; return nil }), run.ID, items))
		if db.writer != nil {
			if got := db.writer.batches.Load() - before; got != 3 {
				t.Errorf("%d items written in %d transactions, want 3", len(items), got)
			}
		}
		if waits != 3 {
			t.Errorf("gave way %d times, want 3 (once before each transaction)", waits)
		}
		var read []RetentionItem
		for after := int64(0); ; {
			page := must[[]RetentionItem](t)(db.RetentionItems(ctx, run.ID, after, 700))
			if len(page) == 0 {
				break
			}
			read = append(read, page...)
			after = page[len(page)-1].Seq
		}
		if len(read) != len(items) {
			t.Fatalf("read %d items, want %d", len(read), len(items))
		}
		for i := range read {
			if read[i] != items[i] {
				t.Fatalf("item %d: %+v, want %+v", i, read[i], items[i])
			}
		}
	})
}

// Removals side by side in two repositories of a project whose manifests
// share blobs (a base layer, configs used once in one repository's batch
// and twice in the other's), their releases at once as a PostgreSQL run's
// lanes make them, or API deletes: the project's accounting ends exact
// (on PostgreSQL, before the releases locked their rows first, two could
// each find a shared blob's refs above their own count and both take
// theirs off, leaving a row of no refs counted for good: this failed two
// runs in five), and neither removal fails.
func TestRemoveUntaggedSideBySide(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "side"}))
		const n = 40
		var digests [2][]string
		for r, repo := range []string{"side/a", "side/b"} {
			for i := range n {
				c := i // a: config i; b: config i/2, each used twice
				if r == 1 {
					c = i / 2
				}
				d := fmt.Sprintf("sha256:side-%d-m%02d", r, i)
				pushImage(t, db, p.ID, repo, d, "", blob("sha256:side-base", 1000), blob(fmt.Sprintf("sha256:side-c%02d", c), 10))
				digests[r] = append(digests[r], d)
			}
		}
		if used := must[Project](t)(db.GetProject(ctx, "side")).StorageUsed; used != 1000+n*10+2*n*100 {
			t.Fatalf("used %d before", used)
		}
		// Batches of eight, b's in the reverse order of a's.
		slices.Reverse(digests[1])
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for r, repo := range []string{"side/a", "side/b"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n && errs[r] == nil; i += 8 {
					_, _, errs[r] = db.RemoveUntagged(ctx, repo, digests[r][i:i+8], "test")
				}
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var left int
		if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM project_blobs WHERE project_id = ?`), p.ID).Scan(&left); err != nil || left != 0 {
			t.Errorf("%d project blobs left (%v), want none", left, err)
		}
		if used := must[Project](t)(db.GetProject(ctx, "side")).StorageUsed; used != 0 {
			t.Errorf("used %d after every manifest was removed", used)
		}
	})
}
