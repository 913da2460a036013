package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/distribution/distribution/v3"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage"
)

// Writer is one blob upload, in place of distribution's blobWriter: the
// bytes of each request go once from the socket to storage, hashed on the
// way (pump); the hash state is kept with the upload after every request,
// so the commit never reads the upload back unless that state was lost; a
// commit verifies the digest, moves the data into place and links it.
type Writer struct {
	s         *Store
	ctx       context.Context // the request's; io.Writer methods have none
	repo, id  string
	startedAt time.Time
	hint      Hint

	sink   sink      // the data, open for this request (nil: not yet, or closed)
	size   int64     // bytes stored, as of the last time sink was open
	h      hash.Hash // sha256 of the first hashed bytes; nil: unknown
	hashed int64     // bytes h has seen
	alt    hash.Hash // the hinted algorithm's hash from byte 0, when not sha256
	kept   int64     // the offset whose hash state is stored (0: none)
	done   bool      // committed or cancelled
}

var _ distribution.BlobWriter = (*Writer)(nil)

// ID is the upload's identifier (its directory name).
func (w *Writer) ID() string { return w.id }

// StartedAt is when the upload was created.
func (w *Writer) StartedAt() time.Time { return w.startedAt }

// Size is the number of bytes stored so far.
func (w *Writer) Size() int64 {
	if w.sink != nil {
		return w.sink.size()
	}
	return w.size
}

// open opens the data for this request and works out the hash state.
func (w *Writer) open(ctx context.Context) error {
	if w.sink != nil {
		return nil
	}
	sk, err := w.s.back.open(ctx, w.repo, w.id, w.hint)
	if err != nil {
		return storage.Observe(ctx, err)
	}
	w.sink, w.size = sk, sk.size()
	if w.h != nil && w.hashed == w.size {
		return nil
	}
	if w.h, err = w.s.loadState(ctx, w.repo, w.id, w.size); err != nil {
		_ = sk.release()
		w.sink = nil
		return storage.Observe(ctx, err)
	}
	w.hashed = w.size
	if w.size == 0 && w.hint.Digest != "" && w.hint.Digest.Algorithm() != stateAlg && w.hint.Digest.Algorithm().Available() {
		w.alt = w.hint.Digest.Algorithm().Hash()
	}
	return nil
}

// ReadFrom appends everything r yields (distribution's handlers copy
// request bodies with it).
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	return w.ReadFromTee(r, nil)
}

// ReadFromTee is ReadFrom that also copies every byte stored, in order, to
// tee (when not nil), from a goroutine of its own: reading, storing,
// hashing and the copy overlap. tee's errors do not stop the upload; tee
// reports its own (to whoever reads r, say).
func (w *Writer) ReadFromTee(r io.Reader, tee io.Writer) (int64, error) {
	if w.done {
		return 0, errors.New("upload: write after commit or cancel")
	}
	if err := w.open(w.ctx); err != nil {
		return 0, err
	}
	var taps []io.Writer
	for _, h := range []hash.Hash{w.h, w.alt} {
		if h != nil {
			taps = append(taps, h)
		}
	}
	if tee != nil {
		taps = append(taps, tee)
	}
	n, rerr, werr := pump(r, w.sink.phase(), w.sink.depth(), w.sink.write, taps)
	w.hashed += n
	if werr != nil {
		return n, storage.Observe(w.ctx, werr)
	}
	return n, rerr
}

// Sum is the digest by alg of everything written so far, when the upload
// hashed it from its first byte with alg (sha256 always, another algorithm
// when the upload's hint named a digest of it); ok false: only a commit,
// reading the upload back, can tell.
func (w *Writer) Sum(alg digest.Algorithm) (d digest.Digest, ok bool) {
	h := w.h
	if alg != stateAlg {
		if alg != w.hint.Digest.Algorithm() {
			return "", false
		}
		h = w.alt
	}
	if h == nil || w.hashed != w.Size() {
		return "", false
	}
	return digest.NewDigest(alg, h), true
}

// LocalPath is the file the upload's data is appended to when storage is
// a local filesystem, "" otherwise: the bytes a ReadFromTee handed its tee
// are in it, at their offsets, readable while the upload goes on.
func (w *Writer) LocalPath() string {
	if b, ok := w.s.back.(*fsBackend); ok {
		return b.full(dataPath(w.repo, w.id))
	}
	return ""
}

// Write appends p (through the same aligned buffers as ReadFrom).
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.ReadFrom(bytes.NewReader(p))
	return int(n), err
}

// Close ends a request: what was written is made durable and the hash
// state for it is kept, so the next request (on any replica) resumes it.
// That holds when the client went away mid-request too (its context is
// cancelled then): what arrived is kept, within the storage timeouts.
func (w *Writer) Close() error {
	if w.done || w.sink == nil {
		return nil
	}
	ctx := context.WithoutCancel(w.ctx)
	err := w.sink.flush(ctx)
	w.size = w.sink.size()
	if err == nil && w.h != nil && w.hashed == w.size && w.size > 0 && w.size != w.kept && w.sink.resumable() {
		if err = w.s.storeState(ctx, w.repo, w.id, w.size, w.h); err == nil {
			w.kept = w.size
		}
	}
	err = errors.Join(err, w.sink.release())
	w.size = w.sink.size()
	w.sink = nil
	return storage.Observe(w.ctx, err)
}

