// Package gc is berth's online garbage collector. Every write that may
// leave a blob, a repository's link of it or an untagged manifest unused
// queues a review of it in the metadata database (storage/metadata,
// migration 012). Workers on every instance take reviews that are due
// (queued gc.delay ago) one at a time, each in a transaction that locks
// what it reviews (PostgreSQL skips reviews another worker holds), and
// delete what nothing uses: an upload or a push of the same blob waits for
// that transaction and then finds the blob either in use or deleted, never
// half of each. There is no read-only window and no global lock.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// Untagged manifest policies.
const (
	UntaggedKeep   = "keep"
	UntaggedDelete = "delete"
)

// Config is the collector's part of berth's configuration.
type Config struct {
	// Enabled runs the collector in the background of every instance.
	Enabled bool `yaml:"enabled"`
	// Interval is how often an instance looks for due reviews.
	Interval time.Duration `yaml:"interval"`
	// Delay is how long something must stay unused before it is deleted:
	// the window in which a client may still refer to what it uploaded.
	Delay time.Duration `yaml:"delay"`
	// Untagged is what becomes of manifests without a tag: keep, or
	// delete (after the delay, unless an index or a subject holds them).
	Untagged string `yaml:"untagged"`
	// Workers is how many reviews one instance carries out at once.
	Workers int `yaml:"workers"`
}

// Defaults are the collector's embedded defaults.
func Defaults() Config {
	return Config{Enabled: true, Interval: 30 * time.Second, Delay: 24 * time.Hour, Untagged: UntaggedKeep, Workers: 2}
}

// Validate reports bad settings, naming their keys.
func (c Config) Validate() []error {
	var errs []error
	if c.Interval < time.Second {
		errs = append(errs, errors.New("gc.interval: must be a duration of at least 1s"))
	}
	if c.Delay < 0 {
		errs = append(errs, errors.New("gc.delay: must not be negative"))
	}
	if c.Untagged != UntaggedKeep && c.Untagged != UntaggedDelete {
		errs = append(errs, fmt.Errorf("gc.untagged: %q is not keep or delete", c.Untagged))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, errors.New("gc.workers: must be between 1 and 64"))
	}
	return errs
}

// Deps is what the collector works on.
type Deps struct {
	DB     *metadata.DB
	Driver storagedriver.StorageDriver
	// Mirror brings the storage copies of links a pass removes in line with
	// the index (the index's Settle).
	Mirror func(ctx context.Context, rows []metadata.Sync)
	// Forget drops a blob whose data was deleted from distribution's blob
	// descriptor cache.
	Forget func(ctx context.Context, digest string)
	// Owner is the instance id the storage sync rows of a pass carry.
	Owner string
}

// Collector runs passes over the due reviews.
type Collector struct {
	cfg    Config
	db     *metadata.DB
	driver storagedriver.StorageDriver
	mirror func(ctx context.Context, rows []metadata.Sync)
	forget func(ctx context.Context, digest string)
	owner  string
	log    *slog.Logger

	stop context.CancelFunc
	done chan struct{}
	pass sync.Mutex // one pass at a time in this process
}

// New returns a collector over d.
func New(cfg Config, d Deps, log *slog.Logger) *Collector {
	d.DB.SetUntaggedReviews(cfg.Untagged == UntaggedDelete)
	return &Collector{cfg: cfg, db: d.DB, driver: d.Driver, mirror: d.Mirror, forget: d.Forget, owner: d.Owner, log: log}
}

// deleteData removes a blob's data from storage: its directory, as
// distribution lays it out.
func (c *Collector) deleteData(ctx context.Context, d string) error {
	dg, err := digest.Parse(d)
	if err != nil {
		return nil // never stored under such a name
	}
	hex := dg.Encoded()
	dir := "/docker/registry/v2/blobs/" + dg.Algorithm().String() + "/" + hex[:2] + "/" + hex
	if err := c.driver.Delete(ctx, dir); err != nil {
		var nf storagedriver.PathNotFoundError
		if !errors.As(err, &nf) {
			return err
		}
	}
	c.forget(ctx, d)
	return nil
}

// Start runs a pass every interval in the background until Stop.
func (c *Collector) Start(ctx context.Context) {
	if !c.cfg.Enabled {
		return
	}
	ctx, c.stop = context.WithCancel(context.WithoutCancel(ctx))
	c.done = make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			r, err := c.Pass(ctx, "schedule", false)
			if err != nil && ctx.Err() == nil {
				c.log.WarnContext(ctx, "gc: pass", "err", err)
			}
			if r.did() {
				c.log.InfoContext(ctx, "gc: pass", r.attrs()...)
			}
		}
	}()
}

// Stop ends the background passes, waiting for the one in progress.
func (c *Collector) Stop() {
	if c.stop != nil {
		c.stop()
		<-c.done
	}
}

// Runs lists the most recent passes (manual ones, and scheduled ones that
// did something), newest first.
func (c *Collector) Runs(ctx context.Context, limit int) ([]Report, error) {
	runs, err := c.db.GCRuns(ctx, limit)
	out := make([]Report, len(runs))
	for i, r := range runs {
		out[i] = Report{r}
	}
	return out, err
}

// Report is what a pass did (or, dry, would do), as recorded.
type Report struct{ metadata.GCRun }

func (r Report) did() bool {
	return r.BlobsDeleted+r.ManifestsDeleted+r.LinksRemoved+r.Errors > 0
}

func (r Report) attrs() []any {
	return []any{"cause", r.Cause, "dryRun", r.DryRun, "blobsDeleted", r.BlobsDeleted, "bytesFreed", r.BytesFreed,
		"manifestsDeleted", r.ManifestsDeleted, "linksRemoved", r.LinksRemoved, "postponed", r.Postponed,
		"errors", r.Errors, "duration", fmt.Sprintf("%.3fs", r.Duration)}
}

// String is the report as the CLI prints it.
func (r Report) String() string {
	verb := "deleted"
	if r.DryRun {
		verb = "would delete"
	}
	s := fmt.Sprintf("gc %s %d blobs (%d bytes), %d manifests and %d repository links in %.3fs; %d reviews postponed (used since)",
		verb, r.BlobsDeleted, r.BytesFreed, r.ManifestsDeleted, r.LinksRemoved, r.Duration, r.Postponed)
	if r.Errors > 0 {
		s += fmt.Sprintf("; %d errors (retried later): %s", r.Errors, r.Error)
	}
	return s
}

func errText(errs []string) string {
	if len(errs) > 3 {
		errs = append(errs[:3], fmt.Sprintf("and %d more", len(errs)-3))
	}
	return strings.Join(errs, "; ")
}
