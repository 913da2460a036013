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

// Held is what the last transaction run alone with a TimeHeld context did
// to other writers.
type Held struct {
	// Took is how long it ran, from begin to commit, without the time it
	// waited to begin.
	Took time.Duration
}

// TimeHeld returns ctx whose transactions that run alone (tx, not
// txShared) report in *h what the last of them held. The caller reads *h
// after the write returns, from the goroutine that made it.
func TimeHeld(ctx context.Context, h *Held) context.Context {
	return context.WithValue(ctx, heldKey{}, h)
}

// noteHeld reports a transaction that began at start to ctx's TimeHeld.
func (db *DB) noteHeld(ctx context.Context, start time.Time) {
	if h, ok := ctx.Value(heldKey{}).(*Held); ok {
		*h = Held{Took: time.Since(start)}
	}
}

// requestWaiting says whether a write of a request (not background work)
// is queued.
func (wr *writer) requestWaiting() bool {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	for _, w := range wr.queue {
		if !w.background && w.state.Load() == writeQueued {
			return true
		}
	}
	return false
}
