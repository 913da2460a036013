package index

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage/metadata"
)

// One truth. The index decides what repositories, manifests and tags
// exist; storage keeps a copy of their links, written after the index
// commits, for disaster recovery and `berth reindex`. Every change commits
// the keys it affects as storage_sync rows together with the change, then
// brings each key's storage copy in line (mirror) and deletes the rows. A
// mirror writes what the index says *now* and reads the index again
// afterwards, repeating until what it wrote is still what the index says:
// so whatever the interleaving of writers (in this process, another one, or
// another replica), the last storage write of a key is followed by a check
// that it matches the index, and no lock is held across storage calls.
// Rows whose writer died (kill -9, a crash) are found through the instances
// table and mirrored by any live instance; rows a live writer could not
// mirror (storage down, disk full) are retried by that writer's reconciler.

const (
	mirrorTries      = 8
	syncInterval     = 5 * time.Second  // heartbeat and repair pass
	instanceDeadline = 15 * time.Second // no heartbeat for this long: dead
	abandonedAfter   = 10 * time.Minute // any row older than this is repaired
	mirrorBudget     = 2 * time.Minute  // a writer's mirroring gives up (row stays)
	doneFlushEvery   = 200 * time.Millisecond
)

// errUnsettled is a key whose index value kept changing under its mirror.
var errUnsettled = errors.New("index: storage copy did not settle")

// syncer is the Indexer's part that keeps storage in line with the index.
type syncer struct {
	owner   string // this process's instance id
	started time.Time

	mu    sync.Mutex
	done  []int64            // rows mirrored, to delete in the next batch
	retry []metadata.Sync    // rows this instance failed to mirror
	wake  chan struct{}      // a flush or repair is wanted now
	stop  context.CancelFunc // ends the background loop
	wg    sync.WaitGroup

	poolOnce sync.Once            // SettleAsync's workers
	pool     chan []metadata.Sync // batches for them
	pending  sync.WaitGroup       // batches not written yet
	// The backlog: when the pool is full, SettleAsync's rows wait in the
	// table (they are there already) and a drainer feeds them to the pool.
	// backlog is true while it runs (under mu); drained is closed when it
	// ends; stopDrain ends it early.
	backlog   bool
	drained   chan struct{}
	stopDrain context.CancelFunc
	// holds counts HoldCopies' holders; resume is closed when the last
	// lets go (under mu).
	holds  int
	resume chan struct{}
}

func newSyncer() *syncer {
	var b [6]byte
	_, _ = rand.Read(b[:])
	host, _ := os.Hostname()
	return &syncer{owner: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:])), started: time.Now(), wake: make(chan struct{}, 1)}
}

// Owner is this process's instance id, recorded on the rows it writes.
func (ix *Indexer) Owner() string { return ix.sync.owner }

// Settle is settle for changes made outside the index middleware (garbage
// collection), whose sync rows are recorded.
func (ix *Indexer) Settle(ctx context.Context, rows []metadata.Sync) { ix.settle(ctx, rows) }

// settle mirrors the keys of a committed change and retires their rows; a
// key that cannot be mirrored now is left to the reconciler. It never
// fails the request: the change is committed, and the index is what
// every reader sees.
func (ix *Indexer) settle(ctx context.Context, rows []metadata.Sync) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), mirrorBudget)
	defer cancel()
	keys := make([]metadata.SyncKey, len(rows))
	for i, r := range rows {
		keys[i] = r.SyncKey
	}
	failed := ix.mirrorAll(ctx, uniqueKeys(keys))
	for k, err := range failed {
		ix.log.WarnContext(ctx, "index: storage copy left to the reconciler", "key", k.String(), "err", err)
	}
	ix.sync.mu.Lock()
	defer ix.sync.mu.Unlock()
	for _, r := range rows {
		if _, ok := failed[r.SyncKey]; ok {
			r.Owner = ix.sync.owner
			ix.sync.retry = append(ix.sync.retry, r)
			continue
		}
		ix.sync.done = append(ix.sync.done, r.ID)
	}
}

