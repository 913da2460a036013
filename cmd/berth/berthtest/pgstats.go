package berthtest

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
)

// PGStatsEnv, set to anything, starts test PostgreSQL servers with
// pg_stat_statements loaded, so a benchmark can say which statements its
// database time went to (Statements). Off by default: tracking costs a
// little on every statement.
const PGStatsEnv = "BERTH_TEST_PG_STATS"

func pgStatsFlags() []string {
	var flags []string
	if os.Getenv(PGStatsEnv) != "" {
		flags = append(flags, "-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all")
	}
	if os.Getenv(PGWaitsEnv) != "" {
		flags = append(flags, "-c", "log_lock_waits=on", "-c", "deadlock_timeout=100ms",
			"-c", "log_autovacuum_min_duration=0", "-c", "log_checkpoints=on")
	}
	return flags
}

// PGDurableEnv, set to anything, runs test PostgreSQL servers with a
// server's settings rather than a throwaway's: fsync, full page writes and
// synchronous commit on, PostgreSQL's default 128 MB of shared buffers and
// 16 MiB WAL segments. A benchmark of write latency (the retention
// benchmark's longest write, a push's p99) is then read as on a real
// server; tests run faster without it.
const PGDurableEnv = "BERTH_TEST_PG_DURABLE"

func pgDurable() bool { return os.Getenv(PGDurableEnv) != "" }

// PGSettingsEnv holds more settings for test PostgreSQL servers, separated
// by spaces, each name=value (as postgresql.conf has them, e.g.
// "max_wal_size=8GB checkpoint_timeout=15min"); they come after the
// others, so they win.
const PGSettingsEnv = "BERTH_TEST_PG_SETTINGS"

func pgDurabilityFlags() []string {
	flags := []string{"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off", "-c", "shared_buffers=32MB"}
	if pgDurable() {
		flags = []string{"-c", "shared_buffers=128MB"}
	}
	for _, s := range strings.Fields(os.Getenv(PGSettingsEnv)) {
		flags = append(flags, "-c", s)
	}
	return flags
}

// PGWaitsEnv, set to anything, makes test PostgreSQL servers log what a
// stall may come from: lock waits over 100 ms (deadlock_timeout, so
// deadlocks are also found sooner), every autovacuum and checkpoint. A
// benchmark reads them with Waits.
const PGWaitsEnv = "BERTH_TEST_PG_WAITS"

// Waits is what the server logged of lock waits, autovacuums and
// checkpoints so far (PGWaitsEnv), at most n lines, the last ones; a lock
// wait with the lines PostgreSQL adds to it (who holds the lock, on which
// relation, the waiting statement).
func (p *Postgres) Waits(n int) string {
	var out []string
	wait := false // the last line kept is a lock wait's: its detail, context and statement follow
	for _, l := range strings.Split(p.Logs(), "\n") {
		switch {
		case strings.Contains(l, "still waiting for") || strings.Contains(l, "acquired"):
			wait = true
		case wait && (strings.Contains(l, "DETAIL:") || strings.Contains(l, "CONTEXT:") || strings.Contains(l, "STATEMENT:")):
		case strings.Contains(l, "automatic vacuum") || strings.Contains(l, "automatic analyze") || strings.Contains(l, "checkpoint"):
			wait = false
		default:
			wait = false
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out[max(0, len(out)-n):], "\n")
}

// ResetStatements starts counting statements afresh in the database of dsn
// (one of p's databases). It fails the test when PGStatsEnv is not set.
func (p *Postgres) ResetStatements(t testing.TB, dsn string) {
	t.Helper()
	if os.Getenv(PGStatsEnv) == "" {
		t.Fatalf("statement statistics need %s=1", PGStatsEnv)
	}
	if out, err := p.superSQLIn(dbName(t, dsn), `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`,
		`SELECT pg_stat_statements_reset()`); err != nil {
		t.Fatalf("pg_stat_statements: %v\n%s", err, out)
	}
}

// Statements returns the n statements of dsn's database that took the most
// time since ResetStatements, one line each: calls, total and mean time,
// rows, and the statement's start.
func (p *Postgres) Statements(t testing.TB, dsn string, n int) string {
	t.Helper()
	out, err := p.superSQLIn(dbName(t, dsn), `SELECT format('%8s calls %9s ms %8s ms/call %9s rows | %s',
		s.calls, round(s.total_exec_time), round((s.total_exec_time / s.calls)::numeric, 3), s.rows,
		left(regexp_replace(s.query, '\s+', ' ', 'g'), 240))
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = current_database() ORDER BY s.total_exec_time DESC LIMIT `+strconv.Itoa(n))
	if err != nil {
		t.Fatalf("pg_stat_statements: %v\n%s", err, out)
	}
	return out
}

// superSQLIn runs statements as the bootstrap superuser in database db.
func (p *Postgres) superSQLIn(db string, stmts ...string) (string, error) {
	return p.psql([]string{"-h", p.dir, "-p", strconv.Itoa(p.port), "-U", pgSuper, "-d", db}, stmts...)
}

func dbName(t testing.TB, dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || strings.Trim(u.Path, "/") == "" {
		t.Fatalf("no database in %q: %v", dsn, err)
	}
	return strings.Trim(u.Path, "/")
}

// Checkpoint makes PostgreSQL write every dirty page now (a benchmark
// after a bulk load: its writeback must not fall into what it measures).
func (p *Postgres) Checkpoint(t testing.TB) {
	t.Helper()
	if out, err := p.superSQLIn("postgres", `CHECKPOINT`); err != nil {
		t.Fatalf("checkpoint: %v\n%s", err, out)
	}
}
