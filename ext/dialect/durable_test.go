package dialect

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-registry/berth/storage"
)

// A dialect's success goes out only once what the request wrote without a
// sync is durable (SWR's /v2/manage runs under the OCI API's deferred
// syncs); when that fails the client gets the failure in the dialect's
// envelope, none of the success's headers or body, and the audit says so.
func TestSuccessWaitsForTheRequestsSyncs(t *testing.T) {
	dir := t.TempDir()
	// A socket cannot be opened to be synced: a sync that fails, for real.
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Cleanup(func() { _ = storage.SyncDeferred() }) // the failed round is reported here, not to another test
	var deferred string
	var api *API[string]
	_, logs := toy(t, func(a *API[string]) {
		api = a
		a.Routes = append(a.Routes, Route{Path: "writes/{project}", Methods: map[string]Op{
			http.MethodPost: {Action: "toy.write", Serve: func(w http.ResponseWriter, r *http.Request) error {
				if err := storage.DeferSync(r.Context(), dir, deferred); err != nil {
					return err
				}
				w.Header().Set("Location", "/toy/writes/p/1")
				a.JSON(w, http.StatusCreated, map[string]string{"made": "1"})
				return nil
			}},
			http.MethodPut: {Serve: func(w http.ResponseWriter, r *http.Request) error {
				return storage.DeferSync(r.Context(), dir, deferred) // writes nothing: a 200
			}},
		}})
	})
	for _, tc := range []struct {
		name, method, deferred string
		status                 int
		code                   string
	}{
		{"synced", http.MethodPost, dir, http.StatusCreated, ""},
		{"sync failed", http.MethodPost, sock, http.StatusServiceUnavailable, "UNAVAILABLE"},
		{"nothing written, synced", http.MethodPut, dir, http.StatusOK, ""},
		{"nothing written, sync failed", http.MethodPut, sock, http.StatusServiceUnavailable, "UNAVAILABLE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deferred = tc.deferred
			logs.Reset()
			r := httptest.NewRequest(tc.method, "/toy/writes/p", nil)
			r.SetBasicAuth("admin", adminPw)
			ctx, _ := storage.WithDeferredSyncs(r.Context())
			ctx, _ = storage.WithFaultMark(ctx)
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, r.WithContext(ctx))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); tc.method == http.MethodPost && err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if tc.code == "" {
				if tc.method == http.MethodPost && (body["made"] != "1" || rec.Header().Get("Location") == "") {
					t.Errorf("success changed: %q %v", rec.Body, rec.Header())
				}
				return
			}
			if body["code"] != tc.code || body["made"] != "" || strings.Count(rec.Body.String(), "{") != 1 {
				t.Errorf("body %q, want one envelope with code %s", rec.Body, tc.code)
			}
			if rec.Header().Get("Location") != "" {
				t.Errorf("the success's headers went out: %v", rec.Header())
			}
			if tc.method == http.MethodPost && !strings.Contains(logs.String(), `"result":"failed"`) {
				t.Errorf("the audit does not record a failure:\n%s", logs)
			}
		})
	}
}

// A full disk met by the barrier is the dialect's 507, an I/O error its
// 503 (as any storage failure), anything else its internal error.
func TestFullDiskAtTheBarrier(t *testing.T) {
	var api *API[string]
	toy(t, func(a *API[string]) { api = a })
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"full", syscall.ENOSPC, http.StatusInsufficientStorage, "FULL"},
		{"io error", syscall.EIO, http.StatusServiceUnavailable, "UNAVAILABLE"},
		{"other", errors.New("sync: no"), http.StatusInternalServerError, "INTERNAL"},
		{"none", nil, http.StatusCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/toy/items/p/x", nil)
			ctx, _ := storage.WithFaultMark(context.Background())
			r = r.WithContext(ctx)
			rec := httptest.NewRecorder()
			called := 0
			w := &durableWriter{ResponseWriter: rec, r: r, fail: api.Fail, durable: func(ctx context.Context) error {
				called++
				if tc.err == nil {
					return nil
				}
				return storage.Observe(ctx, tc.err)
			}}
			w.Header().Set("Location", "/toy/items/p/x")
			api.JSON(w, http.StatusCreated, map[string]string{"made": "1"})
			if err := w.done(); (err != nil) != (tc.err != nil) {
				t.Errorf("done: %v", err)
			}
			var body map[string]string
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != tc.status || called != 1 || body["code"] != tc.code {
				t.Errorf("status %d code %q (barrier called %d times), want %d %q: %s", rec.Code, body["code"], called, tc.status, tc.code, rec.Body)
			}
			if tc.err != nil && rec.Header().Get("Location") != "" {
				t.Errorf("the success's headers went out: %v", rec.Header())
			}
		})
	}
}
