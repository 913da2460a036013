package metadata

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// LoginThrottle is how failed logins lock a user out from one client
// address: Max failures within Window lock for Lockout, each further lock
// in a row twice as long as the one before, up to MaxLockout.
type LoginThrottle struct {
	Max                         int
	Window, Lockout, MaxLockout time.Duration
}

// LoginLockedUntil returns when the lock of user from client ends (zero:
// none), and whether any failure of user from client is on record.
func (db *DB) LoginLockedUntil(ctx context.Context, user, client string) (time.Time, bool, error) {
	var until int64
	err := db.hot(ctx, db.sql).QueryRow(`SELECT locked_until FROM login_failures WHERE username = ? AND client = ?`, user, client).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return fromMillis(until), true, err
}

// LoginFailed counts a failed login of user from client at now and returns
// the lock it started (zero: none) and how many locks in a row that is.
// Replicas count together: the row is locked while it is counted.
func (db *DB) LoginFailed(ctx context.Context, user, client string, th LoginThrottle, now time.Time) (until time.Time, lockouts int, err error) {
	ms := millis(now)
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO login_failures (username, client, window_start, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (username, client) DO NOTHING`), user, client, ms, ms); err != nil {
			return err
		}
		var failures int
		var start, locked, updated int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT failures, window_start, lockouts, locked_until, updated_at FROM login_failures
			WHERE username = ? AND client = ?`+db.d.forUpdate), user, client).Scan(&failures, &start, &lockouts, &locked, &updated); err != nil {
			return err
		}
		// A day without failures forgives the locks in a row.
		if ms-updated > (24 * time.Hour).Milliseconds() {
			lockouts = 0
		}
		if ms-start > th.Window.Milliseconds() {
			failures, start = 0, ms
		}
		failures++
		if failures >= th.Max {
			lockouts++
			d := th.Lockout
			for i := 1; i < lockouts && d < th.MaxLockout; i++ {
				d *= 2
			}
			d = min(d, th.MaxLockout)
			locked, until = ms+d.Milliseconds(), now.Add(d)
			failures, start = 0, ms
		}
		_, err := tx.ExecContext(ctx, db.q(`UPDATE login_failures SET failures = ?, window_start = ?, lockouts = ?, locked_until = ?, updated_at = ?
			WHERE username = ? AND client = ?`), failures, start, lockouts, locked, ms, user, client)
		return err
	})
	return until, lockouts, err
}

// LoginSucceeded forgets the failures of user from client.
func (db *DB) LoginSucceeded(ctx context.Context, user, client string) error {
	_, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM login_failures WHERE username = ? AND client = ?`), user, client)
	return err
}

// PruneLoginFailures removes what is older than before and locks nothing.
func (db *DB) PruneLoginFailures(ctx context.Context, before time.Time) error {
	ms := millis(before)
	_, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM login_failures WHERE updated_at < ? AND locked_until < ?`), ms, ms)
	return err
}
