package charts_test

// The chart repository's API of a whole berth assembled in this process
// (apptest), driven over HTTP like any client, in seconds. The tests with
// the real helm client run against a berth process in cmd/berth/e2e.

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestMain makes plain HTTP requests act as the admin of the berth they
// address (berthtest.Main); anonymous ones use berthtest.AnonymousClient.
func TestMain(m *testing.M) { berthtest.Main(m) }

// Every hostile archive is refused with a clear error in Harbor's shape and
// leaves nothing behind: no repository, no chart, no index entry.
func TestChartUploadRefusesHostileArchives(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{Env: []string{
		"BERTH_CHARTS_MAX_ARCHIVE_SIZE=262144", "BERTH_CHARTS_MAX_UNCOMPRESSED_SIZE=1048576", "BERTH_CHARTS_MAX_CHART_YAML_SIZE=4096",
	}})
	berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "hostile"}, http.StatusCreated)
	chart := berthtest.TarEntry{Name: "evil/Chart.yaml", Body: "apiVersion: v2\nname: evil\nversion: 1.0.0\n"}
	cases := []struct {
		name   string
		data   []byte
		status int
		msg    string
	}{
		{"not gzip", []byte("plain text, not an archive"), http.StatusBadRequest, "not a gzip archive"},
		{"path traversal", berthtest.CraftTgz(t, chart, berthtest.TarEntry{Name: "evil/../../../etc/passwd", Body: "root"}), http.StatusBadRequest, "climbs out"},
		{"absolute path", berthtest.CraftTgz(t, chart, berthtest.TarEntry{Name: "/etc/passwd", Body: "root"}), http.StatusBadRequest, "absolute path"},
		{"symlink out", berthtest.CraftTgz(t, chart, berthtest.TarEntry{Name: "evil/templates/x.yaml", Type: tar.TypeSymlink, Link: "../../../../etc/shadow"}), http.StatusBadRequest, "points outside"},
		{"hardlink out", berthtest.CraftTgz(t, chart, berthtest.TarEntry{Name: "evil/x", Type: tar.TypeLink, Link: "etc/shadow"}), http.StatusBadRequest, "points outside"},
		{"zip bomb", berthtest.CraftTgz(t, chart, berthtest.TarEntry{Name: "evil/bomb", Body: strings.Repeat("\x00", 2<<20)}), http.StatusBadRequest, "decompresses to more than"},
		{"huge Chart.yaml", berthtest.CraftTgz(t, berthtest.TarEntry{Name: "evil/Chart.yaml", Body: chart.Body + "description: " + strings.Repeat("a", 8<<10) + "\n"}), http.StatusBadRequest, "Chart.yaml is"},
		{"name mismatch", berthtest.CraftTgz(t, berthtest.TarEntry{Name: "other/Chart.yaml", Body: chart.Body}), http.StatusBadRequest, "archive's directory"},
		{"not semver", berthtest.CraftTgz(t, berthtest.TarEntry{Name: "evil/Chart.yaml", Body: "apiVersion: v2\nname: evil\nversion: latest\n"}), http.StatusBadRequest, "not SemVer"},
		{"body over limit", bytes.Repeat([]byte{0x1f}, 400<<10), http.StatusRequestEntityTooLarge, "over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := berthtest.UploadChart(t, b, "hostile", tc.data, nil, "", "admin", b.AdminPassword)
			if code != tc.status || !strings.Contains(body, `"errors":[{"code":`) || !strings.Contains(body, tc.msg) {
				t.Errorf("upload: %d %s, want %d mentioning %q", code, body, tc.status, tc.msg)
			}
		})
	}
	if out := berthtest.MustAPI(t, b, http.MethodGet, "/api/chartrepo/hostile/charts", nil, http.StatusOK); strings.TrimSpace(out) != "[]" {
		t.Errorf("charts after hostile uploads: %s", out)
	}
	_, idx, _ := berthtest.GetAs(t, b, "/chartrepo/hostile/index.yaml", "admin", b.AdminPassword)
	if strings.Contains(string(idx), "evil") {
		t.Errorf("index.yaml after hostile uploads:\n%s", idx)
	}
	code, cat, _ := berthtest.GetAs(t, b, "/v2/_catalog", "admin", b.AdminPassword)
	if code != http.StatusOK || strings.Contains(string(cat), "hostile/") {
		t.Errorf("catalog after hostile uploads: %d %s", code, cat)
	}
}

// Concurrent uploads of one chart version, each a different archive: one is
// stored (201), the others get 409, and the chart lists the version once.
func TestChartUploadSameVersionConcurrently(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{})
	berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "race"}, http.StatusCreated)
	const n = 8
	chart := berthtest.TarEntry{Name: "racer/Chart.yaml", Body: "apiVersion: v2\nname: racer\nversion: 1.0.0\n"}
	codes := make([]int, n)
	bodies := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		tgz := berthtest.CraftTgz(t, chart, berthtest.TarEntry{Name: "racer/values.yaml", Body: fmt.Sprintf("who: %d\n", i)})
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], bodies[i] = berthtest.UploadChart(t, b, "race", tgz, nil, "", "admin", b.AdminPassword)
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
	out := berthtest.MustAPI(t, b, http.MethodGet, "/api/chartrepo/race/charts/racer", nil, http.StatusOK)
	if c := strings.Count(out, `"version":"1.0.0"`); c != 1 {
		t.Errorf("versions of racer: %s, want 1.0.0 once", out)
	}
}
