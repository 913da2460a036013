package e2e

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// PostgreSQL stopped, then paused: valid credentials are never "wrong"
// (503 UNAVAILABLE in each API's shape, never 401), no request hangs past
// the database timeout, /readyz says the database is unreachable, and once
// the database is back the same credentials work at once (the failures did
// not count toward a lockout).
func TestFaultsDatabaseOutage(t *testing.T) {
	pg := berthtest.StartPostgres(t)
	b := berthtest.Start(t, berthtest.Options{Env: []string{
		"BERTH_DATABASE_URL=" + pg.NewDatabase(t), "BERTH_DATABASE_TIMEOUT=1s",
		"BERTH_AUTH_MAX_FAILURES=3", "BERTH_AUTH_LOCKOUT_PERIOD=10m",
	}})
	pushRawImage(t, b, "db/app", "v1", "amd64", layerBytes(1))
	token := pullToken(t, b, "admin", b.AdminPassword, "db/app")

	probes := []struct {
		what, path string
		header     map[string]string
		want       string // in the body
	}{
		{"v2 with Basic", "/v2/db/app/manifests/v1", nil, `"UNAVAILABLE"`},
		{"v2 tags/list", "/v2/db/app/tags/list", nil, `"UNAVAILABLE"`},
		{"token service", "/service/token?service=berth&scope=repository:db/app:pull", nil, "UNAVAILABLE"},
		{"v2 with a token", "/v2/db/app/manifests/v1", map[string]string{"Authorization": "Bearer " + token}, `"UNAVAILABLE"`},
		{"CCR", "/api/ccr/v1.0/instances/ccr-manager/projects", nil, `"CCR.CodeInternalError"`},
		{"SWR", "/v2/manage/namespaces", nil, `"SVCSTG.SWR.5030000"`},
		{"Harbor v1", "/api/projects", nil, `"code":503`},
		{"management API", "/api/berth/v1/projects", nil, `"UNAVAILABLE"`},
		{"readyz", "/readyz", nil, `"database":"unreachable"`},
	}
	check := func(phase string) {
		t.Helper()
		for _, p := range probes {
			start := time.Now()
			req, _ := http.NewRequest(http.MethodGet, b.URL(p.path), nil)
			for k, v := range p.header {
				req.Header.Set(k, v)
			}
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s, %s: %v", phase, p.what, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), p.want) {
				t.Errorf("%s, %s: %d %.300s, want 503 with %s", phase, p.what, resp.StatusCode, body, p.want)
			}
			if d := time.Since(start); d > 12*time.Second {
				t.Errorf("%s, %s took %s: not bounded by the database timeout", phase, p.what, d)
			}
		}
	}

	pg.Stop()
	check("database stopped")
	if db, st := backendFaults(t, b, "database"), backendFaults(t, b, "storage"); db < float64(len(probes)-1) || st != 0 {
		t.Errorf("metrics count %v requests the database failed and %v storage failed, want %d and 0", db, st, len(probes)-1)
	}
	pg.Restart(t)
	waitStatus(t, b.URL("/readyz"), http.StatusOK, 30*time.Second)
	if resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/db/app/tags/list"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid credentials after the database came back: %d (locked out?)", resp.StatusCode)
	}

	pg.Pause()
	check("database paused")
	pg.Resume()
	waitStatus(t, b.URL("/readyz"), http.StatusOK, 30*time.Second)
	if resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/db/app/tags/list"), nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid credentials after the database resumed: %d", resp.StatusCode)
	}
}

