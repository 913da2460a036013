package retention

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// walk is one run going through a project.
type walk struct {
	rn     *Runner
	policy Policy
	dry    bool
	now    time.Time
	// lease keeps other real runs of the project out (holder: this run).
	lease, holder string
	// renewed is when the lease was last renewed, as time since now (the
	// monotonic clock: a wall clock set back would put renewals off).
	renewed   atomic.Int64
	gaveWayNs atomic.Int64 // how long the lanes waited for requests (giveWay)

	mu    sync.Mutex // guards what follows: the lanes' goroutines add to it
	run   *metadata.RetentionRun
	items []metadata.RetentionItem
	seq   int64
}

// pgLanes is how many repositories a run walks at once on PostgreSQL on a
// machine of procs cores (GOMAXPROCS): one per two cores, one at least and
// two at most. There a run's time goes to round trips, one statement after
// the other (a core sat idle through a run with one lane), so lanes run
// side by side, never touching the same repository's rows. But a lane
// keeps most of a core busy between berth and its database server (one
// lane 0.86–0.94 of a core, two 1.27, on the two-core test machine, where
// the pushes took 0.31), and there, beside 10 pushes a second, two lanes
// slowed every push (p50 28.7–30.3 ms against 23.5–27.0 with one, 19–24
// alone; docs/benchmarks.md): the lanes leave half the cores to requests.
// On SQLite, whose one writer runs a write at a time, a run walks one
// repository at a time.
func pgLanes(procs int) int { return min(2, max(1, procs/2)) }

// lane is one goroutine of a walk: it walks whole repositories, sizing its
// own write transactions (tags, manifests) by what the last one held.
type lane struct {
	*walk
	tags, manifests metadata.Pace
	held            metadata.Held
}

func (w *walk) project(ctx context.Context, projectID int64) error {
	lanes := 1
	if w.rn.db.Dialect() == "postgres" {
		lanes = w.rn.lanes
	}
	// The first lane to fail stops the others and the listing; its error
	// is the walk's.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	repos := make(chan metadata.Repository)
	var wg sync.WaitGroup
	for range lanes {
		l := &lane{walk: w, tags: metadata.Pace{N: tagBatch, Min: 10, Max: 1000}, manifests: metadata.Pace{N: manifestBatch, Min: 5, Max: 200}}
		lctx := metadata.TimeHeld(ctx, &l.held)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range repos {
				if err := l.repository(lctx, r); err != nil {
					stop(fmt.Errorf("%s: %w", r.Name, err))
					return
				}
			}
		}()
	}
	err := w.list(ctx, projectID, repos)
	close(repos)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

