package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// S3Options select the S3 backend.
type S3Options struct {
	Client    *minio.Client
	Bucket    string
	KeyPrefix string // what comes before a storage path in a key (the driver's root directory)
	PartSize  int64  // storage.s3.chunkSize
	// Timeout bounds each S3 call, and how long a part upload may make no
	// progress while bytes wait for it.
	Timeout time.Duration
	// CopyPartSize is the largest part S3 copies in one call (0: 5 GiB,
	// S3's limit; at least 10 MiB, so an object split in parts of equal
	// size has none under 5 MiB; tests set less).
	CopyPartSize int64
}

const maxCopyPart = 5 << 30

// NewS3 returns a Store writing uploads as multipart uploads, in the
// layout distribution's S3 driver uses (the multipart upload of an
// upload's data key), with driver (the guarded S3 driver) for the rest.
//
// Parts stream from the request to S3: with a Content-Length, each part is
// sent as its bytes arrive, never held; without one, one part at a time is
// buffered. A request's parts are PartSize bytes, its last part absorbs a
// remainder under 5 MiB, so a chunked upload's parts stay valid whatever
// its PATCH sizes; a request after one that ended in a part under 5 MiB
// first rebases the upload on the object of its parts (see rebase). A
// PUT that names a sha256 digest and carries the whole blob streams
// straight to the blob's own key (an incomplete multipart upload is
// invisible to readers) and completes only if the digest matches: nothing
// is copied at commit. Other uploads are completed at
// their data key and copied into place by S3 (server-side) at commit,
// as distribution does.
func NewS3(driver storagedriver.StorageDriver, o S3Options) *Store {
	prefix := ""
	if p := strings.Trim(o.KeyPrefix, "/"); p != "" {
		prefix = p
	}
	copySize := int64(maxCopyPart)
	if o.CopyPartSize > 0 {
		copySize = min(max(o.CopyPartSize, 2*minPart), maxCopyPart)
	}
	return &Store{driver: driver, back: &s3Backend{
		core: minio.Core{Client: o.Client}, bucket: o.Bucket, prefix: prefix,
		partSize: max(o.PartSize, minPart), timeout: o.Timeout, driver: driver,
		copySize: copySize,
	}}
}

type s3Backend struct {
	core     minio.Core
	bucket   string
	prefix   string
	partSize int64
	timeout  time.Duration
	copySize int64 // the largest part copied in one call
	driver   storagedriver.StorageDriver
}

// key is the object key of a storage path (distribution's s3Path).
func (b *s3Backend) key(path string) string { return strings.TrimLeft(b.prefix+path, "/") }

func (b *s3Backend) putState(ctx context.Context, path string, data []byte) error {
	return b.driver.PutContent(ctx, path, data)
}

func (b *s3Backend) open(ctx context.Context, repo, id string, h Hint) (sink, error) {
	path := dataPath(repo, id)
	s := &s3Sink{b: b, ctx: ctx, path: path, key: b.key(path), remaining: h.Length}
	uploadID, err := b.findUpload(ctx, s.key)
	if err != nil {
		return nil, err
	}
	if uploadID != "" {
		s.uploadID = uploadID
		if s.parts, s.stored, s.tail, err = b.listParts(ctx, s.key, uploadID); err != nil {
			return nil, err
		}
		if len(s.parts) > 0 && s.parts[0].PartNumber == 1 {
			return s, nil
		}
		// No first part: a new upload, or a rebase stopped before it had
		// copied the completed object in (it copies the first part last,
		// see copyObject); then the object is the data.
	}
	fi, err := b.driver.Stat(ctx, path)
	var nf storagedriver.PathNotFoundError
	switch {
	case err == nil:
		// Completed (by a commit's read-back, or a rebase under way or cut
		// short): the object holds the upload's data; more data rebases it.
		s.object, s.stored, s.parts, s.tail = true, fi.Size(), nil, 0
	case !errors.As(err, &nf):
		return nil, err
	case s.uploadID != "":
		return s, nil
	case h.Digest != "" && h.Digest.Validate() == nil && h.Digest.Algorithm() == stateAlg:
		s.final = h.Digest
		s.key = b.key(blobDataPath(h.Digest))
	}
	return s, nil
}

func (b *s3Backend) purge(ctx context.Context, before time.Time, dryRun bool) (int, error) {
	n := 0
	var errs []error
	// MinIO lists multipart uploads by exact key or all of them, not by a
	// shorter prefix: all of them, then.
	prefix := b.key(v2Root + "/")
	for u := range b.core.ListIncompleteUploads(ctx, b.bucket, "", true) {
		if u.Err != nil {
			return n, u.Err
		}
		if !strings.HasPrefix(u.Key, prefix) || !u.Initiated.Before(before) {
			continue
		}
		n++
		if dryRun {
			continue
		}
		actx, cancel := b.bounded(ctx)
		if err := b.core.AbortMultipartUpload(actx, b.bucket, u.Key, u.UploadID); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	return n, errors.Join(errs...)
}

// findUpload returns the multipart upload in progress at key ("": none).
func (b *s3Backend) findUpload(ctx context.Context, key string) (string, error) {
	ctx, cancel := b.bounded(ctx)
	defer cancel()
	res, err := b.core.ListMultipartUploads(ctx, b.bucket, key, "", "", "", 1000)
	if err != nil {
		return "", err
	}
	for _, u := range res.Uploads {
		if u.Key == key {
			return u.UploadID, nil
		}
	}
	return "", nil
}

// listParts returns the parts of a multipart upload, their total size and
// the size of the last one.
func (b *s3Backend) listParts(ctx context.Context, key, uploadID string) ([]minio.CompletePart, int64, int64, error) {
	ctx, cancel := b.bounded(ctx)
	defer cancel()
	var parts []minio.CompletePart
	var total, last int64
	marker := 0
	for {
		res, err := b.core.ListObjectParts(ctx, b.bucket, key, uploadID, marker, 1000)
		if err != nil {
			return nil, 0, 0, err
		}
		for _, p := range res.ObjectParts {
			parts = append(parts, minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag})
			total += p.Size
			last = p.Size
		}
		if !res.IsTruncated {
			return parts, total, last, nil
		}
		marker = res.NextPartNumberMarker
	}
}

