package index

import (
	"context"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"

	"github.com/berth-registry/berth/storage/metadata"
)

// Bulk changes' storage copies: a pool of workers writes them in the
// background, and what the pool cannot take waits in the storage_sync
// table for a drainer (the backlog).

// SettleAsync is Settle for bulk changes (retention): the storage copies
// are written by a pool in the background, several at a time, and the
// caller does not wait for them: readers see the index at once, and the
// rows stay in the table until their copies are written. When the pool is
// full the rows wait there: a drainer reads them back in id order and
// feeds the pool as it frees up, so memory holds at most the pool's
// batches however far storage falls behind (a million removed tags on a
// filesystem take longer to unlink than to remove from the index).
func (ix *Indexer) SettleAsync(_ context.Context, rows []metadata.Sync) {
	if len(rows) == 0 {
		return
	}
	s := ix.sync
	s.poolOnce.Do(func() {
		// Two batches queued per worker: the backlog waits in the table,
		// and a stopping server waits for no more than these.
		workers := settleWorkers(ix.storageDriver())
		s.pool = make(chan []metadata.Sync, 2*workers)
		for range workers {
			go func() {
				for batch := range s.pool {
					ix.settle(context.Background(), batch)
					s.pending.Done()
				}
			}()
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.backlog {
		return // the drainer will read them
	}
	if s.holds == 0 {
		s.pending.Add(1)
		select {
		case s.pool <- rows:
			return
		default:
			s.pending.Done()
		}
	}
	from := rows[0].ID
	for _, r := range rows {
		from = min(from, r.ID)
	}
	// The drainer is work of its own: not the caller's (a run's context
	// carries its write accounting), and outlives it.
	dctx, stop := context.WithCancel(context.Background())
	s.backlog, s.drained, s.stopDrain = true, make(chan struct{}), stop
	go ix.drain(dctx, from-1, s.drained)
}

// drainPage is how many backlog rows the drainer reads at a time.
const drainPage = 500

// drain feeds the pool this instance's rows after id after, oldest first,
// until none is left (or ctx ends: the rows stay for a later start or
// another instance). SettleAsync adds to the backlog only under mu, after
// its rows committed, so a read under mu that finds none ends it. (A row
// committed after rows with higher ids the drainer already passed, which
// PostgreSQL's sequences allow between two runs at once, is left to the
// repair of old rows, after abandonedAfter.)
func (ix *Indexer) drain(ctx context.Context, after int64, drained chan struct{}) {
	s := ix.sync
	defer close(drained)
	for {
		if !ix.waitHolds(ctx) {
			return
		}
		rows, err := ix.db.OwnSync(ctx, s.owner, after, drainPage)
		if err == nil && len(rows) == 0 {
			s.mu.Lock()
			if rows, err = ix.db.OwnSync(ctx, s.owner, after, drainPage); err == nil && len(rows) == 0 {
				s.backlog = false
				s.mu.Unlock()
				return
			}
			s.mu.Unlock()
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			ix.log.WarnContext(ctx, "index: reading the storage copies to write", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(syncInterval):
			}
			continue
		}
		after = rows[len(rows)-1].ID
		s.pending.Add(1)
		select {
		case s.pool <- rows:
		case <-ctx.Done():
			s.pending.Done()
			return
		}
	}
}

// HoldCopies defers the storage copies SettleAsync takes until release
// is called (by every holder): they wait in the table, and the drainer
// writes them once no one holds. A retention run holds them while it
// removes: on a filesystem the copies' unlinks (and their reads of the
// index) took about 40 % of berth's CPU beside a run, and a million-tag
// run on SQLite went from 595 to 418 s without them (the index is the
// truth; the copies are storage's record for recovery and reindex, and
// readers never wait for them). release is idempotent.
func (ix *Indexer) HoldCopies() (release func()) {
	s := ix.sync
	s.mu.Lock()
	if s.holds == 0 {
		s.resume = make(chan struct{})
	}
	s.holds++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds--; s.holds == 0 {
				close(s.resume)
			}
			s.mu.Unlock()
		})
	}
}

// waitHolds waits until no one holds the copies (false: ctx ended first).
func (ix *Indexer) waitHolds(ctx context.Context) bool {
	s := ix.sync
	s.mu.Lock()
	held, resume := s.holds > 0, s.resume
	s.mu.Unlock()
	if !held {
		return true
	}
	select {
	case <-resume:
		return true
	case <-ctx.Done():
		return false
	}
}

// settleWorkers is how many storage copies SettleAsync writes at a time.
// On an object store each is a round trip: eight overlap them. On a
// filesystem each is a few system calls in one directory (a repository's
// tags), which the kernel runs one at a time: more workers than two only
// contend there, and their journal traffic slows the pushes' fsyncs (a
// retention run over 20,000 tags with 10 pushes a second beside it took as
// long with two as with eight, and the pushes' p50 went 184 → 83 ms, p99
// 936 → 360 ms).
func settleWorkers(d storagedriver.StorageDriver) int {
	if d != nil && d.Name() == "filesystem" {
		return 2
	}
	return 8
}

// WaitSettled waits until the storage copies SettleAsync took are written,
// its backlog's included (the offline tools do, before they exit).
func (ix *Indexer) WaitSettled() {
	ix.sync.mu.Lock()
	drained := ix.sync.drained
	ix.sync.mu.Unlock()
	if drained != nil {
		<-drained
	}
	ix.sync.pending.Wait()
}

// stopSettling ends the backlog's drainer (its rows stay in the table, for
// the next start or another instance) and waits for the batches the pool
// holds.
func (ix *Indexer) stopSettling() {
	ix.sync.mu.Lock()
	stop, drained := ix.sync.stopDrain, ix.sync.drained
	ix.sync.mu.Unlock()
	if stop != nil {
		stop()
		<-drained
	}
	ix.sync.pending.Wait()
}

// backlogged reports whether storage copies wait in the table for the drainer.
func (ix *Indexer) backlogged() bool {
	ix.sync.mu.Lock()
	defer ix.sync.mu.Unlock()
	return ix.sync.backlog
}
