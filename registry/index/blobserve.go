package index

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
)

// Blob GETs are served here rather than by distribution's blob server,
// which puts every blob read behind a new 4 MiB bufio.Reader: for small
// blobs that allocation (and the GC it drives) was most of the CPU of a
// pull. Everything else is as distribution does it: the repository's own
// Stat (so a blob not linked into the repository is unknown), the same
// headers, http.ServeContent for ranges and conditional requests, and
// driver errors returned to distribution's handler. With storage redirects
// on, distribution serves (it may redirect).

// blobCacheControl is distribution's Cache-Control for blobs (one year).
const blobCacheControl = "max-age=31536000"

// copyBufs are the buffers blob bodies are copied through.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// blobDataPath is where distribution keeps a blob's bytes (its path spec:
// <root>/v2/blobs/<algorithm>/<first two hex digits>/<hex>/data).
func blobDataPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	hex := d.Encoded()
	return "/docker/registry/v2/blobs/" + d.Algorithm().String() + "/" + hex[:2] + "/" + hex + "/data", nil
}

// serveBlob serves the canonical blob desc names; it reports false when
// distribution should serve instead.
func (ix *Indexer) serveBlob(ctx context.Context, w http.ResponseWriter, r *http.Request, dgst digest.Digest, size int64, mediaType string) (bool, error) {
	driver := ix.storageDriver()
	if driver == nil || ix.redirects {
		return false, nil
	}
	path, err := blobDataPath(dgst)
	if err != nil {
		return false, nil
	}
	content := &driverReadSeeker{ctx: ctx, driver: driver, path: path, size: size}
	defer content.Close()
	// Data gone from storage while the index still links it (lost by hand
	// or by the backend; garbage collection unlinks first) is found before
	// the answer starts, so the blob is unknown, 404, and forgotten, rather
	// than a 503 (or a body cut short) as if storage were down: a GET whose
	// body starts at one place opens it there; one whose body may come in
	// another shape (several ranges, a suffix, an ETag that does not match)
	// asks storage whether the data is there.
	var missing error
	if start, ok := bodyStart(r, size); ok {
		content.rc, content.err = driver.Reader(ctx, path, start)
		content.at = start
		missing = content.err
	} else if mayHaveBody(r, dgst, size) {
		_, missing = driver.Stat(ctx, path)
	}
	if errors.As(missing, new(storagedriver.PathNotFoundError)) {
		ix.seen.forget("data@" + dgst.String())
		ix.gone.mark(dgst.String())
		ix.ForgetBlob(ctx, dgst.String())
		// distribution's handler reports any error of a blob's serving
		// as 500: the answer is given here.
		return true, errcode.ServeJSON(w, errcode.ErrorCodeBlobUnknown.WithDetail(dgst))
	}
	h := w.Header()
	h.Set("ETag", `"`+dgst.String()+`"`)
	h.Set("Cache-Control", blobCacheControl)
	if h.Get("Docker-Content-Digest") == "" {
		h.Set("Docker-Content-Digest", dgst.String())
	}
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", mediaType)
	}
	if h.Get("Content-Length") == "" {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
	}
	http.ServeContent(&readFromWriter{ResponseWriter: w}, r, dgst.String(), time.Time{}, content)
	return true, nil
}

// bodyStart is where the body of a GET of a blob of size bytes starts: 0,
// or the start of its one range ("bytes=N-" or "bytes=N-M"); false when
// the answer may have no body (HEAD, a conditional request) or another
// shape of range, which open lazily.
func bodyStart(r *http.Request, size int64) (int64, bool) {
	if r.Method != http.MethodGet || r.Header.Get("If-None-Match") != "" || size <= 0 {
		return 0, false
	}
	rng := r.Header.Get("Range")
	if rng == "" {
		return 0, true
	}
	spec, ok := strings.CutPrefix(rng, "bytes=")
	first, _, dash := strings.Cut(spec, "-")
	if !ok || !dash || strings.Contains(spec, ",") {
		return 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, false
	}
	return start, true
}

// mayHaveBody reports whether a GET that bodyStart does not open may
// still answer with a body: any GET of a non-empty blob but one whose
// If-None-Match names the blob (a 304).
func mayHaveBody(r *http.Request, dgst digest.Digest, size int64) bool {
	if r.Method != http.MethodGet || size <= 0 {
		return false
	}
	for _, tag := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == `"`+dgst.String()+`"` {
			return false
		}
	}
	return true
}

// dataGone reports whether a GET found d's data gone from storage and it
// is still not back: distribution's descriptor cache of the repository
// would go on describing it (a HEAD would say it is there, and a client
// would not push it again).
func (ix *Indexer) dataGone(ctx context.Context, d digest.Digest) bool {
	if !ix.gone.has(d.String()) {
		return false
	}
	if err := ix.statData(ctx, d); !errors.As(err, new(storagedriver.PathNotFoundError)) {
		ix.gone.forget(d.String()) // back (pushed or fetched again), or storage cannot tell
		return false
	}
	return true
}

// driverReadSeeker reads a blob through the storage driver, opening the
// stream lazily at the current offset (so HEAD and 304 answers open
// nothing, and a range opens at its start) unless serveBlob opened it
// where the body starts; seeks only move the offset (http.ServeContent seeks
// to the end and back to learn the size), the stream follows at a read.
type driverReadSeeker struct {
	ctx    context.Context
	driver storagedriver.StorageDriver
	path   string
	size   int64
	off    int64
	rc     io.ReadCloser // open at offset at
	at     int64
	err    error // opening rc failed before the answer (the first read returns it)
}

func (s *driverReadSeeker) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	if s.err != nil {
		err := s.err
		s.err = nil
		return 0, err
	}
	if s.rc != nil && s.at != s.off {
		_ = s.rc.Close()
		s.rc = nil
	}
	if s.rc == nil {
		rc, err := s.driver.Reader(s.ctx, s.path, s.off)
		if err != nil {
			return 0, err
		}
		s.rc, s.at = rc, s.off
	}
	n, err := s.rc.Read(p)
	s.off += int64(n)
	s.at = s.off
	if err == io.EOF && s.off < s.size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil && err != io.EOF && s.ctx.Err() == nil {
		// Storage failed, not the client: a cut-short answer is an error
		// in the access log, never a success.
		storage.Mark(s.ctx, storage.Unavailable)
	}
	return n, err
}

func (s *driverReadSeeker) Seek(offset int64, whence int) (int64, error) {
	next := offset
	switch whence {
	case io.SeekCurrent:
		next += s.off
	case io.SeekEnd:
		next += s.size
	}
	if next < 0 {
		return s.off, errors.New("seek before the start of the blob")
	}
	s.off = next // the stream moves, if need be, at the next read
	return next, nil
}

func (s *driverReadSeeker) Close() error {
	if s.rc == nil {
		return nil
	}
	err := s.rc.Close()
	s.rc = nil
	return err
}

// readFromWriter copies bodies through pooled 1 MiB buffers: io.CopyN in
// http.ServeContent would otherwise allocate a small buffer per request.
type readFromWriter struct{ http.ResponseWriter }

func (w *readFromWriter) ReadFrom(src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(writerOnly{w.ResponseWriter}, src, *bp)
}

func (w *readFromWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides ReadFrom, so CopyBuffer uses the buffer it is given.
type writerOnly struct{ io.Writer }
