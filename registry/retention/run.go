package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata"
)

// Runner carries out retention runs, by hand or on their schedules.
type Runner struct {
	db  *metadata.DB
	ix  *index.Indexer
	log *slog.Logger

	stop context.CancelFunc
	done chan struct{}
}

// NewRunner returns a runner over the index.
func NewRunner(ix *index.Indexer, log *slog.Logger) *Runner {
	return &Runner{db: ix.DB(), ix: ix, log: log}
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
// renews its lease with every batch.
const leaseTTL = 5 * time.Minute

// Run applies a project's policy (dry: reports what it would remove) and
// returns the run as recorded. A failed run is recorded too, with what it
// did before failing.
func (rn *Runner) Run(ctx context.Context, project string, o Options) (metadata.RetentionRun, error) {
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
	w := &walk{rn: rn, policy: policy, dry: o.DryRun, now: time.Now(),
		tags: pace{n: tagBatch, min: 10, max: 1000}, manifests: pace{n: manifestBatch, min: 5, max: 200}}
	if !o.DryRun {
		w.lease, w.holder = fmt.Sprintf("retention-run:%d", p.ID), fmt.Sprintf("%s/%d", rn.ix.Owner(), time.Now().UnixNano())
		held, err := rn.db.TryLease(ctx, w.lease, w.holder, leaseTTL)
		if err != nil {
			return metadata.RetentionRun{}, err
		}
		if !held {
			return metadata.RetentionRun{}, fmt.Errorf("project %s: %w", project, ErrBusy)
		}
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
	// The run's writes let those of requests go first (pushes keep flowing),
	// and report how long each held the write lock (pace).
	// The blobs of what it removes come off the project's accounting when
	// the walk ends, in one pass in key order (DeferBlobReleases).
	wctx := metadata.TimeHeld(metadata.Background(ctx), &w.held)
	if !o.DryRun {
		wctx = metadata.DeferBlobReleases(wctx)
	}
	err = w.project(wctx, p.ID)
	if !o.DryRun {
		if ferr := rn.foldReleases(ctx, w); ferr != nil && err == nil {
			err = ferr
		}
	}
	release()
	if err == nil {
		err = rn.db.AddRetentionItems(metadata.Background(ctx), run.ID, w.items)
	}
	// The run does not wait for the storage copies of what it removed:
	// the index is the truth, and the copies (unlinks, on a filesystem
	// slower than the index's removal) are written in the background,
	// from rows kept in the index until they are (SettleAsync).
	run.Finished, run.Status = time.Now(), "done"
	if err != nil {
		run.Status, run.Error = "failed", err.Error()
	}
	if ferr := rn.db.FinishRetentionRun(context.WithoutCancel(ctx), run); ferr != nil && err == nil {
		err = ferr
	}
	rn.log.InfoContext(ctx, "retention run", "project", project, "run", run.ID, "dryRun", o.DryRun, "cause", o.Cause, "actor", o.Actor,
		"status", run.Status, "tagsSeen", run.TagsSeen, "tagsRemoved", run.TagsRemoved, "manifestsRemoved", run.ManifestsRemoved, "longestWriteMs", run.LongestWriteMs,
		"duration", run.Finished.Sub(run.Started).String())
	return run, err
}

// foldReleases folds the blob releases the run logged (and any left
// before it), waiting while another fold runs: the run reports the
// project's storage used as its removals leave it.
func (rn *Runner) foldReleases(ctx context.Context, w *walk) error {
	ctx = metadata.Background(ctx)
	start := time.Now()
	for {
		f, err := rn.db.FoldBlobReleases(ctx, rn.ix.Owner())
		w.run.LongestWriteMs = max(w.run.LongestWriteMs, f.LongestWrite.Milliseconds())
		if !errors.Is(err, metadata.ErrFoldBusy) {
			rn.log.InfoContext(ctx, "retention fold", "run", w.run.ID, "keys", f.Keys, "longestWriteMs", f.LongestWrite.Milliseconds(),
				"took", time.Since(start).Round(time.Millisecond).String(), "error", err)
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// walk is one run going through a project.
type walk struct {
	rn     *Runner
	run    *metadata.RetentionRun
	policy Policy
	dry    bool
	now    time.Time
	items  []metadata.RetentionItem
	seq    int64
	// lease keeps other real runs of the project out (holder: this run).
	lease, holder string
	// tags and manifests size the write transactions; held is what the
	// last one held.
	tags, manifests pace
	held            metadata.Held
}

func (w *walk) project(ctx context.Context, projectID int64) error {
	after := ""
	for {
		repos, _, err := w.rn.db.ListRepositories(ctx, metadata.RepoFilter{ProjectID: projectID, After: after}, metadata.ListOptions{Limit: 200})
		if err != nil || len(repos) == 0 {
			return err
		}
		for _, r := range repos {
			if err := w.repository(ctx, r); err != nil {
				return fmt.Errorf("%s: %w", r.Name, err)
			}
		}
		after = repos[len(repos)-1].Name
	}
}

// repository walks one repository's tags, newest push first.
func (w *walk) repository(ctx context.Context, r metadata.Repository) error {
	_, path, _ := strings.Cut(r.Name, "/")
	var rules []int
	for i, rule := range w.policy.Rules {
		if rule.repos.Match(path) {
			rules = append(rules, i)
		}
	}
	if len(rules) == 0 {
		return nil // no rule speaks of this repository: it is left alone
	}
	immutable, err := w.rn.ix.ImmutableRules(ctx, r.Name)
	if err != nil {
		return err
	}
	var remove []removal
	cursor, position := metadata.FirstTags, 0
	for {
		page, next, err := w.rn.db.RetentionTags(ctx, r.ID, cursor, tagPage)
		if err != nil {
			return err
		}
		for _, t := range page {
			w.run.TagsSeen++
			if t.Follows {
				w.run.Kept["follows its subject"]++
				continue
			}
			position++
			if rule, ok := immutable.Match(r.Name, t.Name); ok {
				w.run.Kept[fmt.Sprintf("immutable (rule #%d)", rule.ID)]++
				continue
			}
			if label := w.keptBy(rules, t, position); label != "" {
				w.run.Kept[label]++
				continue
			}
			remove = append(remove, removal{t, w.whyNot(rules, t, position)})
			if len(remove) >= w.tags.n {
				if err := w.remove(ctx, r.Name, remove); err != nil {
					return err
				}
				remove = remove[:0]
			}
		}
		if len(page) < tagPage {
			break
		}
		cursor = next
	}
	return w.remove(ctx, r.Name, remove)
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
func (w *walk) remove(ctx context.Context, repo string, tags []removal) error {
	if len(tags) == 0 {
		return nil
	}
	if !w.dry {
		if held, err := w.rn.db.TryLease(ctx, w.lease, w.holder, leaseTTL); err != nil || !held {
			return fmt.Errorf("renewing the run's lease: held %v, %v", held, err)
		}
		// Rules made since the walk began protect their tags too.
		immutable, err := w.rn.ix.ImmutableRules(ctx, repo)
		if err != nil {
			return err
		}
		kept := tags[:0]
		for _, r := range tags {
			if rule, ok := immutable.Match(repo, r.tag.Name); ok {
				w.run.Kept[fmt.Sprintf("immutable (rule #%d)", rule.ID)]++
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
	if w.dry {
		for _, r := range tags {
			w.record(repo, r.tag.Name, r.tag.Digest, r.why)
		}
		w.run.TagsRemoved += int64(len(tags))
		return nil
	}
	w.held = metadata.Held{}
	rows, changed, err := w.rn.db.RemoveTags(ctx, repo, batch, w.rn.ix.Owner())
	w.wrote(&w.tags)
	if err != nil {
		return err
	}
	removed := map[string]bool{}
	for _, row := range rows {
		removed[row.Name] = true
	}
	for _, r := range tags {
		if removed[r.tag.Name] {
			w.record(repo, r.tag.Name, r.tag.Digest, r.why)
		}
	}
	if changed > 0 {
		w.run.Kept["changed during the run"] += int64(changed)
	}
	w.run.TagsRemoved += int64(len(rows))
	w.rn.ix.SettleAsync(ctx, rows)
	for len(digests) > 0 {
		n := min(len(digests), w.manifests.n)
		w.held = metadata.Held{}
		removed, err := w.rn.db.RemoveUntagged(ctx, repo, digests[:n], w.rn.ix.Owner())
		w.wrote(&w.manifests)
		if err != nil {
			return err
		}
		for _, d := range removed.Digests {
			w.record(repo, "", d, "left without a tag")
		}
		w.run.ManifestsRemoved += int64(len(removed.Digests))
		w.rn.ix.SettleAsync(ctx, removed.SyncRows())
		digests = digests[n:]
	}
	return nil
}

// wrote notes the write transaction that just ran (w.held), and paces p by
// it.
func (w *walk) wrote(p *pace) {
	w.run.LongestWriteMs = max(w.run.LongestWriteMs, w.held.Took.Milliseconds())
	p.took(w.held)
}

// writeTarget is how long a run's write transaction should hold the write
// lock: a push's write waits at most about that for one (on SQLite,
// requests' writes go before the run's, so it waits for the one running at
// most). blockedTarget is the target while requests' writes do wait for
// the run's (a push makes three or four writes in a row, each of which may
// wait for one): the run then goes in smaller steps, and grows back when
// the pushes stop.
const (
	writeTarget   = 50 * time.Millisecond
	blockedTarget = 10 * time.Millisecond
)

// pace sizes one kind of write transaction of a run (n items) so that it
// holds the write lock about its target, whatever the database and the
// machine: halved after a transaction that held it longer, grown by a
// quarter after one that held it under half. Its wait to begin is not
// counted: it says how busy the registry is, not how big a batch is (and
// shrinking batches for it would only add transactions); requests' writes
// that waited for it (Held.Blocked) do count, by the smaller target.
type pace struct{ n, min, max int }

func (p *pace) took(h metadata.Held) {
	target := writeTarget
	if h.Blocked {
		target = blockedTarget
	}
	switch {
	case h.Took > target:
		p.n = max(p.min, p.n/2)
	case h.Took < target/2:
		p.n = min(p.max, p.n+p.n/4+1)
	}
}

func (w *walk) record(repo, tag, digest, decision string) {
	if len(w.items) >= maxItems {
		return
	}
	w.seq++
	w.items = append(w.items, metadata.RetentionItem{Seq: w.seq, Repository: repo, Tag: tag, Digest: digest, Decision: decision})
}
