package proxy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// Eviction. A proxy project with a size cap (CapBytes) whose usage (the
// project's storage_used, what quotas count) goes over it loses its least
// recently pulled artifacts until usage is under the low-water mark (90 %
// of the cap). Artifacts are removed through the index as retention
// removes them: their tags, then the manifests left without one (with
// their referrers; an index's children go with it unless something else
// holds them); usage drops at once, and online garbage collection frees
// the bytes once gc.delay has passed. A run holds a lease per project in
// the database, so one replica runs it at a time; it runs in the
// background, after a fill takes a project over its cap, after a cap is
// lowered, and every EvictInterval. Artifacts used within EvictGrace, and
// the one whose fill started the run, are never removed.

const (
	evictLease     = 5 * time.Minute // a run's lease; renewed per removal
	candidateLimit = 50_000          // artifacts a round weighs
	maxRounds      = 20
	leaseWaitAPI   = 30 * time.Second // a run asked through the API waits this long for one in progress
)

// MaxCap bounds a cap: beyond it a value is a mistake, not a cap.
const MaxCap = 1 << 50 // 1 PiB

// ErrEvictBusy is a run asked while another of the project is in progress
// (on any replica) and did not end within leaseWaitAPI.
var ErrEvictBusy = errors.New("an eviction run of the project is in progress")

// EvictConfig sets eviction up (StartEviction).
type EvictConfig struct {
	Interval time.Duration // how often capped projects are checked
	Grace    time.Duration // artifacts used more recently are kept
	// FlushPulls writes the pull times this replica holds in memory, so a
	// run weighs every pull it served.
	FlushPulls func(context.Context) error
}

// evictor is the service's eviction state.
type evictor struct {
	cfg  EvictConfig
	kick chan struct{}
	// pending: projects to check, with the artifacts (repo@digest) fills
	// just stored in them, which their run keeps.
	pending map[string]map[string]bool
}

// StartEviction starts the background runs (ended by Close).
func (s *Service) StartEviction(cfg EvictConfig) {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Minute
	}
	s.mu.Lock()
	s.ev = evictor{cfg: cfg, kick: make(chan struct{}, 1), pending: map[string]map[string]bool{}}
	kick := s.ev.kick
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-s.base.Done():
				return
			case <-t.C:
				s.queueCapped(s.base)
			case <-kick:
			}
			s.runPending(s.base)
		}
	}()
}

// queueEviction asks the background for a check of project, keeping keep
// (repo@digest, "" none) in its run. It never blocks.
func (s *Service) queueEviction(project, keep string) {
	s.mu.Lock()
	if s.ev.pending == nil {
		s.mu.Unlock()
		return // not started (a command, a test of the service)
	}
	set := s.ev.pending[project]
	if set == nil {
		set = map[string]bool{}
		s.ev.pending[project] = set
	}
	if keep != "" {
		set[keep] = true
	}
	kick := s.ev.kick
	s.mu.Unlock()
	select {
	case kick <- struct{}{}:
	default:
	}
}

// afterFill is called when a fill stored repo's manifest d: a capped
// project gets a check, in the background.
func (s *Service) afterFill(b *binding, repo, d string) {
	if b.CapBytes > 0 {
		s.queueEviction(b.Project, repo+"@"+d)
	}
}

// queueCapped queues every project with a cap.
func (s *Service) queueCapped(ctx context.Context) {
	list, err := s.db.ProxyUpstreams(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "proxy: eviction: listing proxy projects", "err", err)
		return
	}
	for _, u := range list {
		if u.CapBytes > 0 && u.Used > u.CapBytes {
			s.queueEviction(u.Project, "")
		}
	}
}

func (s *Service) runPending(ctx context.Context) {
	s.mu.Lock()
	pending := s.ev.pending
	s.ev.pending = map[string]map[string]bool{}
	s.mu.Unlock()
	for project, keep := range pending {
		if ctx.Err() != nil {
			return
		}
		run, err := s.evict(ctx, project, "auto", "", keep, false)
		if err != nil && !errors.Is(err, ErrEvictBusy) && !errors.Is(err, metadata.ErrNotFound) {
			s.log.WarnContext(ctx, "proxy: eviction", "project", project, "err", err)
		}
		if run.UsedTo > run.CapBytes && run.Protected > 0 && s.ev.cfg.Grace > 0 {
			// What is left over the cap was used within the grace: look
			// again once it has passed.
			time.AfterFunc(s.ev.cfg.Grace+time.Second, func() { s.queueEviction(project, "") })
		}
	}
}

// Evict runs an eviction of project now (asked through the API by actor):
// when its usage is over the low-water mark, the least recently pulled
// artifacts are removed until it is under. It waits for a run in progress
// (ErrEvictBusy when that takes over leaseWaitAPI).
func (s *Service) Evict(ctx context.Context, project, actor string) (metadata.ProxyEviction, error) {
	run, err := s.evict(ctx, project, "api", actor, nil, true)
	if errors.Is(err, metadata.ErrNotFound) {
		err = domain.Errorf(domain.ErrNotFound, "project %q is not a proxy project", project)
	}
	return run, err
}

