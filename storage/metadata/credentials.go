package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AppCredential is a robot account: an access key and a secret with a role
// in each of its projects.
type AppCredential struct {
	ID                int64
	AccessKey         string
	SecretHash        string
	Name              string
	Creator           string
	Disabled          bool
	CredentialVersion int64
	ExpiresAt         time.Time // zero: never
	CreatedAt         time.Time
	Scopes            map[int64]string // project id → role
}

// CreateAppCredential stores a credential and its scopes.
func (db *DB) CreateAppCredential(ctx context.Context, c AppCredential) (AppCredential, error) {
	now := time.Now()
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO app_credentials (access_key, secret_hash, name, creator, expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), c.AccessKey, c.SecretHash, c.Name, c.Creator, millis(c.ExpiresAt), millis(now)).Scan(&c.ID)
		if err != nil {
			return err
		}
		for pid, role := range c.Scopes {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO app_credential_scopes (credential_id, project_id, role) VALUES (?, ?, ?)`), c.ID, pid, role); err != nil {
				return err
			}
		}
		return db.emit(ctx, tx, Event{Type: EventRobotCreate, Target: c.AccessKey})
	})
	if isUniqueViolation(err) {
		return c, fmt.Errorf("credential %q: %w", c.AccessKey, ErrExists)
	}
	if err != nil {
		return c, fmt.Errorf("metadata: create credential: %w", err)
	}
	c.CredentialVersion, c.CreatedAt = 1, fromMillis(millis(now))
	return c, nil
}

// GetAppCredential returns a credential by access key, with its scopes.
func (db *DB) GetAppCredential(ctx context.Context, accessKey string) (AppCredential, error) {
	var c AppCredential
	var disabled boolish
	var exp, created int64
	err := db.hot(ctx, db.sql).QueryRow(`SELECT id, access_key, secret_hash, name, creator, disabled, credential_version, expires_at, created_at
		FROM app_credentials WHERE access_key = ?`, accessKey).Scan(&c.ID, &c.AccessKey, &c.SecretHash, &c.Name, &c.Creator, &disabled, &c.CredentialVersion, &exp, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("credential: %w", ErrNotFound)
	}
	if err != nil {
		return c, err
	}
	c.Disabled, c.ExpiresAt, c.CreatedAt = bool(disabled), fromMillis(exp), fromMillis(created)
	c.Scopes, err = db.roles(ctx, `SELECT project_id, role FROM app_credential_scopes WHERE credential_id = ?`, c.ID)
	return c, err
}

// AppCredentialVersion is the cheap check behind cached app credentials.
func (db *DB) AppCredentialVersion(ctx context.Context, id int64) (int64, bool, error) {
	var v, exp int64
	var disabled boolish
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT credential_version, disabled, expires_at FROM app_credentials WHERE id = ?`), id).Scan(&v, &disabled, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, ErrNotFound
	}
	ok := !bool(disabled) && (exp == 0 || time.Now().UnixMilli() < exp)
	return v, ok, err
}

// ListAppCredentials lists credentials (without secrets' hashes' use).
func (db *DB) ListAppCredentials(ctx context.Context) ([]AppCredential, error) {
	keys, err := db.strings(ctx, `SELECT access_key FROM app_credentials ORDER BY name, access_key`)
	if err != nil {
		return nil, err
	}
	out := make([]AppCredential, 0, len(keys))
	for _, k := range keys {
		c, err := db.GetAppCredential(ctx, k)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// DeleteAppCredential removes a credential.
func (db *DB) DeleteAppCredential(ctx context.Context, accessKey string) error {
	res, err := db.sql.ExecContext(ctx, db.q(`DELETE FROM app_credentials WHERE access_key = ?`), accessKey)
	return affected(res, err, "credential", accessKey)
}
