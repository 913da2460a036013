// Package upload is berth's push path: blob uploads written in
// distribution's storage layout (so distribution's handlers, purger and
// resumption interoperate with them) without distribution's blob writer.
// Each byte of an upload is read from the request once, written to storage
// once and hashed once on the way; the sha256 state is kept with the upload
// after every request, so a chunked upload continues on any replica and the
// commit never reads the upload back.
//
// Filesystem: large appends go to the file with O_DIRECT where the
// filesystem allows it (no page-cache copy, the disk writes while the next
// buffer is hashed), the rest through the page cache, one fdatasync per
// request; a commit is a rename. S3: parts stream from the request to a
// multipart upload (see s3.go).
package upload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/google/uuid"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
)

// Store creates and resumes uploads.
type Store struct {
	driver storagedriver.StorageDriver // small files, moves, deletes (guarded)
	back   backend
}

// backend is where upload data lives.
type backend interface {
	// open opens the data of upload id for this request, positioned at
	// its end (creating it when there is none).
	open(ctx context.Context, repo, id string, h Hint) (sink, error)
	// putState stores a small file that need not survive a crash.
	putState(ctx context.Context, path string, b []byte) error
	// purge drops what uploads started before a time left behind outside
	// their directories (see PurgeStale).
	purge(ctx context.Context, before time.Time, dryRun bool) (int, error)
}

// sink is an upload's data during one request. write is called from one
// goroutine at a time; the rest from the request's.
type sink interface {
	size() int64             // bytes stored (after flush) or accepted so far
	phase() int              // where in an aligned buffer the next byte should sit
	depth() int              // buffers to keep in flight
	write(ps [][]byte) error // append ps in order
	// flush makes everything accepted durable; size is then what is stored.
	flush(ctx context.Context) error
	// resumable: flushed data stays with the upload for the next request
	// (false when it streamed to the blob's own key).
	resumable() bool
	// reader reads the flushed data back (only when no hash state was kept).
	reader(ctx context.Context) (io.ReadCloser, error)
	// commit makes the flushed data the blob canonical names.
	commit(ctx context.Context, canonical digest.Digest) error
	discard(ctx context.Context) error // drop the data
	release() error                    // end of request: keep the data
}

// FilesystemOptions select the filesystem backend.
type FilesystemOptions struct {
	// RootDirectory is the filesystem driver's root.
	RootDirectory string
	// Buffered turns direct I/O off (all writes through the page cache).
	Buffered bool
}

// NewFilesystem returns a Store writing under root, with driver (the
// guarded filesystem driver on the same root) for everything else.
func NewFilesystem(driver storagedriver.StorageDriver, o FilesystemOptions) *Store {
	return &Store{driver: driver, back: &fsBackend{root: o.RootDirectory, direct: !o.Buffered}}
}

// Create starts an upload in repo, as distribution does: a new id and its
// startedat file (read by the upload purger). The file is written without
// fsync (putState; distribution's driver syncs it and its directory: two
// syncs an upload's POST waits for, each queued behind whatever else the
// disk is writing): an upload whose startedat a power loss took is unknown
// to its client, which starts another, as after any failed upload.
func (s *Store) Create(ctx context.Context, repo string) (*Writer, error) {
	id := uuid.Must(uuid.NewV7()).String()
	now := time.Now().UTC()
	if err := s.back.putState(ctx, startedAtPath(repo, id), []byte(now.Format(time.RFC3339))); err != nil {
		return nil, storage.Observe(ctx, err) // a full disk is 507, as through the guarded driver
	}
	return &Writer{s: s, ctx: ctx, repo: repo, id: id, startedAt: now, hint: hintFrom(ctx)}, nil
}

// Resume continues upload id of repo; distribution.ErrBlobUploadUnknown
// when there is none.
func (s *Store) Resume(ctx context.Context, repo, id string) (*Writer, error) {
	b, err := s.driver.GetContent(ctx, startedAtPath(repo, id))
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return nil, distribution.ErrBlobUploadUnknown
	}
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339, string(b))
	if err != nil {
		return nil, fmt.Errorf("upload %s: startedat: %w", id, err)
	}
	w := &Writer{s: s, ctx: ctx, repo: repo, id: id, startedAt: t, hint: hintFrom(ctx)}
	if err := w.open(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// PurgeStale aborts the multipart uploads started before the given time
// and never completed: a crash in the middle of a push leaves them (its
// parts stay in the bucket, unseen, until they are aborted), and the
// purge of abandoned upload directories does not see them, least of all
// those streaming to a blob's own key. Nothing to do on the filesystem.
// It returns how many it aborted (would abort, with dryRun).
func (s *Store) PurgeStale(ctx context.Context, before time.Time, dryRun bool) (int, error) {
	return s.back.purge(ctx, before, dryRun)
}
