package metadata

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Retention policies and runs, and immutable-tag rules (migration 013). The
// rules themselves are the engine's (registry/retention): here they are
// JSON.

// RetentionPolicy is a project's retention policy.
type RetentionPolicy struct {
	ProjectID int64
	Rules     json.RawMessage
	Schedule  string // "", an interval ("24h") or a cron expression
	NextRunAt time.Time
	UpdatedBy string
	UpdatedAt time.Time
}

// GetRetentionPolicy returns a project's policy (ErrNotFound: none).
func (db *DB) GetRetentionPolicy(ctx context.Context, projectID int64) (RetentionPolicy, error) {
	p := RetentionPolicy{ProjectID: projectID}
	var rules string
	var next, updated int64
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT rules, schedule, next_run_at, updated_by, updated_at FROM retention_policies WHERE project_id = ?`),
		projectID).Scan(&rules, &p.Schedule, &next, &p.UpdatedBy, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("retention policy: %w", ErrNotFound)
	}
	p.Rules, p.NextRunAt, p.UpdatedAt = json.RawMessage(rules), fromMillis(next), fromMillis(updated)
	return p, err
}

// PutRetentionPolicy creates or replaces a project's policy.
func (db *DB) PutRetentionPolicy(ctx context.Context, p RetentionPolicy) error {
	_, err := db.sql.ExecContext(ctx, db.q(`INSERT INTO retention_policies (project_id, rules, schedule, next_run_at, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id) DO UPDATE SET rules = excluded.rules, schedule = excluded.schedule,
		next_run_at = excluded.next_run_at, updated_by = excluded.updated_by, updated_at = excluded.updated_at`),
		p.ProjectID, string(p.Rules), p.Schedule, millis(p.NextRunAt), p.UpdatedBy, millis(time.Now()))
	return err
}

// DeleteRetentionPolicy removes a project's policy.
func (db *DB) DeleteRetentionPolicy(ctx context.Context, projectID int64) error {
	res, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM retention_policies WHERE project_id = ?`), projectID)
	return affected(res, err, "retention policy", projectID)
}

// DueRetention lists the projects whose scheduled run is due at now.
func (db *DB) DueRetention(ctx context.Context, now time.Time) ([]int64, error) {
	return column[int64](ctx, db.sql, db.q(`SELECT project_id FROM retention_policies WHERE schedule <> '' AND next_run_at > 0 AND next_run_at <= ? ORDER BY next_run_at`), millis(now))
}

// SetRetentionNextRun moves a policy's next scheduled run.
func (db *DB) SetRetentionNextRun(ctx context.Context, projectID int64, next time.Time) error {
	_, err := db.sql.ExecContext(ctx, db.q(`UPDATE retention_policies SET next_run_at = ? WHERE project_id = ?`), millis(next), projectID)
	return err
}

// RetentionRun is one run of a policy.
type RetentionRun struct {
	ID               int64            `json:"id"`
	ProjectID        int64            `json:"-"`
	DryRun           bool             `json:"dryRun"`
	Cause            string           `json:"cause"` // api, schedule, cli
	Actor            string           `json:"actor,omitempty"`
	Started          time.Time        `json:"started"`
	Finished         time.Time        `json:"finished,omitzero"`
	Status           string           `json:"status"` // running, done, failed
	TagsSeen         int64            `json:"tagsSeen"`
	TagsRemoved      int64            `json:"tagsRemoved"`
	ManifestsRemoved int64            `json:"manifestsRemoved"`
	Kept             map[string]int64 `json:"kept"` // tags kept, by the rule (or reason) that kept them
	// LongestWriteMs is the longest any of the run's write transactions
	// held the database's write lock (from begin to commit; its wait to
	// begin, behind requests' writes, not counted).
	LongestWriteMs int64  `json:"longestWriteMs"`
	Error          string `json:"error,omitempty"`
}

// StartRetentionRun records a run that begins now.
func (db *DB) StartRetentionRun(ctx context.Context, r RetentionRun) (RetentionRun, error) {
	r.Status, r.Started = "running", time.Now()
	err := db.sql.QueryRowContext(ctx, db.q(`INSERT INTO retention_runs (project_id, dry_run, cause, actor, started_at, status)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), r.ProjectID, r.DryRun, r.Cause, r.Actor, millis(r.Started), r.Status).Scan(&r.ID)
	return r, err
}

// FinishRetentionRun records a run's outcome.
func (db *DB) FinishRetentionRun(ctx context.Context, r RetentionRun) error {
	kept, _ := json.Marshal(r.Kept)
	return db.emitted(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE retention_runs SET finished_at = ?, status = ?, tags_seen = ?, tags_removed = ?,
			manifests_removed = ?, kept = ?, longest_write_ms = ?, error = ? WHERE id = ?`), millis(r.Finished), r.Status, r.TagsSeen, r.TagsRemoved,
			r.ManifestsRemoved, string(kept), r.LongestWriteMs, r.Error, r.ID); err != nil {
			return err
		}
		var project, actor string
		_ = tx.QueryRowContext(ctx, db.q(`SELECT p.name, r.actor FROM retention_runs r JOIN projects p ON p.id = r.project_id
			WHERE r.id = ?`), r.ID).Scan(&project, &actor)
		e := Event{Type: EventRetentionRun, Project: project, Target: strconv.FormatInt(r.ID, 10), Data: toJSON(map[string]any{
			"run": r.ID, "dryRun": r.DryRun, "status": r.Status, "tagsSeen": r.TagsSeen, "tagsRemoved": r.TagsRemoved,
			"manifestsRemoved": r.ManifestsRemoved, "error": r.Error})}
		if actor != "" {
			e.ActorKind, e.ActorName = "user", actor
		}
		return db.emit(ctx, tx, e)
	})
}

