package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Side-by-side benchmarks of the list endpoints: berth answers them from its
// SQL index, the stock distribution registry (same version, filesystem
// storage) by walking the storage tree. Both servers are seeded over HTTP
// only, once per benchmark function and server, outside the timer:
//
//	go test ./cmd/berth/e2e/ -run XXX -bench 'TagsList|Catalog' -benchtime 20x -count 1
//
// Results are in docs/benchmarks-list.md.

const (
	lbTagRepo   = "library/bench"
	lbTags      = 2000
	lbRepos     = 1000
	lbSeedConns = 4
)

// lbClient keeps enough idle connections for the seeding goroutines.
var lbClient = &http.Client{
	Transport: &http.Transport{MaxIdleConns: 16, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
	Timeout:   60 * time.Second,
}

// lbServer is a registry under benchmark, reached at base (http://host:port).
type lbServer struct {
	name string
	base string
}

func (s lbServer) url(path string) string { return s.base + path }

// lbServers lists the servers each benchmark compares, with how to start one.
// Each start function is called once per benchmark function (the sub-benchmark
// body holding the leaves runs once), and the process stops when that
// sub-benchmark ends.
var lbServers = []struct {
	name  string
	start func(b *testing.B) lbServer
}{
	{"berth", func(b *testing.B) lbServer {
		br := berthtest.Start(b, berthtest.Options{})
		return lbServer{name: "berth", base: "http://" + br.Addr}
	}},
	{"stock", startStockRegistry},
}

// startStockRegistry runs the pinned distribution registry binary on a free
// loopback port with filesystem storage in a temporary directory, waits
// until GET /v2/ answers 200, and stops it (SIGTERM) at cleanup.
func startStockRegistry(b *testing.B) lbServer {
	b.Helper()
	bin := berthtest.Tool(b, "registry")
	dir := b.TempDir()
	port := berthtest.FreePort(b)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`version: 0.1
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http: {addr: %s}
log: {level: error, accesslog: {disabled: true}}
`, filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	var logs bytes.Buffer
	var logsMu sync.Mutex
	w := lbLockedWriter{mu: &logsMu, w: &logs}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if b.Failed() {
			logsMu.Lock()
			b.Logf("registry logs:\n%s", logs.String())
			logsMu.Unlock()
		}
	})
	if err := berthtest.WaitReady("http://"+addr+"/v2/", 30*time.Second); err != nil {
		logsMu.Lock()
		defer logsMu.Unlock()
		b.Fatalf("stock registry: %v\n%s", err, logs.String())
	}
	return lbServer{name: "stock", base: "http://" + addr}
}

type lbLockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lbLockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lbDo sends a request and returns status, headers and body.
func lbDo(method, u, contentType string, body []byte) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := lbClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data, err
}

func (s lbServer) abs(loc string) string {
	if strings.HasPrefix(loc, "/") {
		return s.base + loc
	}
	return loc
}

// pushBlob uploads data into repo (POST + monolithic PUT).
func (s lbServer) pushBlob(repo string, data []byte) error {
	code, h, body, err := lbDo(http.MethodPost, s.url("/v2/"+repo+"/blobs/uploads/"), "", nil)
	if err != nil {
		return err
	}
	if code != http.StatusAccepted {
		return fmt.Errorf("%s: POST upload to %s: %d %s", s.name, repo, code, body)
	}
	return s.finishUpload(repo, h.Get("Location"), data)
}

func (s lbServer) finishUpload(repo, loc string, data []byte) error {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	code, _, body, err := lbDo(http.MethodPut, s.abs(loc)+sep+"digest="+digestOf(data), "application/octet-stream", data)
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return fmt.Errorf("%s: PUT blob to %s: %d %s", s.name, repo, code, body)
	}
	return nil
}

