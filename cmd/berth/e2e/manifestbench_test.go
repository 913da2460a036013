package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// BenchmarkManifestGet compares manifest GET/HEAD throughput of the stock
// distribution registry (filesystem, no auth) with berth (filesystem,
// SQLite) with its manifest cache off and on, anonymous (public project)
// and with a bearer token, all on loopback, all warm:
//
//	go test ./cmd/berth/e2e/ -run XXX -bench ManifestGet -benchtime 3s -count 3
//
// Results are in docs/benchmarks-manifests.md.
func BenchmarkManifestGet(b *testing.B) {
	stock := startStockRegistry(b)
	cached := berthtest.Start(b, berthtest.Options{})
	uncached := berthtest.Start(b, berthtest.Options{Env: []string{"BERTH_MANIFEST_CACHE=0"}})
	const repo, tag = "library/hot", "v1"
	dgst := ""
	for _, base := range []string{stock.base, "http://" + cached.Addr, "http://" + uncached.Addr} {
		dgst = mbSeed(b, strings.TrimPrefix(base, "http://")+"/"+repo+":"+tag)
	}
	token := mbToken(b, cached, repo)
	targets := []struct {
		name, base, token string
	}{
		{"stock", stock.base, ""},
		{"berth-nocache", "http://" + uncached.Addr, ""},
		{"berth", "http://" + cached.Addr, ""},
		{"berth-nocache-token", "http://" + uncached.Addr, mbToken(b, uncached, repo)},
		{"berth-token", "http://" + cached.Addr, token},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	for _, ref := range []struct{ name, method, ref string }{
		{"GET-tag", http.MethodGet, tag}, {"GET-digest", http.MethodGet, dgst},
		{"HEAD-tag", http.MethodHead, tag}, {"HEAD-digest", http.MethodHead, dgst},
	} {
		for _, tg := range targets {
			b.Run(ref.name+"/"+tg.name, func(b *testing.B) {
				u := tg.base + "/v2/" + repo + "/manifests/" + ref.ref
				b.SetParallelism(4)
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, _ := http.NewRequest(ref.method, u, nil)
						req.Header.Set("Accept", acceptAllManifests)
						if tg.token != "" {
							req.Header.Set("Authorization", "Bearer "+tg.token)
						}
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != dgst {
							b.Errorf("%s %s: %d %s", ref.method, u, resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
			})
		}
	}
}

// mbSeed pushes the same one-layer image with crane and returns its digest.
func mbSeed(b *testing.B, ref string) string {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("manifest benchmark\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	layer := filepath.Join(dir, "layer.tar")
	berthtest.Run(b, "tar", "--mtime=@0", "--owner=0", "--group=0", "-C", dir, "-cf", layer, "hello.txt")
	crane := berthtest.Tool(b, "crane")
	berthtest.Run(b, crane, "append", "--insecure", "-f", layer, "-t", ref)
	return strings.TrimSpace(berthtest.Run(b, crane, "digest", "--insecure", ref))
}

// mbToken is the admin's pull token for repo.
func mbToken(b *testing.B, r *berthtest.Berth, repo string) string {
	req, _ := http.NewRequest(http.MethodGet, r.URL("/service/token?service=berth&scope=repository:"+repo+":pull"), nil)
	req.SetBasicAuth("admin", r.AdminPassword)
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		b.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return out.Token
}
