package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is a person who logs in.
type User struct {
	ID                int64
	Username          string
	PasswordHash      string
	Admin             bool
	Disabled          bool
	CredentialVersion int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

const userCols = `id, username, password_hash, admin, disabled, credential_version, created_at, updated_at`

func scanUser(sc interface{ Scan(...any) error }) (User, error) {
	var u User
	var admin, disabled boolish
	var created, updated int64
	if err := sc.Scan(&u.ID, &u.Username, &u.PasswordHash, &admin, &disabled, &u.CredentialVersion, &created, &updated); err != nil {
		return u, err
	}
	u.Admin, u.Disabled = bool(admin), bool(disabled)
	u.CreatedAt, u.UpdatedAt = fromMillis(created), fromMillis(updated)
	return u, nil
}

// CreateUser inserts a user; ErrExists when the name is taken.
func (db *DB) CreateUser(ctx context.Context, u User) (User, error) {
	now := time.Now()
	err := db.emitted(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, db.q(`INSERT INTO users (username, password_hash, admin, disabled, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), u.Username, u.PasswordHash, u.Admin, u.Disabled, millis(now), millis(now)).Scan(&u.ID); err != nil {
			return err
		}
		return db.emit(ctx, tx, Event{Type: EventUserCreate, Target: u.Username})
	})
	if isUniqueViolation(err) {
		return u, fmt.Errorf("user %q: %w", u.Username, ErrExists)
	}
	if err != nil {
		return u, fmt.Errorf("metadata: create user: %w", err)
	}
	u.CredentialVersion = 1
	u.CreatedAt, u.UpdatedAt = fromMillis(millis(now)), fromMillis(millis(now))
	return u, nil
}

// GetUser returns a user by name.
func (db *DB) GetUser(ctx context.Context, username string) (User, error) {
	u, err := scanUser(db.hot(ctx, db.sql).QueryRow(`SELECT `+userCols+` FROM users WHERE username = ?`, username)) // on every request with a token
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", username, ErrNotFound)
	}
	return u, err
}

// CredentialVersion returns a user's current credential version and whether
// the user may log in: the cheap check behind cached credentials.
func (db *DB) CredentialVersion(ctx context.Context, userID int64) (int64, bool, error) {
	var v int64
	var disabled boolish
	err := db.hot(ctx, db.sql).QueryRow(`SELECT credential_version, disabled FROM users WHERE id = ?`, userID).Scan(&v, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, ErrNotFound
	}
	return v, !bool(disabled), err
}

// ListUsers returns every user sorted by name.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetPassword replaces a user's password hash and bumps the credential
// version, invalidating every cached credential of the user.
func (db *DB) SetPassword(ctx context.Context, userID int64, hash string) error {
	res, err := db.execEvent(ctx, Event{Type: EventCredentialReset}, db.names(ctx, 0, userID),
		`UPDATE users SET password_hash = ?, credential_version = credential_version + 1, updated_at = ? WHERE id = ?`,
		hash, millis(time.Now()), userID)
	return affected(res, err, "user", userID)
}

// UpdateUser changes the admin and disabled flags (and bumps the version).
func (db *DB) UpdateUser(ctx context.Context, u User) error {
	res, err := db.sql.ExecContext(ctx, db.q(`UPDATE users SET admin = ?, disabled = ?, credential_version = credential_version + 1, updated_at = ? WHERE id = ?`),
		u.Admin, u.Disabled, millis(time.Now()), u.ID)
	return affected(res, err, "user", u.Username)
}

// DeleteUser removes a user, their memberships (the foreign key) and
// their ownership of the projects they created: a user created later
// under the same name inherits none of it.
func (db *DB) DeleteUser(ctx context.Context, username string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE projects SET creator_id = 0
			WHERE creator_id IN (SELECT id FROM users WHERE username = ?)`), username); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM users WHERE username = ?`), username)
		return affected(res, err, "user", username)
	})
}

// Member is a user's role in a project.
type Member struct {
	ProjectID int64
	UserID    int64
	Username  string
	Role      string
}

// SetMember gives a user a role in a project (creating or changing it).
func (db *DB) SetMember(ctx context.Context, projectID, userID int64, role string) error {
	_, err := db.execEvent(ctx, Event{Type: EventMemberSet, Data: toJSON(map[string]string{"role": role})}, db.names(ctx, projectID, userID),
		`INSERT INTO members (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`, projectID, userID, role, millis(time.Now()))
	if err != nil {
		return fmt.Errorf("metadata: set member: %w", err)
	}
	return nil
}

// RemoveMember removes a user from a project.
func (db *DB) RemoveMember(ctx context.Context, projectID, userID int64) error {
	res, err := db.execEvent(ctx, Event{Type: EventMemberRemove}, db.names(ctx, projectID, userID),
		`DELETE FROM members WHERE project_id = ? AND user_id = ?`, projectID, userID)
	return affected(res, err, "member", userID)
}

// ListMembers lists a project's members by name.
func (db *DB) ListMembers(ctx context.Context, projectID int64) ([]Member, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(`SELECT m.project_id, m.user_id, u.username, m.role FROM members m
		JOIN users u ON u.id = m.user_id WHERE m.project_id = ? ORDER BY u.username`), projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.ProjectID, &m.UserID, &m.Username, &m.Role); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Roles maps project id to the user's role there.
func (db *DB) Roles(ctx context.Context, userID int64) (map[int64]string, error) {
	return db.roles(ctx, `SELECT project_id, role FROM members WHERE user_id = ?`, userID)
}

func (db *DB) roles(ctx context.Context, query string, id int64) (map[int64]string, error) {
	rows, err := db.sql.QueryContext(ctx, db.q(query), id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var pid int64
		var role string
		if err := rows.Scan(&pid, &role); err != nil {
			return nil, err
		}
		out[pid] = role
	}
	return out, rows.Err()
}

// PublicProjectIDs lists the ids of public projects.
func (db *DB) PublicProjectIDs(ctx context.Context) ([]int64, error) {
	return column[int64](ctx, db.sql, db.q(`SELECT id FROM projects WHERE public = ? ORDER BY id`), true)
}

// GetSetting reads a shared setting; ErrNotFound when unset.
func (db *DB) GetSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := db.sql.QueryRowContext(ctx, db.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return v, err
}

// InitSetting stores a setting unless one exists, and returns the stored
// value: replicas starting together all end up with the first writer's value.
func (db *DB) InitSetting(ctx context.Context, name, value string) (string, error) {
	if _, err := db.sql.ExecContext(ctx, db.q(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), name, value); err != nil {
		return "", fmt.Errorf("metadata: setting %s: %w", name, err)
	}
	return db.GetSetting(ctx, name)
}
