package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestProxyDockerMirror: Docker's daemon with berth as its
// registry-mirrors entry pulls docker.io/library/app:v1 (a name without a
// project) through the proxy project configured for docker.io. The daemon
// is a private dockerd (its own data root and socket, vfs, no networking);
// its proxy settings point at a closed loopback port, so a fallback to
// Docker Hub fails on this machine instead of leaving it.
func TestProxyDockerMirror(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	_, layer := pushRandomImage(t, up.Addr+"/library/app:v1", 120<<10)
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true, Env: []string{"BERTH_PROXY_MIRRORS=docker.io=hub"}})
	bindProxy(t, b, map[string]any{"project": "hub", "public": true, "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})

	sock := startDockerd(t, b.Addr)
	out, err := berthtest.RunErr(t, "docker", "-H", "unix://"+sock, "pull", "library/app:v1")
	if err != nil {
		t.Fatalf("docker pull through the mirror: %v\n%s", err, out)
	}
	if n := fr.count("GET", "/blobs/"+layer); n != 1 {
		t.Fatalf("the layer was fetched %d times from the upstream, want 1", n)
	}
	resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/hub/library/app/tags/list"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the image docker pulled is not in the proxy project: %d", resp.StatusCode)
	}
}

// startDockerd runs a private Docker daemon with berth as its mirror and
// returns its socket.
func startDockerd(t *testing.T, mirror string) string {
	t.Helper()
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		t.Skip("dockerd is not installed")
	}
	dir, err := os.MkdirTemp("", "berth-dockerd-") // short: the socket path is bounded
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "d.sock")
	cfg := filepath.Join(dir, "daemon.json")
	writeFile(t, cfg, []byte(fmt.Sprintf(`{"registry-mirrors": ["http://%s"], "insecure-registries": [%q]}`, mirror, mirror)))
	cmd := exec.Command(bin, "--config-file", cfg, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "pid"), "-H", "unix://"+sock, "--bridge=none", "--iptables=false", "--ip6tables=false", "--storage-driver=vfs")
	cmd.Env = append(os.Environ(), "HTTPS_PROXY=http://127.0.0.1:9", "HTTP_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1")
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // after the daemon stopped
	done, logs := startDaemon(t, "dockerd", cmd)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, err := berthtest.RunErr(t, "docker", "-H", "unix://"+sock, "info"); err == nil && strings.Contains(out, mirror) {
			return sock
		}
		select {
		case <-done:
			t.Fatalf("dockerd exited:\n%s", logs())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("dockerd did not start within 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
