package metadata

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Statements that take a list (ids, digests) look its items up through an
// index on them: SQLite's plan for each reads no more of a table than the list asks
// (a plan that searched artifacts by repository alone would read the whole
// repository for every batch of a retention run).
func TestPlansLookListsUp(t *testing.T) {
	db := openTestDB(t, "sqlite")
	// The planner weighs a list by its length (a short one may be read
	// through another index): lists of 1, 5 and 100, as batches are.
	list := func(n int, query string, pre []any, item func(i int) any) (string, []any) {
		args := slices.Clone(pre)
		for i := range n {
			args = append(args, item(i))
		}
		return fmt.Sprintf(query, strings.TrimSuffix(strings.Repeat("?, ", n), ", ")), args
	}
	digest := func(i int) any { return fmt.Sprintf("sha256:%064x", i) }
	id := func(i int) any { return i + 1 }
	type stmt struct {
		name  string
		query string
		args  []any // those before the list, then all of them
		item  func(int) any
		want  string // a step that looks the list up
	}
	var cases []stmt
	for _, n := range []int{1, 5, 100} {
		for _, s := range []stmt{
			{"retention's manifests nothing holds", looseManifests, []any{1}, digest, "(repository_id=? AND digest=?)"},
			{"retention's tags as weighed", weighedTags, nil, id, "INTEGER PRIMARY KEY (rowid=?)"},
			{"artifacts to delete", artifactsByID, nil, id, "INTEGER PRIMARY KEY (rowid=?)"},
			{"artifacts left without a tag", untaggedByID, nil, id, "INTEGER PRIMARY KEY (rowid=?)"},
			{"tags to mirror", tagTargets, []any{1}, func(i int) any { return fmt.Sprintf("t%d", i) }, "(repository_id=? AND name=?)"},
			{"manifests to mirror", manifestsByDigest, []any{1}, digest, "(repository_id=? AND digest=?)"},
			{"manifest aliases to mirror", manifestsByAlias, []any{1, "p/r"}, digest, "(repository=? AND kind=? AND alias=?)"},
			{"referrers of manifests deleted", referrersOf, []any{1}, digest, "artifacts_subject_digest (repository_id=? AND subject_digest=?)"},
			{"blob ids", blobIDsByDigest, nil, digest, "(digest=?)"},
			{"blobs of artifacts deleted", blobsOfArtifacts, nil, id, "(artifact_id=?)"},
			{"project blobs released", releasedBlobs, []any{1, 1}, id, "(project_id=? AND blob_id=?)"},
		} {
			s.name = fmt.Sprintf("%s, %d", s.name, n)
			s.query, s.args = list(n, s.query, s.args, s.item)
			cases = append(cases, s)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan := explain(t, db, tc.query, tc.args...)
			found := false
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN") || strings.HasSuffix(step, "(repository_id=?)") {
					t.Errorf("plan step %q reads more than the list asks", step)
				}
				found = found || strings.HasSuffix(step, tc.want)
			}
			if !found {
				t.Errorf("no step looks the list up (%s):\n%s", tc.want, strings.Join(plan, "\n"))
			}
		})
	}
}

// A subject's referrers are read through the referrers index, which holds
// referrers only, in digest order (no sort step).
func TestReferrersReadTheirIndex(t *testing.T) {
	db := openTestDB(t, "sqlite")
	plan := explain(t, db, `SELECT a.digest FROM artifacts a WHERE `+referrersAfter+` ORDER BY a.digest LIMIT ?`,
		1, "sha256:s", "", 100)
	if len(plan) != 1 || !strings.Contains(plan[0], "INDEX artifacts_subject_digest (repository_id=? AND subject_digest=? AND digest>?)") {
		t.Errorf("plan %q, want one read of artifacts_subject_digest", plan)
	}
}

// The storage sync rows are found through indexes, never a scan of the
// table: it holds a retention run's backlog of storage copies (millions of
// rows of one live writer) while other writers' rows are looked for.
func TestSyncQueriesReadTheirIndexes(t *testing.T) {
	db := openTestDB(t, "sqlite")
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"writers with rows", syncOwners, nil, "USING COVERING INDEX storage_sync_owner (owner>?)"},
		{"a writer's rows after an id", syncSelect + syncOwnAfter, []any{"w", 0, 500}, "USING INDEX storage_sync_owner (owner=? AND id>?)"},
		{"old rows", syncSelect + syncOld, []any{0, 500}, "USING INDEX storage_sync_created (created_at<?)"},
	} {
		plan := explain(t, db, tc.query, tc.args...)
		found := false
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN storage_sync") || strings.HasPrefix(step, "SCAN s") || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%s: plan step %q reads the whole table or sorts it", tc.name, step)
			}
			found = found || strings.HasSuffix(step, tc.want)
		}
		if !found {
			t.Errorf("%s: no step reads %s:\n%s", tc.name, tc.want, strings.Join(plan, "\n"))
		}
	}
}

// explain is SQLite's plan of query: the detail of each step.
func explain(t *testing.T, db *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.sql.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// IN lists are padded to a few lengths with their last value: the same
// values, so the same IN test, and a handful of statement texts.
func TestPadIn(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{0, 0}, {1, 1}, {2, 2}, {3, 4}, {5, 8}, {100, 128}, {256, 256}, {257, inChunk}, {inChunk - 1, inChunk}, {inChunk, inChunk},
	} {
		list := make([]any, c.n)
		for i := range list {
			list[i] = i
		}
		got := padIn(list)
		if len(got) != c.want {
			t.Errorf("%d values: padded to %d, want %d", c.n, len(got), c.want)
			continue
		}
		for i, v := range got {
			if want := min(i, c.n-1); v != want {
				t.Errorf("%d values: item %d is %v, want %v", c.n, i, v, want)
				break
			}
		}
	}
}

// The collector's questions and the blob users' removals find their pairs
// through blob_users' key, never a scan (it holds a row per blob of every
// artifact).
func TestBlobUsersPlans(t *testing.T) {
	db := openTestDB(t, "sqlite")
	for _, tc := range []struct {
		name  string
		query string
		args  []any
	}{
		{"blob used", `SELECT ` + usedByArtifact, []any{"sha256:x"}},
		{"blob used in a repository", `SELECT ` + usedInRepository, []any{"p/r", "sha256:x"}},
		{"blob users dropped", dropBlobUsers(4), []any{1, 1, 2, 2, 3, 3, 4, 4}},
		{"a project's blob users dropped", dropProjectBlobUsers, []any{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := explain(t, db, tc.query, tc.args...)
			found := false
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN") && !strings.Contains(step, "CONSTANT ROW") && !strings.HasSuffix(step, "-ROW VALUES CLAUSE") {
					t.Errorf("plan step %q scans", step)
				}
				found = found || strings.HasPrefix(step, "SEARCH u USING PRIMARY KEY (blob_id=?") ||
					strings.HasPrefix(step, "SEARCH blob_users USING PRIMARY KEY (blob_id=? AND artifact_id=?)")
			}
			if !found {
				t.Errorf("no step reads blob_users by its key:\n%s", strings.Join(plan, "\n"))
			}
		})
	}
}
