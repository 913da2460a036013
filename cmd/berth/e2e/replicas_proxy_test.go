package e2e

import (
	"bytes"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// roundRobin is the load balancer in front of berth replicas in
// TestReplicasBehindOneAddress: a reverse proxy on one loopback address
// that sends each request to the next replica in turn, keeps the Host the
// client used (as an ingress does), and names the replica that answered in
// an X-Berth-Replica response header.
type roundRobin struct {
	Addr string

	mu       sync.Mutex
	backends []*url.URL
	next     int
	hits     []int
}

// replicaHeader names the replica (0, 1, 2, ...) that answered.
const replicaHeader = "X-Berth-Replica"

// startRoundRobin listens on a free loopback port; backends are added with
// setBackends once the replicas (which need the proxy's address as their
// public URL) are running. It stops when the test ends.
func startRoundRobin(t *testing.T) *roundRobin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rr := &roundRobin{Addr: ln.Addr().String()}
	errs := &lockedBuffer{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i, target := rr.pick()
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set(replicaHeader, strconv.Itoa(i)) // read back in ModifyResponse
		},
		ModifyResponse: func(resp *http.Response) error {
			resp.Header.Set(replicaHeader, resp.Request.Header.Get(replicaHeader))
			return nil
		},
		// Its own transport: http.DefaultTransport adds the admin's
		// credentials for known hosts, and a proxy must forward only the
		// client's.
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			DisableCompression:  true,
		},
		FlushInterval: -1,
		ErrorLog:      log.New(errs, "proxy: ", 0),
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if t.Failed() {
			t.Logf("proxy errors:\n%s", errs.String())
		}
	})
	return rr
}

func (rr *roundRobin) setBackends(replicas []*berthtest.Berth) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.backends = nil
	for _, b := range replicas {
		u, _ := url.Parse(b.URL(""))
		rr.backends = append(rr.backends, u)
	}
	rr.hits = make([]int, len(replicas))
}

func (rr *roundRobin) pick() (int, *url.URL) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if len(rr.backends) == 0 {
		// Not serving yet: an address nothing listens on gives a 502.
		return -1, &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	}
	i := rr.next % len(rr.backends)
	rr.next++
	rr.hits[i]++
	return i, rr.backends[i]
}

// Hits returns how many requests each replica was sent.
func (rr *roundRobin) Hits() []int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return append([]int(nil), rr.hits...)
}

// lockedBuffer collects the proxy's error log.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
