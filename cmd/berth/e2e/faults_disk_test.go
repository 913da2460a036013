package e2e

import (
	"bytes"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// berth on a small tmpfs (filesystem storage and SQLite on one full disk):
// uploads are refused with 507 in the OCI envelope, never a 500 and never a
// server path; tag moves and deletes either happen or are refused whole;
// `berth reindex` on the full disk either works or says what space it
// needs; and once space is freed the index, storage and every view agree
// without a manual step.
func TestFaultsDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the disk-full test mounts a small tmpfs, which needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s)", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	dir := filepath.Join(mnt, "data")
	b := berthtest.Start(t, berthtest.Options{DataDir: dir})
	const repo = "full/app/img"
	v1 := pushRawImage(t, b, repo, "v1", "amd64", layerBytes(1))
	v2 := pushRawImage(t, b, repo, "v2", "amd64", layerBytes(2))
	pushRawImage(t, b, repo, "v3", "amd64", layerBytes(3))

	filler := filepath.Join(mnt, "filler")
	fill(t, filler)

	// An upload: refused, 507, OCI envelope, no path (when it starts, or
	// when its data is written).
	resp, err := http.Post(b.URL("/v2/"+repo+"/blobs/uploads/"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode == http.StatusAccepted {
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "http") {
			loc = b.URL(loc)
		}
		data := bytes.Repeat([]byte("f"), 4<<20)
		req, _ := http.NewRequest(http.MethodPut, withDigest(loc, sha(data)), bytes.NewReader(data))
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		body = readAll(t, resp)
	}
	if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(body, `"UNAVAILABLE"`) {
		t.Errorf("upload on a full disk: %d %s, want 507 UNAVAILABLE", resp.StatusCode, body)
	}
	noServerPaths(t, "upload on a full disk", body, b.DataDir)

	// Changes of the index on the full disk: done whole, or refused whole.
	type change struct {
		what   string
		method string
		path   string
		body   []byte
	}
	for _, c := range []change{
		{"move v3 to v1's manifest", http.MethodPut, "/v2/" + repo + "/manifests/v3", v1.Manifest},
		{"delete tag v1", http.MethodDelete, "/v2/" + repo + "/manifests/v1", nil},
		{"delete v2 by digest", http.MethodDelete, "/v2/" + repo + "/manifests/" + v2.Digest, nil},
	} {
		req, _ := http.NewRequest(c.method, b.URL(c.path), bytes.NewReader(c.body))
		if c.body != nil {
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		t.Logf("%s on a full disk: %d %s", c.what, resp.StatusCode, body)
		switch {
		case resp.StatusCode < 300:
		case resp.StatusCode == http.StatusInsufficientStorage && strings.Contains(body, `"UNAVAILABLE"`):
		default:
			t.Errorf("%s on a full disk: %d %s, want success or 507 UNAVAILABLE", c.what, resp.StatusCode, body)
		}
		noServerPaths(t, c.what, body, b.DataDir)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}

	// reindex on the full disk works, or says what it needs.
	code, out := berthTool(t, b, "reindex")
	t.Logf("reindex on a full disk: exit %d\n%s", code, out)
	if code != 0 && !strings.Contains(out, "free at least") && !strings.Contains(out, "free some space") {
		t.Errorf("reindex on a full disk failed without saying what it needs: exit %d\n%s", code, out)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	b = berthtest.Start(t, berthtest.Options{DataDir: dir})
	waitClean(t, b, 60*time.Second)
	for _, tag := range []string{"v1", "v2", "v3"} {
		if v := tagViews(t, b, repo, tag, true); !v.agree() {
			t.Errorf("%s after space was freed: the views disagree: %v", tag, v)
		}
	}
	pushRawImage(t, b, repo, "v4", "amd64", layerBytes(4)) // and pushes work again
}

// fill writes path until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte{0}, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	for { // the last crumbs, so even a small file cannot be created
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
}
