package metadata

import (
	"context"
	"database/sql/driver"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Durable answers (SQLite). With synchronous=NORMAL a commit writes its
// pages to the write-ahead log without syncing it; the log reaches the disk
// at the next checkpoint (the checkpointer's, within about 100 ms while
// writes go on). A killed process loses nothing of it (the page cache
// keeps it), but a machine that loses power in between loses the commit:
// a push already answered 201 would be gone from the index, the truth of
// what the registry holds. Syncing in every commit would make the writer,
// and every write queued behind it, wait for the disk. Instead a request
// whose writes committed syncs the log once before it answers (Durable,
// which the OCI API's barrier and every dialect's success call): the
// writer goes on meanwhile, and requests answering at the same moment
// share one sync (a group commit). PostgreSQL's commits are durable
// already (synchronous_commit, except the retention run's own, see
// AsyncCommit): nothing to do there.

type commitsKey struct{}

// commitMark is a request's: the database it writes to and whether a
// write statement ran since its last Durable.
type commitMark struct {
	db    *DB
	wrote atomic.Bool
}

// TrackCommits returns a context whose writes to db Durable makes durable.
func TrackCommits(ctx context.Context, db *DB) context.Context {
	if db == nil || db.logSync == nil {
		return ctx // PostgreSQL: every commit is durable when it returns
	}
	return context.WithValue(ctx, commitsKey{}, &commitMark{db: db})
}

// untracked is ctx without TrackCommits: for a write whose loss costs
// nothing (its request need not wait for the log's sync).
func untracked(ctx context.Context) context.Context {
	if m, _ := ctx.Value(commitsKey{}).(*commitMark); m == nil {
		return ctx
	}
	return context.WithValue(ctx, commitsKey{}, (*commitMark)(nil))
}

// markWrote records that a statement run with ctx may have written.
func markWrote(ctx context.Context) {
	if m, _ := ctx.Value(commitsKey{}).(*commitMark); m != nil {
		m.wrote.Store(true)
	}
}

// markExec marks ctx after a statement run as an Exec: unless it changed
// no row (a DELETE that found nothing: a login clearing its failures).
func markExec(ctx context.Context, res driver.Result, err error) {
	m, _ := ctx.Value(commitsKey{}).(*commitMark)
	if m == nil {
		return
	}
	if err == nil && res != nil {
		if n, rerr := res.RowsAffected(); rerr == nil && n == 0 {
			return
		}
	}
	m.wrote.Store(true)
}

// writes says whether a statement run as a query writes (INSERT ...
// RETURNING): a query's mark costs a sync only when it may have written.
// The index's queries that begin with WITH read (recursive walks).
func writes(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	for _, verb := range []string{"INSERT", "UPDATE", "DELETE", "REPLACE"} {
		if len(q) >= len(verb) && strings.EqualFold(q[:len(verb)], verb) {
			return true
		}
	}
	return false
}

// Wrote says whether a write statement ran with ctx (TrackCommits) since
// its last Durable.
func Wrote(ctx context.Context) bool {
	m, _ := ctx.Value(commitsKey{}).(*commitMark)
	return m != nil && m.wrote.Load()
}

// Durable makes what the writes made with ctx (TrackCommits) committed
// durable: on SQLite it syncs the write-ahead log, once for every caller
// that asks at the same moment; without writes, or on PostgreSQL, it
// returns at once. Call it after the writes ended (committed or rolled
// back), before telling the client they succeeded.
func Durable(ctx context.Context) error {
	m, _ := ctx.Value(commitsKey{}).(*commitMark)
	if m == nil || !m.wrote.Swap(false) {
		return nil
	}
	return m.db.logSync.sync()
}

// logSyncer syncs a SQLite database's write-ahead log for many callers:
// a caller waits for a sync that began after it asked (one already under
// way may have begun before its commit), and one sync serves every caller
// waiting when it begins.
type logSyncer struct {
	path string // the log's file

	mu        sync.Mutex
	cond      *sync.Cond
	running   bool
	started   uint64 // syncs begun
	finished  uint64 // syncs ended (one runs at a time: in order)
	failedGen uint64 // the last sync that failed
	failed    error
}

func newLogSyncer(dbPath string) *logSyncer {
	s := &logSyncer{path: dbPath + "-wal"}
	s.cond = sync.NewCond(&s.mu)
	return s
}

// syncLogFile syncs the log (tests replace it).
var syncLogFile = func(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		// No log: SQLite removes it when the last connection closes, after
		// copying it into the database file and syncing that.
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return fdatasync(f)
}

// logSyncs and logSyncRequests count the syncs run and the Durable calls
// that waited for one (LogSyncs).
var logSyncs, logSyncRequests atomic.Int64

// LogSyncs reports how many syncs of SQLite's log were made in this
// process for requests' answers and the collector's deletions of data
// (flushLog), and how many of those waited (the ratio is the grouping
// achieved).
func LogSyncs() (syncs, requests int64) { return logSyncs.Load(), logSyncRequests.Load() }

func (s *logSyncer) sync() error {
	logSyncRequests.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.started + 1
	for s.finished < want {
		if s.running {
			s.cond.Wait()
			continue
		}
		s.running = true
		s.started++
		gen := s.started
		s.mu.Unlock()
		logSyncs.Add(1)
		err := syncLogFile(s.path)
		s.mu.Lock()
		s.running = false
		s.finished = gen
		if err != nil {
			s.failedGen, s.failed = gen, err
		}
		s.cond.Broadcast()
	}
	// Every sync from want on covers the caller's commit; after a failed
	// one a later success proves nothing (the kernel may have dropped the
	// pages it could not write).
	if s.failedGen >= want {
		return s.failed
	}
	return nil
}
