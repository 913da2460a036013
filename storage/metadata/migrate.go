package metadata

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change; {{id}}, {{text}} and {{bytes}}
// are replaced by the dialect's primary-key, sorted-text and binary column
// types. A file named NNN_name.DIALECT.sql (postgres, sqlite) is that
// dialect's alone: the others record its version with nothing to run, so
// both keep the same numbers.
type migration struct {
	version int
	name    string
	sql     string
	dialect string // "" for both
}

func loadMigrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("metadata: migration %q is not NNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		m := migration{version: v, name: e.Name(), sql: string(b)}
		for _, d := range []dialect{sqliteDialect, postgresDialect} {
			if strings.HasSuffix(e.Name(), "."+d.name+".sql") {
				m.dialect = d.name
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrationLock is the PostgreSQL advisory lock key migrations run under.
const migrationLock = 0x6265727468_6d67 // "berth" "mg"

// migrate applies, in order and each in its own transaction, the migrations
// the database has not seen. Replicas starting together on PostgreSQL take
// turns under an advisory lock (its CREATE TABLE IF NOT EXISTS is not safe
// against a concurrent one); a migration applied by another process in the
// meantime is skipped: its schema_migrations row (the primary key) says so.
func (db *DB) migrate(ctx context.Context) error {
	if db.d.name == postgresDialect.name {
		conn, err := db.sql.Conn(ctx)
		if err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("metadata: waiting for the migration lock: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
		}()
	}
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("metadata: migrations table: %w", err)
	}
	migs, err := loadMigrations()
	if err != nil {
		return err
	}
	for _, m := range migs {
		var n int
		if err := db.sql.QueryRowContext(ctx, db.q(`SELECT count(*) FROM schema_migrations WHERE version = ?`), m.version).Scan(&n); err != nil {
			return fmt.Errorf("metadata: %w", err)
		}
		if n > 0 {
			continue
		}
		if m.dialect != "" && m.dialect != db.d.name {
			m.sql = ""
		}
		text := strings.NewReplacer("{{id}}", db.d.idColumn, "{{text}}", db.d.text, "{{bytes}}", db.d.bytes, "{{norowid}}", db.d.noRowid).Replace(m.sql)
		err := db.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
				m.version, m.name, time.Now().UnixMilli()); err != nil {
				return err
			}
			for _, stmt := range splitStatements(text) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%w in: %s", err, stmt)
				}
			}
			return nil
		})
		if err != nil {
			if isUniqueViolation(err) {
				continue // another replica applied it
			}
			return fmt.Errorf("metadata: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// SchemaVersion returns the newest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	err := db.sql.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	return int(v.Int64), err
}

// splitStatements splits a migration into its statements: comment lines
// (a "--" first) go first, so that a ";" in a comment ends nothing.
func splitStatements(s string) []string {
	var code []string
	for _, l := range strings.Split(s, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
			code = append(code, l)
		}
	}
	var out []string
	for _, part := range strings.Split(strings.Join(code, "\n"), ";") {
		if part = strings.Trim(part, "\n"); strings.TrimSpace(part) != "" {
			out = append(out, part)
		}
	}
	return out
}
