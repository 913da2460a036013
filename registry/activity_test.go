package registry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/berth-registry/berth/registry/observe"
)

// The requests that change something count as activity while they are in
// flight (retention runs give way to them); reads do not.
func TestWithActivityCountsChanges(t *testing.T) {
	for _, tc := range []struct {
		method string
		counts bool
	}{
		{http.MethodGet, false},
		{http.MethodHead, false},
		{http.MethodOptions, false},
		{http.MethodPut, true},
		{http.MethodPost, true},
		{http.MethodPatch, true},
		{http.MethodDelete, true},
	} {
		t.Run(tc.method, func(t *testing.T) {
			var a observe.Activity
			var during int64
			h := withActivity(&a, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				during = a.InFlight()
				w.WriteHeader(http.StatusNoContent)
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, "/v2/p/app/blobs/uploads/", nil))
			if want := map[bool]int64{false: 0, true: 1}[tc.counts]; during != want {
				t.Errorf("in flight during the request: %d, want %d", during, want)
			}
			if n := a.InFlight(); n != 0 {
				t.Errorf("in flight after it: %d", n)
			}
		})
	}
}
