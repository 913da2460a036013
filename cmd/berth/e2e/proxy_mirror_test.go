package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestProxyMirror: berth as Docker's registry-mirrors entry and as a
// containerd hosts.toml mirror. /v2/library/app/... without a project, with
// containerd's ?ns=docker.io or without it, is served by the proxy project
// proxy.mirrors names for docker.io; requests for berth's own projects are
// left alone. containerd's ctr fetches an image through a hosts.toml that
// names berth as docker.io's mirror (its server is a closed loopback port:
// nothing leaves the machine).
func TestProxyMirror(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	d, layer := pushRandomImage(t, up.Addr+"/library/app:v1", 100<<10)

	b := berthtest.Start(t, berthtest.Options{StrictProjects: true, Env: []string{"BERTH_PROXY_MIRRORS=docker.io=hub"}})
	bindProxy(t, b, map[string]any{"project": "hub", "public": true, "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})
	berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "team"}, 201)

	anon := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, b.URL(path), nil)
		req.Header.Set("Accept", acceptAllManifests)
		resp, err := berthtest.AnonymousClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	for _, path := range []string{
		"/v2/library/app/manifests/v1?ns=docker.io", // containerd
		"/v2/library/app/manifests/v1",              // Docker's registry-mirrors
		"/v2/hub/library/app/manifests/v1",          // the proxy project itself
	} {
		resp, body := anon(http.MethodGet, path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != d {
			t.Fatalf("GET %s = %d %s %s", path, resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), body)
		}
	}
	if resp, _ := anon(http.MethodGet, "/v2/library/app/blobs/"+layer+"?ns=docker.io"); resp.StatusCode != http.StatusOK {
		t.Fatalf("a blob through the mirror = %d", resp.StatusCode)
	}
	// An upstream host no mirror is configured for is not rewritten.
	if resp, _ := anon(http.MethodGet, "/v2/library/app/manifests/v1?ns=ghcr.io"); resp.StatusCode == http.StatusOK {
		t.Fatal("a request for an unmirrored host was served from the docker.io mirror")
	}
	// berth's own projects are untouched: push and pull in team.
	crane := berthtest.Tool(t, "crane")
	berthtest.Run(t, crane, "copy", b.Addr+"/library/app:v1", b.Addr+"/team/app:v1", "--insecure")
	if got := craneDigest(t, b.Addr+"/team/app:v1"); got != d {
		t.Fatalf("team/app:v1 = %s, want %s", got, d)
	}

	// containerd, configured as users configure a mirror.
	ctrAddr := startContainerd(t)
	hosts := t.TempDir()
	writeFile(t, filepath.Join(hosts, "docker.io", "hosts.toml"), []byte(fmt.Sprintf(`server = "http://127.0.0.1:1"

[host."http://%s"]
  capabilities = ["pull", "resolve"]
`, b.Addr)))
	before := fr.count("GET", "/blobs/"+layer)
	out := berthtest.Run(t, "ctr", "--address", ctrAddr, "-n", "berthtest", "content", "fetch", "--hosts-dir", hosts, "docker.io/library/app:v1")
	ls := berthtest.Run(t, "ctr", "--address", ctrAddr, "-n", "berthtest", "content", "ls")
	if !strings.Contains(ls, layer) {
		t.Fatalf("containerd has not the layer %s after fetching through the mirror:\n%s\n%s", layer, out, ls)
	}
	if n := fr.count("GET", "/blobs/"+layer); n != before {
		t.Fatalf("containerd's pull of a cached image reached the upstream (%d fetches, %d before)", n, before)
	}
	// A cold image, first asked for by containerd.
	_, cold := pushRandomImage(t, up.Addr+"/library/cold:v1", 150<<10)
	berthtest.Run(t, "ctr", "--address", ctrAddr, "-n", "berthtest", "content", "fetch", "--hosts-dir", hosts, "docker.io/library/cold:v1")
	if ls := berthtest.Run(t, "ctr", "--address", ctrAddr, "-n", "berthtest", "content", "ls"); !strings.Contains(ls, cold) {
		t.Fatalf("containerd has not the cold layer %s:\n%s", cold, ls)
	}
	if n := fr.count("GET", "/blobs/"+cold); n != 1 {
		t.Fatalf("the cold layer was fetched %d times from the upstream, want 1", n)
	}
	resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/hub/library/cold/tags/list"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the cold image is not indexed in the proxy project: tags/list %d", resp.StatusCode)
	}
}

// startContainerd runs containerd (Debian's) as root with its state in a
// temporary directory and returns its socket.
func startContainerd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Skip("containerd is not installed")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "c.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, []byte(fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = ""
[metrics]
  address = ""
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")))
	cmd := exec.Command(bin, "--config", cfg)
	done, logs := startDaemon(t, "containerd", cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := berthtest.RunErr(t, "ctr", "--address", sock, "version"); err == nil {
			return sock
		}
		select {
		case <-done:
			t.Fatalf("containerd exited:\n%s", logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not start within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
