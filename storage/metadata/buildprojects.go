package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BuildProject is an image-market build definition: the image
// <Cluster>/<Name> is built from its plugins.
type BuildProject struct {
	ID           int64
	Name         string
	Cluster      string // the registry project receiving the image
	FileType     string // edit, tool or download ("" until saved)
	Creator      string
	LastOperator string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Plugins      []BuildPlugin // filled by GetBuildProject
}

// BuildPlugin is one plugin of a definition with its settings; a repeated
// attribute has several values.
type BuildPlugin struct {
	Name  string
	Attrs map[string][]string
}

// BuildProjectFilter narrows ListBuildProjects.
type BuildProjectFilter struct {
	Clusters []string // restrict to these clusters (visibility); nil: all
}

const buildProjectCols = `id, name, cluster, file_type, creator, last_operator, created_at, updated_at`

func scanBuildProject(sc interface{ Scan(...any) error }) (BuildProject, error) {
	var p BuildProject
	var created, updated int64
	err := sc.Scan(&p.ID, &p.Name, &p.Cluster, &p.FileType, &p.Creator, &p.LastOperator, &created, &updated)
	p.CreatedAt, p.UpdatedAt = fromMillis(created), fromMillis(updated)
	return p, err
}

// CreateBuildProject inserts a definition with its plugins; ErrExists when
// the name is taken.
func (db *DB) CreateBuildProject(ctx context.Context, p BuildProject) (BuildProject, error) {
	now := millis(time.Now())
	err := db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO build_projects (name, cluster, file_type, creator, last_operator, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			p.Name, p.Cluster, p.FileType, p.Creator, p.LastOperator, now, now).Scan(&p.ID)
		if isUniqueViolation(err) {
			return fmt.Errorf("build project %q: %w", p.Name, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("metadata: create build project: %w", err)
		}
		return db.putPlugins(ctx, tx, p.ID, p.Plugins)
	})
	p.CreatedAt, p.UpdatedAt = fromMillis(now), fromMillis(now)
	return p, err
}

// UpdateBuildProject replaces a definition's type, cluster, operator and
// plugins.
func (db *DB) UpdateBuildProject(ctx context.Context, p BuildProject) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE build_projects SET cluster = ?, file_type = ?, last_operator = ?, updated_at = ? WHERE id = ?`),
			p.Cluster, p.FileType, p.LastOperator, millis(time.Now()), p.ID)
		if err := affected(res, err, "build project", p.Name); err != nil {
			return err
		}
		for _, t := range []string{"build_plugins", "build_plugin_attrs"} {
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM `+t+` WHERE project_id = ?`), p.ID); err != nil {
				return fmt.Errorf("metadata: update build project: %w", err)
			}
		}
		return db.putPlugins(ctx, tx, p.ID, p.Plugins)
	})
}

func (db *DB) putPlugins(ctx context.Context, tx *sql.Tx, id int64, plugins []BuildPlugin) error {
	for i, pl := range plugins {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO build_plugins (project_id, position, plugin) VALUES (?, ?, ?)`), id, i, pl.Name); err != nil {
			if isUniqueViolation(err) {
				return fmt.Errorf("plugin %q listed twice: %w", pl.Name, ErrExists)
			}
			return fmt.Errorf("metadata: put plugin: %w", err)
		}
		for attr, vals := range pl.Attrs {
			for seq, v := range vals {
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO build_plugin_attrs (project_id, plugin, attr, seq, value) VALUES (?, ?, ?, ?, ?)`),
					id, pl.Name, attr, seq, v); err != nil {
					return fmt.Errorf("metadata: put plugin attribute: %w", err)
				}
			}
		}
	}
	return nil
}

// GetBuildProject returns a definition with its plugins.
func (db *DB) GetBuildProject(ctx context.Context, name string) (BuildProject, error) {
	p, err := scanBuildProject(db.sql.QueryRowContext(ctx, db.q(`SELECT `+buildProjectCols+` FROM build_projects WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("build project %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("metadata: get build project: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT plugin FROM build_plugins WHERE project_id = ? ORDER BY position`), p.ID)
	if err != nil {
		return p, fmt.Errorf("metadata: build plugins: %w", err)
	}
	index := map[string]int{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return p, err
		}
		index[name] = len(p.Plugins)
		p.Plugins = append(p.Plugins, BuildPlugin{Name: name, Attrs: map[string][]string{}})
	}
	rows.Close()
	rows, err = db.sql.QueryContext(ctx, db.q(`SELECT plugin, attr, value FROM build_plugin_attrs WHERE project_id = ? ORDER BY plugin, attr, seq`), p.ID)
	if err != nil {
		return p, fmt.Errorf("metadata: build plugin attributes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var plugin, attr, value string
		if err := rows.Scan(&plugin, &attr, &value); err != nil {
			return p, err
		}
		if i, ok := index[plugin]; ok {
			p.Plugins[i].Attrs[attr] = append(p.Plugins[i].Attrs[attr], value)
		}
	}
	return p, rows.Err()
}

// ListBuildProjects returns one page of definitions (without plugins),
// sorted by name, and the total number of matches.
func (db *DB) ListBuildProjects(ctx context.Context, f BuildProjectFilter, opt ListOptions) ([]BuildProject, int64, error) {
	where, args := "1=1", []any{}
	if opt.Filter != "" {
		where += " AND " + db.d.contains("name")
		args = append(args, opt.Filter)
	}
	if f.Clusters != nil {
		if len(f.Clusters) == 0 {
			return nil, 0, nil
		}
		where += " AND cluster IN (" + placeholders(len(f.Clusters)) + ")"
		for _, c := range f.Clusters {
			args = append(args, c)
		}
	}
	var total int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM build_projects WHERE `+where), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("metadata: count build projects: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+buildProjectCols+` FROM build_projects WHERE `+where+` ORDER BY name`+limit(opt)), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: list build projects: %w", err)
	}
	defer rows.Close()
	var out []BuildProject
	for rows.Next() {
		p, err := scanBuildProject(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	return out, total, rows.Err()
}

// DeleteBuildProject deletes a definition with its files and history.
func (db *DB) DeleteBuildProject(ctx context.Context, name string) error {
	res, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM build_projects WHERE name = ?`), name)
	return affected(res, err, "build project", name)
}
