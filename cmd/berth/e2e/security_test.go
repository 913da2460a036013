package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Secrets at rest: in a data directory that already exists (and is open
// to others), the database, its -wal and -shm files and the generated admin
// password are readable by berth's user only, a database left readable by
// others is made private, and both are logged.
func TestSecretsAtRestArePrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := berthtest.Start(t, berthtest.Options{DataDir: dir, NoAdminPassword: true})
	pushRawImage(t, b, "library/private", "v1", "amd64", layerBytes(1)) // the WAL is written
	for _, f := range []string{"berth.db", "berth.db-wal", "berth.db-shm", "admin.password"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s is %s, want -rw-------", f, fi.Mode().Perm())
		}
	}
	if !strings.Contains(b.Logs(), "the data directory is readable by other users") {
		t.Error("no warning about a data directory open to others")
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "berth.db"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = berthtest.Start(t, berthtest.Options{DataDir: dir, NoAdminPassword: true})
	if fi, _ := os.Stat(filepath.Join(dir, "berth.db")); fi.Mode().Perm() != 0o600 {
		t.Errorf("a database left readable by others is still %s", fi.Mode().Perm())
	}
	if !strings.Contains(b.Logs(), "the metadata database was readable by other users") {
		t.Error("tightening the database is not logged")
	}
}

// Slow clients: an idle keep-alive connection and a body trickling a byte
// at a time are both cut (here after 2 s), while a normal chunked upload
// works and an upload cut mid-body stays resumable from what arrived.
func TestSlowClientsAreCut(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{"BERTH_IDLE_TIMEOUT=2s", "BERTH_BODY_TIMEOUT=2s"}})
	idle, err := net.Dial("tcp", b.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", b.Addr)
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("keep-alive request: %v %v", resp, err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	start := time.Now()
	_ = idle.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := br.ReadByte(); err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("an idle keep-alive connection stayed open %s (%v)", time.Since(start), err)
	}

	loc := startUpload(t, b, "slow/app")
	if !strings.HasPrefix(loc, "http") {
		loc = b.URL(loc)
	}
	pr, pw := io.Pipe()
	go func() {
		_, _ = pw.Write([]byte(strings.Repeat("x", 20<<10))) // some progress, then a trickle
		for range 20 {
			time.Sleep(500 * time.Millisecond)
			if _, err := pw.Write([]byte("y")); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPatch, loc, pr)
	req.Header.Set("Content-Type", "application/octet-stream")
	start = time.Now()
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
	}
	pr.CloseWithError(io.ErrClosedPipe)
	if took > 8*time.Second {
		t.Errorf("a trickling body held the request %s", took)
	}
	// What arrived is kept: the upload goes on from its offset.
	status, _ := httpDo(t, http.MethodGet, loc, nil)
	if status.StatusCode != http.StatusNoContent {
		t.Fatalf("upload status after the cut: %d", status.StatusCode)
	}
	rng := status.Header.Get("Range") // 0-<last byte>
	var last int64
	if _, err := fmt.Sscanf(rng, "0-%d", &last); err != nil || last+1 < 16<<10 {
		t.Fatalf("upload kept %q after the cut, want at least the first 16 KiB", rng)
	}
	t.Logf("the cut upload kept %d bytes and goes on", last+1)

	pushRawImage(t, b, "slow/app", "v1", "amd64", randomBytes(t, 256<<10)) // normal clients are not bothered
}

// Names that no registry serves are refused cheaply: an 800 KB path is 400
// NAME_INVALID, not a 500, and the log does not carry it whole.
func TestHugeNamesAreInvalid(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	for _, path := range []string{"/v2/" + strings.Repeat("a/", 400000) + "manifests/x", "/v2/" + strings.Repeat("a", 800000) + "/tags/list"} {
		resp, body := httpDo(t, http.MethodGet, b.URL(path), nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "NAME_INVALID") {
			t.Errorf("%d-byte path: %d %.200s, want 400 NAME_INVALID", len(path), resp.StatusCode, body)
		}
	}
	if n := len(b.Logs()); n > 200000 {
		t.Errorf("two huge requests wrote %d bytes of log", n)
	}
}

// A token lifetime clients cannot live with (the token specification's
// minimum is 60 s, which regctl relies on) stops start-up.
func TestShortTokenLifetimeRefused(t *testing.T) {
	_, err := berthtest.StartErr(t, berthtest.Options{Env: []string{"BERTH_AUTH_TOKEN_TTL=30s"}})
	if err == nil || !strings.Contains(err.Error(), "auth.tokenTtl") {
		t.Fatalf("start with a 30 s token lifetime: %v", err)
	}
}

// With remote pulls on, FROM may name another registry, but only one the
// download address policy allows: a FROM naming a service on loopback
// connects nowhere and the build log carries nothing of its answer.
func TestRemotePullsFollowTheAddressPolicy(t *testing.T) {
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "internal-secret-answer")
	}))
	defer internal.Close()
	e := startIBEnv(t, berthtest.Options{Env: []string{"BERTH_IMAGEBUILD_REMOTE_PULLS=true"}})
	host := strings.TrimPrefix(internal.URL, "http://")
	body := map[string]any{"project": "remote", "Cluster": "apps", "DefineDockerFileType": "edit",
		"$$plugin": "static_dockerfile", "static_dockerfile.dockerfile": "FROM " + host + "/tools/base:1\n"}
	ib(t, e.b, http.MethodPost, "/api/project/save", body)
	id := ibBuild(t, e.b, "remote", "v1")
	build := waitBuild(t, e.b, "remote", id)
	logs, _ := build["logs"].(string)
	if build["state"] != float64(2) || !strings.Contains(logs, "not a public address") {
		t.Fatalf("build FROM a loopback registry: %v", build)
	}
	if strings.Contains(logs, "internal-secret-answer") || hits.Load() != 0 {
		t.Errorf("the internal service was reached (%d requests); log: %s", hits.Load(), logs)
	}
}
