package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// Heartbeats: every process refreshes the builds it owns; a building row
// whose heartbeat is older than staleAfter belongs to a dead process.
const (
	heartbeatEvery = 10 * time.Second
	staleAfter     = 45 * time.Second
	maxLogBytes    = 256 << 10
)

// Start begins serving builds: berth listens on addr (dialled on loopback
// for pulls and pushes), and publicHost also names berth in FROM lines.
// Builds a dead process left "building" are marked failed now and by a
// periodic sweep (other replicas' live builds keep their heartbeat).
func (s *Service) Start(ctx context.Context, addr, publicHost string) error {
	s.mu.Lock()
	s.addr = loopback(addr)
	s.hosts = []string{addr, s.addr}
	if _, port, err := splitPort(s.addr); err == nil {
		s.hosts = append(s.hosts, "localhost:"+port, "127.0.0.1:"+port)
	}
	s.public = s.addr
	if publicHost != "" {
		s.hosts = append(s.hosts, publicHost)
		s.public = publicHost
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopSweep = cancel
	s.mu.Unlock()
	if err := s.sweep(ctx, time.Now().Add(-staleAfter)); err != nil {
		cancel()
		return err
	}
	go s.maintain(sctx)
	return nil
}

// sweep marks failed the running builds whose heartbeat is older than before.
func (s *Service) sweep(ctx context.Context, before time.Time) error {
	n, err := s.db.FailStaleBuilds(ctx, before, time.Now().UTC().Format(time.DateTime)+" build failed: interrupted by restart (its berth process stopped)")
	if n > 0 {
		s.log.Warn("builds interrupted by a restart marked failed", "count", n)
	}
	return err
}

// maintain refreshes this process's heartbeats and sweeps dead builds.
func (s *Service) maintain(ctx context.Context) {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		ids := make([]int64, 0, len(s.running))
		for id := range s.running {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		if err := s.db.TouchBuilds(ctx, ids, time.Now()); err != nil {
			s.log.Warn("build heartbeat", "err", err)
		}
		if err := s.sweep(ctx, time.Now().Add(-staleAfter)); err != nil && ctx.Err() == nil {
			s.log.Warn("build sweep", "err", err)
		}
	}
}

// endpoint is berth's loopback address and every host that names berth.
func (s *Service) endpoint() (string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr, s.hosts
}

// publicHost is how users name berth (publicUrl's host, else the address).
func (s *Service) publicHost() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.public
}

// StartBuild records a build of p tagged tag and queues it.
func (s *Service) StartBuild(ctx context.Context, p Project, tag string, op Operator) (Build, error) {
	if tag == "" {
		tag = "latest"
	}
	if err := domain.ValidateTag(tag); err != nil {
		return Build{}, errorf(ErrInvalid, "%v", err)
	}
	if buildType(p) == "" {
		return Build{}, errorf(ErrInvalid, "project %s has no build definition yet: save one first", p.Name)
	}
	s.mu.Lock()
	switch {
	case s.closing || s.addr == "":
		s.mu.Unlock()
		return Build{}, errorf(ErrUnavailable, "the builder is not running (berth is starting or stopping)")
	case len(s.running) >= s.cfg.Workers+s.cfg.QueueSize:
		s.mu.Unlock()
		return Build{}, errorf(ErrUnavailable, "%d builds are running or queued (imagebuild.workers + imagebuild.queueSize): try again later", len(s.running))
	}
	now := time.Now()
	row, err := s.db.CreateBuild(ctx, Build{ProjectID: p.ID, Project: p.Name, Tag: tag, Operator: op.Name,
		Image: p.Cluster + "/" + p.Name + ":" + tag, CreatedAt: now, HeartbeatAt: now,
		Logs: fmt.Sprintf("%s build %s queued by %s\n", now.UTC().Format(time.DateTime), tag, op.Name)}.row())
	b := buildOf(row)
	if err != nil {
		s.mu.Unlock()
		return b, err
	}
	jctx, cancel := context.WithCancel(context.Background())
	s.running[b.ID] = cancel
	s.wg.Add(1)
	s.mu.Unlock()
	go s.run(jctx, b, p, op)
	return b, nil
}

