package registry_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// BenchmarkHotManifest is the server side of a cached manifest GET/HEAD
// in process, without a network: berth's whole handler (request id, JSON
// access log to io.Discard, recovery, the fast route, the access check,
// the reference cache), anonymous and with a bearer token, on SQLite. It
// measures CPU and allocations per request, which a shared machine does
// not blur the way requests/s over loopback are blurred:
//
//	go test ./registry/ -run XXX -bench HotManifest -benchmem
func BenchmarkHotManifest(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	db := metadatatest.Open(b, filepath.Join(dir, "berth.db"))
	svc, err := auth.New(ctx, auth.Defaults(), db, log)
	if err != nil {
		b.Fatal(err)
	}
	const pw = "Bench-password-1"
	if err := svc.Bootstrap(ctx, pw, dir); err != nil {
		b.Fatal(err)
	}
	cfg := registry.Defaults()
	cfg.UseDataDir(dir)
	srv, err := registry.New(ctx, cfg, db, svc, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	h := srv.Handler()
	const repo = "library/hot"
	dgst := benchPush(b, h, repo, "v1", "admin", pw)
	admin, err := svc.Login(ctx, "admin", pw, "")
	if err != nil {
		b.Fatal(err)
	}
	token, err := svc.IssueToken(ctx, admin, []string{repo}, nil, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, method, ref, token string }{
		{"GET-tag", http.MethodGet, "v1", ""},
		{"GET-digest", http.MethodGet, dgst, ""},
		{"HEAD-tag", http.MethodHead, "v1", ""},
		{"HEAD-digest", http.MethodHead, dgst, ""},
		{"GET-tag-token", http.MethodGet, "v1", token},
		{"GET-digest-token", http.MethodGet, dgst, token},
		{"HEAD-tag-token", http.MethodHead, "v1", token},
		{"HEAD-digest-token", http.MethodHead, dgst, token},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(c.method, "/v2/"+repo+"/manifests/"+c.ref, nil)
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK || w.Header().Get("Docker-Content-Digest") != dgst {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// benchPush pushes a one-layer OCI image through h and returns its digest.
func benchPush(b *testing.B, h http.Handler, repo, tag, user, pw string) string {
	do := func(method, path, ctype string, body []byte, want int) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.SetBasicAuth(user, pw)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != want {
			b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		return w
	}
	digestOf := func(p []byte) string { s := sha256.Sum256(p); return "sha256:" + hex.EncodeToString(s[:]) }
	config, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("hot manifest benchmark layer")
	for _, blob := range [][]byte{config, layer} {
		loc := do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted).Header().Get("Location")
		sep := "?"
		if bytes.ContainsRune([]byte(loc), '?') {
			sep = "&"
		}
		do(http.MethodPut, loc+sep+"digest="+digestOf(blob), "application/octet-stream", blob, http.StatusCreated)
	}
	desc := func(mt string, p []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": digestOf(p), "size": len(p)}
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{desc("application/vnd.oci.image.layer.v1.tar", layer)},
	})
	do(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", manifest, http.StatusCreated)
	return digestOf(manifest)
}
