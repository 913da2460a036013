package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Session is a web console session (ext/console) as the database keeps it:
// the hash of its token, never the token.
type Session struct {
	TokenHash         string
	UserID            int64
	CredentialVersion int64
	CSRF              string
	CreatedAt         time.Time
	SeenAt            time.Time
	ExpiresAt         time.Time
}

// SessionUser is a live session and the user it belongs to, read in one
// query.
type SessionUser struct {
	Session
	User User
}

// CreateSession stores a session, and removes expired ones (of anyone):
// logins are rare enough to carry the sweep.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	if _, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM console_sessions WHERE expires_at < ?`), millis(time.Now())); err != nil {
		return fmt.Errorf("metadata: sweep sessions: %w", err)
	}
	_, err := db.sql.ExecContext(ctx, db.q(`INSERT INTO console_sessions (token_hash, user_id, credential_version, csrf, created_at, seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), s.TokenHash, s.UserID, s.CredentialVersion, s.CSRF, millis(s.CreatedAt), millis(s.SeenAt), millis(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("metadata: create session: %w", err)
	}
	return nil
}

// GetSession returns the session with this token hash and its user, or
// ErrNotFound. Whether it is still good (expiry, the user's state and
// credential version) is the caller's decision.
func (db *DB) GetSession(ctx context.Context, tokenHash string) (SessionUser, error) {
	var s SessionUser
	var created, seen, expires int64
	u, err := scanUser(rowScanner{db.hot(ctx, db.sql).QueryRow(`SELECT s.user_id, s.credential_version, s.csrf, s.created_at, s.seen_at, s.expires_at, `+
		prefixed("u.", userCols)+` FROM console_sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, tokenHash),
		[]any{&s.UserID, &s.CredentialVersion, &s.CSRF, &created, &seen, &expires}})
	if errors.Is(err, sql.ErrNoRows) {
		return s, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("metadata: get session: %w", err)
	}
	s.TokenHash, s.User = tokenHash, u
	s.CreatedAt, s.SeenAt, s.ExpiresAt = fromMillis(created), fromMillis(seen), fromMillis(expires)
	return s, nil
}

// TouchSession moves a session's idle expiry.
func (db *DB) TouchSession(ctx context.Context, tokenHash string, seen, expires time.Time) error {
	_, err := db.sql.ExecContext(ctx, db.q(`UPDATE console_sessions SET seen_at = ?, expires_at = ? WHERE token_hash = ?`), millis(seen), millis(expires), tokenHash)
	if err != nil {
		return fmt.Errorf("metadata: touch session: %w", err)
	}
	return nil
}

// DeleteSession removes a session (logout); a missing one is no error.
func (db *DB) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM console_sessions WHERE token_hash = ?`), tokenHash); err != nil {
		return fmt.Errorf("metadata: delete session: %w", err)
	}
	return nil
}

// rowScanner scans leading columns into lead, the rest as the wrapped
// scanner's caller asks.
type rowScanner struct {
	row  interface{ Scan(...any) error }
	lead []any
}

func (r rowScanner) Scan(dest ...any) error { return r.row.Scan(append(r.lead, dest...)...) }

// prefixed qualifies each column of a comma-separated list.
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
