package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestProxyPullThrough: a proxy project in front of a stock registry with
// htpasswd auth. Cold pulls fetch and index, warm pulls stay local, pushes
// are refused, a moved tag is seen after the ttl, and with the upstream
// down the cached tag is still served (stale-on-error, logged and counted).
func TestProxyPullThrough(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	d1, layer1 := pushRandomImage(t, up.Addr+"/library/app:v1", 300<<10)

	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	got := bindProxy(t, b, map[string]any{"project": "hub", "url": "http://" + fr.Addr, "username": up.User,
		"password": up.PW, "ttl": "1s"})
	if got["hasSecret"] != true || strings.Contains(mustJSON(t, got), up.PW) {
		t.Fatalf("POST /proxies answered %v: the secret must be set and never shown", got)
	}
	status, out := berthtest.APICall(t, b, http.MethodGet, "/api/berth/v1/proxies/hub", "admin", b.AdminPassword, nil)
	if status != http.StatusOK || strings.Contains(out, up.PW) || !strings.Contains(out, `"ttl":"1s"`) {
		t.Fatalf("GET /proxies/hub = %d %s", status, out)
	}
	status, out = berthtest.APICall(t, b, http.MethodPost, "/api/berth/v1/proxies/hub/ping", "admin", b.AdminPassword, nil)
	if status != http.StatusOK || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("ping = %d %s", status, out)
	}

	crane := berthtest.Tool(t, "crane")
	ref := b.Addr + "/hub/library/app:v1"
	// Cold pull with crane: everything comes from the upstream once.
	berthtest.Run(t, crane, "pull", ref, filepath.Join(t.TempDir(), "img.tar"), "--insecure")
	if d := craneDigest(t, ref); d != d1 {
		t.Fatalf("digest through the proxy %s, upstream %s", d, d1)
	}
	if n := fr.count("GET", "/blobs/"+layer1); n != 1 {
		t.Fatalf("the layer was fetched %d times from the upstream, want 1", n)
	}
	// Warm pull (skopeo, another real client): nothing more is fetched.
	berthtest.Run(t, "skopeo", "copy", "--src-tls-verify=false", "--src-creds", "admin:"+b.AdminPassword,
		"docker://"+ref, "dir:"+t.TempDir())
	if n := fr.count("GET", "/blobs/"+layer1); n != 1 {
		t.Fatalf("a warm pull fetched the layer again (%d fetches)", n)
	}
	// Indexed like a push: the tag list and the project's storage see it.
	resp, body := httpDo(t, http.MethodGet, b.URL("/v2/hub/library/app/tags/list"), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"v1"`) {
		t.Fatalf("tags/list = %d %s", resp.StatusCode, body)
	}
	status, out = berthtest.APICall(t, b, http.MethodGet, "/api/berth/v1/projects/hub", "admin", b.AdminPassword, nil)
	if status != http.StatusOK || strings.Contains(out, `"storageUsed":0`) {
		t.Fatalf("project after a proxied pull = %d %s: its storage should count what was cached", status, out)
	}

	// Pushes into a proxy project are refused with a clear message.
	out, err := berthtest.RunErr(t, crane, "copy", ref, b.Addr+"/hub/library/other:v1", "--insecure")
	if err == nil || !strings.Contains(out, "DENIED") || !strings.Contains(out, "proxy") {
		t.Fatalf("a push into the proxy project: err %v, output:\n%s", err, out)
	}

	// The tag moves upstream: seen once the ttl passed.
	d2, _ := pushRandomImage(t, up.Addr+"/library/app:v1", 64<<10)
	time.Sleep(1100 * time.Millisecond)
	if d := craneDigest(t, ref); d != d2 {
		t.Fatalf("after the ttl the proxy serves %s, upstream moved to %s", d, d2)
	}
	berthtest.Run(t, crane, "pull", ref, filepath.Join(t.TempDir(), "img1.tar"), "--insecure")

	// The upstream goes down: the cached tag is still served.
	fr.set(func(f *front) { f.down = true })
	time.Sleep(1100 * time.Millisecond)
	if d := craneDigest(t, ref); d != d2 {
		t.Fatalf("with the upstream down the proxy serves %s, want the cached %s", d, d2)
	}
	berthtest.Run(t, crane, "pull", ref, filepath.Join(t.TempDir(), "img2.tar"), "--insecure")
	if !strings.Contains(b.Logs(), "serving the cached tag") {
		t.Fatal("serving a stale tag was not logged")
	}
	resp, body = httpDo(t, http.MethodGet, b.URL("/metrics"), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "berth_proxy_stale_served") ||
		strings.Contains(string(body), "berth_proxy_stale_served 0\n") {
		t.Fatalf("metrics do not count the stale answer:\n%s", grepLines(string(body), "berth_proxy"))
	}
	// Something never fetched cannot be served while the upstream is down: 502.
	resp, body = getManifest(t, b, http.MethodGet, "hub/library/app", "v9")
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("an unknown tag with the upstream down = %d %s, want 502", resp.StatusCode, body)
	}
}

// TestProxyUpstreamDiesMidBlob: the upstream's answer is cut halfway through
// a layer. The client gets an error, nothing half is stored, and the next
// pull fetches the layer again and succeeds.
func TestProxyUpstreamDiesMidBlob(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	_, layer := pushRandomImage(t, up.Addr+"/library/cut:v1", 2<<20)
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	bindProxy(t, b, map[string]any{"project": "hub", "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})

	fr.set(func(f *front) { f.cut = layer })
	crane := berthtest.Tool(t, "crane")
	ref := b.Addr + "/hub/library/cut:v1"
	if out, err := berthtest.RunErr(t, crane, "pull", ref, filepath.Join(t.TempDir(), "a.tar"), "--insecure"); err == nil {
		t.Fatalf("a pull whose layer the upstream cut short succeeded:\n%s", out)
	}
	// Nothing of it is stored: with the upstream down, berth cannot answer it.
	fr.set(func(f *front) { f.down = true })
	resp, _ := httpDo(t, http.MethodHead, b.URL("/v2/hub/library/cut/blobs/"+layer), nil)
	if n := fr.count("GET", "/blobs/"+layer); n != 1 || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("after the cut: %d fetches, HEAD with the upstream down %d (want 502: nothing stored)", n, resp.StatusCode)
	}
	fr.set(func(f *front) { f.down = false })
	berthtest.Run(t, crane, "pull", ref, filepath.Join(t.TempDir(), "b.tar"), "--insecure")
	if n := fr.count("GET", "/blobs/"+layer); n != 2 {
		t.Fatalf("the layer was fetched %d times, want 2 (the cut one stored nothing)", n)
	}

	// A proxy project's quota holds like a push's: what would take it over
	// is refused (403 DENIED), not cached.
	bindProxy(t, b, map[string]any{"project": "tiny", "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})
	berthtest.MustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/tiny", map[string]any{"quota": 1000}, 200)
	resp, body := getManifest(t, b, http.MethodGet, "tiny/library/cut", "v1")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "DENIED") || !strings.Contains(string(body), "quota") {
		t.Fatalf("a proxied pull over the project's quota = %d %s, want 403 DENIED (quota)", resp.StatusCode, body)
	}
	if resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/tiny/library/cut/tags/list"), nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused image was indexed: tags/list %d", resp.StatusCode)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
