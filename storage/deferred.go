package storage

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Deferred syncs (filesystem). distribution's PutContent syncs the file it
// wrote, renames it into place and syncs its directory: two journal commits
// for each link, which a push (a link per layer, the manifest's bytes and
// revision link, the tag's link) waits for one after another, each queued
// behind whatever else the disk is writing. A request of the OCI API
// (WithDeferredSyncs) instead writes its small files without those syncs
// and makes them durable all at once before it answers (its barrier): the
// files and directories are synced side by side, which the filesystem's
// journal commits together, and requests finishing at the same moment share
// one batch (a group commit).
//
// What is written so, and why a crash (a power loss: a killed process loses
// nothing of the page cache) cannot make it lie:
//   - Links (…/link): copies of what the index holds. A torn one (empty, or
//     zeros) reads as absent (guard.GetContent). The index's changes record
//     their keys as storage_sync rows, and the rows are retired only after a
//     barrier that covers every deferred write so far (SyncDeferred), so a
//     crash leaves the rows, and the mirror writes the links again; a blob's
//     layer link, which the index records without a row, is made durable
//     before the index records it (the upload's commit waits on the barrier).
//   - Other files (a manifest's bytes: content addressed, a torn file would
//     pass for the blob) are synced before their rename as before; only
//     their directory's sync is deferred.
//
// Without a mark in the context (background work, the management APIs
// outside /v2) every write is synced as distribution does.

type deferKey struct{}

// deferMark is a request's part: the syncer its deferred writes went to and
// the number of the last of them.
type deferMark struct {
	mu      sync.Mutex
	s       *syncer
	through uint64
}

// WithDeferredSyncs returns a context whose filesystem writes may be
// deferred, and the barrier that makes them durable; the caller runs it
// before it tells the client the request succeeded.
func WithDeferredSyncs(ctx context.Context) (context.Context, func() error) {
	m := new(deferMark)
	return context.WithValue(ctx, deferKey{}, m), m.barrier
}

func (m *deferMark) barrier() error {
	m.mu.Lock()
	s, through := m.s, m.through
	m.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.wait(through)
}

// Barrier makes the deferred writes of ctx's request durable so far (see
// WithDeferredSyncs); without a mark there is nothing deferred.
func Barrier(ctx context.Context) error {
	m, ok := ctx.Value(deferKey{}).(*deferMark)
	if !ok {
		return nil
	}
	return m.barrier()
}

// DeferSync records paths (absolute, under root) written without a sync:
// on ctx's request's barrier, or now when ctx has no mark.
func DeferSync(ctx context.Context, root string, paths ...string) error {
	m, ok := ctx.Value(deferKey{}).(*deferMark)
	if !ok {
		return syncPaths(paths)
	}
	s := syncerFor(root)
	n := s.record(paths)
	m.mu.Lock()
	m.s = s // one root per process: a filesystem store has one
	m.through = max(m.through, n)
	m.mu.Unlock()
	return nil
}

// deferring reports whether writes in ctx may be deferred.
func deferring(ctx context.Context) bool {
	_, ok := ctx.Value(deferKey{}).(*deferMark)
	return ok
}

// SyncDeferred makes every write deferred so far durable, whichever request
// made it: what retires the index's storage_sync rows waits for it.
func SyncDeferred() error {
	var errs []error
	syncers.Range(func(_, v any) bool {
		errs = append(errs, v.(*syncer).waitAll())
		return true
	})
	return errors.Join(errs...)
}

// waitAll waits for every write so far and reports the batches that
// failed since the last waitAll (each failure once).
func (s *syncer) waitAll() error {
	s.mu.Lock()
	through, since := s.written, s.checked
	s.mu.Unlock()
	_ = s.wait(through)
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, b := range s.failed {
		if b.through > since && b.from < through {
			errs = append(errs, b.err)
		}
	}
	s.checked = max(s.checked, through)
	return errors.Join(errs...)
}

// syncers holds one syncer per root directory (berth's driver and
// distribution's share it).
var syncers sync.Map

func syncerFor(root string) *syncer {
	root = filepath.Clean(root)
	if v, ok := syncers.Load(root); ok {
		return v.(*syncer)
	}
	v, _ := syncers.LoadOrStore(root, &syncer{pending: map[string]struct{}{}})
	return v.(*syncer)
}

// syncer is a root's group commit: writes are numbered as recorded;
// synced is the number through which every write is settled (durable, or
// its batch failed: failed says which).
type syncer struct {
	mu      sync.Mutex
	pending map[string]struct{}
	written uint64
	synced  uint64
	checked uint64 // writes waitAll has reported on
	running *batch
	failed  []*batch // the last batches that failed, newest last
	batches int      // batches run (tests)
}

// batch is one round of syncs, covering writes (from, through].
type batch struct {
	from, through uint64
	done          chan struct{}
	err           error
}

// keptFailures bounds the failed batches remembered: a request waits on
// its barrier moments after its writes, long before that many fail.
const keptFailures = 64

func (s *syncer) record(paths []string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range paths {
		s.pending[p] = struct{}{}
	}
	s.written++
	return s.written
}

// wait returns once every write through n is settled: nil when durable,
// the error of the batch that failed to make it so.
func (s *syncer) wait(n uint64) error {
	for {
		s.mu.Lock()
		if s.synced >= n {
			err := s.failure(n)
			s.mu.Unlock()
			return err
		}
		if b := s.running; b != nil {
			s.mu.Unlock()
			<-b.done
			continue
		}
		b := &batch{from: s.synced, through: s.written, done: make(chan struct{})}
		paths := make([]string, 0, len(s.pending))
		for p := range s.pending {
			paths = append(paths, p)
		}
		clear(s.pending)
		s.running = b
		s.batches++
		s.mu.Unlock()

		b.err = syncPaths(paths)
		s.mu.Lock()
		s.running = nil
		s.synced = b.through
		if b.err != nil {
			// Not retried: after a failed fsync the kernel may have
			// dropped the pages, and a second fsync would say yes.
			s.failed = append(s.failed, b)
			if len(s.failed) > keptFailures {
				s.failed = s.failed[1:]
			}
		}
		s.mu.Unlock()
		close(b.done)
	}
}

// failure is the error of the failed batch that covered write n, if any
// (under mu).
func (s *syncer) failure(n uint64) error {
	for _, b := range s.failed {
		if n > b.from && n <= b.through {
			return b.err
		}
	}
	return nil
}

// syncPaths fsyncs files and directories side by side; one gone since
// (replaced by a later write, or removed) needs nothing.
func syncPaths(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	if len(paths) == 1 {
		return syncPath(paths[0])
	}
	errs := make([]error, len(paths))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = syncPath(p)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	err = fsync(f)
	return errors.Join(err, f.Close())
}

// fsync is (*os.File).Sync; tests replace it to count, hold or fail syncs.
var fsync = (*os.File).Sync