// mountBlob mounts data (already in from) into repo, uploading it when the
// server answers the mount request with a plain upload session.
func (s lbServer) mountBlob(repo, from string, data []byte) error {
	q := url.Values{"mount": {digestOf(data)}, "from": {from}}
	code, h, body, err := lbDo(http.MethodPost, s.url("/v2/"+repo+"/blobs/uploads/?"+q.Encode()), "", nil)
	if err != nil {
		return err
	}
	switch code {
	case http.StatusCreated:
		return nil
	case http.StatusAccepted:
		return s.finishUpload(repo, h.Get("Location"), data)
	}
	return fmt.Errorf("%s: mount into %s: %d %s", s.name, repo, code, body)
}

func (s lbServer) putManifest(repo, ref string, man []byte) error {
	code, _, body, err := lbDo(http.MethodPut, s.url("/v2/"+repo+"/manifests/"+ref), mtOCIManifest, man)
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return fmt.Errorf("%s: PUT manifest %s:%s: %d %s", s.name, repo, ref, code, body)
	}
	return nil
}

// lbImage is one tiny single-layer image, identical on every server.
type lbImage struct {
	layer, config, manifest []byte
}

func newLBImage() lbImage {
	layer := []byte("list benchmark layer\n")
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digestOf(layer)}},
	})
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mtOCIManifest,
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digestOf(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digestOf(layer), "size": len(layer)}},
	})
	return lbImage{layer: layer, config: config, manifest: man}
}