const runCols = `id, project_id, dry_run, cause, actor, started_at, finished_at, status, tags_seen, tags_removed, manifests_removed, kept, longest_write_ms, error`

func scanRun(sc interface{ Scan(...any) error }) (RetentionRun, error) {
	var r RetentionRun
	var dry boolish
	var started, finished int64
	var kept string
	err := sc.Scan(&r.ID, &r.ProjectID, &dry, &r.Cause, &r.Actor, &started, &finished, &r.Status, &r.TagsSeen, &r.TagsRemoved, &r.ManifestsRemoved, &kept, &r.LongestWriteMs, &r.Error)
	r.DryRun, r.Started, r.Finished = bool(dry), fromMillis(started), fromMillis(finished)
	_ = json.Unmarshal([]byte(kept), &r.Kept)
	return r, err
}

// RetentionRuns lists a project's runs, newest first.
func (db *DB) RetentionRuns(ctx context.Context, projectID int64, limit int) ([]RetentionRun, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+runCols+` FROM retention_runs WHERE project_id = ? ORDER BY id DESC LIMIT ?`), projectID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RetentionRun{}
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// GetRetentionRun returns a run of a project (ErrNotFound).
func (db *DB) GetRetentionRun(ctx context.Context, projectID, id int64) (RetentionRun, error) {
	r, err := scanRun(db.sql.QueryRowContext(ctx, db.q(`SELECT `+runCols+` FROM retention_runs WHERE project_id = ? AND id = ?`), projectID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("retention run %d: %w", id, ErrNotFound)
	}
	return r, err
}

// RetentionItem is one tag (or untagged manifest, Tag "") a run removed or
// would remove, with the decision.
type RetentionItem struct {
	Seq        int64  `json:"seq"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest"`
	Decision   string `json:"decision"`
}

// AddRetentionItems records items of a run, itemsPerTx to a transaction
// (they are read once the run is finished, so they need not commit
// together).
func (db *DB) AddRetentionItems(ctx context.Context, runID int64, items []RetentionItem) error {
	for len(items) > 0 {
		n := min(len(items), itemsPerTx)
		if err := giveWay(ctx); err != nil {
			return err
		}
		if err := db.tx(ctx, func(tx *sql.Tx) error {
			for chunk := items[:n]; len(chunk) > 0; {
				m := min(len(chunk), 200)
				rows := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?),", m), ",")
				args := make([]any, 0, 6*m)
				for _, it := range chunk[:m] {
					args = append(args, runID, it.Seq, it.Repository, it.Tag, it.Digest, it.Decision)
				}
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO retention_items (run_id, seq, repository, tag, digest, decision) VALUES `+rows), args...); err != nil {
					return err
				}
				chunk = chunk[m:]
			}
			return nil
		}); err != nil {
			return err
		}
		items = items[n:]
	}
	return nil
}

// itemsPerTx is how many items AddRetentionItems writes in one transaction:
// a run's 100,000 in one held SQLite's write lock over a second, and every
// push waited; a thousand hold it a few milliseconds.
const itemsPerTx = 1000

// RetentionItems pages through a run's items after seq.
func (db *DB) RetentionItems(ctx context.Context, runID, after int64, limit int) ([]RetentionItem, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT seq, repository, tag, digest, decision FROM retention_items
		WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?`), runID, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []RetentionItem{}
	for rows.Next() {
		var it RetentionItem
		if err := rows.Scan(&it.Seq, &it.Repository, &it.Tag, &it.Digest, &it.Decision); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// ImmutableRule makes the tags it matches immutable.
type ImmutableRule struct {
	ID           int64     `json:"id"`
	ProjectID    int64     `json:"-"`
	Repositories string    `json:"repositories"` // glob on the repository path after the project
	Tags         string    `json:"tags"`         // glob on tag names
	CreatedBy    string    `json:"createdBy"`
	CreatedAt    time.Time `json:"createdAt"`
}

// ImmutableRules lists a project's rules.
func (db *DB) ImmutableRules(ctx context.Context, projectID int64) ([]ImmutableRule, error) {
	// Read on every push (the tag guard): prepared once.
	rows, err := db.hot(ctx, db.sql).Query(`SELECT id, repositories, tags, created_by, created_at FROM immutable_rules
		WHERE project_id = ? ORDER BY id`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ImmutableRule{}
	for rows.Next() {
		r := ImmutableRule{ProjectID: projectID}
		var at int64
		if err := rows.Scan(&r.ID, &r.Repositories, &r.Tags, &r.CreatedBy, &at); err != nil {
			return nil, err
		}
		r.CreatedAt = fromMillis(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// CreateImmutableRule adds a rule.
func (db *DB) CreateImmutableRule(ctx context.Context, r ImmutableRule) (ImmutableRule, error) {
	r.CreatedAt = time.Now()
	err := db.sql.QueryRowContext(ctx, db.q(`INSERT INTO immutable_rules (project_id, repositories, tags, created_by, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`), r.ProjectID, r.Repositories, r.Tags, r.CreatedBy, millis(r.CreatedAt)).Scan(&r.ID)
	return r, err
}

// DeleteImmutableRule removes a rule of a project.
func (db *DB) DeleteImmutableRule(ctx context.Context, projectID, id int64) error {
	res, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM immutable_rules WHERE project_id = ? AND id = ?`), projectID, id)
	return affected(res, err, "immutable rule", id)
}
