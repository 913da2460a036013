package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3"
	_ "github.com/distribution/distribution/v3/manifest/manifestlist" // registers Docker manifest lists
	_ "github.com/distribution/distribution/v3/manifest/ocischema"    // registers OCI manifests and indexes
	_ "github.com/distribution/distribution/v3/manifest/schema2"      // registers Docker image manifests
	diststorage "github.com/distribution/distribution/v3/registry/storage"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata"
)

// maxManifest bounds a manifest fetched from an upstream (distribution's
// own limit for a manifest put).
const maxManifest = 4 << 20

// Pusher is who manifests and blobs fetched from an upstream are recorded
// as pushed by.
const Pusher = "proxy"

// PrepareManifest makes repo's manifest ref current before the registry
// answers a GET or HEAD of it: a digest berth does not hold is fetched; a
// tag it does not hold, or last checked more than the binding's ttl ago, is
// checked against the upstream (a HEAD) and fetched when it moved. When the
// upstream cannot answer, a tag berth holds is served as it is (logged and
// counted). It reports whether it answered the request itself (an error);
// false leaves it to the registry. The caller checked the client may pull.
func (s *Service) PrepareManifest(w http.ResponseWriter, r *http.Request, repo, ref string) bool {
	ctx := r.Context()
	b := s.lookup(ctx, repo)
	if b == nil {
		return false
	}
	var err error
	if d, derr := digest.Parse(ref); derr == nil {
		err = s.prepareDigest(ctx, b, repo, d)
	} else {
		err = s.prepareTag(ctx, b, repo, ref)
	}
	if err != nil {
		writeUpstreamError(w, err, "MANIFEST_UNKNOWN", "manifest unknown to the upstream registry")
		return true
	}
	return false
}

func (s *Service) prepareDigest(ctx context.Context, b *binding, repo string, d digest.Digest) error {
	if s.manifestLocal(ctx, repo, d) {
		hits.Inc(1)
		return nil
	}
	return s.once(ctx, "m:"+repo+"@"+d.String(), func(ctx context.Context) error {
		if s.manifestLocal(ctx, repo, d) {
			return nil
		}
		return s.fetchManifest(ctx, b, repo, d.String(), "", d)
	})
}

func (s *Service) prepareTag(ctx context.Context, b *binding, repo, tag string) error {
	local := s.localTag(ctx, repo, tag)
	if local != "" && s.tagFresh(ctx, b, repo, tag) {
		hits.Inc(1)
		return nil
	}
	return s.once(ctx, "t:"+repo+":"+tag, func(ctx context.Context) error {
		local := s.localTag(ctx, repo, tag)
		if local != "" && s.tagFresh(ctx, b, repo, tag) {
			return nil // checked by another replica meanwhile
		}
		remote, err := s.headManifest(ctx, b, repo, tag)
		switch {
		case err != nil && local != "":
			upstreamErrors.Inc(1)
			staleServed.Inc(1)
			s.log.WarnContext(ctx, "proxy: upstream unavailable, serving the cached tag", "repository", repo, "tag", tag,
				"digest", local, "upstream", b.URL, "err", err)
			return nil
		case err != nil:
			upstreamErrors.Inc(1)
			return err
		case remote == local:
			hits.Inc(1)
			return s.markChecked(ctx, repo, tag)
		}
		var want digest.Digest
		if d, err := digest.Parse(remote); err == nil {
			want = d
		}
		ref := tag
		if want != "" {
			ref = want.String()
		}
		if err := s.fetchManifest(ctx, b, repo, ref, tag, want); err != nil {
			if local != "" && unavailable(err) {
				staleServed.Inc(1)
				s.log.WarnContext(ctx, "proxy: upstream failed, serving the cached tag", "repository", repo, "tag", tag, "err", err)
				return nil
			}
			return err
		}
		return s.markChecked(ctx, repo, tag)
	})
}

