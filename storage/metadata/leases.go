package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// TryLease takes (or renews) the lease name for owner until now + ttl and
// reports whether owner holds it: it is free, expired, or owner's already.
// Instances sharing the database use it to run a job one at a time.
func (db *DB) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	now := time.Now()
	res, err := db.exec(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
		WHERE leases.expires_at < ? OR leases.owner = excluded.owner`, name, owner, millis(now.Add(ttl)), millis(now))
	if err != nil {
		return false, fmt.Errorf("metadata: lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseLease gives up owner's lease name.
func (db *DB) ReleaseLease(ctx context.Context, name, owner string) error {
	_, err := db.exec(ctx, `DELETE FROM leases WHERE name = ? AND owner = ?`, name, owner)
	return err
}

// LeaseHolder is the owner holding the lease name now ("" when nobody
// does, or the lease expired).
func (db *DB) LeaseHolder(ctx context.Context, name string) (string, error) {
	var owner string
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT owner FROM leases WHERE name = ? AND expires_at >= ?`), name, millis(time.Now())).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("metadata: lease %s: %w", name, err)
	}
	return owner, nil
}
