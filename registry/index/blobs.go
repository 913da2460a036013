package index

import (
	"context"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// blobCommitted records a blob an upload or a mount just linked into repo
// (desc names it by its canonical digest): in use now, linked by repo, its
// link and data reviewed by garbage collection gc.delay from now. Every
// path that commits a blob calls it before it answers. When a collector
// had deleted the blob's data, the data must be there again (the upload
// wrote it); if a collector removed it after the commit found it present,
// the client is told to upload it again.
func (ix *Indexer) blobCommitted(ctx context.Context, repo string, desc v1.Descriptor) error {
	wasDeleted, err := ix.db.LinkBlob(ctx, repo, metadata.Blob{Digest: desc.Digest.String(), Size: desc.Size, MediaType: desc.MediaType})
	if err != nil {
		return ix.dbError(ctx, err)
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

// linkSeen restarts the review of repo's link of a blob a client found
// there, at most once a minute (or a tenth of the GC delay, if shorter)
// per link and instance: a client then has at least nine tenths of the
// delay to push the manifest that uses it, and a write per HEAD would slow
// pushes and pulls for nothing.
func (ix *Indexer) linkSeen(ctx context.Context, repo, d string) {
	every := min(max(ix.gcDelay/10, 10*time.Millisecond), time.Minute)
	if !ix.seen.due(repo+"@"+d, every) {
		return
	}
	if err := ix.db.TouchLink(ctx, repo, d); err != nil {
		ix.log.DebugContext(ctx, "index: refreshing a blob link", "repository", repo, "digest", d, "err", err)
	}
}

// SetGCDelay tells the index garbage collection's delay (gc.delay).
func (ix *Indexer) SetGCDelay(d time.Duration) { ix.gcDelay = d }

// seenMemo remembers when links were last refreshed, bounded in size.
type seenMemo struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (s *seenMemo) due(key string, every time.Duration) bool {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) > 1<<16 {
		s.m = map[string]time.Time{}
	}
	if t, ok := s.m[key]; ok && now.Sub(t) < every {
		return false
	}
	s.m[key] = now
	return true
}