// s3Sink is the data of an upload during one request.
type s3Sink struct {
	b         *s3Backend
	ctx       context.Context
	path, key string        // the upload's data path; the key parts go to
	final     digest.Digest // the parts go straight to this blob's key
	uploadID  string        // "" until the first part
	parts     []minio.CompletePart
	stored    int64 // bytes in completed parts (or in the object)
	tail      int64 // size of the last part stored before this request
	object    bool  // the data is a completed object at the data key
	remaining int64 // bytes the request announced and has not sent (-1: unknown)
	cur       *partStream
	buf       *bytes.Buffer // the part being filled (unknown length, or after a short rebase)
}

func (s *s3Sink) size() int64 { return s.stored }

func (s *s3Sink) phase() int { return 0 }

func (s *s3Sink) depth() int { return pipeDepth }

func (s *s3Sink) resumable() bool { return s.final == "" }

// flush stores what the request sent: a part cut short (the client sent
// less than it announced) is dropped, a buffered one is uploaded, even when
// the client has gone away: its bytes are here.
func (s *s3Sink) flush(context.Context) error {
	if s.cur != nil {
		return s.endPart(io.ErrUnexpectedEOF) // nothing is buffered while a part streams
	}
	return s.putBuffered(context.WithoutCancel(s.ctx))
}

// complete completes the multipart upload.
func (s *s3Sink) complete(ctx context.Context) error {
	ctx, cancel := s.b.bounded(ctx)
	defer cancel()
	parts := slices.Clone(s.parts)
	slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	_, err := s.b.core.CompleteMultipartUpload(ctx, s.b.bucket, s.key, s.uploadID, parts, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	return err
}

// reader completes the upload at its data key (more data would rebase it;
// the commit follows) and reads it back.
func (s *s3Sink) reader(ctx context.Context) (io.ReadCloser, error) {
	if s.final != "" {
		return nil, errors.New("upload: streamed to its blob, nothing to read back")
	}
	s.dropSpare(ctx)
	if !s.object && s.uploadID != "" {
		if err := s.complete(ctx); err != nil {
			return nil, err
		}
		s.object, s.uploadID = true, ""
	}
	if !s.object {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	return s.b.driver.Reader(ctx, s.path, 0)
}

func (s *s3Sink) commit(ctx context.Context, canonical digest.Digest) error {
	blob := blobDataPath(canonical)
	if s.final != "" {
		if s.final != canonical {
			return fmt.Errorf("upload: streamed to %s but committed as %s", s.final, canonical)
		}
		if s.uploadID == "" {
			return s.b.driver.PutContent(ctx, blob, nil)
		}
		if err := s.complete(ctx); err != nil {
			return err
		}
		s.uploadID = ""
		return nil
	}
	s.dropSpare(ctx)
	if !s.object && s.uploadID == "" {
		return s.b.driver.PutContent(ctx, blob, nil) // nothing was sent: the empty blob
	}
	if !s.object {
		if err := s.complete(ctx); err != nil {
			return err
		}
		s.object, s.uploadID = true, ""
	}
	if _, err := s.b.driver.Stat(ctx, blob); err == nil {
		return nil // stored already; the upload's copy goes with its directory
	}
	return s.b.driver.Move(ctx, s.path, blob)
}

// dropSpare aborts the empty multipart upload a rebase cut short left
// beside the completed object that holds the data (best effort: the purge
// of stale uploads aborts it otherwise).
func (s *s3Sink) dropSpare(ctx context.Context) {
	if !s.object || s.uploadID == "" {
		return
	}
	actx, cancel := s.b.bounded(ctx)
	defer cancel()
	_ = s.b.core.AbortMultipartUpload(actx, s.b.bucket, s.key, s.uploadID)
	s.uploadID = ""
}

func (s *s3Sink) discard(ctx context.Context) error {
	var err error
	if s.cur != nil {
		err = s.endPart(errors.New("upload cancelled"))
	}
	if s.uploadID != "" {
		actx, cancel := s.b.bounded(ctx)
		err = errors.Join(err, s.b.core.AbortMultipartUpload(actx, s.b.bucket, s.key, s.uploadID))
		cancel()
		s.uploadID = ""
	}
	return err
}

// release ends the request. What streamed to a blob's key is dropped
// unless the request committed it (the upload itself holds nothing); the
// abort runs in the background, so a failing backend does not hold the
// answer back a second time.
func (s *s3Sink) release() error {
	if s.cur != nil {
		_ = s.endPart(errors.New("upload: request ended"))
	}
	if s.final != "" && s.uploadID != "" {
		key, id := s.key, s.uploadID
		s.uploadID, s.parts, s.stored = "", nil, 0
		go func() {
			ctx, cancel := s.b.bounded(context.WithoutCancel(s.ctx))
			defer cancel()
			_ = s.b.core.AbortMultipartUpload(ctx, s.b.bucket, key, id)
		}()
	}
	return nil
}
