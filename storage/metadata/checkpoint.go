package metadata

import (
	"context"
	"database/sql/driver"
	"fmt"
	"sync/atomic"
	"time"
)

// Checkpoints (SQLite). In WAL mode a commit appends the pages it changed
// to the log; a checkpoint copies them into the database file and syncs
// both files. SQLite runs one itself inside the commit that grows the log
// past 1,000 pages, so that commit, which on the writer is a push's or a
// retention batch's, waits for two fsyncs (on a busy disk, tens of
// milliseconds; during a retention run the writer spent about two fifths of
// its time there) and every write queued behind it waits too. Here
// automatic checkpoints are off on every connection and one goroutine, the
// checkpointer, runs passive checkpoints beside the writer: a passive
// checkpoint takes no write lock and never waits for one, so the writer
// goes on committing while the database file is written and synced.
//
// A log is only started over (written again from its beginning) by a write
// transaction that began when every frame of it was already in the database
// file. Under a steady stream of writes that never happens after a
// checkpoint run beside the writer: the writer has appended more by the
// time it ends, and the log would grow without end. So when a checkpoint
// leaves a log of checkpointRestart pages or more, the writer runs one more
// between two of its transactions (finishCheckpoint): it copies what was
// appended since (a fraction of what the first one copied, into a file
// mostly synced already) and waits a moment for the readers still on the
// log, and the transaction after it starts the log over. It puts that off
// while a request's write waits, for a second at most (mayFinish). A reader
// that holds an old snapshot for long (a fold's sorted read of its log,
// seconds) keeps every such finish from starting the log over, and each
// would hold the writer for its whole wait: once one finds the log held
// that way, none is asked for again until a passive checkpoint copies past
// where it stopped, that is, until that reader has gone (stuckAt).
//
// Nothing changes in what is durable: with synchronous=NORMAL a commit is
// in the log (not yet synced) either way, and SQLite recovers the log after
// a crash whether or not it was checkpointed.

const (
	// checkpointGap is the least time between two checkpoints while writes
	// go on: the log holds about that much of the writes. A checkpoint's
	// syncs hold up a request's own sync for as long as they write, so
	// shorter gaps mean shorter holds, at the cost of copying a page
	// written again soon more often: beside a 100,000-tag retention run
	// (its steps paced to 10 ms, one run each), 80 ms against 250 copied
	// 2.6 GiB of pages against 1.4, and the blob PUT's data sync took
	// 4.5 ms at p99 against 6.4 (7 ms at most against 16), the checkpoint
	// itself 17 ms against 22.
	checkpointGap = 80 * time.Millisecond
	// checkpointIdle is how often the checkpointer looks without being
	// told of a commit (a write made outside the writer, a checkpoint that
	// readers kept from finishing). A checkpoint with nothing to copy
	// costs a read of the log's index, no I/O.
	checkpointIdle = time.Second
	// checkpointRestart is the log size (pages) at which the writer
	// finishes a checkpoint itself so that the log starts over (16 MiB of
	// 4 KiB pages; SQLite's own automatic checkpoint comes at 1,000).
	checkpointRestart = 4096
)

// checkpointer runs the passive checkpoints of a SQLite database.
type checkpointer struct {
	poke   chan struct{} // a commit happened
	stop   chan struct{}
	exited chan struct{}
	// restart asks the writer to finish a checkpoint (see above) once the
	// log holds restartPages.
	restart      atomic.Bool
	restartPages atomic.Int64
	// asked is when restart was last set (UnixNano).
	asked atomic.Int64
	// stuckAt is how far (frames) the writer's last finishing checkpoint
	// copied when readers kept it from starting the log over; -1 when it
	// did not fail, or a checkpoint has copied past it since.
	stuckAt atomic.Int64
	// runs, finished, restarts: checkpoints run, those of them the writer
	// ran, and how often the log was seen started over (tests read them);
	// lastLog: the log's size at the last checkpoint.
	runs, finished, restarts, lastLog atomic.Int64
	// giveWay, when set (CheckpointsGiveWay), is waited for before each
	// checkpoint.
	giveWay atomic.Pointer[func(context.Context) error]
}

// CheckpointsGiveWay makes the checkpointer (SQLite) call wait before each
// checkpoint it runs beside the writer: a checkpoint writes the database
// file and syncs it, and a request's own sync queues behind that, so the
// server lets the requests in flight finish first. Nothing on PostgreSQL.
func (db *DB) CheckpointsGiveWay(wait func(context.Context) error) {
	if db.ckpt != nil {
		db.ckpt.giveWay.Store(&wait)
	}
}

