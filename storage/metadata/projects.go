package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

const projectCols = `p.id, p.name, p.public, p.quota_bytes, p.storage_used, p.creator, p.creator_id, p.attrs, p.created_at, p.updated_at`

func scanProject(sc interface{ Scan(...any) error }, extra ...any) (Project, error) {
	var p Project
	var public boolish
	var attrs string
	var created, updated int64
	dst := append([]any{&p.ID, &p.Name, &public, &p.QuotaBytes, &p.StorageUsed, &p.Creator, &p.CreatorID, &attrs, &created, &updated}, extra...)
	if err := sc.Scan(dst...); err != nil {
		return p, err
	}
	p.Public, p.Attrs = bool(public), strMap(attrs)
	p.CreatedAt, p.UpdatedAt = fromMillis(created), fromMillis(updated)
	return p, nil
}

// NoCreator is a CreatorID that binds a project to no user whatever its
// Creator reads ("reindex").
const NoCreator = -1

// CreateProject inserts a project; ErrExists when the name is taken. A
// project without a CreatorID is bound to the user named Creator now, if
// there is one (the user who pushed it into being); NoCreator binds it to
// none.
func (db *DB) CreateProject(ctx context.Context, p Project) (Project, error) {
	now := time.Now()
	if p.QuotaBytes == 0 {
		p.QuotaBytes = -1
	}
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO projects (name, public, quota_bytes, creator, creator_id, attrs, created_at, updated_at)
			VALUES (?, ?, ?, ?, CASE WHEN ? > 0 THEN ? WHEN ? < 0 THEN 0 ELSE COALESCE((SELECT id FROM users WHERE username = ?), 0) END, ?, ?, ?) RETURNING id, creator_id`),
			p.Name, p.Public, p.QuotaBytes, p.Creator, p.CreatorID, p.CreatorID, p.CreatorID, p.Creator, toJSON(p.Attrs), millis(now), millis(now)).Scan(&p.ID, &p.CreatorID)
		if err != nil {
			return err
		}
		return db.emit(ctx, tx, Event{Type: EventProjectCreate, Project: p.Name})
	})
	if isUniqueViolation(err) {
		return p, fmt.Errorf("project %q: %w", p.Name, ErrExists)
	}
	if err != nil {
		return p, fmt.Errorf("metadata: create project: %w", err)
	}
	p.CreatedAt, p.UpdatedAt = fromMillis(millis(now)), fromMillis(millis(now))
	return p, nil
}

// EnsureProject returns the named project, creating it when absent, as
// CreateProject does (creatorID 0: the user named creator, NoCreator:
// none).
func (db *DB) EnsureProject(ctx context.Context, name, creator string, creatorID int64) (Project, error) {
	p, err := db.GetProject(ctx, name)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return p, err
	}
	p, err = db.CreateProject(ctx, Project{Name: name, Creator: creator, CreatorID: creatorID, QuotaBytes: -1})
	if errors.Is(err, ErrExists) {
		return db.GetProject(ctx, name)
	}
	return p, err
}

// GetProject returns a project by name.
func (db *DB) GetProject(ctx context.Context, name string) (Project, error) {
	return db.getProject(ctx, db.sql, `p.name = ?`, name)
}

// LookupProject returns a project by name without its repository count
// (RepoCount stays 0): one indexed lookup for the per-request checks of the
// push and pull paths. GetProject counts the project's repositories, which
// costs a walk over all of them. In a context from WithProjectMemo a project
// found is remembered for the rest of that context (one request).
func (db *DB) LookupProject(ctx context.Context, name string) (Project, error) {
	memo, _ := ctx.Value(projectMemoKey{}).(*projectMemo)
	if p, ok := memo.get(name); ok {
		return p, nil
	}
	p, err := scanProject(db.hot(ctx, db.sql).QueryRow(`SELECT `+projectCols+` FROM projects p WHERE p.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("project %v: %w", name, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("metadata: get project: %w", err)
	}
	memo.put(p)
	return p, nil
}

type projectMemoKey struct{}

type projectMemo struct {
	mu sync.Mutex
	m  map[string]Project
}

// WithProjectMemo returns a context in which LookupProject answers a
// project it already found from memory: the access check, the push check
// and the quota check of one request then cost one query, not three. Only
// projects found are remembered (a project created during the request is
// looked up again); a project changed or deleted during the request is seen
// as it was when first looked up, as if the request had come a moment
// earlier. Use it for one request, never longer.
func WithProjectMemo(ctx context.Context) context.Context {
	if _, ok := ctx.Value(projectMemoKey{}).(*projectMemo); ok {
		return ctx
	}
	return context.WithValue(ctx, projectMemoKey{}, &projectMemo{})
}

func (m *projectMemo) get(name string) (Project, bool) {
	if m == nil {
		return Project{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.m[name]
	return p, ok
}

func (m *projectMemo) put(p Project) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string]Project{}
	}
	m.m[p.Name] = p
}

// GetProjectByID returns a project by id.
func (db *DB) GetProjectByID(ctx context.Context, id int64) (Project, error) {
	return db.getProject(ctx, db.sql, `p.id = ?`, id)
}

