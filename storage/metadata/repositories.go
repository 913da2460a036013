package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const repoCols = `r.id, r.project_id, r.name, r.summary, r.detail, r.attrs, r.pull_count, r.created_at, r.updated_at`

const repoCounts = `r.artifact_count, r.tag_count`

func scanRepo(sc interface{ Scan(...any) error }, extra ...any) (Repository, error) {
	var r Repository
	var attrs string
	var created, updated int64
	dst := append([]any{&r.ID, &r.ProjectID, &r.Name, &r.Summary, &r.Detail, &attrs, &r.PullCount, &created, &updated}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return r, err
	}
	r.Attrs = strMap(attrs)
	r.CreatedAt, r.UpdatedAt = fromMillis(created), fromMillis(updated)
	return r, nil
}

// ensureRepo returns the id of the named repository, creating it in the
// project when absent.
func (db *DB) ensureRepo(ctx context.Context, q querier, projectID int64, name string, now time.Time) (int64, error) {
	var id int64
	h := db.hot(ctx, q)
	err := h.QueryRow(`SELECT id FROM repositories WHERE name = ?`, name).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	err = h.QueryRow(`INSERT INTO repositories (project_id, name, created_at, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET updated_at = repositories.updated_at RETURNING id`,
		projectID, name, millis(now), millis(now)).Scan(&id)
	return id, err
}

// CreateRepository creates an empty repository (management APIs allow
// creating one before the first push); ErrExists when it exists.
func (db *DB) CreateRepository(ctx context.Context, r Repository) (Repository, error) {
	now := time.Now()
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO repositories (project_id, name, summary, detail, attrs, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			r.ProjectID, r.Name, r.Summary, r.Detail, toJSON(r.Attrs), millis(now), millis(now)).Scan(&r.ID)
		if err != nil {
			return err
		}
		return db.emit(ctx, tx, Event{Type: EventRepositoryCreate, Repository: r.Name})
	})
	if isUniqueViolation(err) {
		return r, fmt.Errorf("repository %q: %w", r.Name, ErrExists)
	}
	if err != nil {
		return r, fmt.Errorf("metadata: create repository: %w", err)
	}
	r.CreatedAt, r.UpdatedAt = fromMillis(millis(now)), fromMillis(millis(now))
	return r, nil
}

// GetRepository returns a repository by full name, with its counts.
func (db *DB) GetRepository(ctx context.Context, name string) (Repository, error) {
	return db.getRepo(ctx, `r.name = ?`, name)
}

// GetRepositoryByID returns a repository by id, with its counts.
func (db *DB) GetRepositoryByID(ctx context.Context, id int64) (Repository, error) {
	return db.getRepo(ctx, `r.id = ?`, id)
}

func (db *DB) getRepo(ctx context.Context, where string, arg any) (Repository, error) {
	row := db.hot(ctx, db.sql).QueryRow(`SELECT `+repoCols+`, `+repoCounts+` FROM repositories r WHERE `+where, arg)
	var arts, tags int64
	r, err := scanRepo(row, &arts, &tags)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("repository %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("metadata: get repository: %w", err)
	}
	r.ArtifactCount, r.TagCount = arts, tags
	return r, nil
}

// RepoFilter narrows ListRepositories.
type RepoFilter struct {
	ProjectID  int64   // 0: every project
	ProjectIDs []int64 // restrict to these projects (visibility); nil: all
	// Prefix keeps names starting with it; the list's Filter then matches
	// the rest of the name only.
	Prefix string
	// After keeps names after it (a walk of every repository by name that
	// repositories removed meanwhile cannot make skip any).
	After string
}

