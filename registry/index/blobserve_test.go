package index

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
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
	drv := &openCounter{StorageDriver: inmemory.New()}
	if err := drv.PutContent(ctx, path, []byte(content)); err != nil {
		t.Fatal(err)
	}
	ix := &Indexer{driver: drv}
	cases := []struct {
		name, method string
		header       map[string]string
		status       int
		body         string
		opens        int // streams opened in storage
	}{
		{"whole", http.MethodGet, nil, 200, content, 1},
		{"head", http.MethodHead, nil, 200, "", 0},
		{"range", http.MethodGet, map[string]string{"Range": "bytes=1000-2999999"}, 206, content[1000:], 1},
		{"open range", http.MethodGet, map[string]string{"Range": "bytes=2999990-"}, 206, content[2999990:], 1},
		{"suffix", http.MethodGet, map[string]string{"Range": "bytes=-5"}, 206, content[len(content)-5:], 1},
		{"unsatisfiable", http.MethodGet, map[string]string{"Range": "bytes=9000000-"}, 416, "", 0},
		{"not modified", http.MethodGet, map[string]string{"If-None-Match": `"` + d.String() + `"`}, 304, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/v2/a/b/blobs/"+d.String(), nil)
			for k, v := range c.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			drv.opens = 0
			ok, err := ix.serveBlob(ctx, w, r, d, int64(len(content)), "application/octet-stream")
			if !ok || err != nil {
				t.Fatalf("served %v, %v", ok, err)
			}
			if drv.opens != c.opens {
				t.Errorf("%d streams opened in storage, want %d", drv.opens, c.opens)
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
	// Data gone from storage while the blob is still known: 404
	// BLOB_UNKNOWN before anything else is written, and the blob reads as
	// gone until its data is back.
	gone := digest.FromString("gone")
	for _, h := range []map[string]string{
		nil,
		{"Range": "bytes=2-"},
		{"Range": "bytes=1-2"},
		{"Range": "bytes=0-0,2-3"}, // several ranges
		{"Range": "bytes=-2"},      // a suffix
		{"If-None-Match": `"sha256:other"`},
		{"If-None-Match": `"sha256:other"`, "Range": "bytes=1-"},
		{"Range": "bytes=1-", "If-Range": `"sha256:other"`}, // the whole blob, then
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/v2/a/b/blobs/"+gone.String(), nil)
		for k, v := range h {
			r.Header.Set(k, v)
		}
		ok, err := ix.serveBlob(ctx, w, r, gone, 4, "application/octet-stream")
		if !ok || err != nil || w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "BLOB_UNKNOWN") || w.Header().Get("Docker-Content-Digest") != "" {
			t.Errorf("data gone, %v: served %v, %v: %d %s %v", h, ok, err, w.Code, w.Body, w.Header())
		}
	}
	// A client that holds the blob (its ETag matches) is told so, whatever
	// storage has: no body is sent either way.
	for _, inm := range []string{`"` + gone.String() + `"`, `W/"sha256:x", "` + gone.String() + `"`, "*"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/v2/a/b/blobs/"+gone.String(), nil)
		r.Header.Set("If-None-Match", inm)
		if ok, err := ix.serveBlob(ctx, w, r, gone, 4, "application/octet-stream"); !ok || err != nil || w.Code != http.StatusNotModified {
			t.Errorf("data gone, If-None-Match %s: served %v, %v: %d", inm, ok, err, w.Code)
		}
	}
	if !ix.dataGone(ctx, gone) || ix.dataGone(ctx, d) {
		t.Error("dataGone does not tell the gone blob from the stored one")
	}
	goneAt, _ := blobDataPath(gone)
	if err := drv.PutContent(ctx, goneAt, []byte("gone")); err != nil {
		t.Fatal(err)
	}
	if ix.dataGone(ctx, gone) {
		t.Error("dataGone after the data is back")
	}
	// With redirects on, distribution serves.
	ix.redirects = true
	if ok, _ := ix.serveBlob(ctx, httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), d, 1, ""); ok {
		t.Error("served with redirects on")
	}
}

// openCounter counts the streams opened in storage.
type openCounter struct {
	storagedriver.StorageDriver
	opens int
}

func (o *openCounter) Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error) {
	o.opens++
	return o.StorageDriver.Reader(ctx, path, offset)
}
