package metadata

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Group commit (SQLite). SQLite has one writer at a time, and a write
// transaction's fixed costs (BEGIN, COMMIT with its WAL frames, handing the
// lock to the next goroutine, which on a busy machine waits to be scheduled)
// are as large as the small writes of a push. So on SQLite every write
// transaction of this process runs on one goroutine, the writer, in the
// order asked (background work after requests: priority.go); and
// consecutive small writes marked as sharing (txShared: the writes of a
// push) run in one transaction, each after the first in a
// savepoint of its own: one that fails is rolled back alone, and none
// returns before the transaction holding it commits. A write is never run
// twice. When the shared transaction breaks (SQLite rolls a transaction
// back whole on a full disk, an I/O error, or a statement interrupted
// because its asker went away) or its commit fails, every write in it fails
// and nothing of them is committed: the others' askers get an error they
// would not have had alone, never a lost or half-written change.
// PostgreSQL runs transactions concurrently: there, both are plain
// transactions.

const (
	groupMax  = 64                    // writes in one shared transaction
	groupSpan = 10 * time.Millisecond // a shared transaction stops taking writes after this long
)

// write is one write transaction asked of the writer.
type write struct {
	ctx    context.Context
	fn     func(*sql.Tx) error
	shared bool
	// background: a write of background work (retention, garbage
	// collection), which lets the writes of requests go first.
	background bool
	queued     time.Time
	state      atomic.Int32 // writeQueued, writeTaken, writeAbandoned
	done       chan error
}

const (
	writeQueued int32 = iota
	writeTaken
	writeAbandoned
)

// writer runs the write transactions of a SQLite database.
type writer struct {
	mu     sync.Mutex
	once   sync.Once
	queue  []*write
	closed bool
	wake   chan struct{}
	stop   chan struct{}
	exited chan struct{}
	// backgroundWait: see priority.go (tests shorten it).
	backgroundWait time.Duration
	// batches and writes count the transactions run and the writes in
	// them (the ratio is the grouping achieved).
	batches, writes atomic.Int64
}

func newWriter() *writer {
	return &writer{wake: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{}), backgroundWait: backgroundWait}
}

// errClosed is a write asked of a closed database.
var errClosed = errors.New("metadata: database closed")

// panicked carries a write's panic to the goroutine that asked for it.
type panicked struct{ v any }

func (p panicked) Error() string { return fmt.Sprintf("metadata: write panicked: %v", p.v) }

// do runs w on the writer and waits for its end. A write still queued when
// its bound runs out is abandoned; one taken runs to its end.
func (db *DB) do(w *write) error {
	wr := db.writer
	wr.mu.Lock()
	if wr.closed {
		wr.mu.Unlock()
		return errClosed
	}
	w.queued = time.Now()
	wr.queue = append(wr.queue, w)
	wr.mu.Unlock()
	select {
	case wr.wake <- struct{}{}:
	default:
	}
	wctx, cancel := db.bound.ctx(w.ctx)
	defer cancel()
	var err error
	select {
	case err = <-w.done:
	case <-wctx.Done():
		if w.state.CompareAndSwap(writeQueued, writeAbandoned) {
			return fmt.Errorf("metadata: begin: waiting for the write lock: %w", wctx.Err())
		}
		err = <-w.done
	}
	if p, ok := err.(panicked); ok {
		panic(p.v)
	}
	return err
}

// runWriter is the writer goroutine.
func (db *DB) runWriter() {
	wr := db.writer
	defer close(wr.exited)
	for {
		select {
		case <-wr.wake:
		case <-wr.stop:
			wr.mu.Lock()
			wr.closed = true
			wr.mu.Unlock()
			for db.writeBatch() { // the writes asked before Close
			}
			return
		}
		for db.writeBatch() {
			db.ckpt.committed()
			db.finishCheckpoint()
		}
	}
}

