package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Build states, as the image market reports them.
const (
	BuildRunning = 0 // queued or running
	BuildSuccess = 1
	BuildFailed  = 2
)

// Build is one build of a definition.
type Build struct {
	ID          int64
	ProjectID   int64
	Project     string // filled by lists
	Tag         string
	State       int
	Operator    string
	Image       string // repository:tag pushed
	Digest      string // manifest digest pushed
	Logs        string
	CreatedAt   time.Time
	StartedAt   time.Time
	FinishedAt  time.Time
	HeartbeatAt time.Time
}

// BuildFile is an uploaded build-context file (without its content).
type BuildFile struct {
	Name      string
	Size      int64
	Digest    string
	CreatedAt time.Time
}

// CreateBuild records a build in state BuildRunning.
func (db *DB) CreateBuild(ctx context.Context, b Build) (Build, error) {
	now := time.Now()
	if b.CreatedAt.IsZero() {
		b.CreatedAt = now
	}
	err := db.sql.QueryRowContext(ctx, db.q(`INSERT INTO build_history (project_id, tag, state, operator, image, logs, created_at, heartbeat_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		b.ProjectID, b.Tag, b.State, b.Operator, b.Image, b.Logs, millis(b.CreatedAt), millis(b.HeartbeatAt)).Scan(&b.ID)
	if err != nil {
		return b, fmt.Errorf("metadata: create build: %w", err)
	}
	return b, nil
}

// UpdateBuild writes a build's progress: state, logs, digest, times.
func (db *DB) UpdateBuild(ctx context.Context, b Build) error {
	const update = `UPDATE build_history SET state = ?, logs = ?, digest = ?, started_at = ?, finished_at = ?, heartbeat_at = ?
		WHERE id = ?`
	args := []any{b.State, b.Logs, b.Digest, millis(b.StartedAt), millis(b.FinishedAt), millis(b.HeartbeatAt), b.ID}
	if b.FinishedAt.IsZero() {
		res, err := db.sql.ExecContext(ctx, db.q(update), args...)
		return affected(res, err, "build", b.ID)
	}
	// A build that finished is an event (build.finish).
	repo, tag := b.Image, ""
	if i := strings.LastIndex(b.Image, ":"); i > strings.LastIndex(b.Image, "/") {
		repo, tag = b.Image[:i], b.Image[i+1:]
	}
	e := Event{Type: EventBuildFinish, Repository: repo, Tag: tag, Digest: b.Digest,
		Target: strconv.FormatInt(b.ID, 10), Data: toJSON(map[string]any{"build": b.ID, "state": b.State})}
	if b.Operator != "" {
		e.ActorKind, e.ActorName = "user", b.Operator // who started it
	}
	res, err := db.execEvent(ctx, e, nil, update, args...)
	return affected(res, err, "build", b.ID)
}

// ListBuilds returns a project's builds, newest first.
func (db *DB) ListBuilds(ctx context.Context, projectID int64, opt ListOptions) ([]Build, int64, error) {
	var total int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM build_history WHERE project_id = ?`), projectID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("metadata: count builds: %w", err)
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT h.id, h.project_id, p.name, h.tag, h.state, h.operator, h.image, h.digest, h.logs,
		h.created_at, h.started_at, h.finished_at, h.heartbeat_at
		FROM build_history h JOIN build_projects p ON p.id = h.project_id
		WHERE h.project_id = ? ORDER BY h.id DESC`+limit(opt)), projectID)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: list builds: %w", err)
	}
	defer rows.Close()
	var out []Build
	for rows.Next() {
		var b Build
		var created, started, finished, beat int64
		if err := rows.Scan(&b.ID, &b.ProjectID, &b.Project, &b.Tag, &b.State, &b.Operator, &b.Image, &b.Digest, &b.Logs,
			&created, &started, &finished, &beat); err != nil {
			return nil, 0, err
		}
		b.CreatedAt, b.StartedAt, b.FinishedAt, b.HeartbeatAt = fromMillis(created), fromMillis(started), fromMillis(finished), fromMillis(beat)
		out = append(out, b)
	}
	return out, total, rows.Err()
}

// FailStaleBuilds marks failed every build still running whose heartbeat
// is older than before (its process died), appending reason to its logs.
// It returns how many it marked.
func (db *DB) FailStaleBuilds(ctx context.Context, before time.Time, reason string) (int64, error) {
	now := millis(time.Now())
	res, err := db.sql.ExecContext(ctx, db.q(`UPDATE build_history SET state = ?, logs = logs || ?, finished_at = ?
		WHERE state = ? AND heartbeat_at < ?`), BuildFailed, reason+"\n", now, BuildRunning, millis(before))
	if err != nil {
		return 0, fmt.Errorf("metadata: fail stale builds: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PutBuildFile stores (or replaces) a build-context file of a project.
func (db *DB) PutBuildFile(ctx context.Context, projectID int64, f BuildFile, content []byte) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM build_files WHERE project_id = ? AND name = ?`), projectID, f.Name); err != nil {
			return fmt.Errorf("metadata: put build file: %w", err)
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO build_files (project_id, name, size, digest, content, created_at) VALUES (?, ?, ?, ?, ?, ?)`),
			projectID, f.Name, f.Size, f.Digest, content, millis(time.Now()))
		if err != nil {
			return fmt.Errorf("metadata: put build file: %w", err)
		}
		return nil
	})
}

// ListBuildFiles lists a project's build-context files by name.
func (db *DB) ListBuildFiles(ctx context.Context, projectID int64) ([]BuildFile, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT name, size, digest, created_at FROM build_files WHERE project_id = ? ORDER BY name`), projectID)
	if err != nil {
		return nil, fmt.Errorf("metadata: list build files: %w", err)
	}
	defer rows.Close()
	var out []BuildFile
	for rows.Next() {
		var f BuildFile
		var created int64
		if err := rows.Scan(&f.Name, &f.Size, &f.Digest, &created); err != nil {
			return nil, err
		}
		f.CreatedAt = fromMillis(created)
		out = append(out, f)
	}
	return out, rows.Err()
}