// tagFresh reports whether repo's tag was checked against the upstream
// less than the binding's ttl ago: by this replica (remembered), or by any
// (the database).
func (s *Service) tagFresh(ctx context.Context, b *binding, repo, tag string) bool {
	key := repo + ":" + tag
	s.checks.Lock()
	at, ok := s.checks.m[key]
	s.checks.Unlock()
	if ok && time.Since(at) < b.ttl() {
		return true
	}
	at, err := s.db.ProxyTagChecked(ctx, repo, tag)
	if err != nil || time.Since(at) >= b.ttl() {
		return false
	}
	s.rememberCheck(key, at)
	return true
}

// markChecked records that repo's tag was checked now.
func (s *Service) markChecked(ctx context.Context, repo, tag string) error {
	now := time.Now()
	if err := s.db.MarkProxyTagChecked(ctx, repo, tag, now); err != nil {
		return err
	}
	s.rememberCheck(repo+":"+tag, now)
	return nil
}

func (s *Service) rememberCheck(key string, at time.Time) {
	s.checks.Lock()
	defer s.checks.Unlock()
	if s.checks.m == nil || len(s.checks.m) > 1<<16 {
		s.checks.m = map[string]time.Time{}
	}
	s.checks.m[key] = at
}

// Local reports whether berth answers a GET or HEAD of repo's manifest or
// blob (kind "manifests" or "blobs") by ref without the upstream: it
// holds it, and a tag was checked within the ttl. It is cheap (no
// authorization, which the registry does for the answer), so the hot path
// of a warm pull stays as it is for any project.
func (s *Service) Local(ctx context.Context, kind, repo, ref string) bool {
	b := s.lookup(ctx, repo)
	if b == nil {
		return true
	}
	d, err := digest.Parse(ref)
	var ok bool
	switch {
	case kind == "blobs":
		ok = err == nil && s.blobLocal(ctx, repo, d)
	case err == nil:
		ok = s.manifestLocal(ctx, repo, d)
	default:
		ok = s.localTag(ctx, repo, ref) != "" && s.tagFresh(ctx, b, repo, ref)
	}
	if ok {
		hits.Inc(1)
	}
	return ok
}

// headManifest is the digest the upstream names for tag ("" when it does
// not say).
func (s *Service) headManifest(ctx context.Context, b *binding, repo, tag string) (string, error) {
	up := b.upstreamName(repo)
	resp, err := b.up.do(ctx, http.MethodHead, "/v2/"+up+"/manifests/"+tag, "repository:"+up+":pull", http.Header{"Accept": {manifestAccept}})
	if err != nil {
		return "", err
	}
	drain(resp)
	if resp.StatusCode != http.StatusOK {
		return "", &errStatus{status: resp.StatusCode, url: b.URL + "/v2/" + up + "/manifests/" + tag}
	}
	return resp.Header.Get("Docker-Content-Digest"), nil
}

// fetchManifest gets ref from the upstream (checked against want when it
// is a digest) and stores it, tagged tag when not empty.
func (s *Service) fetchManifest(ctx context.Context, b *binding, repo, ref, tag string, want digest.Digest) error {
	up := b.upstreamName(repo)
	resp, err := b.up.do(ctx, http.MethodGet, "/v2/"+up+"/manifests/"+ref, "repository:"+up+":pull", http.Header{"Accept": {manifestAccept}})
	if err != nil {
		upstreamErrors.Inc(1)
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode != http.StatusNotFound {
			upstreamErrors.Inc(1)
		}
		return &errStatus{status: resp.StatusCode, url: b.URL + "/v2/" + up + "/manifests/" + ref}
	}
	payload, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		upstreamErrors.Inc(1)
		return fmt.Errorf("reading the manifest from the upstream: %w", err)
	}
	if len(payload) > maxManifest {
		return fmt.Errorf("the upstream's manifest %s is over %d bytes", ref, maxManifest)
	}
	if want != "" && want.Algorithm().FromBytes(payload) != want {
		return fmt.Errorf("the upstream sent a manifest that does not match %s", want)
	}
	misses.Inc(1)
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return s.storeManifest(ctx, b, repo, tag, strings.TrimSpace(mt), payload)
}

