package metadata

import (
	"context"
	"fmt"
	"slices"
)

// TagsByName returns up to n tags of a repository in name order: those
// after after, or, with before set, the n just before before (still in
// ascending order), keeping names containing filter. It seeks the
// (repository_id, name) index to its key and reads n rows, so a page deep
// in 100,000 tags costs what the first one does (keyset paging, where
// ListTags' OFFSET skips rows). The list is not counted: the repository's
// tag_count counts it unfiltered.
func (db *DB) TagsByName(ctx context.Context, repoID int64, filter, after, before string, n int) ([]Tag, error) {
	where, args := "t.repository_id = ?", []any{repoID}
	order := " ORDER BY t.name ASC"
	switch {
	case before != "":
		where += " AND t.name < ?"
		args = append(args, before)
		order = " ORDER BY t.name DESC"
	case after != "":
		where += " AND t.name > ?"
		args = append(args, after)
	}
	if filter != "" {
		where += " AND " + db.d.contains("t.name")
		args = append(args, filter)
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+tagCols+` FROM tags t JOIN artifacts a ON a.id = t.artifact_id WHERE `+
		where+order+fmt.Sprintf(" LIMIT %d", max(n, 1))), args...)
	if err != nil {
		return nil, fmt.Errorf("metadata: list tags by name: %w", err)
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if before != "" {
		slices.Reverse(out)
	}
	return out, rows.Err()
}