// evict is one run. Automatic runs start when usage is over the cap;
// asked ones (wait) when it is over the low-water mark.
func (s *Service) evict(ctx context.Context, project, cause, actor string, keep map[string]bool, wait bool) (metadata.ProxyEviction, error) {
	run := metadata.ProxyEviction{Project: project, Cause: cause, Actor: actor, Started: time.Now(), Status: "done"}
	if keep == nil {
		keep = map[string]bool{}
	}
	u, err := s.db.ProxyUpstream(ctx, project)
	if err != nil {
		return run, err
	}
	run.CapBytes, run.LowWater, run.UsedFrom, run.UsedTo = u.CapBytes, LowWater(u.CapBytes), u.Used, u.Used
	start := u.CapBytes
	if wait {
		start = run.LowWater
	}
	if u.CapBytes <= 0 || u.Used <= start {
		return run, nil
	}
	lease, holder := fmt.Sprintf("proxy-evict:%d", u.ProjectID), fmt.Sprintf("%s/%d", s.owner, time.Now().UnixNano())
	if err := s.takeEvictLease(ctx, lease, holder, wait); err != nil {
		return run, err
	}
	defer func() { _ = s.db.ReleaseLease(context.WithoutCancel(ctx), lease, holder) }()
	if s.ev.cfg.FlushPulls != nil {
		if err := s.ev.cfg.FlushPulls(ctx); err != nil {
			s.log.WarnContext(ctx, "proxy: eviction: writing pending pulls", "err", err)
		}
	}
	err = s.evictRounds(ctx, u, &run, keep, lease, holder)
	run.Finished = time.Now()
	if err != nil {
		run.Status, run.Error = "failed", err.Error()
	}
	if run.Artifacts > 0 || err != nil {
		evictedArtifacts.Inc(float64(run.Artifacts))
		evictedBytes.Inc(float64(run.BytesEvicted()))
		if rerr := s.db.RecordProxyEviction(context.WithoutCancel(ctx), run); rerr != nil && err == nil {
			err = rerr
		}
	}
	s.log.InfoContext(ctx, "proxy: eviction run", "project", project, "cause", cause, "status", run.Status, "capBytes", run.CapBytes,
		"usedBefore", run.UsedFrom, "usedAfter", run.UsedTo, "artifacts", run.Artifacts, "manifests", run.Manifests, "tags", run.Tags,
		"protected", run.Protected, "duration", run.Finished.Sub(run.Started).String(), "err", err)
	return run, err
}

// takeEvictLease takes the project's run lease, waiting up to
// leaseWaitAPI for a run in progress when wait.
func (s *Service) takeEvictLease(ctx context.Context, lease, holder string, wait bool) error {
	deadline := time.Now().Add(leaseWaitAPI)
	for {
		held, err := s.db.TryLease(ctx, lease, holder, evictLease)
		if err != nil || held {
			return domain.Classify(err)
		}
		if !wait || time.Now().After(deadline) {
			return ErrEvictBusy
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leaseWait):
		}
	}
}

// evictRounds weighs the candidates and removes victims, one at a time,
// until usage is under the low-water mark, re-weighing when the sizes
// overestimated what the removals freed (shared layers).
func (s *Service) evictRounds(ctx context.Context, u metadata.ProxyUpstream, run *metadata.ProxyEviction, keep map[string]bool, lease, holder string) error {
	used := u.Used
	for range maxRounds {
		cands, err := s.db.EvictionCandidates(ctx, u.ProjectID, candidateLimit)
		if err != nil {
			return err
		}
		victims, protected := chooseVictims(cands, used, run.LowWater, time.Now().Add(-s.ev.cfg.Grace), keep)
		run.Protected = int64(protected)
		if len(victims) == 0 {
			return nil
		}
		for _, v := range victims {
			if held, err := s.db.TryLease(ctx, lease, holder, evictLease); err != nil || !held {
				return fmt.Errorf("renewing the run's lease: held %v, %v", held, err)
			}
			removed, err := s.removeArtifact(ctx, v, run)
			if err != nil {
				return fmt.Errorf("%s@%s: %w", v.Repository, v.Digest, err)
			}
			if removed {
				run.Artifacts++
			} else {
				keep[v.Repository+"@"+v.Digest] = true // not removable now: not weighed again
			}
			if used, err = s.db.ProjectUsage(ctx, u.ProjectID); err != nil {
				return err
			}
			run.UsedTo = used
			if used <= run.LowWater {
				return nil
			}
		}
		// A victim that could not go is kept from now on: the next round
		// weighs others.
	}
	return nil
}

// removeArtifact removes one victim as retention removes what no rule
// keeps: its tags (unless one is immutable: then it stays), then the
// manifest if that left it without a tag (with its referrers), then its
// children that nothing else holds. removed reports whether the manifest
// went.
func (s *Service) removeArtifact(ctx context.Context, v metadata.EvictionCandidate, run *metadata.ProxyEviction) (removed bool, err error) {
	tags, children, err := s.db.ArtifactTags(ctx, v.ID)
	if err != nil {
		return false, err
	}
	if len(tags) > 0 {
		immutable, err := s.ix.ImmutableRules(ctx, v.Repository)
		if err != nil {
			return false, err
		}
		for _, t := range tags {
			if _, ok := immutable.Match(v.Repository, t.Name); ok {
				return false, nil
			}
		}
		rows, _, _, err := s.db.RemoveTags(ctx, v.Repository, tags, s.owner)
		if err != nil {
			return false, err
		}
		run.Tags += int64(len(rows))
		s.ix.Settle(ctx, rows)
	}
	gone, err := s.removeUntagged(ctx, v.Repository, []string{v.Digest}, run)
	if err != nil || !slices.Contains(gone, v.Digest) {
		return false, err
	}
	if len(children) > 0 {
		if _, err := s.removeUntagged(ctx, v.Repository, children, run); err != nil {
			return true, err
		}
	}
	return true, nil
}

func (s *Service) removeUntagged(ctx context.Context, repo string, digests []string, run *metadata.ProxyEviction) ([]string, error) {
	r, _, err := s.db.RemoveUntagged(ctx, repo, digests, s.owner)
	if err != nil {
		return nil, err
	}
	run.Manifests += int64(len(r.Digests))
	s.ix.Settle(ctx, r.SyncRows())
	return r.Digests, nil
}
