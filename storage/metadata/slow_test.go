package metadata

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// A write transaction longer than slowWrite is logged with the function
// that ran it; a quick one is not.
func TestSlowWriteLogged(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		var buf bytes.Buffer
		db.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
		defer func(d time.Duration) { slowWrite = d }(slowWrite)
		slowWrite = 50 * time.Millisecond
		ctx := context.Background()
		if err := db.tx(ctx, func(tx *sql.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 0 {
			t.Fatalf("a quick write was logged: %s", buf.String())
		}
		if err := db.tx(ctx, slowTx); err != nil {
			t.Fatal(err)
		}
		if got := buf.String(); !strings.Contains(got, "slow write transaction") || !strings.Contains(got, "in=metadata.slowTx") {
			t.Errorf("slow write logged as %q", got)
		}
	})
}

func slowTx(tx *sql.Tx) error {
	time.Sleep(60 * time.Millisecond)
	return nil
}
