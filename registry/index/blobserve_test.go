package index

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/opencontainers/go-digest"
)

// The lean blob server answers as distribution's does: whole bodies,
// ranges, HEAD, conditional requests, with its headers.
func TestServeBlob(t *testing.T) {
	ctx := context.Background()
	content := strings.Repeat("0123456789", 300_000) // 3 MB: several copy buffers
	d := digest.FromString(content)
	path, err := blobDataPath(d)
	if err != nil {
		t.Fatal(err)
	}
	drv := inmemory.New()
	if err := drv.PutContent(ctx, path, []byte(content)); err != nil {
		t.Fatal(err)
	}
	ix := &Indexer{driver: drv}
	cases := []struct {
		name, method string
		header       map[string]string
		status       int
		body         string
	}{
		{"whole", http.MethodGet, nil, 200, content},
		{"head", http.MethodHead, nil, 200, ""},
		{"range", http.MethodGet, map[string]string{"Range": "bytes=1000-2999999"}, 206, content[1000:]},
		{"suffix", http.MethodGet, map[string]string{"Range": "bytes=-5"}, 206, content[len(content)-5:]},
		{"unsatisfiable", http.MethodGet, map[string]string{"Range": "bytes=9000000-"}, 416, ""},
		{"not modified", http.MethodGet, map[string]string{"If-None-Match": `"` + d.String() + `"`}, 304, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/v2/a/b/blobs/"+d.String(), nil)
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			ok, err := ix.serveBlob(ctx, w, r, d, int64(len(content)), "application/octet-stream")
			if !ok || err != nil {
				t.Fatalf("served %v, %v", ok, err)
			}
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			if c.status != 416 && w.Body.String() != c.body {
				t.Errorf("body of %d bytes, want %d", w.Body.Len(), len(c.body))
			}
			if c.status == 200 && (w.Header().Get("Docker-Content-Digest") != d.String() || w.Header().Get("ETag") != `"`+d.String()+`"` ||
				w.Header().Get("Cache-Control") != blobCacheControl || w.Header().Get("Content-Length") == "") {
				t.Errorf("headers %v", w.Header())
			}
		})
	}
	// A blob shorter in storage than its descriptor says is an error, not
	// a silently short body.
	s := &driverReadSeeker{ctx: ctx, driver: drv, path: path, size: int64(len(content)) + 10}
	if _, err := io.Copy(io.Discard, s); err != io.ErrUnexpectedEOF {
		t.Errorf("short blob: %v, want unexpected EOF", err)
	}
	// With redirects on, distribution serves.
	ix.redirects = true
	if ok, _ := ix.serveBlob(ctx, httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), d, 1, ""); ok {
		t.Error("served with redirects on")
	}
}
