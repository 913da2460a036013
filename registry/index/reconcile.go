package index

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// The background side of one truth: heartbeats, the batched retirement
// of mirrored rows, and the repairs of rows no live writer will finish.

// StartSync runs the background loop of this instance: heartbeats, the
// batched retirement of mirrored rows, and repairs of the rows no live
// writer will finish. It returns at once; StopSync ends it.
func (ix *Indexer) StartSync(ctx context.Context) {
	ctx, ix.sync.stop = context.WithCancel(context.WithoutCancel(ctx))
	if err := ix.db.Heartbeat(ctx, ix.sync.owner, ix.sync.started); err != nil {
		ix.log.WarnContext(ctx, "index: heartbeat", "err", err)
	}
	ix.sync.wg.Add(1)
	go func() {
		defer ix.sync.wg.Done()
		flush := time.NewTicker(doneFlushEvery)
		defer flush.Stop()
		repair := time.NewTimer(0) // a pass at start: repairs what a crash left
		defer repair.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-flush.C:
				ix.flushDone(ctx)
			case <-ix.sync.wake:
				ix.flushDone(ctx)
			case <-repair.C:
				if err := ix.db.Heartbeat(ctx, ix.sync.owner, ix.sync.started); err != nil {
					ix.log.WarnContext(ctx, "index: heartbeat", "err", err)
				} else if fixed, more, err := ix.Repair(ctx); err != nil {
					ix.log.WarnContext(ctx, "index: repairing storage copies", "err", err)
				} else if more && fixed > 0 {
					// A stopped writer left a backlog (a retention run's
					// storage copies) and this pass got through some: the
					// next page now (a pass that wrote none, storage down,
					// waits as usual).
					repair.Reset(0)
					continue
				}
				repair.Reset(syncInterval)
			}
		}
	}()
}

// StopSync ends the background loop, retires the rows mirrored so far and
// forgets this instance (its unfinished rows then go to the others).
// An offline tool (no background loop) first writes every storage copy its
// changes left, its backlog's included.
func (ix *Indexer) StopSync(ctx context.Context) {
	if ix.sync.stop == nil {
		ix.WaitSettled()
		ix.flushDone(ctx)
		return
	}
	ix.stopSettling()
	ix.sync.stop()
	ix.sync.wg.Wait()
	ix.flushDone(ctx)
	// Keys this instance could not mirror yet: one more try before it
	// leaves (whatever still fails goes to the other instances, or to the
	// next start).
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if _, err := ix.repairOwn(rctx); err != nil {
		ix.log.WarnContext(ctx, "index: storage copies left for the next start", "err", err)
	}
	cancel()
	if err := ix.db.RemoveInstances(ctx, ix.sync.owner, time.Now().Add(-time.Hour)); err != nil {
		ix.log.WarnContext(ctx, "index: leaving the instances table", "err", err)
	}
}

func (ix *Indexer) flushDone(ctx context.Context) {
	ix.sync.mu.Lock()
	done := ix.sync.done
	ix.sync.done = nil
	ix.sync.mu.Unlock()
	if len(done) == 0 {
		return
	}
	// A row goes once what its mirror wrote is durable: writes of requests
	// whose syncs are deferred (storage.WithDeferredSyncs) may not be yet.
	// When they could not be made so, the rows stay in the table, and the
	// repair of abandoned rows writes their keys again.
	if err := storage.SyncDeferred(); err != nil {
		ix.log.WarnContext(ctx, "index: storage copies not synced, left to the repair", "rows", len(done), "err", err)
		return
	}
	if err := ix.db.DoneSync(ctx, done); err != nil {
		// Kept for the next flush; a crash before then only means a
		// harmless second mirror of these keys.
		ix.sync.mu.Lock()
		ix.sync.done = append(ix.sync.done, done...)
		ix.sync.mu.Unlock()
		ix.log.WarnContext(ctx, "index: retiring storage sync rows", "err", err)
	}
}

// Repair mirrors this instance's failed keys and the rows no live writer
// will finish, and returns how many keys it brought in line; more says
// a stopped writer left more than one pass takes. This instance's own
// rows wait for its drainer while it has a backlog (they are not
// abandoned, only queued).
func (ix *Indexer) Repair(ctx context.Context) (fixed int, more bool, err error) {
	now := time.Now()
	orphans, more, err := ix.db.OrphanedSync(ctx, now.Add(-instanceDeadline), now.Add(-abandonedAfter), repairPage)
	if err != nil {
		return 0, false, err
	}
	if ix.backlogged() {
		orphans = slices.DeleteFunc(orphans, func(s metadata.Sync) bool { return s.Owner == ix.sync.owner })
	}
	fixed, err = ix.repairRows(ctx, orphans)
	if err != nil {
		return fixed, more, err
	}
	own, err := ix.repairOwn(ctx)
	if err == nil {
		err = ix.db.RemoveInstances(ctx, "", now.Add(-24*time.Hour))
	}
	return fixed + own, more, err
}

// repairPage is how many rows a repair pass reads.
const repairPage = 500

// repairOwn mirrors the keys this instance failed to mirror earlier.
func (ix *Indexer) repairOwn(ctx context.Context) (int, error) {
	ix.sync.mu.Lock()
	rows := ix.sync.retry
	ix.sync.retry = nil
	ix.sync.mu.Unlock()
	return ix.repairRows(ctx, rows)
}

func (ix *Indexer) repairRows(ctx context.Context, rows []metadata.Sync) (int, error) {
	fixed := 0
	var done []int64
	for _, s := range rows {
		if err := ix.mirror(ctx, s.SyncKey); err != nil {
			ix.sync.mu.Lock()
			if s.Owner == ix.sync.owner {
				ix.sync.retry = append(ix.sync.retry, s)
			}
			ix.sync.mu.Unlock()
			ix.log.WarnContext(ctx, "index: storage copy still out of line", "key", s.String(), "err", err)
			continue
		}
		fixed++
		done = append(done, s.ID)
		if s.Owner != ix.sync.owner {
			ix.log.InfoContext(ctx, "index: repaired a storage copy left by a stopped writer", "key", s.String(), "owner", s.Owner)
		}
	}
	return fixed, ix.db.DoneSync(ctx, done)
}

// RepairAll mirrors every pending row, whoever wrote it (for offline tools:
// no writer is running).
func (ix *Indexer) RepairAll(ctx context.Context) (int, error) {
	fixed := 0
	for {
		rows, err := ix.db.PendingSync(ctx, 500)
		if err != nil || len(rows) == 0 {
			return fixed, err
		}
		var done []int64
		for _, s := range rows {
			if err := ix.mirror(ctx, s.SyncKey); err != nil {
				return fixed, fmt.Errorf("index: %s: %w", s.String(), err)
			}
			done = append(done, s.ID)
			fixed++
		}
		if err := ix.db.DoneSync(ctx, done); err != nil {
			return fixed, err
		}
	}
}