// lbParallel runs fn(0..n-1) on lbSeedConns goroutines and returns the first
// error.
func lbParallel(n int, fn func(i int) error) error {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	var failed atomic.Bool
	for range lbSeedConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { firstErr = err })
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// seedTags pushes one image into library/bench and tags its manifest
// lbTags times.
func seedTags(b *testing.B, s lbServer) {
	b.Helper()
	start := time.Now()
	img := newLBImage()
	for _, blob := range [][]byte{img.layer, img.config} {
		if err := s.pushBlob(lbTagRepo, blob); err != nil {
			b.Fatal(err)
		}
	}
	err := lbParallel(lbTags, func(i int) error {
		return s.putManifest(lbTagRepo, fmt.Sprintf("tag%04d", i), img.manifest)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d tags in %s", s.name, lbTags, time.Since(start).Round(time.Millisecond))
}

// seedRepos pushes the same tiny image into lbRepos repositories
// library/rNNNN, mounting the blobs from the first one.
func seedRepos(b *testing.B, s lbServer) {
	b.Helper()
	start := time.Now()
	img := newLBImage()
	first := "library/r0000"
	for _, blob := range [][]byte{img.layer, img.config} {
		if err := s.pushBlob(first, blob); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.putManifest(first, "latest", img.manifest); err != nil {
		b.Fatal(err)
	}
	err := lbParallel(lbRepos-1, func(i int) error {
		repo := fmt.Sprintf("library/r%04d", i+1)
		for _, blob := range [][]byte{img.layer, img.config} {
			if err := s.mountBlob(repo, first, blob); err != nil {
				return err
			}
		}
		return s.putManifest(repo, "latest", img.manifest)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded %d repositories in %s", s.name, lbRepos, time.Since(start).Round(time.Millisecond))
}

// lbGet fetches u and returns the body and the next-page link (absolute), or
// "" when there is none.
func (s lbServer) lbGet(u string) ([]byte, string, error) {
	code, h, body, err := lbDo(http.MethodGet, u, "", nil)
	if err != nil {
		return nil, "", err
	}
	if code != http.StatusOK {
		return nil, "", fmt.Errorf("%s: GET %s: %d %s", s.name, u, code, body)
	}
	return body, s.nextLink(h.Get("Link")), nil
}

// nextLink parses `<url>; rel="next"`.
func (s lbServer) nextLink(link string) string {
	if link == "" {
		return ""
	}
	start, end := strings.Index(link, "<"), strings.Index(link, ">")
	if start < 0 || end < start || !strings.Contains(link[end:], `rel="next"`) {
		return ""
	}
	return s.abs(link[start+1 : end])
}

// walk GETs path and follows Link headers to the end; it returns the number
// of requests and all names found under field ("tags" or "repositories").
// Decoding happens only when names is non-nil, so the timed loop does not pay
// for it.
func (s lbServer) walk(path, field string, names *[]string) (int, error) {
	u := s.url(path)
	reqs := 0
	for u != "" {
		body, next, err := s.lbGet(u)
		if err != nil {
			return reqs, err
		}
		reqs++
		if names != nil {
			var page map[string]json.RawMessage
			var got []string
			if err := json.Unmarshal(body, &page); err != nil {
				return reqs, fmt.Errorf("%s: %s: %v", s.name, u, err)
			}
			if err := json.Unmarshal(page[field], &got); err != nil {
				return reqs, fmt.Errorf("%s: %s: %v", s.name, u, err)
			}
			*names = append(*names, got...)
		}
		u = next
	}
	return reqs, nil
}

// firstPage checks (outside the timer) that path answers exactly want names
// on its first page, then times GETs of that page.
func benchFirstPage(b *testing.B, s lbServer, path, field string, want int) {
	body, _, err := s.lbGet(s.url(path))
	if err != nil {
		b.Fatal(err)
	}
	var page map[string]json.RawMessage
	var got []string
	if err := json.Unmarshal(body, &page); err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(page[field], &got); err != nil {
		b.Fatal(err)
	}
	if len(got) != want {
		b.Fatalf("%s: GET %s: %d %s, want %d", s.name, path, len(got), field, want)
	}
	b.ResetTimer()
	for range b.N {
		if _, _, err := s.lbGet(s.url(path)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(body)), "B/resp")
}

// benchWalk checks (outside the timer) that walking path finds want names,
// then times complete walks, reporting requests per walk.
func benchWalk(b *testing.B, s lbServer, path, field string, want int) {
	var names []string
	reqs, err := s.walk(path, field, &names)
	if err != nil {
		b.Fatal(err)
	}
	if len(names) != want {
		b.Fatalf("%s: walking %s found %d %s, want %d", s.name, path, len(names), field, want)
	}
	b.ResetTimer()
	for range b.N {
		if reqs, err = s.walk(path, field, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(reqs), "reqs/op")
}

// BenchmarkTagsList: GET /v2/library/bench/tags/list on a repository with
// 2,000 tags, the full list (no n) and the first page of 100.
func BenchmarkTagsList(b *testing.B) {
	if testing.Short() {
		b.Skip("starts registries and seeds 2,000 tags each")
	}
	for _, srv := range lbServers {
		b.Run(srv.name, func(b *testing.B) {
			s := srv.start(b)
			seedTags(b, s)
			b.Run(fmt.Sprintf("tags=%d", lbTags), func(b *testing.B) {
				b.Run("full", func(b *testing.B) {
					benchWalk(b, s, "/v2/"+lbTagRepo+"/tags/list", "tags", lbTags)
				})
				b.Run("n=100", func(b *testing.B) {
					benchFirstPage(b, s, "/v2/"+lbTagRepo+"/tags/list?n=100", "tags", 100)
				})
			})
		})
	}
}

// BenchmarkCatalog: GET /v2/_catalog over 1,000 repositories, the first page
// of 100 and the full list with n=1000 (following Link headers, if any).
func BenchmarkCatalog(b *testing.B) {
	if testing.Short() {
		b.Skip("starts registries and seeds 1,000 repositories each")
	}
	for _, srv := range lbServers {
		b.Run(srv.name, func(b *testing.B) {
			s := srv.start(b)
			seedRepos(b, s)
			b.Run(fmt.Sprintf("repos=%d", lbRepos), func(b *testing.B) {
				b.Run("n=100", func(b *testing.B) {
					benchFirstPage(b, s, "/v2/_catalog?n=100", "repositories", 100)
				})
				b.Run("full", func(b *testing.B) {
					benchWalk(b, s, "/v2/_catalog?n=1000", "repositories", lbRepos)
				})
			})
		})
	}
}
