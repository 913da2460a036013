package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// Runner carries out retention runs, by hand or on their schedules.
type Runner struct {
	db  *metadata.DB
	ix  *index.Indexer
	log *slog.Logger
	// activity: the requests a run's write transactions give way to
	// (GiveWayTo); nil outside a server.
	activity    *observe.Activity
	giveWayMost time.Duration
	// lanes is how many repositories a run walks at once on PostgreSQL
	// (pgLanes).
	lanes int

	stop context.CancelFunc
	done chan struct{}
}

// NewRunner returns a runner over the index.
func NewRunner(ix *index.Indexer, log *slog.Logger) *Runner {
	return &Runner{db: ix.DB(), ix: ix, log: log, lanes: pgLanes(runtime.GOMAXPROCS(0))}
}

// background is ctx for a run's background writes: requests' writes go
// first (SQLite) and each of its long work's transactions gives way to
// the requests in flight, adding what it waited to waited (nil: not
// counted).
func (rn *Runner) background(ctx context.Context, waited *atomic.Int64) context.Context {
	ctx = rn.step(metadata.Background(ctx))
	if rn.activity == nil {
		return ctx
	}
	return metadata.GiveWay(ctx, func(ctx context.Context) error { return rn.giveWay(ctx, waited) })
}

// step is ctx whose long write transactions (removals, a fold's steps) a
// request ends (metadata.Step; on SQLite only, see metadata.DB.Steps):
// one that begins in a quiet moment ends at writeTarget, or within a
// chunk of a request's beginning; one that begins while requests are in
// flight (the run's give-way ran out), at busyTarget.
func (rn *Runner) step(ctx context.Context) context.Context {
	busy := func() bool { return rn.activity.InFlight() > 0 }
	if rn.activity == nil {
		busy = nil
	}
	return metadata.Step(ctx, writeTarget, busyTarget, busy)
}

// giveWay waits for the requests in flight on observe's terms, adding
// what it waited to waited (nil: not counted).
func (rn *Runner) giveWay(ctx context.Context, waited *atomic.Int64) error {
	d, err := rn.activity.GiveWay(ctx, observe.GiveWaySettle, rn.giveWayMost)
	if waited != nil {
		waited.Add(int64(d))
	}
	return err
}

// GiveWayTo makes runs give way to the requests a counts before each of
// their reads of tags and write transactions, on observe's terms.
func (rn *Runner) GiveWayTo(a *observe.Activity) {
	rn.activity, rn.giveWayMost = a, observe.GiveWayMost
}

// Work sizes: a page of tags read at a time, the items a run records, and
// the first sizes of the write transactions (tags removed, manifests
// removed), which then follow their pace.
const (
	tagPage        = 2000
	tagBatch       = 250
	manifestBatch  = 50
	maxItems       = 100_000
	decisionNoRule = "no rule keeps it"
)

// Options of one run.
type Options struct {
	DryRun bool
	Cause  string // api, schedule, cli
	Actor  string
}

// ErrNoPolicy is a run asked of a project without a policy.
var ErrNoPolicy = errors.New("the project has no retention policy")

// ErrBusy is a run asked while another (not a dry run) of the same project
// is in progress, on any instance.
var ErrBusy = errors.New("a retention run of the project is in progress")

// leaseTTL bounds how long a run that died keeps others out; a live run
// renews its lease before a batch once leaseRenew has passed since it last
// did (a renewal is a write transaction of its own; renewed with every
// batch, it added one to each batch of tags a run removed).
const (
	leaseTTL   = 5 * time.Minute
	leaseRenew = 30 * time.Second
)

// renewDue says whether a run whose lease was renewed since ago renews it
// before its next batch. Renewing also checks the lease is still the
// run's: a run stalled for longer than leaseTTL (so that another took the
// project over) has stalled for longer than leaseRenew too, and finds out
// before it writes.
func renewDue(since time.Duration) bool { return since >= leaseRenew }

