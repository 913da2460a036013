package metadata

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

func TestPGSession(t *testing.T) {
	all := []string{"SELECT set_config(name, '0', false) FROM pg_settings WHERE name = 'max_parallel_workers_per_gather'",
		"SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'jit'"}
	for _, c := range []struct {
		dsn  string
		want []string
	}{
		{"postgres://u:p@127.0.0.1:5432/berth?sslmode=disable", all},
		{"postgres://u:p@127.0.0.1:5432/berth", all},
		{"postgres://u:p@127.0.0.1:5432/berth?jit=on", all[:1]},
		{"postgresql://127.0.0.1/berth?max_parallel_workers_per_gather=4&jit=on", nil},
		{"postgres://127.0.0.1/berth?options=-c%20jit%3Don", all[:1]},
	} {
		if got := pgSession(c.dsn); !slices.Equal(got, c.want) {
			t.Errorf("pgSession(%q) = %q, want %q", c.dsn, got, c.want)
		}
	}
}

// TestPostgresSessionSettings checks every pooled connection runs with
// berth's session settings, and that a DSN's own setting wins.
func TestPostgresSessionSettings(t *testing.T) {
	ctx := context.Background()
	show := func(t *testing.T, db *DB, name string) []string {
		t.Helper()
		// Hold four connections at once, so the pool opens four.
		var out []string
		for range 4 {
			conn, err := db.sql.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var v string
			if err := conn.QueryRowContext(ctx, "SHOW "+name).Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	db := openTestDB(t, "postgres")
	for _, s := range pgSettings {
		if got := show(t, db, s.name); slices.ContainsFunc(got, func(v string) bool { return v != s.value }) {
			t.Errorf("%s on the pool's connections: %q, want %s on each", s.name, got, s.value)
		}
	}
	dsn := berthtest.SharedPostgres(t).NewDatabase(t) + "&max_parallel_workers_per_gather=3"
	own, err := Open(ctx, dsn, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if got := show(t, own, "max_parallel_workers_per_gather"); slices.ContainsFunc(got, func(v string) bool { return v != "3" }) {
		t.Errorf("max_parallel_workers_per_gather set in the DSN: %q, want 3 on each", got)
	}
	if got := show(t, own, "jit"); slices.ContainsFunc(got, func(v string) bool { return v != "off" }) {
		t.Errorf("jit beside a DSN setting: %q, want off", got)
	}
}
