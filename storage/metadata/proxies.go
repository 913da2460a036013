package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ProxyUpstream binds a project to an upstream registry (a proxy project).
type ProxyUpstream struct {
	ProjectID int64
	Project   string // the project's name (read only)
	URL       string // scheme://host[:port] of the upstream registry
	Username  string
	Secret    string // password or token; never leaves the core
	Namespace string // prefix of upstream names, e.g. "library/"
	TTL       time.Duration
	// CapBytes caps the project's storage (0: no cap): eviction removes
	// the least recently pulled artifacts above it.
	CapBytes  int64
	UpdatedBy string
	UpdatedAt time.Time
	Used      int64 // the project's storage_used (read only)
}

const proxyCols = `u.project_id, p.name, u.url, u.username, u.secret, u.namespace, u.ttl_ms, u.cap_bytes, u.updated_by, u.updated_at, p.storage_used`

func scanProxy(sc interface{ Scan(...any) error }) (ProxyUpstream, error) {
	var u ProxyUpstream
	var ttl, at int64
	err := sc.Scan(&u.ProjectID, &u.Project, &u.URL, &u.Username, &u.Secret, &u.Namespace, &ttl, &u.CapBytes, &u.UpdatedBy, &at, &u.Used)
	u.TTL, u.UpdatedAt = time.Duration(ttl)*time.Millisecond, fromMillis(at)
	return u, err
}

// PutProxyUpstream creates or replaces the binding of u.ProjectID.
func (db *DB) PutProxyUpstream(ctx context.Context, u ProxyUpstream) error {
	_, err := db.sql.ExecContext(ctx, db.q(`INSERT INTO proxy_upstreams (project_id, url, username, secret, namespace, ttl_ms, cap_bytes, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET url = excluded.url, username = excluded.username,
		secret = excluded.secret, namespace = excluded.namespace, ttl_ms = excluded.ttl_ms, cap_bytes = excluded.cap_bytes, updated_by = excluded.updated_by,
		updated_at = excluded.updated_at`),
		u.ProjectID, u.URL, u.Username, u.Secret, u.Namespace, u.TTL.Milliseconds(), u.CapBytes, u.UpdatedBy, millis(time.Now()))
	if isForeignKeyViolation(err) {
		return fmt.Errorf("project %d: %w", u.ProjectID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("metadata: proxy upstream: %w", err)
	}
	return nil
}

// ProxyUpstreams lists every binding, by project name.
func (db *DB) ProxyUpstreams(ctx context.Context) ([]ProxyUpstream, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+proxyCols+` FROM proxy_upstreams u JOIN projects p ON p.id = u.project_id ORDER BY p.name`))
	if err != nil {
		return nil, fmt.Errorf("metadata: proxy upstreams: %w", err)
	}
	defer rows.Close()
	var out []ProxyUpstream
	for rows.Next() {
		u, err := scanProxy(rows)
		if err != nil {
			return nil, fmt.Errorf("metadata: proxy upstreams: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ProxyUpstream returns the binding of the named project (ErrNotFound:
// none).
func (db *DB) ProxyUpstream(ctx context.Context, project string) (ProxyUpstream, error) {
	u, err := scanProxy(db.sql.QueryRowContext(ctx, db.q(`SELECT `+proxyCols+` FROM proxy_upstreams u JOIN projects p ON p.id = u.project_id WHERE p.name = ?`), project))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("proxy of project %q: %w", project, ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("metadata: proxy upstream: %w", err)
	}
	return u, nil
}

// DeleteProxyUpstream removes the binding of a project (ErrNotFound:
// none); its content stays.
func (db *DB) DeleteProxyUpstream(ctx context.Context, projectID int64) error {
	res, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM proxy_upstreams WHERE project_id = ?`), projectID)
	return affected(res, err, "proxy of project", projectID)
}

// ProxyTagChecked is when a proxied tag was last checked against its
// upstream (zero: never).
func (db *DB) ProxyTagChecked(ctx context.Context, repo, tag string) (time.Time, error) {
	var at int64
	err := db.hot(ctx, db.sql).QueryRow(`SELECT checked_at FROM proxy_tag_checks WHERE repository = ? AND tag = ?`, repo, tag).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("metadata: proxy tag check: %w", err)
	}
	return fromMillis(at), nil
}

// MarkProxyTagChecked records that a proxied tag was checked at at.
func (db *DB) MarkProxyTagChecked(ctx context.Context, repo, tag string, at time.Time) error {
	_, err := db.execHot(ctx, `INSERT INTO proxy_tag_checks (repository, tag, checked_at) VALUES (?, ?, ?)
		ON CONFLICT (repository, tag) DO UPDATE SET checked_at = excluded.checked_at`, repo, tag, millis(at))
	if err != nil {
		return fmt.Errorf("metadata: proxy tag check: %w", err)
	}
	return nil
}
