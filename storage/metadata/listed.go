package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// An artifact is listed, an artifact of its own in the management lists,
// unless an index of its repository refers to it and it has no tag of its
// own (Harbor's rule: a multi-arch image is one artifact, its children are
// its references). Every write that changes either side keeps the flag and
// the repository's listed_count in its transaction (migration 011).

// relist recomputes the listed flag of the artifacts ids (gone ones are
// skipped) and moves their repositories' listed_count by what changed.
func (db *DB) relist(ctx context.Context, tx *sql.Tx, ids ...int64) error {
	ids = slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return id == 0 })
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	type change struct {
		id, repoID int64
		now        bool
	}
	var changes []change
	err := db.queryIn(ctx, tx, `SELECT id, repository_id, listed,
		NOT EXISTS (SELECT 1 FROM artifact_references r WHERE r.child_id = a.id)
		OR EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = a.id)
		FROM artifacts a WHERE a.id IN (%s)`, nil, idArgs(ids), func(r *sql.Rows) error {
		var c change
		var was, now boolish
		if err := r.Scan(&c.id, &c.repoID, &was, &now); err != nil {
			return err
		}
		if was != now {
			c.now = bool(now)
			changes = append(changes, c)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("metadata: relist: %w", err)
	}
	delta := map[int64]int64{}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE artifacts SET listed = ? WHERE id = ?`), c.now, c.id); err != nil {
			return err
		}
		if c.now {
			delta[c.repoID]++
		} else {
			delta[c.repoID]--
		}
	}
	for _, repoID := range slices.Sorted(maps.Keys(delta)) {
		if delta[repoID] == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE repositories SET listed_count = listed_count + ? WHERE id = ?`), delta[repoID], repoID); err != nil {
			return err
		}
	}
	return nil
}

// TaggedParent names a tagged index of the repository that refers to the
// artifact digest, directly or through untagged indexes between them:
// its digest and one of its tags. found is false when none does.
func (db *DB) TaggedParent(ctx context.Context, repoID int64, digest string) (parent, tag string, found bool, err error) {
	err = db.sql.QueryRowContext(ctx, db.q(`WITH RECURSIVE up(id) AS (
			SELECT r.parent_id FROM artifact_references r JOIN artifacts c ON c.id = r.child_id
			WHERE c.repository_id = ? AND c.digest = ?
			UNION
			SELECT r.parent_id FROM artifact_references r JOIN up ON r.child_id = up.id)
		SELECT a.digest, min(t.name) FROM up JOIN artifacts a ON a.id = up.id JOIN tags t ON t.artifact_id = a.id
		GROUP BY a.digest ORDER BY a.digest LIMIT 1`), repoID, digest).Scan(&parent, &tag)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("metadata: tagged parent: %w", err)
	}
	return parent, tag, true, nil
}

// recountListed recomputes every listed flag and listed_count from the
// rows (Recount).
func (db *DB) recountListed(ctx context.Context) error {
	if _, err := db.sql.ExecContext(ctx, db.q(`UPDATE artifacts SET listed = (
			NOT EXISTS (SELECT 1 FROM artifact_references r WHERE r.child_id = artifacts.id)
			OR EXISTS (SELECT 1 FROM tags t WHERE t.artifact_id = artifacts.id))`)); err != nil {
		return err
	}
	_, err := db.sql.ExecContext(ctx, db.q(`UPDATE repositories SET
		listed_count = (SELECT count(*) FROM artifacts a WHERE a.repository_id = repositories.id AND a.listed)`))
	return err
}

// Referenced reports whether an index of the repository refers to the
// artifact digest.
func (db *DB) Referenced(ctx context.Context, repoID int64, digest string) (bool, error) {
	var one int
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT 1 FROM artifact_references r JOIN artifacts c ON c.id = r.child_id
		WHERE c.repository_id = ? AND c.digest = ? LIMIT 1`), repoID, digest).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("metadata: referenced: %w", err)
	}
	return true, nil
}

// lockRepos takes the row locks of repositories ids, in id order, before a
// transaction touches their artifacts and tags. Every write of artifacts,
// tags and pull counts takes its repository first, so writers of one
// repository queue there instead of locking rows in different orders
// (a tag move against a pull flush deadlocked on PostgreSQL). SQLite runs
// one writer at a time and needs none.
func (db *DB) lockRepos(ctx context.Context, tx *sql.Tx, ids ...int64) error {
	if db.d.name != "postgres" || len(ids) == 0 {
		return nil
	}
	locked := db.txState(tx).locked
	var args []any
	for _, id := range ids {
		if !locked[id] {
			args = append(args, id)
		}
	}
	if len(args) == 0 {
		return nil // this transaction holds them already
	}
	rows, err := tx.QueryContext(ctx, db.q(`SELECT id FROM repositories WHERE id IN (`+placeholders(len(args))+`) ORDER BY id FOR UPDATE`), args...)
	if err != nil {
		return fmt.Errorf("metadata: lock repositories: %w", err)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, id := range args {
		locked[id.(int64)] = true
	}
	return nil
}
