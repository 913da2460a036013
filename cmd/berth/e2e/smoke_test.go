package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestServesOnEveryBackend starts berth on each backend and checks the
// health endpoints and the OCI base route.
func TestServesOnEveryBackend(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			for _, tc := range []struct {
				path   string
				status int
				body   string
			}{
				{"/healthz", 200, `"ok"`},
				{"/readyz", 200, `"storage":"ok"`},
				{"/v2/", 200, "{}"},
				{"/nope", 404, "not found"},
			} {
				resp, err := http.Get(b.URL(tc.path))
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
					t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
				}
				if resp.Header.Get("X-Request-Id") == "" {
					t.Errorf("GET %s: no X-Request-Id", tc.path)
				}
			}
		})
	}
}
