package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

const tagCols = `t.id, t.repository_id, t.artifact_id, t.name, a.digest, t.created_at, t.push_time, t.pull_time, t.pull_count, t.immutable, t.attrs`

func scanTag(sc interface{ Scan(...any) error }) (Tag, error) {
	var t Tag
	var created, push, pull int64
	var imm boolish
	var attrs string
	if err := sc.Scan(&t.ID, &t.RepositoryID, &t.ArtifactID, &t.Name, &t.Digest, &created, &push, &pull, &t.PullCount, &imm, &attrs); err != nil {
		return t, err
	}
	t.CreatedAt, t.PushTime, t.PullTime, t.Immutable, t.Attrs = fromMillis(created), fromMillis(push), fromMillis(pull), bool(imm), strMap(attrs)
	return t, nil
}

// PutTag points tag at the artifact with digest (which must be indexed),
// creating or moving it. A new tag is created at; moving or pushing it
// again changes its push time only.
func (db *DB) PutTag(ctx context.Context, repoID int64, name, digest string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		artID, err := db.artifactID(ctx, tx, repoID, digest)
		if err == nil {
			err = db.putTagTx(ctx, tx, repoID, artID, name, at)
		}
		return err
	})
}

// artifactID is the id of an artifact of a repository (ErrNotFound).
func (db *DB) artifactID(ctx context.Context, q querier, repoID int64, digest string) (int64, error) {
	var id int64
	err := db.hot(ctx, q).QueryRow(`SELECT id FROM artifacts WHERE repository_id = ? AND digest = ?`, repoID, digest).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("artifact %s: %w", digest, ErrNotFound)
	}
	return id, err
}

// putTagTx creates or moves a tag. Concurrent writers of one tag never
// fail on each other: the last to commit wins.
func (db *DB) putTagTx(ctx context.Context, tx *sql.Tx, repoID, artID int64, name string, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	if err := db.lockRepos(ctx, tx, repoID); err != nil {
		return err
	}
	h := db.hot(ctx, tx)
	var oldArtID int64 // the artifact the tag leaves, relisted below
	if err := h.QueryRow(`SELECT artifact_id FROM tags WHERE repository_id = ? AND name = ?`, repoID, name).Scan(&oldArtID); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("metadata: put tag %s: %w", name, err)
	}
	if oldArtID != 0 && oldArtID != artID {
		if err := db.guardRepoTags(ctx, tx, repoID, name); err != nil {
			return err
		}
	}
	move := func() (int64, error) {
		res, err := h.Exec(`UPDATE tags SET artifact_id = ?, push_time = ? WHERE repository_id = ? AND name = ?`, artID, millis(at), repoID, name)
		if err != nil {
			return 0, err
		}
		return res.RowsAffected()
	}
	n, err := move()
	counter := `UPDATE repositories SET updated_at = ? WHERE id = ?`
	if err == nil && n == 0 {
		var res sql.Result
		res, err = h.Exec(`INSERT INTO tags (repository_id, artifact_id, name, created_at, push_time) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (repository_id, name) DO NOTHING`, repoID, artID, name, millis(at), millis(at))
		if err == nil {
			n, err = res.RowsAffected()
		}
		switch {
		case err != nil:
		case n == 1:
			counter = `UPDATE repositories SET updated_at = ?, tag_count = tag_count + 1 WHERE id = ?`
		default: // created by a concurrent writer that committed first
			_, err = move()
		}
	}
	if err == nil {
		_, err = h.Exec(counter, millis(at), repoID)
	}
	if err == nil && oldArtID != artID {
		err = db.relist(ctx, tx, artID, oldArtID) // a tag lists a child; the one it left may not be
		if err == nil {
			err = db.queueUntagged(ctx, tx, repoID, oldArtID)
		}
	}
	if isForeignKeyViolation(err) {
		return fmt.Errorf("tag %s: artifact deleted meanwhile: %w", name, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("metadata: put tag %s: %w", name, err)
	}
	return nil
}

// DeleteTag removes a tag; the artifact stays.
func (db *DB) DeleteTag(ctx context.Context, repoID int64, name string) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.deleteTagTx(ctx, tx, repoID, name) })
}

func (db *DB) deleteTagTx(ctx context.Context, tx *sql.Tx, repoID int64, name string) error {
	deleted, err := db.deleteTagsTx(ctx, tx, repoID, []string{name})
	if err == nil && len(deleted) == 0 {
		err = fmt.Errorf("tag %s: %w", name, ErrNotFound)
	}
	return err
}

// GetTag returns one tag with its artifact digest.
func (db *DB) GetTag(ctx context.Context, repoID int64, name string) (Tag, error) {
	row := db.sql.QueryRowContext(ctx, db.q(`SELECT `+tagCols+` FROM tags t JOIN artifacts a ON a.id = t.artifact_id
		WHERE t.repository_id = ? AND t.name = ?`), repoID, name)
	t, err := scanTag(row)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("tag %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("metadata: get tag: %w", err)
	}
	return t, nil
}

// UpdateTagAttrs replaces a tag's per-dialect attributes (e.g. a promotion stage).
func (db *DB) UpdateTagAttrs(ctx context.Context, repoID int64, name string, attrs map[string]string) error {
	res, err := db.sql.ExecContext(ctx, db.q(`UPDATE tags SET attrs = ? WHERE repository_id = ? AND name = ?`), toJSON(attrs), repoID, name)
	return affected(res, err, "tag", name)
}