func uniqueKeys(keys []metadata.SyncKey) []metadata.SyncKey {
	seen := map[metadata.SyncKey]bool{}
	out := keys[:0:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// mirror brings one key's storage copy in line with the index.
func (ix *Indexer) mirror(ctx context.Context, k metadata.SyncKey) error {
	named, err := reference.WithName(k.Repository)
	if err != nil {
		return nil // no storage copy can exist for a name distribution refuses
	}
	var lastErr error
	for range mirrorTries {
		want, err := ix.indexValue(ctx, k)
		if err != nil {
			return err
		}
		if lastErr = ix.writeCopy(ctx, named, k, want); lastErr != nil {
			// A concurrent writer of the same path (a directory removed
			// under a link being written, or not empty when removed): again,
			// after a moment.
			time.Sleep(time.Duration(1+mrand.IntN(10)) * time.Millisecond)
			continue
		}
		again, err := ix.indexValue(ctx, k)
		if err != nil {
			return err
		}
		if again == want {
			return nil
		}
	}
	if lastErr != nil {
		return lastErr
	}
	return errUnsettled
}

// indexValue is what the index says key k is: the digest a tag points at,
// or the canonical digest of a manifest or blob the repository links ("":
// none).
func (ix *Indexer) indexValue(ctx context.Context, k metadata.SyncKey) (string, error) {
	var v string
	var err error
	switch k.Kind {
	case metadata.SyncTag:
		v, err = ix.db.TagTarget(ctx, k.Repository, k.Name)
	case metadata.SyncManifest:
		v, err = ix.db.LinkedManifest(ctx, k.Repository, k.Name)
	case metadata.SyncLayer:
		v, err = ix.db.LinkedBlob(ctx, k.Repository, k.Name)
	default:
		return "", fmt.Errorf("index: unknown storage sync kind %q", k.Kind)
	}
	if errors.Is(err, metadata.ErrNotFound) {
		return "", nil
	}
	return v, err
}

// writeCopy makes storage hold key k as the index says: tag → want, or the
// manifest linked (want is its canonical digest); want "" removes it.
func (ix *Indexer) writeCopy(ctx context.Context, named reference.Named, k metadata.SyncKey, want string) error {
	driver := ix.storageDriver()
	plain := ix.plainNamespace()
	if driver == nil || plain == nil {
		return errors.New("index: storage not initialised")
	}
	if k.Kind == metadata.SyncTag {
		repo, err := plain.Repository(ctx, named)
		if err != nil {
			return err
		}
		ts := repo.Tags(ctx)
		if want == "" {
			if err := ts.Untag(ctx, k.Name); err != nil && !IsPathNotFound(err) && !isUnknownTag(err) {
				return err
			}
			return nil
		}
		// The tag's current link only. distribution also keeps, per tag,
		// an index of every manifest it pointed at (tags/<tag>/index/),
		// which neither it (v3) nor berth reads: leaving it out halves what
		// a tag costs in storage to write and to delete (a directory chain,
		// a file and an fsync each). Untag removes either layout.
		return driver.PutContent(ctx, tagLinkPath(k.Repository, k.Name), []byte(want))
	}
	d, err := digest.Parse(k.Name)
	if err != nil {
		return nil // never stored
	}
	kind := metadata.AliasManifest
	if k.Kind == metadata.SyncLayer {
		kind = metadata.AliasBlob
	}
	link := aliasLinkPath(k.Repository, kind, d)
	if want == "" && k.Kind == metadata.SyncLayer {
		// Through distribution, which also forgets the link in its blob
		// descriptor cache (a cached link would keep serving the blob).
		repo, err := plain.Repository(ctx, named)
		if err != nil {
			return err
		}
		if err := repo.Blobs(ctx).Delete(ctx, d); err != nil && !errors.Is(err, distribution.ErrBlobUnknown) && !IsPathNotFound(err) {
			return err
		}
		return nil
	}
	if want == "" {
		// The link only: removing its directory would race with a push of
		// the same manifest writing its link there (distribution writes a
		// temporary file beside it and renames it).
		if err := driver.Delete(ctx, link); err != nil && !IsPathNotFound(err) {
			return err
		}
		return nil
	}
	// Read, not only found: a link a power loss cut short (written with
	// its sync deferred, storage.WithDeferredSyncs) is written again.
	if b, err := driver.GetContent(ctx, link); err == nil && string(b) == want {
		return nil
	} else if err != nil && !IsPathNotFound(err) {
		return err
	}
	return driver.PutContent(ctx, link, []byte(want))
}

func isUnknownTag(err error) bool {
	var ut distribution.ErrTagUnknown
	return errors.As(err, &ut)
}

// plainNamespace gives the registry middleware's unwrapped namespace to the
// indexer (mirrors write storage, not the index).
func (ix *Indexer) plainNamespace() distribution.Namespace {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.plain
}

// restoreRepository writes back the storage copy of a repository the index
// holds (after its directory was removed while a push re-created it): its
// manifests' revision links, its tags and its blob links.
func (ix *Indexer) restoreRepository(ctx context.Context, name reference.Named) error {
	var keys []metadata.SyncKey
	for kind, list := range map[string]func(context.Context, string) ([]string, error){
		metadata.SyncManifest: ix.db.RepositoryArtifactDigests,
		metadata.SyncTag:      ix.db.AllTags,
		metadata.SyncLayer:    ix.db.RepositoryBlobDigests,
	} {
		names, err := list(ctx, name.Name())
		if err != nil {
			return err
		}
		for _, n := range names {
			keys = append(keys, metadata.SyncKey{Repository: name.Name(), Kind: kind, Name: n})
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ix.log.WarnContext(ctx, "index: a push re-created a repository being deleted; restoring its storage links", "repository", name.Name())
	ids, err := ix.db.AddSync(ctx, ix.sync.owner, keys...)
	if err != nil {
		return err
	}
	ix.settle(ctx, metadata.SyncRows(keys, ids))
	return nil
}

// NewOffline is an Indexer over storage's own namespace and driver, for the
// offline tools (check, reindex): its changes go straight to storage.
func NewOffline(db *metadata.DB, log *slog.Logger, ns distribution.Namespace, driver storagedriver.StorageDriver) *Indexer {
	ix := New(db, log, false)
	ix.setNamespace(ns, ns, driver)
	return ix
}
