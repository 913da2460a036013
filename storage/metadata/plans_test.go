package metadata

import (
	"fmt"
	"strings"
	"testing"
)

// Statements that take a list (ids, digests) look its items up through an
// index on them: SQLite's plan for each reads no more of a table than the list asks
// (a plan that searched artifacts by repository alone would read the whole
// repository for every batch of a retention run).
func TestPlansLookListsUp(t *testing.T) {
	db := openTestDB(t, "sqlite")
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		want  string // a step that looks the list up
	}{
		{"retention's manifests nothing holds", fmt.Sprintf(looseManifests, "?, ?"), []any{1, "sha256:a", "sha256:b"}, "(repository_id=? AND digest=?)"},
		{"retention's tags as weighed", fmt.Sprintf(weighedTags, "?, ?"), []any{1, 2}, "INTEGER PRIMARY KEY (rowid=?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := db.sql.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
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
