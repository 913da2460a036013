package metadata

import (
	"context"
	"time"
)

// Held time. A write's wall time counts its wait for the writer (SQLite
// has one, and background work lets requests go first); what other writes
// wait for is the time its transaction runs: its statements and commit.
// Retention sizes its batches by that, and reports the longest.

type heldKey struct{}

// TimeHeld returns ctx whose transactions that run alone (tx, not
// txShared) report in *d how long the last of them ran, from begin to
// commit, without the time it waited to begin. The caller reads *d after
// the write returns, from the goroutine that made it.
func TimeHeld(ctx context.Context, d *time.Duration) context.Context {
	return context.WithValue(ctx, heldKey{}, d)
}

// noteHeld reports a transaction that began at start to ctx's TimeHeld.
func noteHeld(ctx context.Context, start time.Time) {
	if d, ok := ctx.Value(heldKey{}).(*time.Duration); ok {
		*d = time.Since(start)
	}
}