// MinIO stopped, then paused: a blob GET is 503 with the OCI envelope
// (never a 200 with an empty body) within the storage timeout; manifests
// keep being served from the index; and service resumes by itself. MinIO
// killed while a blob streams: the client sees the answer cut short, and
// the access log records it as an error, not a success.
func TestFaultsStorageOutage(t *testing.T) {
	minio := berthtest.StartMinIO(t)
	b := berthtest.Start(t, berthtest.Options{Env: append(minio.Env("outage2"), "BERTH_STORAGE_TIMEOUT=2s", "BERTH_MANIFEST_CACHE=0")})
	img := pushRawImage(t, b, "st/app", "v1", "amd64", layerBytes(5))
	layer := parseManifestLayers(t, img.Manifest)[0]
	for _, phase := range []string{"stopped", "paused"} {
		if phase == "stopped" {
			minio.Stop()
		} else {
			minio.Pause()
		}
		start := time.Now()
		resp, body := httpDo(t, http.MethodGet, b.URL("/v2/st/app/blobs/"+layer), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"UNAVAILABLE"`) {
			t.Errorf("blob GET, MinIO %s: %d %q, want 503 UNAVAILABLE", phase, resp.StatusCode, body)
		}
		if d := time.Since(start); d > 12*time.Second {
			t.Errorf("blob GET, MinIO %s, took %s: not bounded by storage.timeout", phase, d)
		}
		resp, body = getManifest(t, b, http.MethodGet, "st/app", "v1")
		if resp.StatusCode != http.StatusOK || string(body) != string(img.Manifest) {
			t.Errorf("manifest GET, MinIO %s: %d %q, want it served from the index", phase, resp.StatusCode, body)
		}
		if phase == "stopped" {
			minio.Restart(t)
		} else {
			minio.Resume()
		}
		waitStatus(t, b.URL("/readyz"), http.StatusOK, 30*time.Second)
		if resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/st/app/blobs/"+layer), nil); resp.StatusCode != http.StatusOK {
			t.Errorf("blob GET after MinIO %s and came back: %d", phase, resp.StatusCode)
		}
	}

	if st, db := backendFaults(t, b, "storage"), backendFaults(t, b, "database"); st < 2 || db != 0 {
		t.Errorf("metrics count %v requests storage failed and %v the database failed, want at least 2 and 0", st, db)
	}

	big := pushBlob(t, b, "st/app", bytes.Repeat([]byte("0123456789abcdef"), 2<<20)) // 32 MiB
	resp, err := http.Get(b.URL("/v2/st/app/blobs/" + big))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("big blob GET: %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	minio.Kill()
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && n+64<<10 == 32<<20 {
		t.Log("the whole blob arrived before MinIO died (buffers): nothing cut short")
	} else {
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(b.Logs(), "the answer was cut short") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(b.Logs(), "the answer was cut short") {
			t.Errorf("a blob answer cut short by storage (client got %d bytes more, %v) is not logged as an error", n, err)
		}
	}
	minio.Restart(t)
}

// An upload abandoned mid-way is purged after storage.uploadPurging.age:
// its session is gone (404 BLOB_UPLOAD_UNKNOWN) without anyone doing
// anything.
func TestFaultsAbandonedUploadsPurged(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{
		"BERTH_STORAGE_UPLOAD_PURGING_AGE=1s", "BERTH_STORAGE_UPLOAD_PURGING_INTERVAL=1s",
	}})
	loc := startUpload(t, b, "purge/app")
	req, _ := http.NewRequest(http.MethodPatch, loc, strings.NewReader("half a layer"))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, body := httpDo(t, http.MethodGet, loc, nil)
		if resp.StatusCode == http.StatusNotFound && strings.Contains(string(body), "BLOB_UPLOAD_UNKNOWN") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("abandoned upload still there after 20s: %d %s", resp.StatusCode, body)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if !strings.Contains(b.Logs(), `"msg":"upload purge"`) {
		t.Error("the purge pass is not logged")
	}
}

func waitStatus(t *testing.T, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer %d within %s (last: %v %v)", url, want, within, resp, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func parseManifestLayers(t *testing.T, raw []byte) []string {
	t.Helper()
	m := parseManifest(t, raw)
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	if len(out) == 0 {
		t.Fatalf("no layers in %s", raw)
	}
	return out
}

// backendFaults is the sum over kinds of berth_http_backend_faults_total
// for backend.
func backendFaults(t *testing.T, b *berthtest.Berth, backend string) float64 {
	t.Helper()
	resp, body := httpDo(t, http.MethodGet, b.URL("/metrics"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	var sum float64
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "berth_http_backend_faults_total{") && strings.Contains(l, `backend="`+backend+`"`) {
			f := strings.Fields(l)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", l, err)
			}
			sum += v
		}
	}
	return sum
}
