package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Concurrent uploads of one chart version, each a different archive: one is
// stored (201), the others get 409, and the chart lists the version once.
func TestChartUploadSameVersionConcurrently(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "race"}, http.StatusCreated)
	const n = 8
	chart := hostileEntry{name: "racer/Chart.yaml", body: "apiVersion: v2\nname: racer\nversion: 1.0.0\n"}
	codes := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		tgz := craftTgz(t, chart, hostileEntry{name: "racer/values.yaml", body: fmt.Sprintf("who: %d\n", i)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], bodies[i] = uploadChart(t, b, "race", tgz, nil, "", "admin", b.AdminPassword)
		}()
	}
	wg.Wait()
	created := 0
	for i, code := range codes {
		switch code {
		case http.StatusCreated:
			created++
		case http.StatusConflict:
			if !strings.Contains(bodies[i], "already exists") {
				t.Errorf("upload %d: 409 %s, want it to say the version exists", i, bodies[i])
			}
		default:
			t.Errorf("upload %d: %d %s, want 201 or 409", i, code, bodies[i])
		}
	}
	if created != 1 {
		t.Fatalf("%d of %d concurrent uploads of one version were stored (codes %v), want exactly 1", created, n, codes)
	}
	out := mustAPI(t, b, http.MethodGet, "/api/chartrepo/race/charts/racer", nil, http.StatusOK)
	if c := strings.Count(out, `"version":"1.0.0"`); c != 1 {
		t.Errorf("versions of racer: %s, want 1.0.0 once", out)
	}
}
