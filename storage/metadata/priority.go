package metadata

import (
	"context"
	"time"
)

// Background work on the writer (SQLite). Retention runs and garbage
// collection write in transactions paced to tens of milliseconds each; a
// push makes several small writes one after the other, and in plain order
// each of them could queue behind one of those. So the writer takes the
// writes of requests first: a background write runs when no other write
// waits, or once it has waited backgroundWait (so that a steady stream of
// pushes slows background work down but never stops it). Writes of one
// goroutine stay in order (each waits for the one before it); writes of
// different goroutines never had an order between them.

// backgroundWait is the longest a background write lets others go first.
const backgroundWait = 250 * time.Millisecond

type backgroundKey struct{}

// Background marks the writes made with ctx as background work.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

func isBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}

type asyncCommitKey struct{}

// AsyncCommit marks the write transactions made with ctx as ones whose
// commit need not wait for the database's log to reach the disk: on
// PostgreSQL they run with synchronous_commit off (a crash of the database
// server can lose the last few hundred milliseconds of them, whole
// transactions, never part of one, and never the effects of a later
// synchronous commit, whose flush takes every earlier commit with it). A
// long run of bulk changes that can be made again (a retention run's
// removals) pays a log flush per transaction otherwise; its caller commits
// synchronously before anything outside the database acts on them, and
// the garbage collector flushes the log before it deletes a blob's data
// such a removal may have released (logflush.go). SQLite
// commits in WAL mode with synchronous=NORMAL already flush at
// checkpoints, not per commit.
func AsyncCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, asyncCommitKey{}, true)
}

func isAsyncCommit(ctx context.Context) bool {
	a, _ := ctx.Value(asyncCommitKey{}).(bool)
	return a
}

type giveWayKey struct{}

// GiveWay returns ctx with which long background work made of many write
// transactions (a fold of blob releases) calls wait before each of them:
// the caller's way of letting requests in flight go first (on either
// database: what a push beside it waits for is also the machine).
func GiveWay(ctx context.Context, wait func(context.Context) error) context.Context {
	return context.WithValue(ctx, giveWayKey{}, wait)
}

// giveWay waits as ctx's GiveWay says (nothing without one).
func giveWay(ctx context.Context) error {
	if wait, ok := ctx.Value(giveWayKey{}).(func(context.Context) error); ok {
		return wait(ctx)
	}
	return nil
}

// take removes from the queue and returns the write to run next (nil when
// none): the first write of a request, unless the oldest background write
// has waited backgroundWait or there is no other. sharedOnly (a shared
// transaction looking for its next write): that write only when it can
// share, nil otherwise. Abandoned writes are dropped on the way. The
// caller holds wr.mu.
func (wr *writer) take(sharedOnly bool) *write {
	for {
		pick, oldestBackground := -1, -1
		for i, w := range wr.queue {
			if w.background {
				if oldestBackground < 0 {
					oldestBackground = i
				}
				continue
			}
			pick = i
			break
		}
		if oldestBackground >= 0 && (pick < 0 || time.Since(wr.queue[oldestBackground].queued) >= wr.backgroundWait) {
			pick = oldestBackground
		}
		if pick < 0 {
			return nil
		}
		w := wr.queue[pick]
		if sharedOnly && !w.shared {
			return nil
		}
		wr.queue = append(wr.queue[:pick], wr.queue[pick+1:]...)
		if w.state.CompareAndSwap(writeQueued, writeTaken) {
			return w
		}
	}
}
