package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/upload"
)

// Single flight. The first cold pull of a blob in a replica starts one
// download (a flight) that outlives the request: it takes a lease in the
// database (so another replica's flight of the same blob waits for it and
// then serves what it stored) and reads the upstream's answer into a blob
// upload through the index (berth's upload store: the commit verifies the
// digest and indexes the blob like a push). Every client of the blob in the
// replica, the first included, reads what the upload stored so far: on a
// filesystem its own data file, elsewhere a copy in an unlinked temporary
// file; all of them stream while it downloads. The last byte is held back
// until the digest is verified, so no client gets all of a blob that was
// not what it said it was; a failed download ends every reader's answer
// short (the client sees an error) and stores nothing.

const (
	leaseTTL     = 30 * time.Second // a flight's lease, renewed every leaseTTL/3
	flightLimit  = 2 * time.Hour    // longest download
	leaseWait    = 200 * time.Millisecond
	readChunk    = 1 << 20          // of a reader's copies to its client
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
	data    *os.File // what readers read, open once the first bytes are stored
	users   int      // holders of data: the download and each reader
	size    int64    // from the upstream's Content-Length (-1: unknown)
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
	f := &flight{key: key, started: make(chan struct{}), size: -1, users: 1}
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
		f.leave() // readers still streaming keep the data open
	}
	lease, holder := "proxy:"+f.key, s.holder()
	ok, err := s.waitLease(ctx, f, lease, holder, repo, dgst, start)
	if err != nil || !ok {
		finish(!ok && err == nil, err)
		return
	}
	defer func() { _ = s.db.ReleaseLease(context.WithoutCancel(ctx), lease, holder) }()
	if s.blobLocal(ctx, repo, dgst) {
		finish(true, nil)
		return
	}
	if f.relayed() {
		// The other replica's download reached this one's clients whole,
		// but it did not store the blob: the next pull fetches it again.
		finish(false, fmt.Errorf("the replica that downloaded %s did not store it", dgst))
		return
	}
	s.log.DebugContext(ctx, "proxy: fetching a blob from the upstream", "repository", repo, "digest", dgst, "upstream", b.URL, "owner", s.owner)
	err = s.download(ctx, f, b, repo, dgst, lease, holder, start)
	if err != nil {
		upstreamErrors.Inc(1)
		s.log.WarnContext(ctx, "proxy: blob download failed: nothing stored", "repository", repo, "digest", dgst, "upstream", b.URL, "err", err)
	}
	finish(false, err)
}