func newCheckpointer() *checkpointer {
	c := &checkpointer{poke: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
	c.restartPages.Store(checkpointRestart)
	c.stuckAt.Store(-1)
	return c
}

// committed tells the checkpointer the log grew. (The writer and the
// checkpointer exist together: SQLite has both, PostgreSQL neither.)
func (c *checkpointer) committed() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

func (db *DB) runCheckpointer() {
	c := db.ckpt
	defer close(c.exited)
	idle := time.NewTicker(checkpointIdle)
	defer idle.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var last time.Time
	for {
		select {
		case <-c.stop:
			return
		case <-c.poke:
		case <-idle.C:
		}
		if wait := checkpointGap - time.Since(last); wait > 0 {
			select {
			case <-c.stop:
				return
			case <-time.After(wait):
			}
		}
		if wait := c.giveWay.Load(); wait != nil {
			if (*wait)(ctx) != nil {
				return
			}
		}
		last = time.Now()
		// Only this goroutine sets restart, the writer clears it: asked is
		// written before the writer can see restart set.
		logPages, copied := db.checkpoint()
		if c.mayAsk(logPages, copied) && !c.restart.Load() {
			c.asked.Store(time.Now().UnixNano())
			c.restart.Store(true)
		}
	}
}

// mayAsk says whether a passive checkpoint that left a log of logPages,
// copied of them into the database file, asks the writer to finish it: the
// log is long enough, and no reader held it the last time the writer tried
// (or that reader has gone: the checkpoint copied past where it stopped,
// or the log was started over meanwhile).
func (c *checkpointer) mayAsk(logPages, copied int64) bool {
	if stuck := c.stuckAt.Load(); stuck >= 0 {
		if copied <= stuck && logPages >= stuck {
			return false
		}
		c.stuckAt.Store(-1)
	}
	return logPages >= c.restartPages.Load()
}

// checkpoint copies what it can of the log into the database file: every
// frame no reader still needs. It returns the log's size in pages and how
// many of them are in the database file. An error (a full disk, say) is
// left for the next try; the log keeps the commits meanwhile.
func (db *DB) checkpoint() (logPages, copied int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy int64
	if err := db.sql.QueryRowContext(WithTimeout(ctx, 0), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logPages, &copied); err != nil {
		return 0, 0
	}
	db.ckpt.ran(logPages)
	return logPages, copied
}

func (c *checkpointer) ran(logPages int64) {
	c.runs.Add(1)
	if logPages < c.lastLog.Swap(logPages) {
		c.restarts.Add(1)
	}
}

// finishDefer is how long the writer may put off a finishing checkpoint
// while requests' writes wait for it (see mayFinish).
const finishDefer = time.Second

// mayFinish says whether the writer finishes the checkpoint asked for now:
// not while a request's write waits (requestWaiting), since that write
// would wait for the checkpoint's copy, its syncs and its wait for the
// readers (beside a retention run, 5 to 50 ms), unless it was asked for
// finishDefer ago or more, so that a steady stream of requests cannot
// keep the log from starting over.
func (c *checkpointer) mayFinish(requestWaiting bool, now time.Time) bool {
	if !c.restart.Load() {
		return false
	}
	return !requestWaiting || now.Sub(time.Unix(0, c.asked.Load())) >= finishDefer
}

// finishWait bounds how long the writer waits for readers still on the
// log when it finishes a checkpoint; a log they kept is finished next time.
const finishWait = 20 * time.Millisecond

// finishCheckpoint runs on the writer, between two transactions, when the
// checkpointer asked for it: a restart checkpoint, which copies what was
// appended since the checkpointer's and waits (at most finishWait) for the
// readers still on the log, so that the next write starts it over. Readers
// come and go all the time on a busy registry; without that wait one of
// them is nearly always on the log, and it is never started over.
func (db *DB) finishCheckpoint() {
	c := db.ckpt
	if !c.restart.Load() || !c.mayFinish(db.writer.requestWaiting(), time.Now()) || !c.restart.CompareAndSwap(true, false) {
		return
	}
	c.finished.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = WithTimeout(ctx, 0)
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, finishWait.Milliseconds())); err != nil {
		return
	}
	var busy, logPages, copied int64
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&busy, &logPages, &copied); err == nil {
		db.ckpt.ran(logPages)
		if busy != 0 {
			c.stuckAt.Store(copied) // readers on the log still: not again until they have gone
		} else {
			c.stuckAt.Store(-1)
		}
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, sqliteBusyTimeout.Milliseconds())); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // not back to the pool with a short timeout
	}
}

// closeCheckpointer stops the checkpointer; closing the last connection
// checkpoints what is left.
func (db *DB) closeCheckpointer() {
	if db.ckpt == nil {
		return
	}
	select {
	case <-db.ckpt.stop:
	default:
		close(db.ckpt.stop)
	}
	<-db.ckpt.exited
}
