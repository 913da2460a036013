package metadata

import (
	"context"
	"database/sql"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"time"
)

// slowWrite is how long a write transaction may run (begin to commit, its
// wait for the writer aside) before it is logged: every other write waits
// for it on SQLite, and on PostgreSQL for the rows it holds.
var slowWrite = 250 * time.Millisecond

// SetLogger sets where slow write transactions are reported (a warning
// naming the function that ran the transaction, and how long it took).
func (db *DB) SetLogger(l *slog.Logger) { db.log.Store(l) }

// noteSlow logs the transaction fn that began at start if it ran longer
// than slowWrite.
func (db *DB) noteSlow(ctx context.Context, start time.Time, fn func(tx *sql.Tx) error) {
	took := time.Since(start)
	l := db.log.Load()
	if took < slowWrite || l == nil {
		return
	}
	name := "?"
	if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
		name = strings.TrimPrefix(f.Name(), "github.com/berth-registry/berth/storage/")
	}
	l.WarnContext(ctx, "slow write transaction", "took", took.Round(time.Millisecond).String(), "in", name)
}
