package index

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage"
	"github.com/berth-registry/berth/storage/metadata"
)

// blobCommitted records a blob an upload or a mount just linked into repo
// (desc names it by its canonical digest): in use now, linked by repo, its
// link and data reviewed by garbage collection gc.delay from now. Every
// path that commits a blob calls it before it answers. When a collector
// had deleted the blob's data, the data must be there again (the upload
// wrote it); if a collector removed it after the commit found it present,
// the client is told to upload it again. how is the audit record of the
// commit (metadata.EventBlobPush or EventBlobMount).
//
// The link storage got is durable before the index records it: the index
// keeps no storage_sync row for it (see storage.WithDeferredSyncs).
func (ix *Indexer) blobCommitted(ctx context.Context, repo string, desc v1.Descriptor, how string) error {
	if err := storage.Barrier(ctx); err != nil {
		return storage.Observe(ctx, err)
	}
	wasDeleted, rows, err := ix.db.LinkBlob(ctx, repo, metadata.Blob{Digest: desc.Digest.String(), Size: desc.Size, MediaType: desc.MediaType}, how, ix.sync.owner)
	if err != nil {
		return ix.dbError(ctx, err)
	}
	if len(rows) > 0 {
		ix.settle(ctx, rows) // a collector may have deleted the link distribution just wrote
	}
	if !wasDeleted {
		return nil
	}
	path, err := blobDataPath(desc.Digest)
	if err != nil {
		return err
	}
	if _, err := ix.storageDriver().Stat(ctx, path); err != nil {
		if IsPathNotFound(err) {
			return errcode.ErrorCodeBlobUploadInvalid.WithMessage("garbage collection removed this blob while it was being uploaded: upload it again")
		}
		return err
	}
	return nil
}

// ForgetBlob drops a blob whose data garbage collection deleted from
// distribution's blob descriptor cache (this process's, or the shared one
// in Redis).
func (ix *Indexer) ForgetBlob(ctx context.Context, d string) {
	ns := ix.plainNamespace()
	if ns == nil {
		return
	}
	if c, ok := ns.BlobStatter().(interface {
		Clear(context.Context, digest.Digest) error
	}); ok {
		_ = c.Clear(ctx, digest.Digest(d))
	}
}

// BlobStored reports whether d's data is in storage. distribution's blob
// descriptor cache may remember a blob garbage collection deleted (its
// global entries are not forgotten); the pull-through cache, which indexes
// a manifest before its layers are stored, asks here before it serves a
// blob as held. A yes is remembered for a tenth of the GC delay (at most a
// minute): a collector deletes data only when it was unused for the delay.
func (ix *Indexer) BlobStored(ctx context.Context, d digest.Digest) bool {
	key := "data@" + d.String()
	if ix.seen.fresh(key, min(max(ix.gcDelay/10, 10*time.Millisecond), time.Minute)) {
		return true
	}
	if ix.statData(ctx, d) != nil {
		return false
	}
	ix.seen.mark(key)
	return true
}

// statData stats d's data in storage (an error when it cannot).
func (ix *Indexer) statData(ctx context.Context, d digest.Digest) error {
	path, err := blobDataPath(d)
	if err != nil {
		return err
	}
	driver := ix.storageDriver()
	if driver == nil {
		return errors.New("index: storage not initialised")
	}
	_, err = driver.Stat(ctx, path)
	return err
}

// linkSeen restarts the review of repo's link of a blob a client found
// there, at most once a minute (or a tenth of the GC delay, if shorter)
// per link and instance: a client then has at least nine tenths of the
// delay to push the manifest that uses it, and a write per HEAD would slow
// pushes and pulls for nothing.
//
// It reports whether the index still links the blob into repo. A link a
// collector has just removed may still be in storage until its copy is
// brought in line: a client told it is there would push a manifest that
// then finds it gone, so it is told the blob is not there and uploads it.
func (ix *Indexer) linkSeen(ctx context.Context, repo, d string) (bool, error) {
	key := repo + "@" + d
	every := min(max(ix.gcDelay/10, 10*time.Millisecond), time.Minute)
	if ix.seen.fresh(key, every) {
		return true, nil // refreshed within a tenth of the delay: no collector can have it
	}
	linked, err := ix.db.TouchLink(ctx, repo, d)
	if err != nil {
		return false, ix.dbError(ctx, err)
	}
	if linked {
		ix.seen.mark(key)
	}
	return linked, nil
}

// SetGCDelay tells the index garbage collection's delay (gc.delay).
func (ix *Indexer) SetGCDelay(d time.Duration) { ix.gcDelay = d }

// seenMemo remembers when links were last refreshed, bounded in size.
type seenMemo struct {
	mu sync.Mutex
	m  map[string]time.Time
}

// fresh reports whether key was marked within every.
func (s *seenMemo) fresh(key string, every time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[key]
	return ok && time.Since(t) < every
}

// has reports whether key is marked.
func (s *seenMemo) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[key]
	return ok
}

// forget drops key.
func (s *seenMemo) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// mark notes that key was refreshed now.
func (s *seenMemo) mark(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) > 1<<16 {
		s.m = map[string]time.Time{}
	}
	s.m[key] = time.Now()
}

// manifestLinked reports whether repo holds a manifest of digest d.
func (ix *Indexer) manifestLinked(ctx context.Context, repo, d string) (bool, error) {
	_, err := ix.db.LinkedManifest(ctx, repo, d)
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		return false, nil
	case err != nil:
		return false, ix.dbError(ctx, err)
	}
	return true, nil
}
