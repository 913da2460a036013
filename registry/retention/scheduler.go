package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// SetPolicy checks and stores a project's policy, scheduling its next run.
func (rn *Runner) SetPolicy(ctx context.Context, projectID int64, raw []byte, by string) (Policy, time.Time, error) {
	p, err := ParsePolicy(raw)
	if err != nil {
		return p, time.Time{}, err
	}
	next, _ := NextRun(p.Schedule, time.Now())
	rules, _ := json.Marshal(p)
	err = rn.db.PutRetentionPolicy(ctx, metadata.RetentionPolicy{ProjectID: projectID, Rules: rules, Schedule: p.Schedule, NextRunAt: next, UpdatedBy: by})
	return p, next, err
}

// StartSchedules runs the policies whose schedule is due, checking every
// interval, on every instance: a lease in the database makes one instance
// run each due policy once.
func (rn *Runner) StartSchedules(ctx context.Context, every time.Duration) {
	ctx, rn.stop = context.WithCancel(context.WithoutCancel(ctx))
	rn.done = make(chan struct{})
	go func() {
		defer close(rn.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rn.runDue(ctx)
		}
	}()
}

// StopSchedules ends the schedule loop, waiting for a run in progress.
func (rn *Runner) StopSchedules() {
	if rn.stop != nil {
		rn.stop()
		<-rn.done
	}
}

func (rn *Runner) runDue(ctx context.Context) {
	// Blob releases logged and not folded yet: what a run of an older
	// berth logged and left (cut short by the upgrade; runs release at
	// once since blob ids, see metadata's releases.go).
	start := time.Now()
	f, err := rn.db.FoldBlobReleases(rn.background(ctx, nil), rn.ix.Owner())
	if err != nil && !errors.Is(err, metadata.ErrFoldBusy) {
		rn.log.WarnContext(ctx, "retention: folding blob releases", "err", err)
	} else if f.Keys > 0 {
		rn.log.InfoContext(ctx, "retention fold", foldAttrs(f, start)...)
	}
	due, err := rn.db.DueRetention(ctx, time.Now())
	if err != nil {
		rn.log.WarnContext(ctx, "retention: due policies", "err", err)
		return
	}
	for _, id := range due {
		lease := fmt.Sprintf("retention-schedule:%d", id)
		held, err := rn.db.TryLease(ctx, lease, rn.ix.Owner(), time.Hour)
		if err != nil || !held {
			continue
		}
		rn.runScheduled(ctx, id)
		_ = rn.db.ReleaseLease(ctx, lease, rn.ix.Owner())
	}
}

func (rn *Runner) runScheduled(ctx context.Context, projectID int64) {
	p, err := rn.db.GetProjectByID(ctx, projectID)
	if err != nil {
		return
	}
	pol, err := rn.db.GetRetentionPolicy(ctx, projectID)
	if err != nil || pol.NextRunAt.After(time.Now()) {
		return // another instance ran it meanwhile
	}
	next, err := NextRun(pol.Schedule, time.Now())
	if err == nil {
		err = rn.db.SetRetentionNextRun(ctx, projectID, next)
	}
	if err != nil {
		rn.log.WarnContext(ctx, "retention: scheduling the next run", "project", p.Name, "err", err)
		return
	}
	if _, err := rn.Run(ctx, p.Name, Options{Cause: "schedule"}); err != nil {
		rn.log.WarnContext(ctx, "retention: scheduled run", "project", p.Name, "err", err)
	}
}