func (db *DB) getProject(ctx context.Context, q querier, where string, arg any) (Project, error) {
	row := q.QueryRowContext(ctx, db.q(`SELECT `+projectCols+`,
		(SELECT count(*) FROM repositories r WHERE r.project_id = p.id) FROM projects p WHERE `+where), arg)
	var repos int64
	p, err := scanProject(row, &repos)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("project %v: %w", arg, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("metadata: get project: %w", err)
	}
	p.RepoCount = repos
	return p, nil
}

// ProjectFilter narrows ListProjects.
type ProjectFilter struct {
	Public *bool    // only public (true) or private (false) projects
	Names  []string // restrict to these names; nil: all
	IDs    []int64  // restrict to these ids (visibility); nil: all
	// Creator keeps the projects created under this name, CreatorID
	// those the user of this id created (0: no such filter).
	Creator   string
	CreatorID int64
}

// ListProjects returns one page of projects sorted by name (or
// creation time) and the total number of matches.
func (db *DB) ListProjects(ctx context.Context, f ProjectFilter, opt ListOptions) ([]Project, int64, error) {
	where, args := "1=1", []any{}
	if opt.Filter != "" {
		where += " AND " + db.d.contains("p.name")
		args = append(args, opt.Filter)
	}
	if f.Public != nil {
		where += " AND p.public = ?"
		args = append(args, *f.Public)
	}
	if f.Names != nil {
		if len(f.Names) == 0 {
			return nil, 0, nil
		}
		where += " AND p.name IN (" + placeholders(len(f.Names)) + ")"
		for _, n := range f.Names {
			args = append(args, n)
		}
	}
	if f.Creator != "" {
		where += " AND p.creator = ?"
		args = append(args, f.Creator)
	}
	if f.CreatorID != 0 {
		where += " AND p.creator_id = ?"
		args = append(args, f.CreatorID)
	}
	if f.IDs != nil {
		if len(f.IDs) == 0 {
			return nil, 0, nil
		}
		where += " AND p.id IN (" + placeholders(len(f.IDs)) + ")"
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	var total int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM projects p WHERE `+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("metadata: count projects: %w", err)
	}
	order := orderBy(opt, map[string]string{"name": "p.name", "push_time": "p.created_at", "created": "p.created_at", "updated": "p.updated_at"}, "p.id")
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+projectCols+`,
		(SELECT count(*) FROM repositories r WHERE r.project_id = p.id)
		FROM projects p WHERE `+where+order+limit(opt)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: list projects: %w", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		var repos int64
		p, err := scanProject(rows, &repos)
		if err != nil {
			return nil, 0, err
		}
		p.RepoCount = repos
		out = append(out, p)
	}
	return out, total, rows.Err()
}

// UpdateProject changes visibility, quota and attributes.
func (db *DB) UpdateProject(ctx context.Context, p Project) error {
	res, err := db.sql.ExecContext(ctx, db.q(`UPDATE projects SET public = ?, quota_bytes = ?, attrs = ?, updated_at = ? WHERE id = ?`),
		p.Public, p.QuotaBytes, toJSON(p.Attrs), millis(time.Now()), p.ID)
	return affected(res, err, "project", p.Name)
}

// DeleteProject removes a project. Without force, a project that still has
// repositories is refused with ErrNotEmpty.
func (db *DB) DeleteProject(ctx context.Context, id int64, force bool) error {
	return db.emitted(ctx, func(tx *sql.Tx) error {
		if !force {
			var n int64
			if err := tx.QueryRowContext(ctx, db.q(`SELECT count(*) FROM repositories WHERE project_id = ?`), id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("project has %d repositories: %w", n, ErrNotEmpty)
			}
		}
		var name string
		_ = tx.QueryRowContext(ctx, db.q(`SELECT name FROM projects WHERE id = ?`), id).Scan(&name)
		if err := db.dropProjectBlobUsersTx(ctx, tx, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM projects WHERE id = ?`), id)
		if err := affected(res, err, "project", id); err != nil {
			return err
		}
		return db.emit(ctx, tx, Event{Type: EventProjectDelete, Project: name})
	})
}

func affected(res sql.Result, err error, what string, key any) error {
	if err != nil {
		return fmt.Errorf("metadata: %s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s %v: %w", what, key, ErrNotFound)
	}
	return nil
}

func placeholders(n int) string {
	b := make([]byte, 0, 2*n)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '?')
	}
	return string(b)
}

// orderBy renders ORDER BY from a whitelisted sort key with a unique
// tiebreaker so pages never overlap.
func orderBy(opt ListOptions, cols map[string]string, tiebreak string) string {
	col, ok := cols[opt.Sort]
	if !ok {
		col = cols["name"]
	}
	dir := " ASC"
	if opt.Desc {
		dir = " DESC"
	}
	return " ORDER BY " + col + dir + ", " + tiebreak + dir
}

func limit(opt ListOptions) string {
	if opt.Limit <= 0 {
		if opt.Offset > 0 {
			return fmt.Sprintf(" LIMIT -1 OFFSET %d", opt.Offset)
		}
		return ""
	}
	return fmt.Sprintf(" LIMIT %d OFFSET %d", opt.Limit, opt.Offset)
}
