package gc

import (
	"context"
	"sync"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// Pass carries out every review due now (queued at least gc.delay ago),
// with the configured number of workers, and records the report. A dry
// pass deletes nothing (it only folds the due logged reviews into the
// queue, as every pass does first) and reports what a pass would delete.
// Passes of several instances (or of `berth gc` beside a server) share the
// queue safely: each review is one transaction that locks what it reviews.
func (c *Collector) Pass(ctx context.Context, cause string, dryRun bool) (Report, error) {
	c.pass.Lock()
	defer c.pass.Unlock()
	start := time.Now()
	cutoff := start.Add(-c.cfg.Delay)
	r := Report{metadata.GCRun{Cause: cause, DryRun: dryRun, Started: start}}
	// Reviews deletes logged (metadata.FoldReviews) join the queue when due.
	_, err := c.db.FoldReviews(metadata.Background(ctx), cutoff)
	switch {
	case err != nil: // reported; the next pass folds again
	case dryRun:
		err = c.dryPass(ctx, cutoff, &r)
	default:
		err = c.wetPass(ctx, cutoff, start, &r)
	}
	r.Duration = time.Since(start).Seconds()
	passSeconds.Update(time.Since(start))
	if err != nil && r.Error == "" {
		r.Error = err.Error()
	}
	if queued, due, qerr := c.db.GCQueue(ctx, time.Now().Add(-c.cfg.Delay)); qerr == nil {
		queueLength.Set(float64(queued))
		overdue.Set(float64(due))
	}
	if r.did() || cause != "schedule" {
		if id, rerr := c.db.RecordGCRun(ctx, r.GCRun); rerr == nil {
			r.ID = id
		}
	}
	return r, err
}

// wetPass runs workers until no review due at cutoff is left; reviews
// queued during the pass wait for the next.
func (c *Collector) wetPass(ctx context.Context, cutoff, start time.Time, r *Report) error {
	ctx = metadata.Background(ctx) // requests' writes go first
	var mu sync.Mutex
	var errs []string
	var firstErr error
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failures := 0
			for ctx.Err() == nil && failures < 8 {
				res, found, err := c.db.ProcessReview(ctx, cutoff, c.owner, c.deleteData)
				if err != nil {
					failures++
					mu.Lock()
					r.Errors++
					errs = append(errs, err.Error())
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					errorsTotal.Inc(1)
					if res.Review.Kind != "" {
						// Backs off, so the pass moves on to other reviews.
						_ = c.db.FailedReview(ctx, res.Review, c.cfg.Delay)
					}
					continue
				}
				if !found {
					return
				}
				c.account(ctx, r, &mu, res)
			}
		}()
	}
	wg.Wait()
	r.Error = errText(errs)
	if r.Errors > 0 && r.BlobsDeleted+r.LinksRemoved+r.ManifestsDeleted == 0 {
		return firstErr
	}
	return ctx.Err()
}

// account adds one review's outcome to the report and brings storage in
// line with what it removed.
func (c *Collector) account(ctx context.Context, r *Report, mu *sync.Mutex, res metadata.ReviewResult) {
	if len(res.Unlinked) > 0 {
		c.mirror(ctx, res.Unlinked)
	}
	if len(res.Removed.SyncIDs) > 0 {
		c.mirror(ctx, res.Removed.SyncRows())
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case res.Outcome == metadata.OutcomePostponed:
		r.Postponed++
	case res.Outcome != metadata.OutcomeDeleted:
	case res.Review.Kind == metadata.ReviewBlob:
		r.BlobsDeleted++
		r.BytesFreed += res.Bytes
		blobsDeleted.Inc(1)
		bytesFreed.Inc(float64(res.Bytes))
	case res.Review.Kind == metadata.ReviewLink:
		r.LinksRemoved++
		linksRemoved.Inc(1)
	case res.Review.Kind == metadata.ReviewManifest:
		n := int64(len(res.Removed.Digests))
		r.ManifestsDeleted += n
		manifestsDeleted.Inc(float64(n))
	}
}

// dryPass evaluates every due review without changing anything.
func (c *Collector) dryPass(ctx context.Context, cutoff time.Time, r *Report) error {
	var after metadata.Review
	for {
		page, err := c.db.DueReviews(ctx, cutoff, after, 500)
		if err != nil || len(page) == 0 {
			return err
		}
		for _, rv := range page {
			res, err := c.db.EvaluateReview(ctx, rv, cutoff)
			if err != nil {
				return err
			}
			switch {
			case res.Outcome == metadata.OutcomePostponed:
				r.Postponed++
			case res.Outcome != metadata.OutcomeDeleted:
			case rv.Kind == metadata.ReviewBlob:
				r.BlobsDeleted++
				r.BytesFreed += res.Bytes
			case rv.Kind == metadata.ReviewLink:
				r.LinksRemoved++
				if res.Bytes > 0 {
					r.BlobsDeleted++
					r.BytesFreed += res.Bytes
				}
			case rv.Kind == metadata.ReviewManifest:
				r.ManifestsDeleted++
			}
		}
		after = page[len(page)-1]
	}
}