// ListRepositories returns one page of repositories and the total count.
func (db *DB) ListRepositories(ctx context.Context, f RepoFilter, opt ListOptions) ([]Repository, int64, error) {
	where, args := "1=1", []any{}
	if f.After != "" {
		where += " AND r.name > ?"
		args = append(args, f.After)
	}
	if f.ProjectID != 0 {
		where += " AND r.project_id = ?"
		args = append(args, f.ProjectID)
	}
	if f.ProjectIDs != nil {
		if len(f.ProjectIDs) == 0 {
			return nil, 0, nil
		}
		where += " AND r.project_id IN (" + placeholders(len(f.ProjectIDs)) + ")"
		for _, id := range f.ProjectIDs {
			args = append(args, id)
		}
	}
	name := "r.name"
	if f.Prefix != "" {
		where += " AND substr(r.name, 1, ?) = ?"
		args = append(args, len(f.Prefix), f.Prefix)
		name = "substr(r.name, ?)"
	}
	if opt.Filter != "" {
		where += " AND " + db.d.contains(name)
		if f.Prefix != "" {
			args = append(args, len(f.Prefix)+1)
		}
		args = append(args, opt.Filter)
	}
	var total int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM repositories r WHERE `+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("metadata: count repositories: %w", err)
	}
	order := orderBy(opt, map[string]string{"name": "r.name", "push_time": "r.updated_at", "updated": "r.updated_at", "created": "r.created_at", "pulls": "r.pull_count"}, "r.id")
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+repoCols+`, `+repoCounts+` FROM repositories r WHERE `+where+order+limit(opt)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: list repositories: %w", err)
	}
	defer rows.Close()
	var out []Repository
	for rows.Next() {
		var arts, tags int64
		r, err := scanRepo(rows, &arts, &tags)
		if err != nil {
			return nil, 0, err
		}
		r.ArtifactCount, r.TagCount = arts, tags
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// CatalogPage returns up to n repository names after last, in byte order,
// for /v2/_catalog. projectIDs, when not nil, restricts the visible projects.
func (db *DB) CatalogPage(ctx context.Context, last string, n int, projectIDs []int64) ([]string, error) {
	where, args := "name > ?", []any{last}
	if projectIDs != nil {
		if len(projectIDs) == 0 {
			return nil, nil
		}
		where += " AND project_id IN (" + placeholders(len(projectIDs)) + ")"
		for _, id := range projectIDs {
			args = append(args, id)
		}
	}
	// Only repositories holding something are listed, as distribution does.
	where += " AND artifact_count > 0"
	args = append(args, n)
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT name FROM repositories WHERE `+where+` ORDER BY name LIMIT ?`), args...)
	if err != nil {
		return nil, fmt.Errorf("metadata: catalog: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpdateRepository changes the summary, detail and attributes.
func (db *DB) UpdateRepository(ctx context.Context, r Repository) error {
	res, err := db.sql.ExecContext(ctx, db.q(`UPDATE repositories SET summary = ?, detail = ?, attrs = ?, updated_at = ? WHERE id = ?`),
		r.Summary, r.Detail, toJSON(r.Attrs), millis(time.Now()), r.ID)
	return affected(res, err, "repository", r.Name)
}

// DeleteRepository removes a repository and everything indexed in it,
// releasing its blobs from the project's usage.
func (db *DB) DeleteRepository(ctx context.Context, id int64) error {
	return db.emitted(ctx, func(tx *sql.Tx) error {
		if err := db.lockRepos(ctx, tx, id); err != nil {
			return err
		}
		var name string
		err := tx.QueryRowContext(ctx, db.q(`SELECT name FROM repositories WHERE id = ?`), id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("repository %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		ids, err := column[int64](ctx, tx, db.q(`SELECT id FROM artifacts WHERE repository_id = ?`), id)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			if err := db.deleteArtifactsTx(ctx, tx, id, ids); err != nil {
				return err
			}
		}
		// Its last artifact may have taken the row already.
		if _, err = tx.ExecContext(ctx, db.q(`DELETE FROM repositories WHERE id = ?`), id); err != nil {
			return err
		}
		return db.emit(ctx, tx, Event{Type: EventRepositoryDelete, Repository: name})
	})
}

// Recount recomputes every repository's artifact, listed artifact and tag
// counters, and every artifact's listed flag, from the rows (after a
// reindex or a bulk load).
func (db *DB) Recount(ctx context.Context) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE repositories SET
		artifact_count = (SELECT count(*) FROM artifacts a WHERE a.repository_id = repositories.id),
		tag_count = (SELECT count(*) FROM tags t WHERE t.repository_id = repositories.id)`)
	if err == nil {
		err = db.recountListed(ctx)
	}
	if err != nil {
		return fmt.Errorf("metadata: recount: %w", err)
	}
	return nil
}

// DeleteEmptyRepository removes a repository that holds no artifact (and its
// digest aliases), reporting whether it did; a repository a concurrent push
// filled stays.
func (db *DB) DeleteEmptyRepository(ctx context.Context, name string) (bool, error) {
	var deleted, recorded bool
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		deleted, recorded = false, false
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM repositories WHERE name = ?
			AND NOT EXISTS (SELECT 1 FROM artifacts a WHERE a.repository_id = repositories.id)`), name)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		deleted = true
		if _, err = tx.ExecContext(ctx, db.q(`DELETE FROM digest_aliases WHERE repository = ?`), name); err != nil {
			return err
		}
		recorded = true
		return db.emit(ctx, tx, Event{Type: EventRepositoryDelete, Repository: name})
	})
	if err == nil && !deleted {
		// Gone already (its last artifact took it), unless a push brought it back.
		if _, gerr := db.GetRepository(ctx, name); errors.Is(gerr, ErrNotFound) {
			deleted = true
		}
	}
	if err == nil && deleted && !recorded {
		// The row went with the last artifact's transaction: the event
		// follows it.
		e := Event{Type: EventRepositoryDelete, Repository: name, Deliver: true}
		if db.events.Fold == nil || !db.events.Fold(ctx, &e) {
			if _, rerr := db.RecordEvent(ctx, e); rerr == nil {
				db.committed(ctx)
			}
		}
	}
	if err == nil && deleted {
		err = db.forgetRepoBlobs(ctx, name)
	}
	return deleted, err
}

// forgetRepoBlobs drops a removed repository's blob links and queues the
// review of their blobs.
func (db *DB) forgetRepoBlobs(ctx context.Context, name string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		digests, err := column[string](ctx, tx, db.q(`SELECT digest FROM repository_blobs WHERE repository = ?`), name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM repository_blobs WHERE repository = ?`), name); err != nil {
			return err
		}
		for _, d := range digests {
			if err := db.queueReview(ctx, tx, ReviewBlob, "", d); err != nil {
				return err
			}
		}
		return nil
	})
}

// RepositoryArtifactDigests lists every artifact digest of a repository by
// name (none when it does not exist).
func (db *DB) RepositoryArtifactDigests(ctx context.Context, name string) ([]string, error) {
	return db.strings(ctx, `SELECT a.digest FROM artifacts a JOIN repositories r ON r.id = a.repository_id WHERE r.name = ? ORDER BY a.digest`, name)
}

// RepositoryBlobDigests lists the blobs a repository links (layers and
// configs, by repository name: uploads come before its row).
func (db *DB) RepositoryBlobDigests(ctx context.Context, name string) ([]string, error) {
	return db.strings(ctx, `SELECT digest FROM repository_blobs WHERE repository = ? ORDER BY digest`, name)
}
