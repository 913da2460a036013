package metadata

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is one row of the events table: a change, recorded in the
// transaction that made it (the outbox), or an attempt recorded after it
// (RecordEvent). The shape mirrors registry/observe's Event, which this
// layer cannot import; EventHooks fills in who made the change.
type Event struct {
	Seq        int64
	ID         string // unique (CloudEvents id), for de-duplication
	Type       string // the action, observe's names: "artifact.push"
	At         time.Time
	ActorKind  string
	ActorID    int64
	ActorName  string
	ClientAddr string
	UserAgent  string
	RequestID  string
	Project    string
	Repository string
	Tag        string
	Digest     string
	MediaType  string
	Size       int64
	Target     string
	Result     string
	Data       string // JSON object of what else the type carries, or ""
	// Deliver: the event goes to the webhooks (pending until handed out).
	Deliver bool
}

// EventHooks connect the outbox to the request that makes a change: Stamp
// fills in the actor, client and request id (and what the request named
// that the change does not know) before the row is written; Committed
// runs once a transaction that wrote events committed.
type EventHooks struct {
	Stamp     func(ctx context.Context, e *Event)
	Committed func(ctx context.Context)
	// Fold reports whether e is folded into another record of the same
	// action (one record for a repository delete, not one per tag): it
	// is then not written. It may add to e.Data what it folded before.
	Fold func(ctx context.Context, e *Event) bool
	// Wake is told (without blocking) that events were committed.
	Wake chan<- struct{}
}

// SetEventHooks installs h; call it before serving.
func (db *DB) SetEventHooks(h EventHooks) { db.events = h }

// NewEventID is a random id for an event (UUID version 4 format).
func NewEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// projectOf is the project of a repository name (its first segment).
func projectOf(repo string) string {
	p, _, _ := strings.Cut(repo, "/")
	return p
}

const insertEvent = `INSERT INTO events (id, type, at, actor_kind, actor_id, actor_name, client_addr, user_agent,
	request_id, project, repository, tag, digest, media_type, size, target, result, data, pending)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// emit writes e in tx: the change's own transaction. The caller calls
// db.committed(ctx) once the transaction committed.
func (db *DB) emit(ctx context.Context, q querier, e Event) error {
	e.Deliver = true
	if e.Project == "" && e.Repository != "" {
		e.Project = projectOf(e.Repository)
	}
	if db.events.Fold != nil && db.events.Fold(ctx, &e) {
		return nil
	}
	db.stamp(ctx, &e)
	if _, err := db.hot(ctx, q).Exec(insertEvent, eventArgs(&e)...); err != nil {
		return fmt.Errorf("metadata: record event %s: %w", e.Type, err)
	}
	return nil
}

func (db *DB) stamp(ctx context.Context, e *Event) {
	if db.events.Stamp != nil {
		db.events.Stamp(ctx, e)
	}
	if e.ActorKind == "" && e.ActorName == "" {
		e.ActorKind = "system" // a command (berth gc), no request
	}
	if e.ID == "" {
		e.ID = NewEventID()
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Result == "" {
		e.Result = "ok"
	}
}

func eventArgs(e *Event) []any {
	return []any{e.ID, e.Type, millis(e.At), e.ActorKind, e.ActorID, e.ActorName, e.ClientAddr, e.UserAgent,
		e.RequestID, e.Project, e.Repository, e.Tag, e.Digest, e.MediaType, e.Size, e.Target, e.Result, e.Data, e.Deliver}
}

// committed tells the hooks that a transaction which wrote events
// committed.
func (db *DB) committed(ctx context.Context) {
	if db.events.Committed != nil {
		db.events.Committed(ctx)
	}
	if db.events.Wake != nil {
		select {
		case db.events.Wake <- struct{}{}:
		default:
		}
	}
}

// RecordEvent writes e on its own: what no change's transaction recorded
// (a refused or failed attempt, a failed login). e.Deliver says whether it
// goes to the webhooks.
func (db *DB) RecordEvent(ctx context.Context, e Event) (Event, error) {
	if e.Project == "" && e.Repository != "" {
		e.Project = projectOf(e.Repository)
	}
	db.stamp(ctx, &e)
	if _, err := db.exec(ctx, insertEvent, eventArgs(&e)...); err != nil {
		return e, fmt.Errorf("metadata: record event %s: %w", e.Type, err)
	}
	if e.Deliver && db.events.Wake != nil {
		select {
		case db.events.Wake <- struct{}{}:
		default:
		}
	}
	return e, nil
}

// EventFilter selects events of the audit log. Zero fields select all.
type EventFilter struct {
	From, To   time.Time // at >= From, at < To
	Actor      string
	Project    string
	Projects   []string // only these projects (a project admin's), nil: any
	Type       string   // exact action, or a prefix ending in "." ("artifact.")
	Repository string
}

const eventColumns = `seq, id, type, at, actor_kind, actor_id, actor_name, client_addr, user_agent, request_id,
	project, repository, tag, digest, media_type, size, target, result, data, pending`

func scanEvent(sc interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var at int64
	var pending boolish
	err := sc.Scan(&e.Seq, &e.ID, &e.Type, &at, &e.ActorKind, &e.ActorID, &e.ActorName, &e.ClientAddr, &e.UserAgent,
		&e.RequestID, &e.Project, &e.Repository, &e.Tag, &e.Digest, &e.MediaType, &e.Size, &e.Target, &e.Result, &e.Data, &pending)
	e.At = fromMillis(at)
	e.Deliver = bool(pending)
	return e, err
}

// Events lists the events f selects, newest first, with the total.
func (db *DB) Events(ctx context.Context, f EventFilter, opt ListOptions) ([]Event, int64, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if !f.From.IsZero() {
		add("at >= ?", millis(f.From))
	}
	if !f.To.IsZero() {
		add("at < ?", millis(f.To))
	}
	if f.Actor != "" {
		add("actor_name = ?", f.Actor)
	}
	if f.Project != "" {
		add("project = ?", f.Project)
	}
	if f.Repository != "" {
		add("repository = ?", f.Repository)
	}
	if f.Type != "" {
		if strings.HasSuffix(f.Type, ".") {
			add("substr(type, 1, ?) = ?", len(f.Type), f.Type)
		} else {
			add("type = ?", f.Type)
		}
	}
	if f.Projects != nil {
		if len(f.Projects) == 0 {
			return nil, 0, nil
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(f.Projects)), ", ")
		cond := "project IN (" + ph + ")"
		for _, p := range f.Projects {
			args = append(args, p)
		}
		where = append(where, cond)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int64
	if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM events`+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("metadata: events: %w", err)
	}
	limit, offset := opt.Limit, opt.Offset
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT `+eventColumns+` FROM events`+cond+` ORDER BY seq DESC LIMIT ? OFFSET ?`),
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// PruneEvents deletes events older than before that are no longer
// pending, at most limit of them; it returns how many it deleted.
func (db *DB) PruneEvents(ctx context.Context, before time.Time, limit int) (int64, error) {
	res, err := db.exec(ctx, `DELETE FROM events WHERE seq IN (SELECT seq FROM events
		WHERE at < ? AND NOT pending ORDER BY seq LIMIT ?)`, millis(before), limit)
	if err != nil {
		return 0, fmt.Errorf("metadata: prune events: %w", err)
	}
	return res.RowsAffected()
}

// EventBacklog is how many events wait to be handed to the webhooks.
func (db *DB) EventBacklog(ctx context.Context) (int64, error) {
	var n int64
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM events WHERE pending`)).Scan(&n)
	return n, err
}

