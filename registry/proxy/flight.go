package proxy

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Single flight. The first cold pull of a blob in a replica starts one
// download (a flight) that outlives the request: it takes a lease in the
// database (so another replica's flight of the same blob waits for it and
// then serves what it stored), reads the upstream's answer into a
// temporary file and, in the same pass, into a blob upload through the
// index (distribution's BlobWriter: the commit verifies the digest and
// indexes the blob like a push). Every client of the blob in the replica,
// the first included, reads the growing file: all of them stream while it
// downloads. The last byte is held back until the commit verified the
// digest, so no client gets all of a blob that was not what it said it was;
// a failed download ends every reader's answer short (the client sees an
// error) and stores nothing.

const (
	leaseTTL     = 30 * time.Second // a flight's lease, renewed every leaseTTL/3
	flightLimit  = 2 * time.Hour    // longest download
	leaseWait    = 200 * time.Millisecond
	readChunk    = 256 << 10
	maxWaitLocal = 10 * time.Minute // a follower of another replica's flight
)

type flights struct {
	fmu sync.Mutex
	m   map[string]*flight
}

// flight is one download of a blob.
type flight struct {
	key     string
	started chan struct{} // closed once size/local/err (before streaming) is known

	mu      sync.Mutex
	cond    *sync.Cond
	file    string // the growing temporary file
	size    int64  // from the upstream's Content-Length (-1: unknown)
	written int64
	// verified: all of it arrived and matches the digest; readers get the
	// last byte (storing it may still fail: then only the cache misses it)
	verified bool
	done     bool
	local    bool // stored by another replica meanwhile: serve it locally
	err      error
}

// avail is how many bytes readers may have: all once the digest is
// verified, else all but the last.
func (f *flight) avail() int64 {
	if f.verified {
		return f.written
	}
	return max(f.written-1, 0)
}

// blobFlight returns the flight of repo's blob dgst, starting it when
// none is under way in this replica.
func (s *Service) blobFlight(ctx context.Context, b *binding, repo string, dgst digest.Digest) *flight {
	key := repo + "@" + dgst.String()
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if f := s.m[key]; f != nil {
		return f
	}
	f := &flight{key: key, started: make(chan struct{}), size: -1}
	f.cond = sync.NewCond(&f.mu)
	s.m[key] = f
	// The download serves every client of the blob: it does not end with
	// the first one's request, only with its own time limit.
	fctx, cancel := s.background(ctx, flightLimit)
	go func() {
		defer s.wg.Done()
		defer cancel()
		s.fly(fctx, f, b, repo, dgst)
	}()
	return f
}

// fly runs a flight to its end.
func (s *Service) fly(ctx context.Context, f *flight, b *binding, repo string, dgst digest.Digest) {
	var startOnce sync.Once
	start := func() { startOnce.Do(func() { close(f.started) }) }
	finish := func(local bool, err error) {
		f.mu.Lock()
		f.done, f.local, f.err = true, local, err
		f.cond.Broadcast()
		f.mu.Unlock()
		start()
		s.fmu.Lock()
		delete(s.m, f.key)
		s.fmu.Unlock()
		if f.file != "" {
			_ = os.Remove(f.file) // readers keep their open descriptors
		}
	}
	lease := "proxy:" + f.key
	ok, err := s.waitLease(ctx, lease, repo, dgst)
	if err != nil || !ok {
		finish(!ok && err == nil, err)
		return
	}
	defer func() { _ = s.db.ReleaseLease(context.WithoutCancel(ctx), lease, s.owner) }()
	if s.blobLocal(ctx, repo, dgst) {
		finish(true, nil)
		return
	}
	s.log.DebugContext(ctx, "proxy: fetching a blob from the upstream", "repository", repo, "digest", dgst, "upstream", b.URL, "owner", s.owner)
	err = s.download(ctx, f, b, repo, dgst, lease, start)
	if err != nil {
		upstreamErrors.Inc(1)
		s.log.WarnContext(ctx, "proxy: blob download failed: nothing stored", "repository", repo, "digest", dgst, "upstream", b.URL, "err", err)
	}
	finish(false, err)
}

// waitLease takes the flight's lease, or waits while another replica
// holds it: ok false (and no error) when that replica stored the blob.
func (s *Service) waitLease(ctx context.Context, lease, repo string, dgst digest.Digest) (ok bool, err error) {
	deadline := time.Now().Add(maxWaitLocal)
	for {
		got, err := s.db.TryLease(ctx, lease, s.owner, leaseTTL)
		if err != nil || got {
			return got, err
		}
		if s.blobLocal(ctx, repo, dgst) {
			return false, nil
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("another replica's download of %s did not finish within %s", dgst, maxWaitLocal)
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(leaseWait):
		}
	}
}