// ListTags returns one page of a repository's tags and the total count.
func (db *DB) ListTags(ctx context.Context, repoID int64, opt ListOptions) ([]Tag, int64, error) {
	where, args := "t.repository_id = ?", []any{repoID}
	if opt.Filter != "" {
		where += " AND " + db.d.contains("t.name")
		args = append(args, opt.Filter)
	}
	// Without a filter the total is the repository's counter, not a count.
	var total int64
	countQuery := `SELECT count(*) FROM tags t WHERE ` + where
	if opt.Filter == "" {
		countQuery = `SELECT tag_count FROM repositories WHERE id = ?`
	}
	if err := db.sql.QueryRowContext(ctx, db.q(countQuery), args...).Scan(&total); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("metadata: count tags: %w", err)
	}
	// Deferred join: the subquery walks an index for the page's keys alone
	// (OFFSET skips rows one by one), and only the page's rows are read and
	// joined with artifacts. Names are unique in a repository, so the name
	// order needs no tiebreak, and the subquery is served by the
	// (repository_id, name) index alone (an index-only scan on PostgreSQL).
	// A page past the middle is read from the other end (nearerEnd).
	opt, flipped := nearerEnd(opt, total)
	cols := map[string]string{"name": "t.name", "push_time": "t.push_time", "pull_time": "t.pull_time"}
	order, page := orderBy(opt, cols, "t.id"), "t.id IN (SELECT t.id FROM tags t WHERE "
	if col, ok := cols[opt.Sort]; !ok || col == "t.name" {
		order = " ORDER BY t.name ASC"
		if opt.Desc {
			order = " ORDER BY t.name DESC"
		}
		page = "t.repository_id = ? AND t.name IN (SELECT t.name FROM tags t WHERE "
		args = append([]any{repoID}, args...)
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+tagCols+` FROM tags t JOIN artifacts a ON a.id = t.artifact_id
		WHERE `+page+where+order+limit(opt)+`)`+order), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: list tags: %w", err)
	}
	defer rows.Close()
	var out []Tag
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	if flipped {
		slices.Reverse(out)
	}
	return out, total, rows.Err()
}

// TagPage returns up to n tag names after last in byte order, for
// /v2/<name>/tags/list; n < 0 means all.
func (db *DB) TagPage(ctx context.Context, repoID int64, last string, n int) ([]string, error) {
	query := `SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name`
	args := []any{repoID, last}
	if n >= 0 {
		query += ` LIMIT ?`
		args = append(args, n)
	}
	return db.strings(ctx, query, args...)
}

// TagDigests maps every tag of a repository to its artifact digest (for check).
func (db *DB) TagDigests(ctx context.Context, repoID int64) (map[string]string, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT t.name, a.digest FROM tags t JOIN artifacts a ON a.id = t.artifact_id WHERE t.repository_id = ?`), repoID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return nil, err
		}
		out[n] = d
	}
	return out, rows.Err()
}

// Pull is a batch of pulls of one artifact (and tag, when pulled by tag).
type Pull struct {
	Repository string
	Digest     string
	Tag        string
	Count      int64
	At         time.Time
}

// RecordPulls adds batched pull counts and times in one transaction.
// Pulls of things no longer indexed are ignored.
func (db *DB) RecordPulls(ctx context.Context, pulls []Pull) error {
	if len(pulls) == 0 {
		return nil
	}
	return db.emitted(ctx, func(tx *sql.Tx) error {
		// The repositories first, all of them, in id order (lockRepos).
		repoIDs := map[string]int64{}
		var ids []int64
		for _, p := range pulls {
			if _, seen := repoIDs[p.Repository]; seen {
				continue
			}
			var repoID int64
			err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM repositories WHERE name = ?`), p.Repository).Scan(&repoID)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			repoIDs[p.Repository] = repoID // 0: gone
			if repoID != 0 {
				ids = append(ids, repoID)
			}
		}
		slices.Sort(ids)
		if err := db.lockRepos(ctx, tx, ids...); err != nil {
			return err
		}
		for _, p := range pulls {
			repoID := repoIDs[p.Repository]
			if repoID == 0 {
				continue
			}
			at := millis(p.At)
			res, err := tx.ExecContext(ctx, db.q(`UPDATE artifacts SET pull_count = pull_count + ?, pull_time = ? WHERE repository_id = ? AND digest = ?`),
				p.Count, at, repoID, p.Digest)
			if err != nil {
				return err
			}
			pulled, _ := res.RowsAffected()
			if p.Tag != "" {
				// A download of the version (bk-repo counts per version).
				if _, err := tx.ExecContext(ctx, db.q(`UPDATE tags SET pull_time = ?, pull_count = pull_count + ? WHERE repository_id = ? AND name = ?`), at, p.Count, repoID, p.Tag); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE repositories SET pull_count = pull_count + ? WHERE id = ?`), p.Count, repoID); err != nil {
				return err
			}
			// Pulls are counted in memory and flushed in batches: one
			// event per artifact and tag of the batch, with the count.
			if pulled == 0 {
				continue // deleted since
			}
			if err := db.emit(ctx, tx, Event{Type: EventArtifactPull, Repository: p.Repository, Tag: p.Tag, Digest: p.Digest,
				At: p.At, ActorKind: "system", Data: toJSON(map[string]any{"count": p.Count})}); err != nil {
				return err
			}
		}
		return nil
	})
}

// RepositoryNames lists every indexed repository name (for check).
func (db *DB) RepositoryNames(ctx context.Context) ([]string, error) {
	return db.strings(ctx, `SELECT name FROM repositories ORDER BY name`)
}
