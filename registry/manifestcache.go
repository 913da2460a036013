package registry

import (
	"container/list"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/manifest/manifestlist"
	distauth "github.com/distribution/distribution/v3/registry/auth"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// The hot manifest path. A manifest GET or HEAD is answered from memory
// when the caller may pull: the reference is resolved in the index (one
// indexed query, the source of truth every replica writes before a push or
// delete answers), and only digest → bytes is cached, which is immutable
// and so never stale. A moved tag is seen by every replica at once; a
// manifest deleted through any replica is absent from the index and is 404
// here, even where distribution's in-memory descriptor cache remembers it. Anything unusual (no grant, unknown reference,
// database trouble, an Accept header distribution would refuse or rewrite
// for) falls through to distribution unchanged.
//
// Access decisions for anonymous callers and bearer tokens are kept for
// grantTTL (never beyond the token's expiry); Basic credentials are checked
// on every request so that a password change applies at once.
const (
	grantTTL       = time.Second
	maxGrants      = 1 << 14 // keys hold tokens (~0.5 KiB): ≤ ~10 MiB
	defaultHotSize = 64 << 20
)

// hotManifests holds the cache and the recent grants.
type hotManifests struct {
	index  *metadata.ManifestResolver
	refs   refCache // see manifestrefs.go
	cache  *manifestLRU
	mu     sync.Mutex
	grants map[grantKey]time.Time // request credentials + repository → until
}

func newHotManifests(ctx context.Context, db *metadata.DB, maxBytes int64) (*hotManifests, error) {
	if maxBytes <= 0 {
		return nil, nil
	}
	index, err := db.ManifestResolver(ctx)
	if err != nil {
		return nil, err
	}
	return &hotManifests{index: index, cache: newManifestLRU(maxBytes), grants: map[grantKey]time.Time{}}, nil
}

// cachedManifest is a manifest's bytes with the headers they are served
// with, as header values ready to share between responses (read-only).
type cachedManifest struct {
	digest    string
	mediaType string
	payload   []byte
	hdr       struct{ mediaType, length, digest, etag []string }
}

// apiVersion is the Docker-Distribution-API-Version header value.
var apiVersion = []string{"registry/2.0"}

// serveHotManifest answers a manifest GET/HEAD from memory and reports
// whether it did; false leaves the request to distribution.
func (s *Server) serveHotManifest(w http.ResponseWriter, r *http.Request, name, ref string) bool {
	h := s.hot
	if h == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) || !s.pullAllowed(r, name) {
		return false
	}
	ctx := r.Context()
	dg, err := digest.Parse(ref)
	byDigest := err == nil
	if byDigest && dg.Algorithm() != digest.SHA256 {
		// The index keys artifacts by sha256; other digests are aliases
		// distribution resolves through its own links (see sha512.go).
		return false
	}
	d, err := h.resolve(ctx, name, ref, byDigest)
	if byDigest && errors.Is(err, metadata.ErrNotFound) {
		// Deleted (or never pushed): distribution's descriptor cache on this
		// replica may still remember a manifest another replica deleted.
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		type ociError struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Detail  string `json:"detail"`
		}
		writeJSON(w, http.StatusNotFound, map[string][]ociError{"errors": {{"MANIFEST_UNKNOWN", "manifest unknown",
			"unknown manifest name=" + name + " revision=" + ref}}})
		return true
	}
	if err != nil {
		return false // an unknown tag, or database trouble: distribution answers
	}
	m, ok := h.cache.get(d)
	if ok {
		manifestCacheHits.Inc()
	} else {
		manifestCacheMisses.Inc()
		if m, err = s.loadManifest(ctx, name, d); err != nil {
			s.log.DebugContext(ctx, "hot manifest: load", "repository", name, "digest", d, "err", err)
			return false
		}
		h.cache.add(m)
	}
	if !accepted(r, m.mediaType, !byDigest) {
		return false
	}
	hdr := w.Header() // canonical keys: no Set, no allocation
	hdr["Docker-Distribution-API-Version"] = apiVersion
	if etagMatch(r, d) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	hdr["Content-Type"] = m.hdr.mediaType
	hdr["Content-Length"] = m.hdr.length
	hdr["Docker-Content-Digest"] = m.hdr.digest
	hdr["Etag"] = m.hdr.etag
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return true
	}
	_, _ = w.Write(m.payload)
	tag := ref
	if byDigest {
		tag = ""
	}
	s.pulls.Record(name, d, tag)
	return true
}

// loadManifest reads a manifest through distribution's storage and checks
// its bytes against the digest before they are cached.
func (s *Server) loadManifest(ctx context.Context, name, d string) (*cachedManifest, error) {
	dg, err := digest.Parse(d)
	if err != nil || !dg.Algorithm().Available() {
		return nil, fmt.Errorf("digest %q cannot be verified", d)
	}
	named, err := reference.WithName(name)
	if err != nil {
		return nil, err
	}
	ns := s.ix.Namespace()
	if ns == nil {
		return nil, fmt.Errorf("registry not started")
	}
	repo, err := ns.Repository(ctx, named)
	if err != nil {
		return nil, err
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return nil, err
	}
	man, err := ms.Get(ctx, dg)
	if err != nil {
		return nil, err
	}
	mt, payload, err := man.Payload()
	if err != nil {
		return nil, err
	}
	if dg.Algorithm().FromBytes(payload) != dg {
		return nil, fmt.Errorf("stored bytes do not match %s", d)
	}
	m := &cachedManifest{digest: d, mediaType: mt, payload: payload}
	m.hdr.mediaType, m.hdr.length = []string{mt}, []string{strconv.Itoa(len(payload))}
	m.hdr.digest, m.hdr.etag = []string{d}, []string{`"` + d + `"`}
	return m, nil
}