// writeBatch runs the next transaction: the next write of the queue (see
// take), with the shared writes that follow it when it is shared. It reports whether
// the queue had one.
func (db *DB) writeBatch() bool {
	wr := db.writer
	wr.mu.Lock()
	first := wr.take(false)
	wr.mu.Unlock()
	if first == nil {
		return false
	}
	wr.batches.Add(1)
	wr.writes.Add(1)
	if !first.shared {
		first.done <- guard(func() error { return db.runTx(first.ctx, first.fn) })
		return true
	}
	tx, err := db.sql.BeginTx(context.WithoutCancel(first.ctx), nil)
	if err != nil {
		first.done <- fmt.Errorf("metadata: begin: %w", err)
		return true
	}
	// The first write needs no savepoint: when it fails, the transaction,
	// which holds nothing else yet, is rolled back.
	if err := guard(func() error { return first.fn(tx) }); err != nil {
		_ = tx.Rollback()
		first.done <- err
		return true
	}
	start := time.Now()
	ok := []*write{first}
	var broken error
	for w := db.nextShared(start, 1); w != nil; w = db.nextShared(start, len(ok)) {
		wr.writes.Add(1)
		err := savepoint(w, tx)
		if err == nil {
			ok = append(ok, w)
			continue
		}
		var b broke
		if errors.As(err, &b) {
			broken = b.err
			w.done <- b.cause
			break
		}
		w.done <- err
	}
	if broken == nil {
		broken = tx.Commit()
		if broken != nil {
			broken = fmt.Errorf("metadata: commit: %w", broken)
		}
	} else {
		_ = tx.Rollback()
	}
	for _, w := range ok {
		w.done <- broken
	}
	return true
}

// nextShared takes the next write for the shared transaction begun at
// start that holds n writes, when the next write of the queue is shared.
func (db *DB) nextShared(start time.Time, n int) *write {
	if n >= groupMax || time.Since(start) > groupSpan {
		return nil
	}
	wr := db.writer
	wr.mu.Lock()
	defer wr.mu.Unlock()
	return wr.take(true)
}

// broke is a write whose failure ended the shared transaction: err is what
// the others get, cause what it gets.
type broke struct{ err, cause error }

func (b broke) Error() string { return b.err.Error() }

// savepoint runs one write of a shared transaction in a savepoint: on
// failure it is rolled back alone, unless SQLite rolled back the whole
// transaction (broke).
func savepoint(w *write, tx *sql.Tx) error {
	ctx := context.WithoutCancel(w.ctx)
	if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
		return broke{fmt.Errorf("metadata: savepoint: %w", err), err}
	}
	err := guard(func() error { return w.fn(tx) })
	if err == nil {
		if _, rerr := tx.ExecContext(ctx, `RELEASE w`); rerr != nil {
			return broke{fmt.Errorf("metadata: release: %w", rerr), rerr}
		}
		return nil
	}
	if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO w`); rerr != nil {
		return broke{fmt.Errorf("metadata: a write sharing the transaction failed: %w", err), err}
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE w`); rerr != nil {
		return broke{fmt.Errorf("metadata: release: %w", rerr), err}
	}
	return err
}

// guard runs fn, turning a panic into a panicked error (re-raised by do).
func guard(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicked{v}
		}
	}()
	return fn()
}

// closeWriter stops the writer once the writes asked so far are done;
// writes asked after it fail.
func (db *DB) closeWriter() {
	if db.writer == nil {
		return
	}
	db.writer.once.Do(func() { close(db.writer.stop) })
	<-db.writer.exited
}

// writeGrouping reports the write transactions run on SQLite and the writes
// they held (0, 0 on PostgreSQL).
func (db *DB) writeGrouping() (transactions, writes int64) {
	if db.writer == nil {
		return 0, 0
	}
	return db.writer.batches.Load(), db.writer.writes.Load()
}

// exec runs one write statement (with ? placeholders). On SQLite it goes
// through the writer, sharing a transaction, instead of taking the write
// lock on its own, where it would make the writer's next transaction wait
// in SQLite's busy handler (which sleeps for milliseconds at a time).
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.execWrite(ctx, false, query, args...)
}

// execHot is exec for a statement run often enough to keep prepared.
func (db *DB) execHot(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.execWrite(ctx, true, query, args...)
}

func (db *DB) execWrite(ctx context.Context, prepared bool, query string, args ...any) (sql.Result, error) {
	run := func(q querier) (sql.Result, error) {
		if prepared {
			return db.hot(ctx, q).Exec(query, args...)
		}
		return q.ExecContext(ctx, db.q(query), args...)
	}
	if db.writer == nil {
		return run(db.sql)
	}
	var res sql.Result
	err := db.txShared(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = run(tx)
		return err
	})
	return res, err
}