// list sends the project's repositories to the lanes, in name order.
func (w *walk) list(ctx context.Context, projectID int64, repos chan<- metadata.Repository) error {
	after := ""
	for {
		page, _, err := w.rn.db.ListRepositories(ctx, metadata.RepoFilter{ProjectID: projectID, After: after}, metadata.ListOptions{Limit: 200})
		if err != nil || len(page) == 0 {
			return err
		}
		for _, r := range page {
			select {
			case repos <- r:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		after = page[len(page)-1].Name
	}
}

// count adds to the run's counts from a lane's goroutine.
func (w *walk) count(f func(run *metadata.RetentionRun)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w.run)
}

// repository walks one repository's tags, newest push first.
func (l *lane) repository(ctx context.Context, r metadata.Repository) error {
	_, path, _ := strings.Cut(r.Name, "/")
	var rules []int
	for i, rule := range l.policy.Rules {
		if rule.repos.Match(path) {
			rules = append(rules, i)
		}
	}
	if len(rules) == 0 {
		return nil // no rule speaks of this repository: it is left alone
	}
	immutable, err := l.rn.ix.ImmutableRules(ctx, r.Name)
	if err != nil {
		return err
	}
	var remove []removal
	cursor, position := metadata.FirstTags, 0
	for {
		if err := l.giveWay(ctx); err != nil {
			return err
		}
		page, next, err := l.rn.db.RetentionTags(ctx, r.ID, cursor, tagPage)
		if err != nil {
			return err
		}
		kept := map[string]int64{}
		for _, t := range page {
			if t.Follows {
				kept["follows its subject"]++
				continue
			}
			position++
			if rule, ok := immutable.Match(r.Name, t.Name); ok {
				kept[fmt.Sprintf("immutable (rule #%d)", rule.ID)]++
				continue
			}
			if label := l.keptBy(rules, t, position); label != "" {
				kept[label]++
				continue
			}
			remove = append(remove, removal{t, l.whyNot(rules, t, position)})
			if len(remove) >= l.tags.N {
				if err := l.remove(ctx, r.Name, remove); err != nil {
					return err
				}
				remove = remove[:0]
			}
		}
		l.count(func(run *metadata.RetentionRun) {
			run.TagsSeen += int64(len(page))
			for label, n := range kept {
				run.Kept[label] += n
			}
		})
		if len(page) < tagPage {
			break
		}
		cursor = next
	}
	return l.remove(ctx, r.Name, remove)
}

// keptBy is the label of the first rule that keeps t ("" when none does).
func (w *walk) keptBy(rules []int, t metadata.RetentionTag, position int) string {
	for _, i := range rules {
		if w.policy.Rules[i].keeps(t, position, w.now) {
			return w.policy.Rules[i].Label(i)
		}
	}
	return ""
}

// whyNot says why no rule keeps t: the decision a run records.
func (w *walk) whyNot(rules []int, t metadata.RetentionTag, position int) string {
	var b strings.Builder
	b.WriteString(decisionNoRule + ":")
	for _, i := range rules {
		r := w.policy.Rules[i]
		b.WriteString(" " + r.Label(i) + " (")
		switch r.Keep {
		case KeepLatestPushed:
			fmt.Fprintf(&b, "it is number %d", position)
		case KeepPulledWithin:
			if t.PullTime.IsZero() {
				b.WriteString("never pulled")
			} else {
				fmt.Fprintf(&b, "last pulled %s", t.PullTime.UTC().Format(time.RFC3339))
			}
		case KeepPushedWithin:
			fmt.Fprintf(&b, "pushed %s", t.PushTime.UTC().Format(time.RFC3339))
		case KeepTagPattern:
			b.WriteString("does not match")
		}
		b.WriteString(");")
	}
	return strings.TrimSuffix(b.String(), ";")
}

// removal is a tag no rule keeps, with the decision.
type removal struct {
	tag metadata.RetentionTag
	why string
}

// remove removes a batch of tags (dry: records them), then the manifests
// they leave without a tag.
func (l *lane) remove(ctx context.Context, repo string, tags []removal) error {
	if len(tags) == 0 {
		return nil
	}
	if !l.dry {
		if renewDue(time.Since(l.now) - time.Duration(l.renewed.Load())) {
			if held, err := l.rn.db.TryLease(ctx, l.lease, l.holder, leaseTTL); err != nil || !held {
				return fmt.Errorf("renewing the run's lease: held %v, %v", held, err)
			}
			l.renewed.Store(int64(time.Since(l.now)))
		}
		// Rules made since the walk began protect their tags too.
		immutable, err := l.rn.ix.ImmutableRules(ctx, repo)
		if err != nil {
			return err
		}
		kept := tags[:0]
		for _, r := range tags {
			if rule, ok := immutable.Match(repo, r.tag.Name); ok {
				l.count(func(run *metadata.RetentionRun) { run.Kept[fmt.Sprintf("immutable (rule #%d)", rule.ID)]++ })
				continue
			}
			kept = append(kept, r)
		}
		tags = kept
	}
	batch := make([]metadata.RetentionTag, len(tags))
	digests := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for i, r := range tags {
		batch[i] = r.tag
		if !seen[r.tag.Digest] {
			seen[r.tag.Digest] = true
			digests = append(digests, r.tag.Digest)
		}
	}
	if l.dry {
		for _, r := range tags {
			l.record(repo, r.tag.Name, r.tag.Digest, r.why)
		}
		l.count(func(run *metadata.RetentionRun) { run.TagsRemoved += int64(len(tags)) })
		return nil
	}
	removed := map[string]bool{}
	for rest := batch; len(rest) > 0; {
		if err := l.giveWay(ctx); err != nil {
			return err
		}
		l.held = metadata.Held{}
		rows, changed, done, err := l.rn.db.RemoveTags(ctx, repo, rest, l.rn.ix.Owner())
		l.wrote(&l.tags, done < len(rest))
		if err != nil {
			return err
		}
		for _, row := range rows {
			removed[row.Name] = true
		}
		l.count(func(run *metadata.RetentionRun) {
			if changed > 0 {
				run.Kept["changed during the run"] += int64(changed)
			}
			run.TagsRemoved += int64(len(rows))
		})
		l.rn.ix.SettleAsync(ctx, rows)
		rest = rest[done:]
	}
	for _, r := range tags {
		if removed[r.tag.Name] {
			l.record(repo, r.tag.Name, r.tag.Digest, r.why)
		}
	}
	for len(digests) > 0 {
		n := min(len(digests), l.manifests.N)
		if err := l.giveWay(ctx); err != nil {
			return err
		}
		l.held = metadata.Held{}
		removed, done, err := l.rn.db.RemoveUntagged(ctx, repo, digests[:n], l.rn.ix.Owner())
		l.wrote(&l.manifests, done < n)
		if err != nil {
			return err
		}
		for _, d := range removed.Digests {
			l.record(repo, "", d, "left without a tag")
		}
		l.count(func(run *metadata.RetentionRun) { run.ManifestsRemoved += int64(len(removed.Digests)) })
		l.rn.ix.SettleAsync(ctx, removed.SyncRows())
		digests = digests[done:]
	}
	return nil
}

// giveWay waits, before a read of tags or a write transaction, for the
// requests in flight (Runner.GiveWayTo).
func (l *lane) giveWay(ctx context.Context) error { return l.rn.giveWay(ctx, &l.gaveWayNs) }

// wrote notes the write transaction that just ran (held; cut: its Step
// ended it before the end of its batch), and paces p by it. Where Steps
// do not end transactions (PostgreSQL), one that ended while requests
// were in flight paces by busyTarget: those requests shared the cores and
// the disk with it.
func (l *lane) wrote(p *metadata.Pace, cut bool) {
	l.count(func(run *metadata.RetentionRun) {
		run.LongestWriteMs = max(run.LongestWriteMs, l.held.Took.Milliseconds())
	})
	busy := !l.rn.db.Steps() && l.rn.activity.InFlight() > 0
	p.Took(l.held.Took, txTarget(busy), cut)
}

// txTarget is what a lane's write transactions are sized to: busyTarget
// after one that ended while requests were in flight (see wrote), else
// writeTarget.
func txTarget(busy bool) time.Duration {
	if busy {
		return busyTarget
	}
	return writeTarget
}

// writeTarget is how long a run's write transaction holds the write lock
// at most; busyTarget, one that began while requests were in flight (a
// request that comes then waits for it; see Runner.step), or on
// PostgreSQL one while requests are in flight (see wrote). PostgreSQL's
// batches at 25 ms held its longest write under 100 ms, but the run took
// longer (every transaction first gives way to the requests in flight):
// 233–321 s in four million-tag runs, two past the 5 minutes
// (docs/benchmarks.md), so they stay at writeTarget.
const (
	writeTarget = 50 * time.Millisecond
	busyTarget  = 10 * time.Millisecond
)

func (w *walk) record(repo, tag, digest, decision string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.items) >= maxItems {
		return
	}
	w.seq++
	w.items = append(w.items, metadata.RetentionItem{Seq: w.seq, Repository: repo, Tag: tag, Digest: digest, Decision: decision})
}

// sortedItems puts the items the lanes recorded side by side (PostgreSQL
// walks two repositories at once) in the order one lane records them:
// repositories in name order, as listed, each one's items in the order
// they were decided; seq numbers them again. A dry run's list and the run
// after it then read alike on every database.
func (w *walk) sortedItems() []metadata.RetentionItem {
	w.mu.Lock()
	defer w.mu.Unlock()
	slices.SortStableFunc(w.items, func(a, b metadata.RetentionItem) int { return strings.Compare(a.Repository, b.Repository) })
	for i := range w.items {
		w.items[i].Seq = int64(i + 1)
	}
	return w.items
}
