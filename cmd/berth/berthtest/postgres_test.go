package berthtest

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"
)

// psqlQuery runs one statement with psql against url and returns the bare
// output (unaligned, tuples only).
func psqlQuery(t *testing.T, url, sql string) string {
	t.Helper()
	return strings.TrimSpace(Output(t, Tool(t, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql))
}

func TestSharedPostgres(t *testing.T) {
	pg := SharedPostgres(t)
	if again := SharedPostgres(t); again != pg {
		t.Fatal("SharedPostgres started a second server")
	}
	db1, db2 := pg.NewDatabase(t), pg.NewDatabase(t)
	if db1 == db2 {
		t.Fatalf("NewDatabase returned %s twice", db1)
	}
	for _, url := range []string{db1, db2} {
		if !strings.HasPrefix(url, "postgres://berth:berth@127.0.0.1:") || !strings.HasSuffix(url, "?sslmode=disable") {
			t.Errorf("unexpected URL %s", url)
		}
		if got := psqlQuery(t, url, "select 1"); got != "1" {
			t.Errorf("select 1 on %s: got %q, want 1", url, got)
		}
	}

	// The databases are distinct and isolated from each other.
	name1 := psqlQuery(t, db1, "select current_database()")
	name2 := psqlQuery(t, db2, "select current_database()")
	if name1 == name2 {
		t.Errorf("both URLs reach database %q", name1)
	}
	psqlQuery(t, db1, "create table only_in_db1 (id int)")
	if got := psqlQuery(t, db2, "select count(*) from pg_tables where tablename = 'only_in_db1'"); got != "0" {
		t.Errorf("table created in %s is visible in %s", name1, name2)
	}
}

func TestStartPostgres(t *testing.T) {
	pg := StartPostgres(t)
	if got := psqlQuery(t, pg.URL, "select 1"); got != "1" {
		t.Fatalf("select 1: got %q, want 1", got)
	}
	if got := psqlQuery(t, pg.URL, "show fsync"); got != "off" {
		t.Errorf("fsync = %q, want off", got)
	}
	// A wrong password is refused: authentication is real over TCP.
	bad := strings.Replace(pg.URL, "berth:berth@", "berth:wrong@", 1)
	if out, err := RunErr(t, Tool(t, "psql"), "-X", "-d", bad, "-c", "select 1"); err == nil {
		t.Errorf("wrong password accepted:\n%s", out)
	}
}

// With PGStatsEnv set, a server counts statements per database.
func TestPostgresStatements(t *testing.T) {
	t.Setenv(PGStatsEnv, "1")
	pg := StartPostgres(t)
	db := pg.NewDatabase(t)
	pg.ResetStatements(t, db)
	psqlQuery(t, db, "create table counted (id int)")
	for range 3 {
		psqlQuery(t, db, "select count(*) from counted")
	}
	got := pg.Statements(t, db, 20)
	if !strings.Contains(got, "3 calls") || !strings.Contains(got, "select count(*) from counted") {
		t.Fatalf("statements of %s:\n%s\nwant the count called 3 times", db, got)
	}
	t.Logf("statements:\n%s", got)
}

// SampleBlocks sees a session waiting for a row another transaction holds,
// and says what the holder is doing.
func TestSampleBlocks(t *testing.T) {
	pg := SharedPostgres(t)
	dsn := pg.NewDatabase(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE rows (id int PRIMARY KEY, n int); INSERT INTO rows VALUES (1, 0)`); err != nil {
		t.Fatal(err)
	}
	stop := pg.SampleBlocks(t, dsn, 10*time.Millisecond)
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := holder.ExecContext(ctx, `UPDATE rows SET n = n + 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() {
		_, err := db.ExecContext(ctx, `UPDATE rows SET n = n + 10 WHERE id = 1`)
		waited <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	got := stop(5)
	if !strings.HasPrefix(got, "1 waits seen") || !strings.Contains(got, "Lock:transactionid") ||
		!strings.Contains(got, "UPDATE rows SET n = n + 10") || !strings.Contains(got, "idle in transaction") ||
		!strings.Contains(got, "UPDATE rows SET n = n + 1 ") {
		t.Errorf("samples:\n%s", got)
	}
}

// A server runs with a throwaway's settings by default, with a real
// server's under PGDurableEnv, and PGSettingsEnv's over either.
func TestPostgresDurability(t *testing.T) {
	for _, tc := range []struct {
		durable  bool
		settings string
		want     map[string]string
	}{
		{false, "", map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off", "shared_buffers": "32MB", "wal_segment_size": "1MB"}},
		{true, "", map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on", "shared_buffers": "128MB", "wal_segment_size": "16MB", "max_wal_size": "1GB"}},
		{true, "max_wal_size=8GB shared_buffers=256MB", map[string]string{"fsync": "on", "shared_buffers": "256MB", "max_wal_size": "8GB"}},
	} {
		t.Run("durable="+strconv.FormatBool(tc.durable)+"/"+tc.settings, func(t *testing.T) {
			durable := ""
			if tc.durable {
				durable = "1"
			}
			t.Setenv(PGDurableEnv, durable)
			t.Setenv(PGSettingsEnv, tc.settings)
			pg := StartPostgres(t)
			for name, want := range tc.want {
				if got := psqlQuery(t, pg.URL, "show "+name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}
