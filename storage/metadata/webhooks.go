package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Webhook is where events are posted: a project's, or global (ProjectID 0).
type Webhook struct {
	ID        int64
	ProjectID int64
	Project   string // the project's name ("" for a global webhook)
	Name      string
	URL       string
	Secret    string
	Types     []string // actions delivered (a prefix ending in "." matches a family); empty: all
	Enabled   bool
	CreatedBy string
	CreatedAt time.Time
}

// Wants reports whether the webhook delivers events of this type.
func (w Webhook) Wants(typ string) bool {
	if AuditOnly(typ) {
		return false
	}
	if len(w.Types) == 0 {
		return true
	}
	for _, t := range w.Types {
		if t == typ || (strings.HasSuffix(t, ".") && strings.HasPrefix(typ, t)) {
			return true
		}
	}
	return false
}

const webhookColumns = `w.id, COALESCE(w.project_id, 0), COALESCE(p.name, ''), w.name, w.url, w.secret, w.types, w.enabled, w.created_by, w.created_at`

func scanWebhook(sc interface{ Scan(...any) error }) (Webhook, error) {
	var w Webhook
	var types string
	var enabled boolish
	var at int64
	err := sc.Scan(&w.ID, &w.ProjectID, &w.Project, &w.Name, &w.URL, &w.Secret, &types, &enabled, &w.CreatedBy, &at)
	if types != "" {
		w.Types = strings.Split(types, ",")
	}
	w.Enabled, w.CreatedAt = bool(enabled), fromMillis(at)
	return w, err
}

// CreateWebhook stores w; its ID and time are set.
func (db *DB) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	if w.CreatedAt.IsZero() {
		w.CreatedAt = time.Now().UTC()
	}
	var project any
	if w.ProjectID != 0 {
		project = w.ProjectID
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, db.q(`INSERT INTO webhooks (project_id, name, url, secret, types, enabled, created_by, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`), project, w.Name, w.URL, w.Secret, strings.Join(w.Types, ","),
			w.Enabled, w.CreatedBy, millis(w.CreatedAt)).Scan(&w.ID)
	})
	if isForeignKeyViolation(err) {
		return w, fmt.Errorf("project %d: %w", w.ProjectID, ErrNotFound)
	}
	if err != nil {
		return w, fmt.Errorf("metadata: create webhook: %w", err)
	}
	return w, nil
}

// UpdateWebhook saves the name, URL, secret, types and enabled of w.
func (db *DB) UpdateWebhook(ctx context.Context, w Webhook) error {
	res, err := db.sql.ExecContext(ctx, db.q(`UPDATE webhooks SET name = ?, url = ?, secret = ?, types = ?, enabled = ? WHERE id = ?`),
		w.Name, w.URL, w.Secret, strings.Join(w.Types, ","), w.Enabled, w.ID)
	if err != nil {
		return fmt.Errorf("metadata: update webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook %d: %w", w.ID, ErrNotFound)
	}
	return nil
}

// GetWebhook returns a webhook by id (ErrNotFound).
func (db *DB) GetWebhook(ctx context.Context, id int64) (Webhook, error) {
	w, err := scanWebhook(db.sql.QueryRowContext(ctx, db.q(`SELECT `+webhookColumns+` FROM webhooks w
		LEFT JOIN projects p ON p.id = w.project_id WHERE w.id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, fmt.Errorf("webhook %d: %w", id, ErrNotFound)
	}
	return w, err
}

// Webhooks lists a project's webhooks (projectID > 0), the global ones
// (0), or all (-1), by id.
func (db *DB) Webhooks(ctx context.Context, projectID int64) ([]Webhook, error) {
	q := `SELECT ` + webhookColumns + ` FROM webhooks w LEFT JOIN projects p ON p.id = w.project_id`
	var args []any
	switch {
	case projectID > 0:
		q += ` WHERE w.project_id = ?`
		args = append(args, projectID)
	case projectID == 0:
		q += ` WHERE w.project_id IS NULL`
	}
	rows, err := db.sql.QueryContext(ctx, db.q(q+` ORDER BY w.id`), args...)
	if err != nil {
		return nil, fmt.Errorf("metadata: webhooks: %w", err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook removes a webhook and its deliveries (ErrNotFound).
func (db *DB) DeleteWebhook(ctx context.Context, id int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM webhook_attempts WHERE delivery_id IN
			(SELECT id FROM webhook_deliveries WHERE webhook_id = ?)`), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM webhook_deliveries WHERE webhook_id = ?`), id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM webhooks WHERE id = ?`), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("webhook %d: %w", id, ErrNotFound)
		}
		return nil
	})
}

// Ordering is the key deliveries of one webhook keep their order by: the
// repository, else the project, else the type.
func (e Event) Ordering() string {
	switch {
	case e.Repository != "":
		return e.Repository
	case e.Project != "":
		return e.Project
	}
	return e.Type
}

// DispatchEvents hands up to limit pending events, oldest first, to the
// enabled webhooks that want them: one delivery each, whose payload render
// makes. One replica at a time hands events out (on PostgreSQL the others
// skip the pass), so deliveries are created in the events' order. It
// returns the events it handed out.
func (db *DB) DispatchEvents(ctx context.Context, limit int, render func(Event) (string, error)) ([]Event, error) {
	var done []Event
	err := db.tx(ctx, func(tx *sql.Tx) error {
		done = done[:0]
		if db.d.name == postgresDialect.name {
			var locked bool
			if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, int64(dispatchLock)).Scan(&locked); err != nil || !locked {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, db.q(outboxPage+db.d.skipLocked), limit)
		if err != nil {
			return err
		}
		var evs []Event
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return err
			}
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(evs) == 0 {
			return err
		}
		hooks, err := db.enabledWebhooks(ctx, tx)
		if err != nil {
			return err
		}
		now := millis(time.Now())
		for _, e := range evs {
			var payload string
			for _, w := range hooks {
				if (w.Project != "" && w.Project != e.Project) || !w.Wants(e.Type) {
					continue
				}
				if payload == "" {
					if payload, err = render(e); err != nil {
						return err
					}
				}
				if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, event_type,
					ordering, status, next_at, created_at, payload) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?)`),
					w.ID, e.Seq, e.ID, e.Type, e.Ordering(), now, now, payload); err != nil {
					return err
				}
			}
			done = append(done, e)
		}
		seqs := make([]any, len(done))
		for i, e := range done {
			seqs[i] = e.Seq
		}
		return db.execIn(ctx, tx, `UPDATE events SET pending = ? WHERE seq IN (%s)`, []any{false}, seqs)
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: dispatch events: %w", err)
	}
	return done, nil
}

// outboxPage reads the oldest events not handed out yet.
const outboxPage = `SELECT ` + eventColumns + ` FROM events WHERE pending ORDER BY seq LIMIT ?`

// dispatchLock is the PostgreSQL advisory lock DispatchEvents holds.
const dispatchLock = 0x6265727468_6576 // "berth" "ev"

func (db *DB) enabledWebhooks(ctx context.Context, q querier) ([]Webhook, error) {
	rows, err := db.hot(ctx, q).Query(`SELECT `+webhookColumns+` FROM webhooks w
		LEFT JOIN projects p ON p.id = w.project_id WHERE w.enabled = ? ORDER BY w.id`, true)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		if w.ProjectID != 0 && w.Project == "" {
			continue
		}
		out = append(out, w)
	}
	return out, rows.Err()
}