// BuildFileContent returns one file's content (files are size-limited).
func (db *DB) BuildFileContent(ctx context.Context, projectID int64, name string) ([]byte, error) {
	var b []byte
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT content FROM build_files WHERE project_id = ? AND name = ?`), projectID, name).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("build file %q: %w", name, ErrNotFound)
	}
	return b, err
}

// CopyBuildFiles copies every build-context file of one project to another.
func (db *DB) CopyBuildFiles(ctx context.Context, fromID, toID int64) error {
	_, err := db.sql.ExecContext(ctx, db.q(`INSERT INTO build_files (project_id, name, size, digest, content, created_at)
		SELECT ?, name, size, digest, content, created_at FROM build_files WHERE project_id = ?`), toID, fromID)
	if err != nil {
		return fmt.Errorf("metadata: copy build files: %w", err)
	}
	return nil
}

// DeleteBuildFile removes a build-context file.
func (db *DB) DeleteBuildFile(ctx context.Context, projectID int64, name string) error {
	res, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM build_files WHERE project_id = ? AND name = ?`), projectID, name)
	return affected(res, err, "build file", name)
}

// TouchBuilds refreshes the heartbeat of builds a process still owns.
func (db *DB) TouchBuilds(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{millis(at)}
	for _, id := range ids {
		args = append(args, id)
	}
	_, err := db.sql.ExecContext(ctx, db.q(`UPDATE build_history SET heartbeat_at = ? WHERE state = 0 AND id IN (`+placeholders(len(ids))+`)`), args...)
	if err != nil {
		return fmt.Errorf("metadata: touch builds: %w", err)
	}
	return nil
}