// download copies the upstream's blob into the temporary file and a blob
// upload, and commits the upload once all of it arrived.
func (s *Service) download(ctx context.Context, f *flight, b *binding, repo string, dgst digest.Digest, lease string, start func()) error {
	if err := dgst.Validate(); err != nil {
		return err
	}
	up := b.upstreamName(repo)
	resp, err := b.up.do(ctx, http.MethodGet, "/v2/"+up+"/blobs/"+dgst.String(), "repository:"+up+":pull", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &errStatus{status: resp.StatusCode, url: b.URL + "/v2/" + up + "/blobs/" + dgst.String()}
	}
	dir, err := s.tempDir()
	if err != nil {
		return fmt.Errorf("proxy: temporary directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "blob-*")
	if err != nil {
		return fmt.Errorf("proxy: temporary file: %w", err)
	}
	defer tmp.Close()
	bw, err := s.blobWriter(ctx, repo)
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_ = bw.Cancel(context.WithoutCancel(ctx))
		}
	}()
	f.mu.Lock()
	f.file, f.size = tmp.Name(), resp.ContentLength
	f.mu.Unlock()
	start()
	verifier := dgst.Algorithm().Hash()
	// One ReadFrom: distribution's writer keeps its digest state right only
	// when it sees the whole stream at once (as an upload's PATCH does).
	src := &progressReader{s: s, ctx: ctx, f: f, src: resp.Body, copies: io.MultiWriter(tmp, hashWriter{verifier}), lease: lease, renewed: time.Now()}
	n, err := bw.ReadFrom(src)
	if err == nil {
		err = src.err // a failure of the temporary file or the lease
	}
	misses.Inc(1)
	bytesFetched.Inc(float64(n))
	if err != nil {
		return fmt.Errorf("reading the blob from the upstream after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("the upstream sent %d of %d bytes", n, resp.ContentLength)
	}
	if got := digest.NewDigest(dgst.Algorithm(), verifier); got != dgst {
		return fmt.Errorf("the upstream sent content of digest %s for %s", got, dgst)
	}
	// The clients have all they need: the commit (which syncs the data to
	// disk on a filesystem) does not keep them waiting.
	f.mu.Lock()
	f.verified = true
	f.cond.Broadcast()
	f.mu.Unlock()
	if _, err := bw.Commit(ctx, v1.Descriptor{Digest: dgst, Size: n, MediaType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("storing the blob: %w", err)
	}
	committed = true
	return nil
}

type hashWriter struct{ h hash.Hash }

func (w hashWriter) Write(p []byte) (int, error) { return w.h.Write(p) }

// progressReader reads the upstream's body into the blob writer, copying
// each chunk to the temporary file (telling readers) and the verifier, and
// renewing the lease as it goes.
type progressReader struct {
	s       *Service
	ctx     context.Context
	f       *flight
	src     io.Reader
	copies  io.Writer
	lease   string
	n       int64
	renewed time.Time
	err     error
}

func (p *progressReader) Read(b []byte) (int, error) {
	if len(b) > readChunk {
		b = b[:readChunk]
	}
	k, rerr := p.src.Read(b)
	if k > 0 {
		if _, err := p.copies.Write(b[:k]); err != nil {
			p.err = err
			return 0, err
		}
		p.n += int64(k)
		p.f.mu.Lock()
		p.f.written = p.n
		p.f.cond.Broadcast()
		p.f.mu.Unlock()
	}
	if rerr == nil && time.Since(p.renewed) > leaseTTL/3 {
		p.renewed = time.Now()
		if ok, err := p.s.db.TryLease(p.ctx, p.lease, p.s.owner, leaseTTL); err != nil || !ok {
			p.err = fmt.Errorf("lost the download's lease: %v", err)
			return k, p.err
		}
	}
	return k, rerr
}

// blobWriter starts a blob upload into repo through the index.
func (s *Service) blobWriter(ctx context.Context, repo string) (distribution.BlobWriter, error) {
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return nil, err
	}
	return dr.Blobs(ctx).Create(ctx)
}

// repository is repo in distribution's namespace with the index applied.
func (s *Service) repository(ctx context.Context, repo string) (distribution.Repository, error) {
	ns := s.ix.Namespace()
	if ns == nil {
		return nil, errors.New("proxy: the registry is not initialised")
	}
	named, err := reference.WithName(repo)
	if err != nil {
		return nil, err
	}
	return ns.Repository(ctx, named)
}

// blobLocal reports whether repo holds dgst (stored and linked).
func (s *Service) blobLocal(ctx context.Context, repo string, dgst digest.Digest) bool {
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return false
	}
	if _, err = dr.Blobs(ctx).Stat(ctx, dgst); err != nil {
		return false
	}
	// A blob evicted and deleted by garbage collection may still be in
	// distribution's descriptor cache, and linked again by a manifest
	// fetched since: only stored data counts.
	return s.ix.BlobStored(ctx, dgst)
}

// stream writes the flight's bytes to w as they arrive. It returns an
// error when the download failed or the client went away.
func (f *flight) stream(ctx context.Context, w io.Writer, file *os.File) error {
	defer file.Close()
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	buf := make([]byte, readChunk)
	var off int64
	for {
		f.mu.Lock()
		for off >= f.avail() && !f.done && !(f.verified && off >= f.written) && ctx.Err() == nil {
			f.cond.Wait()
		}
		avail, done, ferr, verified := f.avail(), f.done, f.err, f.verified
		f.mu.Unlock()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case off >= avail && (done || verified):
			if ferr != nil && !verified {
				return ferr
			}
			return nil // all of it, verified
		case ferr != nil && !verified:
			return ferr
		}
		k, err := file.ReadAt(buf[:min(avail-off, int64(len(buf)))], off)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			off += int64(k)
			if fl, ok := w.(http.Flusher); ok && off == avail {
				fl.Flush()
			}
		}
		if err != nil && err != io.EOF {
			return err
		}
	}
}

// open opens the growing file for a reader. local: the flight is over and
// the blob is stored (serve it from storage).
func (f *flight) open() (file *os.File, local bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.done && (f.local || f.err == nil):
		return nil, true, nil
	case f.done:
		return nil, false, f.err
	}
	file, err = os.Open(f.file)
	return file, false, err
}

// contentLength is the header value of a flight's size ("" unknown).
func (f *flight) contentLength() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.size < 0 {
		return ""
	}
	return strconv.FormatInt(f.size, 10)
}