// Commit verifies the upload against desc.Digest (and desc.Size when set)
// and stores it as that blob in the repository. A mismatch removes the
// upload and returns distribution.ErrBlobInvalidDigest.
func (w *Writer) Commit(ctx context.Context, desc v1.Descriptor) (v1.Descriptor, error) {
	if w.done {
		return v1.Descriptor{}, errors.New("upload: already committed or cancelled")
	}
	if desc.Digest == "" {
		return v1.Descriptor{}, distribution.ErrBlobInvalidDigest{Reason: errors.New("cannot validate against empty digest")}
	}
	if err := desc.Digest.Validate(); err != nil {
		return v1.Descriptor{}, distribution.ErrBlobInvalidDigest{Digest: desc.Digest, Reason: err}
	}
	if err := w.open(ctx); err != nil {
		return v1.Descriptor{}, err
	}
	if err := w.sink.flush(ctx); err != nil {
		return v1.Descriptor{}, storage.Observe(ctx, err)
	}
	size := w.sink.size()
	if desc.Size > 0 && desc.Size != size {
		return v1.Descriptor{}, distribution.ErrBlobInvalidLength
	}
	canonical, ok, err := w.verify(ctx, desc.Digest, size)
	if err != nil {
		return v1.Descriptor{}, storage.Observe(ctx, err)
	}
	if !ok {
		_ = w.Cancel(ctx)
		return v1.Descriptor{}, distribution.ErrBlobInvalidDigest{Digest: desc.Digest, Reason: errors.New("content does not match digest")}
	}
	if err := w.sink.commit(ctx, canonical); err != nil {
		return v1.Descriptor{}, storage.Observe(ctx, err)
	}
	w.sink = nil
	links := []digest.Digest{canonical}
	if desc.Digest != canonical {
		links = append(links, desc.Digest) // an alias (sha512), as distribution links it
	}
	for _, d := range links {
		if err := w.s.driver.PutContent(ctx, layerLinkPath(w.repo, d), []byte(canonical)); err != nil {
			return v1.Descriptor{}, err
		}
	}
	if err := w.removeResources(ctx); err != nil {
		return v1.Descriptor{}, err
	}
	w.done = true
	out := desc
	out.Digest, out.Size = canonical, size
	if out.MediaType == "" {
		out.MediaType = "application/octet-stream"
	}
	return out, nil
}

// verify works out the sha256 digest of the size bytes stored and whether
// they match want. The hashes kept on the way answer; only when they cannot
// (the hash state was lost, or want uses another algorithm that was not
// hashed from the first byte) is the upload read back, as distribution
// always does for such digests.
func (w *Writer) verify(ctx context.Context, want digest.Digest, size int64) (digest.Digest, bool, error) {
	var canonical, other digest.Digest
	if w.h != nil && w.hashed == size {
		canonical = digest.NewDigest(stateAlg, w.h)
	}
	if w.alt != nil && w.hashed == size && want.Algorithm() != stateAlg {
		other = digest.NewDigest(want.Algorithm(), w.alt)
	}
	var hs []hash.Hash
	var h256, hw hash.Hash
	if canonical == "" {
		h256 = stateAlg.Hash()
		hs = append(hs, h256)
	}
	if want.Algorithm() != stateAlg && other == "" {
		hw = want.Algorithm().Hash()
		hs = append(hs, hw)
	}
	if len(hs) > 0 {
		rc, err := w.sink.reader(ctx)
		if err != nil {
			return "", false, err
		}
		bs := buffers.take(1)
		n, err := io.CopyBuffer(io.MultiWriter(writers(hs)...), rc, bs[0])
		buffers.give(bs)
		rc.Close()
		if err != nil {
			return "", false, err
		}
		if n != size {
			return "", false, fmt.Errorf("upload: read %d of %d bytes back", n, size)
		}
		if h256 != nil {
			canonical = digest.NewDigest(stateAlg, h256)
		}
		if hw != nil {
			other = digest.NewDigest(want.Algorithm(), hw)
		}
	}
	if want.Algorithm() == stateAlg {
		return canonical, want == canonical, nil
	}
	return canonical, want == other, nil
}

func writers(hs []hash.Hash) []io.Writer {
	ws := make([]io.Writer, len(hs))
	for i, h := range hs {
		ws[i] = h
	}
	return ws
}

// Cancel drops the upload and everything stored for it.
func (w *Writer) Cancel(ctx context.Context) error {
	if w.done {
		return nil
	}
	var err error
	if w.sink != nil {
		err = w.sink.discard(ctx)
		w.sink = nil
	}
	w.done = true
	return storage.Observe(ctx, errors.Join(err, w.removeResources(ctx)))
}

func (w *Writer) removeResources(ctx context.Context) error {
	err := w.s.driver.Delete(ctx, uploadDir(w.repo, w.id))
	var nf storagedriver.PathNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	return err
}

// Reader reads what the upload holds so far.
func (w *Writer) Reader() (io.ReadCloser, error) {
	return w.s.driver.Reader(w.ctx, dataPath(w.repo, w.id), 0)
}
