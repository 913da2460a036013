package metadata

import (
	"context"
	"math"
	"time"
)

// Steps of long work. A retention run removes a million tags in write
// transactions of tens of milliseconds, then folds their blobs' releases
// in more. A push's write that arrives while one runs waits for its end
// (SQLite has one writer). So there these transactions go through their
// rows a chunk at a time (a millisecond or two each), and between chunks
// ask their Step whether to end there, committing what they did; each
// reports how far it got, and its caller goes on from there in its next
// transaction.

type stepKey struct{}

type step struct {
	budget, busyBudget time.Duration
	busy               func() bool
}

// Step returns ctx whose chunked write transactions (RemoveTags,
// RemoveUntagged, FoldBlobReleases's) end early. busy says whether
// requests are in flight (nil: never). A transaction that begins in a
// quiet moment ends after the chunk during which it reached budget or
// busy turned true: a request that came meanwhile waits for a chunk of
// it, not for all of it, and has the cores and the disk as if alone. One
// that begins while busy (its caller's give-way ran out) ends at
// busyBudget instead, and not for every request that begins: a steady
// stream of them would cut it to a chunk at a time. Without a Step, or on
// a database that does not take steps (Steps), they do all they are given
// in one transaction.
func Step(ctx context.Context, budget, busyBudget time.Duration, busy func() bool) context.Context {
	return context.WithValue(ctx, stepKey{}, step{budget: budget, busyBudget: busyBudget, busy: busy})
}

// Steps says whether a Step ends this database's long transactions early:
// on SQLite, whose one writer makes a request's write wait for the
// transaction of the moment. On PostgreSQL, whose transactions run side
// by side, a request's write does not wait for them, and chunks cost: a
// statement a chunk is a round trip each, and a million-tag run took 700 s
// in chunks against 263–299 s without. There they go through all their
// rows at once, as before Steps.
func (db *DB) Steps() bool { return db.writer != nil }

// chunk is size where a Step ends transactions (Steps), everything at
// once elsewhere.
func (db *DB) chunk(size int) int {
	if !db.Steps() {
		return math.MaxInt
	}
	return size
}

// Pace sizes the batches of long work (N items a write transaction), so
// that a transaction goes through its batch in about a target time,
// whatever the database and the machine: halved (not under Min) after a
// transaction that held the writer longer, grown by a quarter (not over
// Max) after one that held it under half. Its wait to begin is not
// counted (it says how busy the registry is, not how big a batch is),
// nor a transaction its Step cut short under the target (ended for a
// request, or in a busy moment's smaller step).
type Pace struct{ N, Min, Max int }

// Took paces p by a transaction that held the writer for held, against
// target; cut: its Step ended it before the end of its batch.
func (p *Pace) Took(held, target time.Duration, cut bool) {
	switch {
	case held > target:
		p.N = max(p.Min, p.N/2)
	case cut:
	case held < target/2:
		p.N = min(p.Max, p.N+p.N/4+1)
	}
}

// Chunk sizes: rows of each kind a transaction goes through between two
// looks at its Step. A tag costs about 0.1 ms on SQLite at a million tags,
// a manifest (with its referrers, blobs and aliases) several times that,
// a fold's key some 15 µs.
const (
	tagChunk         = 32
	manifestChunk    = 8
	defaultFoldChunk = 64
)

// chunked runs each on list a chunk of size items at a time, until list
// is done or ctx's Step ends the transaction that began at start; it
// returns how many items it went through (at least a chunk's, or all).
func chunked[T any](ctx context.Context, start time.Time, list []T, size int, each func([]T) error) (int, error) {
	s, stepped := ctx.Value(stepKey{}).(step)
	budget, busy := s.budget, s.busy
	if stepped && busy != nil && busy() {
		budget, busy = s.busyBudget, nil
	}
	done := 0
	for done < len(list) {
		if done > 0 && stepped && ((budget > 0 && time.Since(start) >= budget) || (busy != nil && busy())) {
			break
		}
		n := min(size, len(list)-done)
		if err := each(list[done : done+n]); err != nil {
			return done, err
		}
		done += n
	}
	return done, nil
}
