package registry

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/docker/go-metrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// Prometheus metrics of every request, served on /metrics. Requests are
// labelled by the route template that served them (a dialect's route, an
// OCI API route kind), never by the raw path, so the series stay bounded.
var (
	httpNS        = metrics.NewNamespace("berth", "http", nil)
	httpRequests  = httpNS.NewLabeledCounter("requests", "Requests by route template, method and status class", "route", "method", "code")
	httpDurations = httpNS.NewLabeledTimer("request_duration", "Request latency by route template and method", "route", "method")
	// Plain Prometheus counters: go-metrics' Inc takes a variadic slice,
	// an allocation per request.
	bytesPushed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "berth", Subsystem: "http", Name: "pushed_bytes_total",
		Help: "Bytes of blob and manifest uploads received on the OCI API"})
	bytesPulled = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "berth", Subsystem: "http", Name: "pulled_bytes_total",
		Help: "Bytes of blobs and manifests sent on the OCI API"})
)

// Hits and misses of the in-memory manifest cache (manifestCache), and
// requests a backend failed (storage or the database: unavailable, full).
var (
	manifestCacheHits = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "berth", Subsystem: "manifest_cache", Name: "hits_total",
		Help: "Manifest GET/HEAD answered from the in-memory cache"})
	manifestCacheMisses = prometheus.NewCounter(prometheus.CounterOpts{Namespace: "berth", Subsystem: "manifest_cache", Name: "misses_total",
		Help: "Manifest GET/HEAD whose manifest the cache had to load"})
	// The syncs of SQLite's write-ahead log that requests waited for
	// before answering (metadata.Durable) and the collector before
	// deleting a blob's data, and the waits: one sync serves all that ask
	// at the same moment.
	indexLogSyncs = prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "berth", Subsystem: "index", Name: "log_syncs_total",
		Help: "Syncs of the SQLite index's write-ahead log made before answering requests that changed it, or before deleting a blob's data"},
		func() float64 { n, _ := metadata.LogSyncs(); return float64(n) })
	indexLogSyncRequests = prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "berth", Subsystem: "index", Name: "log_sync_requests_total",
		Help: "Waits for a sync of the SQLite index's write-ahead log: requests that changed the index, before answering, and the collector's deletions of blob data"},
		func() float64 { _, n := metadata.LogSyncs(); return float64(n) })
	backendFaults = httpNS.NewLabeledCounter("backend_faults", "Requests a backend failed, by backend (storage, database) and kind (unavailable, full)", "backend", "kind")
)

func init() {
	httpNS.Add(bytesPushed)
	httpNS.Add(bytesPulled)
	httpNS.Add(manifestCacheHits)
	httpNS.Add(manifestCacheMisses)
	httpNS.Add(indexLogSyncs)
	httpNS.Add(indexLogSyncRequests)
	metrics.Register(httpNS)
}

// withEvents gives each request what its events need: the client
// (address and user agent) and the sink of events no transaction records
// (observe.SetClient, SetSink); and it counts the bytes of uploads.
func (s *Server) withEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		observe.SetClient(ctx, host, truncate(r.UserAgent(), 256))
		if s.events != nil {
			observe.SetSink(ctx, s.events)
		}
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Body == nil || !strings.HasPrefix(r.URL.Path, "/v2/") {
			next.ServeHTTP(w, r)
			return
		}
		in := &countingBody{ReadCloser: r.Body}
		r.Body = in
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status < 300 {
			bytesPushed.Add(float64(in.n))
		}
	})
}

// series are one route's, method's and status class's metrics.
type series struct {
	requests metrics.Counter
	duration metrics.Timer
}

type seriesKey struct {
	route, method string
	class         int
}

// routeSeries caches the series by key: looking a labelled series up in
// Prometheus allocates, a map lookup does not.
var routeSeries = struct {
	sync.RWMutex
	m map[seriesKey]series
}{m: map[seriesKey]series{}}

var codeClasses = [...]string{"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// observeRequest counts a request and its latency under its route
// template (observe.Route, else routeKind of path).
func observeRequest(r *http.Request, status int, bytes int64, took time.Duration) {
	route := observe.Route(r.Context())
	if route == "" {
		route = routeKind(r.URL.Path)
	}
	method := r.Method
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		method = "other" // clients choose methods: the label stays bounded
	}
	class := min(max(status/100, 1), 5)
	k := seriesKey{route, method, class}
	routeSeries.RLock()
	sr, ok := routeSeries.m[k]
	routeSeries.RUnlock()
	if !ok {
		sr = series{httpRequests.WithValues(route, method, codeClasses[class]), httpDurations.WithValues(route, method)}
		routeSeries.Lock()
		routeSeries.m[k] = sr
		routeSeries.Unlock()
	}
	sr.requests.Inc()
	sr.duration.Update(took)
	if class == 2 && r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v2/") {
		bytesPulled.Add(float64(bytes))
	}
}

// routeKind names a request no dialect route served: the OCI API's route
// kinds, berth's fixed paths, else "other".
func routeKind(path string) string {
	switch path {
	case "/healthz", "/readyz", "/metrics", "/service/token", "/v2", "/v2/":
		return path
	}
	if !strings.HasPrefix(path, "/v2/") {
		return "other"
	}
	switch {
	case path == "/v2/_catalog":
		return "/v2/_catalog"
	case strings.Contains(path, "/blobs/uploads"):
		return "/v2/{name}/blobs/uploads"
	case strings.Contains(path, "/blobs/"):
		return "/v2/{name}/blobs/{digest}"
	case strings.Contains(path, "/manifests/"):
		return "/v2/{name}/manifests/{reference}"
	case strings.HasSuffix(path, "/tags/list"):
		return "/v2/{name}/tags/list"
	case strings.Contains(path, "/referrers/"):
		return "/v2/{name}/referrers/{digest}"
	}
	return "/v2/other"
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}
