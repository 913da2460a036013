package registry

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-registry/berth/storage"
)

// A success of the OCI API goes out only once what the request wrote
// without a sync is durable (storage.WithDeferredSyncs); when that fails
// the client gets the failure in the API's shape instead, none of the
// success's headers or body.
func TestSuccessWaitsForTheRequestsSyncs(t *testing.T) {
	dir := t.TempDir()
	// A socket cannot be opened to be synced: a sync that fails, for real.
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The failed round is reported once to what retires the index's rows:
	// here, not to another test's.
	t.Cleanup(func() { _ = storage.SyncDeferred() })
	for _, tc := range []struct {
		name     string
		deferred string // what the handler wrote without a sync
		status   int
		code     string
	}{
		{"synced", dir, http.StatusCreated, ""},
		{"sync failed", sock, http.StatusInternalServerError, "UNKNOWN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := withUnavailable(slog.New(slog.NewTextHandler(io.Discard, nil)), nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if err := storage.DeferSync(r.Context(), dir, tc.deferred); err != nil {
					t.Errorf("DeferSync: %v", err)
				}
				w.Header().Set("Location", "/v2/p/a/blobs/sha256:x")
				w.Header().Set("Docker-Content-Digest", "sha256:x")
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte("created"))
			}))
			r := httptest.NewRequest(http.MethodPut, "/v2/p/a/blobs/uploads/u", nil)
			ctx, _ := storage.WithFaultMark(r.Context())
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r.WithContext(ctx))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			body := rec.Body.String()
			if tc.code == "" {
				if body != "created" || rec.Header().Get("Location") == "" {
					t.Errorf("success changed: %q %v", body, rec.Header())
				}
				return
			}
			if !strings.Contains(body, `"code":"`+tc.code+`"`) || strings.Contains(body, "created") {
				t.Errorf("body %q", body)
			}
			if rec.Header().Get("Location") != "" || rec.Header().Get("Docker-Content-Digest") != "" {
				t.Errorf("the success's headers went out: %v", rec.Header())
			}
		})
	}
}

// A full disk met by the barrier is a 507, as any full disk of a request.
func TestFullDiskAtTheBarrier(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
	}{
		{"full", syscall.ENOSPC, http.StatusInsufficientStorage},
		{"io error", syscall.EIO, http.StatusInternalServerError},
		{"none", nil, http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, fault := storage.WithFaultMark(context.Background())
			rec := httptest.NewRecorder()
			called := 0
			w := &unavailableWriter{ResponseWriter: rec, ctx: ctx, fault: fault, barrier: func() error { called++; return tc.err }}
			w.Header().Set("Docker-Upload-Uuid", "u")
			w.WriteHeader(http.StatusAccepted)
			w.finish()
			if rec.Code != tc.status || called != 1 {
				t.Errorf("status %d (barrier called %d times), want %d", rec.Code, called, tc.status)
			}
			if tc.err != nil && rec.Header().Get("Docker-Upload-Uuid") != "" {
				t.Errorf("the success's headers went out: %v", rec.Header())
			}
		})
	}
}
