package registry

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-metrics"

	"github.com/berth-registry/berth/registry/observe"
)

// Prometheus metrics of every request, served on /metrics. Requests are
// labelled by the route template that served them (a dialect's route, an
// OCI API route kind), never by the raw path, so the series stay bounded.
var (
	httpNS        = metrics.NewNamespace("berth", "http", nil)
	httpRequests  = httpNS.NewLabeledCounter("requests", "Requests by route template, method and status class", "route", "method", "code")
	httpDurations = httpNS.NewLabeledTimer("request_duration", "Request latency by route template and method", "route", "method")
	bytesPushed   = httpNS.NewCounter("pushed_bytes", "Bytes of blob and manifest uploads received on the OCI API")
	bytesPulled   = httpNS.NewCounter("pulled_bytes", "Bytes of blobs and manifests sent on the OCI API")
)

func init() { metrics.Register(httpNS) }

// withEvents gives each request what its events and metrics need: the
// client (address and user agent) and the sink of events no transaction
// records (observe.SetClient, SetSink); after it, the request's metrics.
func (s *Server) withEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := r.Context()
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		observe.SetClient(ctx, host, truncate(r.UserAgent(), 256))
		if s.events != nil {
			observe.SetSink(ctx, s.events)
		}
		oci := strings.HasPrefix(r.URL.Path, "/v2/")
		var in *countingBody
		if oci && (r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodPost) && r.Body != nil {
			in = &countingBody{ReadCloser: r.Body}
			r.Body = in
		}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		route := observe.Route(ctx)
		if route == "" {
			route = routeKind(r.URL.Path)
		}
		httpRequests.WithValues(route, r.Method, strconv.Itoa(status/100)+"xx").Inc(1)
		httpDurations.WithValues(route, r.Method).UpdateSince(start)
		if in != nil && status < 300 {
			bytesPushed.Inc(float64(in.n))
		}
		if oci && r.Method == http.MethodGet && status < 300 {
			bytesPulled.Inc(float64(sw.bytes))
		}
	})
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
