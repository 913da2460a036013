package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// proxyState is what GET /proxies/{p} says of the cap and usage.
type proxyState struct {
	CapBytes  int64 `json:"capBytes"`
	UsedBytes int64 `json:"usedBytes"`
}

func getProxyState(t *testing.T, b *berthtest.Berth, project string) proxyState {
	t.Helper()
	var s proxyState
	if err := json.Unmarshal([]byte(berthtest.MustAPI(t, b, http.MethodGet, "/api/berth/v1/proxies/"+project, nil, http.StatusOK)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestProxySizeCapEvictsLeastRecentlyPulled: a proxy project with a size
// cap in front of a stock registry. Four images are pulled with crane (the
// first one again before the fourth); the fourth takes the project over
// its cap, and eviction removes the least recently pulled (the second and
// third) through the index: they are gone from berth (their repositories
// 404, with the upstream down they cannot be served), garbage collection
// frees their bytes, usage is under the cap, the images pulled recently
// are still served with the upstream down, and a pull of an evicted one
// fetches it from the upstream again. The run is counted and audited.
func TestProxySizeCapEvictsLeastRecentlyPulled(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	var digests, layers [5]string
	for i := 1; i <= 4; i++ {
		digests[i], layers[i] = pushRandomImage(t, fmt.Sprintf("%s/library/img%d:v1", up.Addr, i), 1<<20)
	}
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true,
		Env: []string{"BERTH_PROXY_EVICT_GRACE=1s", "BERTH_GC_DELAY=0s", "BERTH_GC_ENABLED=false"}})
	bindProxy(t, b, map[string]any{"project": "hub", "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})
	crane := berthtest.Tool(t, "crane")
	ref := func(i int) string { return fmt.Sprintf("%s/hub/library/img%d:v1", b.Addr, i) }
	pull := func(i int) {
		t.Helper()
		berthtest.Run(t, crane, "pull", ref(i), filepath.Join(t.TempDir(), "img.tar"), "--insecure")
	}

	// The cap: room for three images like the first, not four; its
	// low-water mark (90 %) holds two, not three.
	pull(1)
	one := getProxyState(t, b, "hub").UsedBytes
	if one < 1<<20 {
		t.Fatalf("usage after one image = %d, want at least its layer", one)
	}
	capBytes := 3*one + one/5
	berthtest.MustAPI(t, b, http.MethodPut, "/api/berth/v1/proxies/hub", map[string]any{"capBytes": capBytes}, http.StatusOK)
	pull(2)
	pull(3)
	pull(1) // the first is pulled again: now the third least recently pulled
	if s := getProxyState(t, b, "hub"); s.CapBytes != capBytes || s.UsedBytes > capBytes {
		t.Fatalf("before the fourth image: %+v, cap %d (three images fit)", s, capBytes)
	}
	pull(4) // over the cap: a run starts in the background

	// Once the grace has passed, a run asked through the API finishes the
	// work (after the background run, if that still holds the lease).
	time.Sleep(1500 * time.Millisecond)
	var run struct {
		CapBytes  int64  `json:"capBytes"`
		UsedAfter int64  `json:"usedAfter"`
		Status    string `json:"status"`
	}
	out := berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/proxies/hub/evict", nil, http.StatusOK)
	if err := json.Unmarshal([]byte(out), &run); err != nil || run.Status != "done" || run.CapBytes != capBytes || run.UsedAfter > capBytes*9/10 {
		t.Fatalf("evict = %s (%v)", out, err)
	}
	// Two images stay (they differ from the first by a few bytes).
	if s := getProxyState(t, b, "hub"); s.UsedBytes > capBytes*9/10 || s.UsedBytes < 2*one-one/10 {
		t.Fatalf("after eviction: %+v, want under the low-water mark %d and the two recent images (about %d) kept", s, capBytes*9/10, 2*one)
	}
	if r := runGC(t, b, false); r.BlobsDeleted < 2 || r.Errors != 0 {
		t.Fatalf("gc after eviction: %+v, want the two evicted layers (and configs) deleted", r)
	}
	if n := blobBytes(t, b); n > capBytes {
		t.Fatalf("after gc the blob store holds %d bytes, over the cap %d", n, capBytes)
	}
	for _, i := range []int{2, 3} {
		if _, err := os.Stat(blobData(b, layers[i])); !os.IsNotExist(err) {
			t.Fatalf("img%d's layer is still stored after eviction and gc: %v", i, err)
		}
	}
	if s := getProxyState(t, b, "hub"); s.UsedBytes > capBytes {
		t.Fatalf("usage after gc %d, over the cap %d", s.UsedBytes, capBytes)
	}

	// With the upstream down: the recently pulled images are served, the
	// evicted ones are gone from berth.
	fr.set(func(f *front) { f.down = true })
	for _, i := range []int{1, 4} {
		pull(i)
		if d := craneDigest(t, ref(i)); d != digests[i] {
			t.Fatalf("img%d served as %s, want %s", i, d, digests[i])
		}
	}
	for _, i := range []int{2, 3} {
		repo := fmt.Sprintf("hub/library/img%d", i)
		if resp, body := httpDo(t, http.MethodGet, b.URL("/v2/"+repo+"/tags/list"), nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("tags/list of evicted %s = %d %s, want 404", repo, resp.StatusCode, body)
		}
		if resp, body := getManifest(t, b, http.MethodGet, repo, digests[i]); resp.StatusCode != http.StatusBadGateway {
			t.Fatalf("evicted %s@%s with the upstream down = %d %s, want 502 (not held: only the upstream has it)", repo, digests[i], resp.StatusCode, body)
		}
	}

	// With the upstream back, an evicted image is fetched from it again.
	fr.set(func(f *front) { f.down = false })
	manifests, blobs := fr.count("GET", "/library/img2/manifests/"+digests[2]), fr.count("GET", "/blobs/"+layers[2])
	pull(2)
	if m, l := fr.count("GET", "/library/img2/manifests/"+digests[2]), fr.count("GET", "/blobs/"+layers[2]); m != manifests+1 || l != blobs+1 {
		t.Fatalf("re-pulling evicted img2 fetched its manifest %d→%d and layer %d→%d times from the upstream, want once more each", manifests, m, blobs, l)
	}

	resp, body := httpDo(t, http.MethodGet, b.URL("/metrics"), nil)
	metrics := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(metrics, "berth_proxy_evicted_artifacts") ||
		strings.Contains(metrics, "berth_proxy_evicted_artifacts 0\n") || strings.Contains(metrics, "berth_proxy_evicted_bytes 0\n") {
		t.Fatalf("eviction metrics:\n%s", grepLines(metrics, "berth_proxy_evicted"))
	}
	audit := berthtest.MustAPI(t, b, http.MethodGet, "/api/berth/v1/audit?project=hub&type=proxy.evict", nil, http.StatusOK)
	if !strings.Contains(audit, `"artifactsEvicted"`) || !strings.Contains(audit, `"proxy.evict"`) {
		t.Fatalf("the eviction run is not in the audit log: %s", audit)
	}
}

// blobData is where filesystem storage keeps a blob's bytes.
func blobData(b *berthtest.Berth, d string) string {
	alg, hex, _ := strings.Cut(d, ":")
	return filepath.Join(b.DataDir, "registry/docker/registry/v2/blobs", alg, hex[:2], hex, "data")
}
