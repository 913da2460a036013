package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestProxyBearerUpstream: the upstream is another berth, which answers
// like Docker Hub (401 with a Bearer challenge naming its token service).
// The proxy fetches a token with the configured credentials and pulls a
// private project's image through a namespace; wrong credentials are
// reported by the connection test and refused pulls are not cached.
func TestProxyBearerUpstream(t *testing.T) {
	upstream := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	berthtest.MustAPI(t, upstream, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "lib", "public": false}, 201)
	d, layer := pushRandomImage(t, upstream.Addr+"/lib/tools/app:v1", 200<<10)
	resp, _ := httpDo(t, http.MethodGet, "http://"+upstream.Addr+"/v2/", map[string]string{"Authorization": "Bearer nothing"})
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("the upstream berth should challenge for a bearer token: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	bindProxy(t, b, map[string]any{"project": "mirror", "url": "http://" + upstream.Addr, "username": "admin",
		"password": upstream.AdminPassword, "namespace": "lib/"})
	status, out := berthtest.APICall(t, b, http.MethodPost, "/api/berth/v1/proxies/mirror/ping", "admin", b.AdminPassword, nil)
	if status != http.StatusOK || !strings.Contains(out, `"ok":true`) {
		t.Fatalf("ping with a token upstream = %d %s", status, out)
	}
	crane := berthtest.Tool(t, "crane")
	ref := b.Addr + "/mirror/tools/app:v1"
	berthtest.Run(t, crane, "pull", ref, filepath.Join(t.TempDir(), "img.tar"), "--insecure")
	if got := craneDigest(t, ref); got != d {
		t.Fatalf("digest through the proxy %s, upstream %s", got, d)
	}
	// A multi-platform index: regctl copies it whole through the proxy
	// (the index by tag, then each platform's manifest by digest).
	up := upstream.Addr + "/lib/tools/multi"
	plat := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		l := filepath.Join(t.TempDir(), arch+".tar")
		writeTar(t, l, map[string][]byte{"arch": []byte(arch + "\n")})
		base := craneAppend(t, up+":base-"+arch, nil, l)
		berthtest.Run(t, crane, "mutate", up+"@"+base, "--set-platform", "linux/"+arch, "-t", up+":"+arch, "--insecure")
		plat[arch] = craneDigest(t, up+":"+arch)
	}
	berthtest.Run(t, crane, "index", "append", "-m", up+":amd64", "-m", up+":arm64", "-t", up+":v1", "--insecure")
	regctl := berthtest.Tool(t, "regctl")
	berthtest.Run(t, regctl, "registry", "set", b.Addr, "--tls", "disabled")
	berthtest.Run(t, regctl, "image", "copy", b.Addr+"/mirror/tools/multi:v1", "ocidir://"+filepath.Join(t.TempDir(), "layout")+":v1")
	if got := strings.TrimSpace(berthtest.Output(t, regctl, "manifest", "digest", "--platform", "linux/arm64", b.Addr+"/mirror/tools/multi:v1")); got != plat["arm64"] {
		t.Fatalf("regctl through the proxy: linux/arm64 is %q, want %s", got, plat["arm64"])
	}

	// The layer is in berth now: served with the upstream stopped.
	if err := upstream.Stop(); err != nil {
		t.Logf("stopping the upstream: %v", err)
	}
	resp, _ = httpDo(t, http.MethodGet, b.URL("/v2/mirror/tools/app/blobs/"+layer), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a cached layer with the upstream stopped = %d", resp.StatusCode)
	}

	// Wrong credentials: the test says so, a pull is 502 and nothing is cached.
	wrong := "wrong-Password-1"
	status, out = berthtest.APICall(t, b, http.MethodPost, "/api/berth/v1/proxies", "admin", b.AdminPassword,
		map[string]any{"project": "bad", "url": "http://" + b.Addr, "username": "admin", "password": wrong})
	if status != http.StatusCreated {
		t.Fatalf("POST /proxies = %d %s", status, out)
	}
	status, out = berthtest.APICall(t, b, http.MethodPost, "/api/berth/v1/proxies/bad/ping", "admin", b.AdminPassword, nil)
	if status != http.StatusOK || !strings.Contains(out, `"ok":false`) || !strings.Contains(out, "credentials") {
		t.Fatalf("ping with wrong credentials = %d %s", status, out)
	}
	resp, body := getManifest(t, b, http.MethodGet, "bad/mirror/tools/app", "v1")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "credentials") {
		t.Fatalf("a pull with wrong upstream credentials = %d %s", resp.StatusCode, body)
	}
}