// outboxFirst looks for the oldest event not handed out yet. The queries
// of the outbox say "WHERE pending", the condition of its partial index
// (migration 021), so both databases read that index.
const outboxFirst = `SELECT 1 FROM events WHERE pending ORDER BY seq LIMIT 1`

// EventsPending reports whether any event waits to be handed to the
// webhooks: the check every commit's wake-up makes, so it stops at the
// first.
func (db *DB) EventsPending(ctx context.Context) (bool, error) {
	var one int
	err := db.sql.QueryRowContext(ctx, db.q(outboxFirst)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// emitted runs fn in a transaction whose events fn writes with emit, and
// tells the hooks once it committed.
func (db *DB) emitted(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := db.tx(ctx, fn); err != nil {
		return err
	}
	db.committed(ctx)
	return nil
}

// chartName is the chart a repository holds: its path in the project.
func chartName(repo string) string {
	_, name, _ := strings.Cut(repo, "/")
	return name
}

// helmConfigMediaType marks a Helm chart stored as an OCI artifact.
const helmConfigMediaType = "application/vnd.cncf.helm.config.v1+json"

// The types the metadata layer records itself: the same names as
// registry/observe's actions.
const (
	EventArtifactPush     = "artifact.push"
	EventArtifactPull     = "artifact.pull"
	EventArtifactDelete   = "artifact.delete"
	EventTagDelete        = "tag.delete"
	EventRepositoryCreate = "repository.create"
	EventRepositoryDelete = "repository.delete"
	EventProjectCreate    = "project.create"
	EventProjectDelete    = "project.delete"
	EventChartUpload      = "chart.upload"
	EventChartDelete      = "chart.delete"
	EventGCRun            = "gc.run"
	EventRetentionRun     = "retention.run"
	EventProxyEvict       = "proxy.evict"
	EventMemberSet        = "member.set"
	EventMemberRemove     = "member.remove"
	EventUserCreate       = "user.create"
	EventCredentialReset  = "user.credential.reset"
	EventRobotCreate      = "robot.create"
	EventBuildFinish      = "build.finish"
	// A blob an upload committed, a cross-repository mount and a blob
	// delete: audit records, never webhook deliveries (AuditOnly).
	EventBlobPush   = "blob.push"
	EventBlobMount  = "blob.mount"
	EventBlobDelete = "blob.delete"
)

// AuditOnly reports whether events of typ are the audit log's alone: no
// webhook gets them, whatever its filter (a push of an image is one
// artifact.push for a receiver, not one event per layer).
func AuditOnly(typ string) bool {
	return strings.HasPrefix(typ, "blob.")
}

// execEvent runs one statement and records e in the same transaction;
// fill (optional) completes e from the database first. A statement that
// changes no row records nothing (affected then says ErrNotFound).
func (db *DB) execEvent(ctx context.Context, e Event, fill func(q querier, e *Event), query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		var err error
		if fill != nil {
			fill(tx, &e)
		}
		if res, err = tx.ExecContext(ctx, db.q(query), args...); err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return db.emit(ctx, tx, e)
	})
	return res, err
}

// names fills e.Project and e.Target with a project's and a user's names.
func (db *DB) names(ctx context.Context, projectID, userID int64) func(q querier, e *Event) {
	return func(q querier, e *Event) {
		if projectID != 0 {
			_ = q.QueryRowContext(ctx, db.q(`SELECT name FROM projects WHERE id = ?`), projectID).Scan(&e.Project)
		}
		if userID != 0 {
			_ = q.QueryRowContext(ctx, db.q(`SELECT username FROM users WHERE id = ?`), userID).Scan(&e.Target)
		}
	}
}
