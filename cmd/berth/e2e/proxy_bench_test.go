package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// BenchmarkProxyPull measures the pull-through cache against its targets
// (issue #23): a warm pull of a proxied blob against the same blob pulled
// from an ordinary project (target: within 10 %), and a cold pull of a
// large blob through the proxy against pulling it from the upstream
// directly (target: at most 1.2×). The blob size is
// BERTH_PROXY_BENCH_MB MiB (default 256). Numbers are for a quiet machine.
//
// On loopback the upstream's bytes cost nothing to carry, so the cold
// ratio measures berth's CPU (one SHA-256 pass, a write, a second send)
// against the upstream's alone on the same cores. The two "link"
// sub-benchmarks pull the same way across an emulated network link of
// BERTH_PROXY_BENCH_LINK_MBIT Mbit/s (default 1000): what a cache in front
// of a remote upstream sees.
func BenchmarkProxyPull(b *testing.B) {
	size := 256 << 20
	if v := os.Getenv("BERTH_PROXY_BENCH_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BERTH_PROXY_BENCH_MB=%q", v)
		}
		size = n << 20
	}
	up := startUpstreamRegistry(b)
	br := berthtest.Start(b, berthtest.Options{Env: []string{"PPROF_ADDR=" + os.Getenv("PPROF_ADDR")}}) // with BERTH_BIN built -tags pprof
	bindProxy(b, br, map[string]any{"project": "hub", "url": "http://" + up.Addr, "username": up.User, "password": up.PW})
	linkMbit := 1000
	if v := os.Getenv("BERTH_PROXY_BENCH_LINK_MBIT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BERTH_PROXY_BENCH_LINK_MBIT=%q", v)
		}
		linkMbit = n
	}
	link := startLink(b, up.Addr, int64(linkMbit)*1_000_000/8)
	bindProxy(b, br, map[string]any{"project": "hublink", "url": "http://" + link, "username": up.User, "password": up.PW})
	upstream := func(path string) string { return "http://" + up.Addr + path }
	get := func(url string, auth bool) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if auth {
			req.SetBasicAuth(up.User, up.PW)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || n != int64(size) {
			b.Fatalf("GET %s: %d, %d bytes, %v", url, resp.StatusCode, n, err)
		}
	}
	push := func(base, repo string, auth bool) digest.Digest {
		data := make([]byte, size)
		_, _ = rand.Read(data)
		d := uploadBlob(b, base, repo, data, auth, up)
		// The upstream never syncs what it stored: without this, its
		// writeback (and that of the last cold pull's commit) runs during
		// the next measured pull and measures the disk, not the pull.
		syscall.Sync()
		return d
	}

	b.Run("warm/local", func(b *testing.B) {
		d := push("http://"+br.Addr, "team/local", false)
		b.SetBytes(int64(size))
		b.ResetTimer()
		for range b.N {
			get(br.URL("/v2/team/local/blobs/"+d.String()), false)
		}
	})
	b.Run("warm/proxy", func(b *testing.B) {
		d := push("http://"+up.Addr, "library/warm", true)
		get(br.URL("/v2/hub/library/warm/blobs/"+d.String()), false) // cold once
		b.SetBytes(int64(size))
		b.ResetTimer()
		for range b.N {
			get(br.URL("/v2/hub/library/warm/blobs/"+d.String()), false)
		}
	})
	// Cold pulls: each iteration pushes a new blob to the upstream (not
	// timed) and pulls it once from where (given the upstream's repository
	// and the blob), with the upstream's credentials when auth.
	for _, c := range []struct {
		name  string
		where func(repo string, d digest.Digest) string
		auth  bool
	}{
		{"cold/upstream-direct", func(repo string, d digest.Digest) string { return upstream("/v2/" + repo + "/blobs/" + d.String()) }, true},
		{"cold/proxy", func(repo string, d digest.Digest) string { return br.URL("/v2/hub/" + repo + "/blobs/" + d.String()) }, false},
		{"cold/upstream-direct/link", func(repo string, d digest.Digest) string {
			return "http://" + link + "/v2/" + repo + "/blobs/" + d.String()
		}, true},
		{"cold/proxy/link", func(repo string, d digest.Digest) string {
			return br.URL("/v2/hublink/" + repo + "/blobs/" + d.String())
		}, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := range b.N {
				b.StopTimer()
				repo := fmt.Sprintf("library/%s%d", strings.ReplaceAll(c.name, "/", "-"), i)
				d := push("http://"+up.Addr, repo, true)
				b.StartTimer()
				get(c.where(repo, d), c.auth)
			}
		})
	}
}

// startLink forwards loopback connections to addr, carrying what addr
// sends back at most rate bytes a second (a network link between a
// registry and its upstream; requests go through unpaced). It returns the
// address to dial instead of addr.
func startLink(t testing.TB, addr string, rate int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer u.Close()
				go func() {
					_, _ = io.Copy(u, c)
					_ = u.(*net.TCPConn).CloseWrite()
				}()
				pace(c, u, rate)
			}()
		}
	}()
	return ln.Addr().String()
}

// pace copies src to dst at most rate bytes a second: each write is due
// when the bytes before it have had their time (a sleep's overshoot is
// made up by the next writes), and an idle connection saves up no more
// than linkBurst of credit.
func pace(dst io.Writer, src io.Reader, rate int64) {
	const linkBurst = 5 * time.Millisecond
	buf := make([]byte, 64<<10)
	var due time.Time
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if wait := time.Until(due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
			if now := time.Now(); now.Sub(due) > linkBurst {
				due = now.Add(-linkBurst)
			}
			due = due.Add(time.Duration(int64(n) * int64(time.Second) / rate))
		}
		if err != nil {
			return
		}
	}
}

// uploadBlob pushes data as a blob of repo (monolithic upload) to the
// registry at base, with the upstream's Basic credentials when auth.
func uploadBlob(t testing.TB, base, repo string, data []byte, auth bool, up *upstreamRegistry) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	do := func(method, url string, body io.Reader) *http.Response {
		req, _ := http.NewRequest(method, url, body)
		if auth {
			req.SetBasicAuth(up.User, up.PW)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/octet-stream")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := do(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload to %s: %d", base, resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if loc != "" && loc[0] == '/' {
		loc = base + loc
	}
	sep := "?"
	if bytes.ContainsRune([]byte(loc), '?') {
		sep = "&"
	}
	resp = do(http.MethodPut, loc+sep+"digest="+d.String(), bytes.NewReader(data))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT upload to %s: %d", base, resp.StatusCode)
	}
	return d
}