// buildLog collects a build's log lines, bounded.
type buildLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *buildLog) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > maxLogBytes {
		return
	}
	l.b.WriteString(time.Now().UTC().Format(time.DateTime) + " " + fmt.Sprintf(format, args...) + "\n")
	if l.b.Len() > maxLogBytes {
		l.b.WriteString("... log truncated\n")
	}
}

func (l *buildLog) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// run waits for a worker, builds, and records the outcome.
func (s *Service) run(ctx context.Context, b Build, p Project, op Operator) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		s.running[b.ID]()
		delete(s.running, b.ID)
		s.mu.Unlock()
	}()
	logs := &buildLog{}
	logs.b.WriteString(b.Logs)
	var digest string
	var err error
	select {
	case s.sem <- struct{}{}:
		b.StartedAt = time.Now()
		logs.printf("build started (worker pool of %d)", s.cfg.Workers)
		_ = s.db.UpdateBuild(ctx, withLogs(b, logs).row())
		bctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		digest, err = s.execute(bctx, b, p, op, logs.printf)
		if errors.Is(bctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("build timed out after %s (imagebuild.timeout): %w", s.cfg.Timeout, err)
		}
		cancel()
		<-s.sem
	case <-ctx.Done():
		err = errors.New("not started")
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("interrupted by shutdown: %w", err)
	}
	b.FinishedAt, b.HeartbeatAt = time.Now(), time.Now()
	if err != nil {
		b.State = StateFailed
		logs.printf("build failed: %v", err)
		s.log.Warn("build failed", "project", p.Name, "tag", b.Tag, "build", b.ID, "err", err)
	} else {
		b.State, b.Digest = StateSuccess, digest
		logs.printf("build succeeded: %s@%s", b.Image, digest)
		s.log.Info("build succeeded", "project", p.Name, "image", b.Image, "digest", digest, "build", b.ID)
	}
	wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if uerr := s.db.UpdateBuild(wctx, withLogs(b, logs).row()); uerr != nil && !errors.Is(uerr, metadata.ErrNotFound) {
		s.log.Error("recording a build", "build", b.ID, "err", uerr)
	}
}

func withLogs(b Build, l *buildLog) Build { b.Logs = l.String(); return b }

// execute builds one image and returns its digest.
func (s *Service) execute(ctx context.Context, b Build, p Project, op Operator, logf func(string, ...any)) (string, error) {
	df, err := s.dockerfile(ctx, p)
	if err != nil {
		return "", err
	}
	logf("Dockerfile (%s):\n%s", p.FileType, strings.TrimRight(df, "\n"))
	tmp, err := os.MkdirTemp("", "berth-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "context")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if err := s.materialize(ctx, p, dir, logf); err != nil {
		return "", err
	}
	repo := p.Cluster + "/" + p.Name
	reg := &registry{s: s, op: op}
	if s.cfg.BuildkitAddr != "" {
		return s.buildkit(ctx, df, dir, tmp, repo, b.Tag, reg, logf)
	}
	pl, err := interpret(ctx, df, reg, time.Now().UTC())
	if err != nil {
		return "", err
	}
	img, err := s.assemble(ctx, pl, dir, tmp, logf)
	if err != nil {
		return "", err
	}
	return s.push(ctx, img, repo, b.Tag, reg, logf)
}

// Shutdown refuses new builds and waits for running ones until ctx ends;
// then it cancels them, and each records itself failed ("interrupted by
// shutdown").
func (s *Service) Shutdown(ctx context.Context) {
	s.mu.Lock()
	s.closing = true
	n := len(s.running)
	s.mu.Unlock()
	if n > 0 {
		s.log.Info("shutting down: waiting for builds", "builds", n)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for _, cancel := range s.running {
			cancel()
		}
		s.mu.Unlock()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	}
	s.mu.Lock()
	if s.stopSweep != nil {
		s.stopSweep()
	}
	s.mu.Unlock()
}

func splitPort(addr string) (string, string, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", errors.New("no port")
	}
	return addr[:i], addr[i+1:], nil
}
