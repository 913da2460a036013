package registry

import (
	"context"
	"time"

	diststorage "github.com/distribution/distribution/v3/registry/storage"
)

// Abandoned uploads (a client that crashed or gave up mid-push) are removed
// by berth rather than by distribution's purger, which waits a random 0-60
// minutes after start-up before its first pass. One instance at a time
// walks the upload directories (a lease in the database); the first pass
// runs a minute after start-up (sooner when the interval is shorter), then
// every interval. An upload is abandoned once it is older than the age.
const firstPurgeAfter = time.Minute

func (s *Server) startPurger(ctx context.Context) {
	p := s.cfg.Storage.UploadPurging
	if !p.Enabled {
		return
	}
	ctx, s.stopPurge = context.WithCancel(context.WithoutCancel(ctx))
	s.purgeDone = make(chan struct{})
	go func() {
		defer close(s.purgeDone)
		timer := time.NewTimer(min(firstPurgeAfter, p.Interval))
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
			s.purgeUploads(ctx)
			timer.Reset(p.Interval)
		}
	}()
}

func (s *Server) purgeUploads(ctx context.Context) {
	p := s.cfg.Storage.UploadPurging
	held, err := s.db.TryLease(ctx, "upload-purge", s.ix.Owner(), p.Interval)
	if err != nil {
		s.log.WarnContext(ctx, "upload purge: lease", "err", err)
		return
	}
	if !held {
		return // another instance purges this time
	}
	start := time.Now()
	deleted, errs := diststorage.PurgeUploads(ctx, s.driver, start.Add(-p.Age), !p.DryRun)
	aborted := 0
	if s.uploads != nil {
		var err error
		if aborted, err = s.uploads.PurgeStale(ctx, start.Add(-p.Age), p.DryRun); err != nil {
			errs = append(errs, err)
		}
	}
	attrs := []any{"removed", len(deleted), "multipartAborted", aborted, "olderThan", p.Age.String(), "dryRun", p.DryRun, "duration", time.Since(start).String()}
	if len(errs) > 0 {
		s.log.WarnContext(ctx, "upload purge", append(attrs, "errors", len(errs), "firstError", errs[0])...)
		return
	}
	s.log.InfoContext(ctx, "upload purge", attrs...)
}

func (s *Server) stopPurger() {
	if s.stopPurge == nil {
		return
	}
	s.stopPurge()
	<-s.purgeDone
}
