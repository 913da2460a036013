package e2e

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// runServe runs `berth serve` expecting it to fail at start-up, and returns
// its exit code and output.
func runServe(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	full := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)
	cmd := exec.CommandContext(ctx, berthtest.Binary(t), full...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("berth serve did not exit within 60s:\n%s", out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	code := 0
	if ee != nil {
		code = ee.ExitCode()
	}
	return code, string(out)
}

// Bad configuration and unusable storage stop berth at start-up with a
// message that says what is wrong, a non-zero exit, and never a panic.
func TestStartupFailuresAreClear(t *testing.T) {
	minio := berthtest.SharedMinIO(t)
	deadPort := strconv.Itoa(berthtest.FreePort(t))
	badYAML := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("storage:\n  driver: s3\n  s3:\n    bukket: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3 := func(kv ...string) []string {
		return append([]string{
			"BERTH_STORAGE_DRIVER=s3",
			"BERTH_STORAGE_S3_ENDPOINT=http://" + minio.Endpoint,
			"BERTH_STORAGE_S3_ACCESS_KEY=" + minio.AccessKey,
			"BERTH_STORAGE_S3_SECRET_KEY=" + minio.SecretKey,
			"BERTH_STORAGE_S3_BUCKET=berth-startup",
			"BERTH_STORAGE_S3_CREATE_BUCKET=true",
		}, kv...)
	}
	cases := []struct {
		name  string
		env   []string
		args  []string
		wants []string
	}{
		{"unknown key in file", nil, []string{"--config", badYAML}, []string{`unknown key "storage.s3.bukket"`}},
		{"missing config file", nil, []string{"--config", "/nonexistent/berth.yaml"}, []string{"config file", "no such file"}},
		{"bad env value", []string{"BERTH_STORAGE_S3_PATH_STYLE=sideways"}, nil, []string{"BERTH_STORAGE_S3_PATH_STYLE", "not a boolean"}},
		{"unknown flag", nil, []string{"--bogus"}, []string{"bogus"}},
		{"unreachable MinIO", s3("BERTH_STORAGE_S3_ENDPOINT=http://127.0.0.1:" + deadPort), nil,
			[]string{"storage.s3.endpoint", "cannot reach S3 endpoint 127.0.0.1:" + deadPort}},
		{"wrong credentials", s3("BERTH_STORAGE_S3_SECRET_KEY=wrong-secret-key"), nil,
			[]string{"storage.s3.accessKey", "refused the credentials"}},
		{"unknown access key", s3("BERTH_STORAGE_S3_ACCESS_KEY=nobody"), nil,
			[]string{"storage.s3.accessKey", "refused the credentials"}},
		{"missing bucket, creation not allowed", s3("BERTH_STORAGE_S3_CREATE_BUCKET=false", "BERTH_STORAGE_S3_BUCKET=never-created"), nil,
			[]string{"storage.s3.bucket", `"never-created" does not exist`, "createBucket"}},
		{"address in use", nil, []string{"--addr", minio.Endpoint}, []string{"addr", "address already in use"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runServe(t, tc.env, tc.args...)
			if code == 0 {
				t.Fatalf("exit code 0, want failure:\n%s", out)
			}
			for _, w := range tc.wants {
				if !strings.Contains(out, w) {
					t.Errorf("output does not mention %q:\n%s", w, out)
				}
			}
			for _, bad := range []string{"panic", "goroutine ", "wrong-secret-key"} {
				if strings.Contains(out, bad) {
					t.Errorf("output contains %q:\n%s", bad, out)
				}
			}
		})
	}
}

// When MinIO goes away at run time, requests that need storage fail fast
// with 503 and the OCI error body, /readyz reports it, and service resumes
// when MinIO returns. Manifests are served from the index, which keeps
// their bytes (verified against the digest), so pulls of manifests go on,
// byte for byte, with the hot manifest cache (one replica) or without it
// (the other).
func TestStorageOutageGives503(t *testing.T) {
	minio := berthtest.StartMinIO(t)
	env := append(minio.Env("outage"), "BERTH_STORAGE_TIMEOUT=3s",
		"BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t)) // replicas share the index
	b := berthtest.Start(t, berthtest.Options{Env: append(env, "BERTH_MANIFEST_CACHE=0")})
	hot := berthtest.Start(t, berthtest.Options{Env: env})
	ref := b.Addr + "/library/outage:v1"
	dgst := pushSmallImage(t, ref)
	manifestURL := b.URL("/v2/library/outage/manifests/v1")
	warm, err := http.Get(hot.URL("/v2/library/outage/manifests/v1"))
	if err != nil {
		t.Fatal(err)
	}
	warmBody := readAll(t, warm)
	if warm.StatusCode != 200 {
		t.Fatalf("warm-up GET on the caching replica: %d %s", warm.StatusCode, warmBody)
	}

	// A manifest is a blob of its repository too: distribution serves it
	// from /blobs/, and so does berth.
	if resp, err := http.Get(b.URL("/v2/library/outage/blobs/" + dgst)); err != nil {
		t.Fatal(err)
	} else if body := readAll(t, resp); resp.StatusCode != 200 || body != warmBody {
		t.Fatalf("GET /blobs/ of the manifest digest = %d %q, want 200 and the manifest", resp.StatusCode, body)
	}

	minio.Stop()
	resp, err := http.Get(hot.URL("/v2/library/outage/manifests/v1"))
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || body != warmBody || resp.Header.Get("Docker-Content-Digest") != warm.Header.Get("Docker-Content-Digest") {
		t.Errorf("hot manifest during outage = %d %q, want 200 and the bytes served before", resp.StatusCode, body)
	}
	if resp, err := http.Get(hot.URL("/v2/library/outage/blobs/" + dgst)); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("blob from the caching replica during outage: %v %v, want 503", resp, err)
	}
	if resp, err := http.Get(manifestURL); err != nil {
		t.Fatal(err)
	} else if body := readAll(t, resp); resp.StatusCode != 200 || body != warmBody {
		t.Errorf("manifest from the index during outage (no cache) = %d %q, want 200 and the bytes served before", resp.StatusCode, body)
	}
	for _, path := range []string{"/v2/library/outage/blobs/" + dgst, "/readyz"} {
		start := time.Now()
		resp, err := http.Get(b.URL(path))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("GET %s during outage = %d %s, want 503", path, resp.StatusCode, body)
		}
		if strings.HasPrefix(path, "/v2/") && !strings.Contains(body, `"UNAVAILABLE"`) {
			t.Errorf("GET %s: body %s lacks the OCI UNAVAILABLE error", path, body)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("GET %s took %s: hung instead of failing fast", path, d)
		}
	}
	if resp, err := http.Get(b.URL("/healthz")); err != nil || resp.StatusCode != 200 {
		t.Errorf("/healthz must stay 200 while the process is up: %v %v", resp, err)
	}
	// Lists come from the metadata index, so they keep answering.
	if resp, err := http.Get(b.URL("/v2/library/outage/tags/list")); err != nil || resp.StatusCode != 200 {
		t.Errorf("tags/list is served from the index and must not need storage: %v %v", resp, err)
	} else if body := readAll(t, resp); !strings.Contains(body, `"v1"`) {
		t.Errorf("tags/list during outage: %s", body)
	}

	minio.Restart(t)
	if err := berthtest.WaitReady(b.URL("/readyz"), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(manifestURL)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 {
		t.Fatalf("after MinIO returned: %d %s", resp.StatusCode, body)
	}
}

// pushSmallImage pushes a one-layer image with crane and returns its digest.
func pushSmallImage(t *testing.T, ref string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello from "+ref), 0o644); err != nil {
		t.Fatal(err)
	}
	layer := filepath.Join(dir, "layer.tar")
	berthtest.Run(t, "tar", "-C", dir, "-cf", layer, "hello.txt")
	crane := berthtest.Tool(t, "crane")
	berthtest.Run(t, crane, "append", "--insecure", "-f", layer, "-t", ref)
	return strings.TrimSpace(berthtest.Run(t, crane, "digest", "--insecure", ref))
}