// waitLease takes the flight's lease, or waits while another replica
// holds it: ok false (and no error) when that replica stored the blob.
// Meanwhile this replica's clients stream the other's download (relay).
func (s *Service) waitLease(ctx context.Context, f *flight, lease, holder, repo string, dgst digest.Digest, start func()) (ok bool, err error) {
	deadline := time.Now().Add(maxWaitLocal)
	tried := false
	for {
		got, err := s.db.TryLease(ctx, lease, holder, leaseTTL)
		if err != nil || got {
			return got, err
		}
		if s.blobLocal(ctx, repo, dgst) {
			return false, nil
		}
		if !tried {
			tried = true
			if _, err := s.relay(ctx, f, lease, repo, dgst, start); err != nil {
				return false, err
			}
			// Relayed or not, the other replica's commit decides; a relay
			// may take long, so the wait for it starts over.
			deadline = time.Now().Add(maxWaitLocal)
			continue
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

// download copies the upstream's blob into a blob upload, telling readers
// what it stored as it goes, and commits the upload once all of it arrived.
// With berth's upload store (storage/upload) each byte is hashed once, by
// the upload, and read once from the upstream, written once and read once
// per client; reading, storing and hashing overlap.
func (s *Service) download(ctx context.Context, f *flight, b *binding, repo string, dgst digest.Digest, lease, holder string, start func()) error {
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
	bw, err := s.blobWriter(upload.WithHint(ctx, upload.Hint{Digest: dgst, Length: resp.ContentLength}), repo)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_ = bw.Cancel(context.WithoutCancel(ctx))
		}
	}()
	tw, fast := unwrapWriter(bw).(teeWriter)
	fw := &follower{f: f}
	if fast && tw.LocalPath() != "" {
		fw.path = tw.LocalPath()
	} else if fw.spill, err = s.spillFile(); err != nil {
		return err
	}
	f.mu.Lock()
	f.size = resp.ContentLength
	if fw.spill != nil {
		f.data = fw.spill
	}
	f.mu.Unlock()
	start()
	src := &progressReader{s: s, ctx: ctx, src: resp.Body, follow: fw, lease: lease, holder: holder, renewed: time.Now()}
	var n int64
	var got digest.Digest
	if fast {
		n, err = tw.ReadFromTee(src, fw)
		if sum, ok := tw.Sum(dgst.Algorithm()); ok {
			got = sum
		}
	} else {
		// One ReadFrom: distribution's writer keeps its digest state right
		// only when it sees the whole stream at once (as a PATCH does).
		verifier := dgst.Algorithm().Hash()
		src.copies = io.MultiWriter(fw, verifier)
		n, err = bw.ReadFrom(src)
		got = digest.NewDigest(dgst.Algorithm(), verifier)
	}
	err = errors.Join(err, src.failed(), fw.failed()) // the lease, the readers' copy
	misses.Inc(1)
	bytesFetched.Inc(float64(n))
	if err != nil {
		return fmt.Errorf("reading the blob from the upstream after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("the upstream sent %d of %d bytes", n, resp.ContentLength)
	}
	if got != "" && got != dgst {
		return fmt.Errorf("the upstream sent content of digest %s for %s", got, dgst)
	}
	// The clients have all they need: the commit (which syncs the data to
	// disk on a filesystem, and moves it: readers keep their descriptor)
	// does not keep them waiting, unless only the commit can tell the digest.
	if got != "" {
		f.release()
	}
	if _, err := bw.Commit(ctx, v1.Descriptor{Digest: dgst, Size: n, MediaType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("storing the blob: %w", err)
	}
	committed = true
	f.release()
	return nil
}

// teeWriter is berth's upload writer (storage/upload.Writer): it copies
// what it stores to a tee and knows the digest before the commit.
type teeWriter interface {
	ReadFromTee(r io.Reader, tee io.Writer) (int64, error)
	Sum(alg digest.Algorithm) (digest.Digest, bool)
	LocalPath() string
}

// unwrapWriter is the writer under the index's wrappers.
func unwrapWriter(bw distribution.BlobWriter) distribution.BlobWriter {
	for {
		u, ok := bw.(interface {
			Unwrap() distribution.BlobWriter
		})
		if !ok {
			return bw
		}
		bw = u.Unwrap()
	}
}

// progressReader reads the upstream's body, copying each chunk to copies
// when set (else the upload's tee tells the readers), renewing the lease as
// it goes and stopping when the readers' copy failed.
type progressReader struct {
	s       *Service
	ctx     context.Context
	src     io.Reader
	follow  *follower
	copies  io.Writer
	lease   string
	holder  string
	renewed time.Time
	err     error
}

func (p *progressReader) Read(b []byte) (int, error) {
	if err := p.follow.failed(); err != nil {
		return 0, err
	}
	k, rerr := p.src.Read(b)
	if k > 0 && p.copies != nil {
		if _, err := p.copies.Write(b[:k]); err != nil {
			p.err = err
			return 0, err
		}
	}
	if rerr == nil && time.Since(p.renewed) > leaseTTL/3 {
		p.renewed = time.Now()
		if ok, err := p.s.db.TryLease(p.ctx, p.lease, p.holder, leaseTTL); err != nil || !ok {
			p.err = fmt.Errorf("lost the download's lease: %v", err)
			return k, p.err
		}
	}
	return k, rerr
}

func (p *progressReader) failed() error { return p.err }

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