// accepted mirrors distribution's manifest GET: OCI manifests and indexes
// need the client to accept them, and a Docker manifest list asked for by
// tag without accepting lists is rewritten by distribution, so it goes there.
func accepted(r *http.Request, mediaType string, byTag bool) bool {
	switch mediaType {
	case v1.MediaTypeImageManifest, v1.MediaTypeImageIndex:
		return accepts(r, mediaType)
	case manifestlist.MediaTypeManifestList:
		return !byTag || accepts(r, mediaType)
	}
	return true
}

// accepts parses Accept headers as distribution does (no q= weights).
func accepts(r *http.Request, mediaType string) bool {
	for _, header := range r.Header["Accept"] {
		for part := range strings.SplitSeq(header, ",") {
			if mt, _, err := mime.ParseMediaType(part); err == nil && mt == mediaType {
				return true
			}
		}
	}
	return false
}

// etagMatch is distribution's If-None-Match test (quoted or not).
func etagMatch(r *http.Request, etag string) bool {
	for _, v := range r.Header["If-None-Match"] {
		if v == etag || v == `"`+etag+`"` {
			return true
		}
	}
	return false
}

// pullAllowed runs the access controller distribution uses for a pull of
// name, remembering a grant to an anonymous caller or a bearer token for
// grantTTL. A remembered grant costs one map lookup keyed by the
// credentials themselves (no hashing, no token parsing).
func (s *Server) pullAllowed(r *http.Request, name string) bool {
	if s.controller == nil {
		return true
	}
	key, cacheable := grantKeyOf(r, name)
	h := s.hot
	now := time.Now()
	if cacheable {
		h.mu.Lock()
		t, ok := h.grants[key]
		h.mu.Unlock()
		if ok && now.Before(t) {
			return true
		}
	}
	access := distauth.Access{Resource: distauth.Resource{Type: "repository", Name: name}, Action: "pull"}
	if _, err := s.controller.Authorized(r, access); err != nil {
		return false // distribution repeats the check and answers the challenge
	}
	if !cacheable {
		return true
	}
	t := now.Add(grantTTL)
	if token := key.token(); token != "" {
		until := tokenExpiry(token)
		if until.IsZero() {
			return true // no expiry to bound the memo by
		}
		if until.Before(t) {
			t = until
		}
	}
	h.mu.Lock()
	if len(h.grants) >= maxGrants {
		clear(h.grants)
	}
	h.grants[key] = t
	h.mu.Unlock()
	return true
}

// grantKey is a request's credentials for a repository: the Authorization
// and X-Auth-Token headers as sent.
type grantKey struct{ authz, xtoken, name string }

// token is the bearer token of the key ("" for an anonymous caller).
func (k grantKey) token() string {
	if k.authz == "" {
		return strings.TrimSpace(k.xtoken)
	}
	_, token, _ := strings.Cut(k.authz, " ")
	return strings.TrimSpace(token)
}

// grantKeyOf identifies a request's credentials for a repository. Only
// anonymous requests and bearer tokens (Authorization: Bearer, or
// X-Auth-Token) are cacheable.
func grantKeyOf(r *http.Request, name string) (grantKey, bool) {
	k := grantKey{authz: r.Header.Get("Authorization"), xtoken: r.Header.Get("X-Auth-Token"), name: name}
	if k.authz == "" {
		return k, true
	}
	scheme, _, _ := strings.Cut(k.authz, " ")
	return k, strings.EqualFold(scheme, "Bearer")
}

// tokenExpiry reads the exp claim of a JWT the access controller has
// verified (zero when there is none).
func tokenExpiry(token string) time.Time {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(body, &c) != nil || c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(c.Exp, 0)
}

// manifestLRU is a least-recently-used set of manifests bounded by bytes.
type manifestLRU struct {
	mu      sync.Mutex
	max     int64
	size    int64
	order   *list.List // front: most recent
	entries map[string]*list.Element
}

func newManifestLRU(maxBytes int64) *manifestLRU {
	return &manifestLRU{max: maxBytes, order: list.New(), entries: map[string]*list.Element{}}
}

func (c *manifestLRU) get(d string) (*cachedManifest, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedManifest), true
}

// add keeps m unless it alone is over the bound, evicting the least
// recently used manifests to make room.
func (c *manifestLRU) add(m *cachedManifest) {
	n := int64(len(m.payload))
	if n > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[m.digest]; ok {
		return
	}
	for c.size+n > c.max {
		old := c.order.Back()
		om := c.order.Remove(old).(*cachedManifest)
		delete(c.entries, om.digest)
		c.size -= int64(len(om.payload))
	}
	c.entries[m.digest] = c.order.PushFront(m)
	c.size += n
}