// Run applies a project's policy (dry: reports what it would remove) and
// returns the run as recorded. A failed run is recorded too, with what it
// did before failing.
func (rn *Runner) Run(ctx context.Context, project string, o Options) (metadata.RetentionRun, error) {
	// A run asked for over the API is that request's work: the request no
	// longer counts among those the run gives way to.
	observe.Background(ctx)
	p, err := rn.db.LookupProject(ctx, project)
	if err != nil {
		return metadata.RetentionRun{}, err
	}
	stored, err := rn.db.GetRetentionPolicy(ctx, p.ID)
	if errors.Is(err, metadata.ErrNotFound) {
		return metadata.RetentionRun{}, fmt.Errorf("project %s: %w", project, ErrNoPolicy)
	}
	if err != nil {
		return metadata.RetentionRun{}, err
	}
	policy, err := ParsePolicy(stored.Rules)
	if err != nil {
		return metadata.RetentionRun{}, err
	}
	w := &walk{rn: rn, policy: policy, dry: o.DryRun, now: time.Now()}
	if !o.DryRun {
		w.lease, w.holder = fmt.Sprintf("retention-run:%d", p.ID), fmt.Sprintf("%s/%d", rn.ix.Owner(), time.Now().UnixNano())
		held, err := rn.db.TryLease(ctx, w.lease, w.holder, leaseTTL)
		if err != nil {
			return metadata.RetentionRun{}, err
		}
		if !held {
			return metadata.RetentionRun{}, fmt.Errorf("project %s: %w", project, ErrBusy)
		}
		w.renewed.Store(int64(time.Since(w.now)))
		defer func() { _ = rn.db.ReleaseLease(context.WithoutCancel(ctx), w.lease, w.holder) }()
	}
	run, err := rn.db.StartRetentionRun(ctx, metadata.RetentionRun{ProjectID: p.ID, DryRun: o.DryRun, Cause: o.Cause, Actor: o.Actor})
	if err != nil {
		return run, err
	}
	run.Kept = map[string]int64{}
	w.run = &run
	// The storage copies of what the run removes wait until it ends
	// (HoldCopies): the run and the pushes beside it get the machine.
	release := func() {}
	if !o.DryRun {
		release = rn.ix.HoldCopies()
	}
	defer release()
	// The run's writes let those of requests go first (pushes keep flowing).
	// Its removals' commits do not wait for the database's log to reach
	// the disk (AsyncCommit; on PostgreSQL each would otherwise wait for a
	// flush): a database crash can lose the last of them, which the next
	// run makes again, and the run's record below is a synchronous commit,
	// which flushes them all before storage's copies go ahead. Each of its
	// transactions takes the blobs of what it removed off the project's
	// accounting (keyed by blob id, those of builds pushed together sit
	// together).
	wctx := metadata.AsyncCommit(rn.step(metadata.Background(ctx)))
	err = w.project(wctx, p.ID)
	if err == nil {
		err = rn.db.AddRetentionItems(rn.background(ctx, &w.gaveWayNs), run.ID, w.sortedItems())
	}
	run.Finished, run.Status = time.Now(), "done"
	if err != nil {
		run.Status, run.Error = "failed", err.Error()
	}
	if ferr := rn.db.FinishRetentionRun(context.WithoutCancel(ctx), run); ferr != nil && err == nil {
		err = ferr
	}
	// The run does not wait for the storage copies of what it removed:
	// the index is the truth, and the copies (unlinks, on a filesystem
	// slower than the index's removal) are written in the background,
	// from rows kept in the index until they are (SettleAsync). They go
	// ahead once the run's record is committed: its flush made the
	// removals durable.
	release()
	rn.log.InfoContext(ctx, "retention run", "project", project, "run", run.ID, "dryRun", o.DryRun, "cause", o.Cause, "actor", o.Actor,
		"status", run.Status, "tagsSeen", run.TagsSeen, "tagsRemoved", run.TagsRemoved, "manifestsRemoved", run.ManifestsRemoved, "longestWriteMs", run.LongestWriteMs,
		"gaveWay", time.Duration(w.gaveWayNs.Load()).Round(time.Millisecond).String(), "duration", run.Finished.Sub(run.Started).String())
	return run, err
}

// foldAttrs is what a fold that began at start logs: keys applied, its
// longest write, and the time it took reading its logs (spool), deleting
// them (drop) and in all; then the same for each log it folded, in order.
func foldAttrs(f metadata.Fold, start time.Time) []any {
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	attrs := []any{"keys", f.Keys, "longestWriteMs", f.LongestWrite.Milliseconds(), "spool", ms(f.Spool), "drop", ms(f.Drop), "took", ms(time.Since(start))}
	for _, l := range f.Logs {
		attrs = append(attrs, slog.Group(l.Table, "keys", l.Keys, "spool", ms(l.Spool), "steps", ms(l.Steps), "drop", ms(l.Drop)))
	}
	return attrs
}
