package proxy

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/distribution/distribution/v3/registry/api/errcode"
	"github.com/docker/go-metrics"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storage"
)

// Prometheus metrics of the pull-through cache, served on /metrics.
var (
	ns               = metrics.NewNamespace("berth", "proxy", nil)
	hits             = ns.NewCounter("hits", "Pulls of proxy projects answered from what berth stored")
	misses           = ns.NewCounter("misses", "Blobs and manifests fetched from an upstream")
	relays           = ns.NewCounter("relays", "Blob downloads of another replica streamed to this one's clients")
	upstreamErrors   = ns.NewCounter("upstream_errors", "Upstream fetches and checks that failed")
	staleServed      = ns.NewCounter("stale_served", "Tags served from cache because the upstream could not be checked")
	bytesFetched     = ns.NewCounter("upstream_bytes", "Bytes of blobs fetched from upstreams")
	evictedArtifacts = ns.NewCounter("evicted_artifacts", "Artifacts evicted from proxy projects over their size cap")
	evictedBytes     = ns.NewCounter("evicted_bytes", "Bytes by which evictions brought proxy projects' usage down")
)

func init() { metrics.Register(ns) }

// ServeBlob answers a GET or HEAD of a blob of a proxy project that berth
// does not hold yet, from the upstream, and reports whether it answered;
// false leaves the request to the registry (not a proxy project, or the
// blob is stored). The caller checked the client may pull repo.
func (s *Service) ServeBlob(w http.ResponseWriter, r *http.Request, repo string, dgst digest.Digest) bool {
	ctx := r.Context()
	b := s.lookup(ctx, repo)
	if b == nil || dgst.Validate() != nil {
		return false
	}
	if s.blobLocal(ctx, repo, dgst) {
		hits.Inc(1)
		return false
	}
	if r.Method == http.MethodHead {
		return s.headBlob(w, r, b, repo, dgst)
	}
	f := s.blobFlight(ctx, b, repo, dgst)
	select {
	case <-f.started:
	case <-ctx.Done():
		return true
	}
	local, err := f.join()
	if local {
		return false
	}
	if err != nil {
		writeUpstreamError(w, err, "BLOB_UNKNOWN", "blob unknown to the upstream registry")
		return true
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("ETag", `"`+dgst.String()+`"`)
	if n := f.contentLength(); n != "" {
		h.Set("Content-Length", n)
	}
	w.WriteHeader(http.StatusOK)
	if err := f.stream(ctx, w); err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "proxy: blob answer cut short", "repository", repo, "digest", dgst, "err", err)
		}
		// The status is out: the access log says the answer was cut short,
		// and the client sees a body shorter than its Content-Length (the
		// server closes the connection), or a reset when none was sent.
		storage.Mark(ctx, storage.Unavailable)
		if f.contentLength() == "" {
			panic(http.ErrAbortHandler)
		}
	}
	return true
}

// headBlob answers a HEAD of a blob not stored yet with the upstream's.
func (s *Service) headBlob(w http.ResponseWriter, r *http.Request, b *binding, repo string, dgst digest.Digest) bool {
	up := b.upstreamName(repo)
	resp, err := b.up.do(r.Context(), http.MethodHead, "/v2/"+up+"/blobs/"+dgst.String(), "repository:"+up+":pull", nil)
	if err == nil && resp.StatusCode != http.StatusOK {
		drain(resp)
		err = &errStatus{status: resp.StatusCode, url: b.URL}
	}
	if err != nil {
		writeUpstreamError(w, err, "BLOB_UNKNOWN", "blob unknown to the upstream registry")
		return true
	}
	drain(resp)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", dgst.String())
	h.Set("ETag", `"`+dgst.String()+`"`)
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", resp.Header.Get("Content-Length"))
	}
	w.WriteHeader(http.StatusOK)
	return true
}

// writeUpstreamError answers a failed fetch: the upstream's 404 is the
// registry's (code unknown), anything else is 502 with what went wrong.
func writeUpstreamError(w http.ResponseWriter, err error, unknown, msg string) {
	var ec errcode.Error
	if errors.As(err, &ec) {
		// berth refused to store it (a quota, a full disk, the database):
		// its own answer, as to a push.
		writeError(w, ec.Code.Descriptor().HTTPStatusCode, ec.Code.String(), ec.Message)
		return
	}
	var es *errStatus
	if errors.As(err, &es) && es.status == http.StatusNotFound {
		writeError(w, http.StatusNotFound, unknown, msg)
		return
	}
	writeError(w, http.StatusBadGateway, "UNAVAILABLE", "the upstream registry could not be reached: "+err.Error())
}

// writeError writes an OCI error answer.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