// storeManifest stores a manifest fetched from the upstream through the
// index, as a push would (tag included), without requiring its blobs: they
// are fetched when clients ask for them. An image's config is fetched first,
// so the index describes its platform.
func (s *Service) storeManifest(ctx context.Context, b *binding, repo, tag, mediaType string, payload []byte) error {
	m, desc, err := distribution.UnmarshalManifest(mediaType, payload)
	if err != nil {
		return fmt.Errorf("the upstream's manifest: %w", err)
	}
	if cfg, ok := configOf(m); ok && !s.blobLocal(ctx, repo, cfg) {
		f := s.blobFlight(ctx, b, repo, cfg)
		<-f.started
		if err := f.wait(ctx); err != nil {
			return fmt.Errorf("the image's config %s: %w", cfg, err)
		}
	}
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return err
	}
	ms, err := dr.Manifests(ctx, diststorage.SkipLayerVerification())
	if err != nil {
		return err
	}
	// Its blobs are fetched when clients ask for them, those garbage
	// collection deleted (evicted earlier) too.
	ctx = metadata.WithLazyBlobs(index.WithTagHolder(domain.WithPusher(ctx, Pusher)))
	var opts []distribution.ManifestServiceOption
	if tag != "" {
		opts = append(opts, distribution.WithTag(tag))
	}
	d, err := ms.Put(ctx, m, opts...)
	if err != nil {
		return fmt.Errorf("storing the manifest: %w", err)
	}
	defer s.afterFill(b, repo, d.String())
	if tag == "" {
		return nil
	}
	desc.Digest = d
	if err := dr.Tags(ctx).Tag(ctx, tag, desc); err != nil {
		return fmt.Errorf("tagging the manifest: %w", err)
	}
	return nil
}

// configOf is the config blob of an image manifest.
func configOf(m distribution.Manifest) (digest.Digest, bool) {
	mt, _, err := m.Payload()
	if err != nil {
		return "", false
	}
	switch mt {
	case v1.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json":
		refs := m.References()
		if len(refs) > 0 {
			return refs[0].Digest, true
		}
	}
	return "", false
}

// manifestLocal reports whether repo holds the manifest d.
func (s *Service) manifestLocal(ctx context.Context, repo string, d digest.Digest) bool {
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return false
	}
	ms, err := dr.Manifests(ctx)
	if err != nil {
		return false
	}
	ok, err := ms.Exists(ctx, d)
	return err == nil && ok
}

// localTag is the digest repo's tag points at ("" when none).
func (s *Service) localTag(ctx context.Context, repo, tag string) string {
	dr, err := s.repository(ctx, repo)
	if err != nil {
		return ""
	}
	desc, err := dr.Tags(ctx).Get(ctx, tag)
	if err != nil {
		return ""
	}
	return desc.Digest.String()
}

// wait waits for the end of a flight.
func (f *flight) wait(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.done && ctx.Err() == nil {
		f.cond.Wait()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return f.err
}

// call is one run of once.
type call struct {
	done chan struct{}
	err  error
}

var calls = struct {
	sync.Mutex
	m map[string]*call
}{m: map[string]*call{}}

// once runs fn for key once among the callers in this replica at a time
// (the others wait for its result), and under a lease in the database, so
// a replica running it for the same key goes first and this one then runs
// fn again (which finds the result stored).
func (s *Service) once(ctx context.Context, key string, fn func(context.Context) error) error {
	local := s.owner + "|" + key // one map for the process, which may run several
	calls.Lock()
	c := calls.m[local]
	if c == nil {
		c = &call{done: make(chan struct{})}
		calls.m[local] = c
		calls.Unlock()
		fctx, cancel := s.background(ctx, 5*time.Minute)
		go func() {
			defer s.wg.Done()
			defer cancel()
			c.err = s.leased(fctx, "proxy:"+key, fn)
			calls.Lock()
			delete(calls.m, local)
			calls.Unlock()
			close(c.done)
		}()
	} else {
		calls.Unlock()
	}
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// leased runs fn holding the lease name, waiting while another replica
// holds it.
func (s *Service) leased(ctx context.Context, name string, fn func(context.Context) error) error {
	for {
		got, err := s.db.TryLease(ctx, name, s.owner, leaseTTL)
		if err != nil {
			return err
		}
		if got {
			defer func() { _ = s.db.ReleaseLease(context.WithoutCancel(ctx), name, s.owner) }()
			return fn(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leaseWait):
		}
	}
}
