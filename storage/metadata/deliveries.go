package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed" // given up after the last attempt
)

// Delivery is one event for one webhook.
type Delivery struct {
	ID        int64
	WebhookID int64
	EventSeq  int64
	EventID   string
	EventType string
	Ordering  string
	Status    string
	Attempts  int
	NextAt    time.Time
	CreatedAt time.Time
	Payload   string
	// URL and Secret are the webhook's, filled by ClaimDeliveries.
	URL, Secret string
	Log         []Attempt // filled by DeliveryLog
}

// Attempt is one try of a delivery.
type Attempt struct {
	Attempt    int
	At         time.Time
	StatusCode int
	Error      string
	Duration   time.Duration
}

// ClaimDeliveries leases up to limit due deliveries to owner for lease:
// another replica takes them again only once the lease ran out (a worker
// that died). A delivery waits while an older one of the same webhook and
// ordering key is pending, so a receiver gets each repository's events in
// the order they were committed.
func (db *DB) ClaimDeliveries(ctx context.Context, owner string, lease time.Duration, limit int) ([]Delivery, error) {
	var out []Delivery
	// A read first: most passes find nothing due, and take no write lock.
	var one int
	now := millis(time.Now())
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND next_at <= ?
		AND lease_until <= ? LIMIT 1`), now, now).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("metadata: claim deliveries: %w", err)
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		now := millis(time.Now())
		rows, err := tx.QueryContext(ctx, db.q(`SELECT d.id, d.webhook_id, d.event_seq, d.event_id, d.event_type, d.ordering,
			d.attempts, d.created_at, d.payload FROM webhook_deliveries d
			WHERE d.status = 'pending' AND d.next_at <= ? AND d.lease_until <= ?
			AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id
				AND e.ordering = d.ordering AND e.status = 'pending' AND e.id < d.id)
			ORDER BY d.id LIMIT ?`+db.d.skipLocked), now, now, limit)
		if err != nil {
			return err
		}
		for rows.Next() {
			var d Delivery
			var created int64
			if err := rows.Scan(&d.ID, &d.WebhookID, &d.EventSeq, &d.EventID, &d.EventType, &d.Ordering, &d.Attempts, &created, &d.Payload); err != nil {
				rows.Close()
				return err
			}
			d.Status, d.CreatedAt = DeliveryPending, fromMillis(created)
			out = append(out, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		until := millis(time.Now().Add(lease))
		for i := range out {
			if _, err := tx.ExecContext(ctx, db.q(`UPDATE webhook_deliveries SET lease_until = ?, lease_owner = ? WHERE id = ?`),
				until, owner, out[i].ID); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, db.q(`SELECT url, secret FROM webhooks WHERE id = ?`), out[i].WebhookID).
				Scan(&out[i].URL, &out[i].Secret); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: claim deliveries: %w", err)
	}
	return out, nil
}

// FinishAttempt records an attempt of a delivery owner holds and what
// follows: delivered, failed for good, or pending again from next.
func (db *DB) FinishAttempt(ctx context.Context, d Delivery, a Attempt, status string, next time.Time) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO webhook_attempts (delivery_id, attempt, at, status_code, error, duration_ms)
			VALUES (?, ?, ?, ?, ?, ?)`), d.ID, a.Attempt, millis(a.At), a.StatusCode, a.Error, a.Duration.Milliseconds()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, db.q(`UPDATE webhook_deliveries SET attempts = ?, status = ?, next_at = ?, lease_until = 0,
			lease_owner = '' WHERE id = ?`), a.Attempt, status, millis(next), d.ID)
		return err
	})
	if err != nil {
		return fmt.Errorf("metadata: record delivery attempt: %w", err)
	}
	return nil
}

// DeliveryLog lists a webhook's deliveries, newest first, each with its
// attempts; before > 0 pages on (ids below it).
func (db *DB) DeliveryLog(ctx context.Context, webhookID, before int64, limit int) ([]Delivery, error) {
	q := `SELECT id, webhook_id, event_seq, event_id, event_type, ordering, status, attempts, next_at, created_at
		FROM webhook_deliveries WHERE webhook_id = ?`
	args := []any{webhookID}
	if before > 0 {
		q += ` AND id < ?`
		args = append(args, before)
	}
	rows, err := db.sql.QueryContext(ctx, db.q(q+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("metadata: delivery log: %w", err)
	}
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var next, created int64
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.EventSeq, &d.EventID, &d.EventType, &d.Ordering, &d.Status, &d.Attempts, &next, &created); err != nil {
			rows.Close()
			return nil, err
		}
		d.NextAt, d.CreatedAt = fromMillis(next), fromMillis(created)
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		arows, err := db.sql.QueryContext(ctx, db.q(`SELECT attempt, at, status_code, error, duration_ms FROM webhook_attempts
			WHERE delivery_id = ? ORDER BY attempt`), out[i].ID)
		if err != nil {
			return nil, err
		}
		for arows.Next() {
			var a Attempt
			var at, ms int64
			if err := arows.Scan(&a.Attempt, &at, &a.StatusCode, &a.Error, &ms); err != nil {
				arows.Close()
				return nil, err
			}
			a.At, a.Duration = fromMillis(at), time.Duration(ms)*time.Millisecond
			out[i].Log = append(out[i].Log, a)
		}
		arows.Close()
	}
	return out, nil
}

// DeliveryCounts is how many deliveries are pending and failed.
func (db *DB) DeliveryCounts(ctx context.Context) (pending, failed int64, err error) {
	err = db.sql.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'),
		(SELECT count(*) FROM webhook_deliveries WHERE status = 'failed')`).Scan(&pending, &failed)
	return pending, failed, err
}

// QueueDelivery adds a delivery of payload to one webhook outside the
// outbox (a test event): it goes out like any other.
func (db *DB) QueueDelivery(ctx context.Context, webhookID int64, eventID, eventType, payload string) (int64, error) {
	var id int64
	now := millis(time.Now())
	err := db.tx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, db.q(`INSERT INTO webhook_deliveries (webhook_id, event_seq, event_id, event_type, ordering,
			status, next_at, created_at, payload) VALUES (?, 0, ?, ?, ?, 'pending', ?, ?, ?) RETURNING id`),
			webhookID, eventID, eventType, "test:"+eventID, now, now, payload).Scan(&id)
	})
	if isForeignKeyViolation(err) {
		return 0, fmt.Errorf("webhook %d: %w", webhookID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("metadata: queue delivery: %w", err)
	}
	db.committed(context.Background())
	return id, nil
}

// PruneDeliveries deletes up to limit deliveries made or given up before
// before, with their attempts; it returns how many.
func (db *DB) PruneDeliveries(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		ids, err := column[int64](ctx, tx, db.q(`SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ?
			ORDER BY id LIMIT ?`), millis(before), limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		list := idArgs(ids)
		if err := db.execIn(ctx, tx, `DELETE FROM webhook_attempts WHERE delivery_id IN (%s)`, nil, list); err != nil {
			return err
		}
		n = int64(len(ids))
		return db.execIn(ctx, tx, `DELETE FROM webhook_deliveries WHERE id IN (%s)`, nil, list)
	})
	if err != nil {
		return 0, fmt.Errorf("metadata: prune deliveries: %w", err)
	}
	return n, nil
}
