package proxy

import (
	"context"
	"os"
	"time"
)

// The service's life cycle: work that outlives requests (downloads, tag
// checks) ends with Close, which also removes the downloads' temporary
// files.

// background is a context for work that outlives the request ctx (its
// values kept) and ends with Close or after limit; the caller runs it
// with s.wg counted (done here) and calls s.wg.Done when it ends.
func (s *Service) background(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	stop := context.AfterFunc(s.base, cancel)
	s.wg.Add(1)
	return fctx, func() { stop(); cancel() }
}

// tempDir is this process's directory of downloads in flight, removed by
// Close.
func (s *Service) tempDir() (string, error) {
	s.tmpOnce.Do(func() { s.tmpDir, s.tmpErr = os.MkdirTemp("", "berth-proxy-") })
	return s.tmpDir, s.tmpErr
}

// Close ends the downloads in flight (what they stored is kept; an
// unfinished upload is cancelled) and removes their temporary files.
func (s *Service) Close() {
	s.stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.log.Warn("proxy: downloads still running at shutdown")
	}
	if s.tmpDir != "" {
		_ = os.RemoveAll(s.tmpDir)
	}
}
