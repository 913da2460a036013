package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// hostileEntry is one tar entry of a crafted archive.
type hostileEntry struct {
	name, body, link string
	typ              byte
}

func craftTgz(t *testing.T, entries ...hostileEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hd := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644}
		if e.typ == 0 {
			hd.Typeflag, hd.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(e.body))
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

// Every hostile archive is refused with a clear error in Harbor's shape and
// leaves nothing behind: no repository, no chart, no index entry.
func TestChartUploadRefusesHostileArchives(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{
		"BERTH_CHARTS_MAX_ARCHIVE_SIZE=262144", "BERTH_CHARTS_MAX_UNCOMPRESSED_SIZE=1048576", "BERTH_CHARTS_MAX_CHART_YAML_SIZE=4096",
	}})
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "hostile"}, http.StatusCreated)
	chart := hostileEntry{name: "evil/Chart.yaml", body: "apiVersion: v2\nname: evil\nversion: 1.0.0\n"}
	cases := []struct {
		name   string
		data   []byte
		status int
		msg    string
	}{
		{"not gzip", []byte("plain text, not an archive"), http.StatusBadRequest, "not a gzip archive"},
		{"path traversal", craftTgz(t, chart, hostileEntry{name: "evil/../../../etc/passwd", body: "root"}), http.StatusBadRequest, "climbs out"},
		{"absolute path", craftTgz(t, chart, hostileEntry{name: "/etc/passwd", body: "root"}), http.StatusBadRequest, "absolute path"},
		{"symlink out", craftTgz(t, chart, hostileEntry{name: "evil/templates/x.yaml", typ: tar.TypeSymlink, link: "../../../../etc/shadow"}), http.StatusBadRequest, "points outside"},
		{"hardlink out", craftTgz(t, chart, hostileEntry{name: "evil/x", typ: tar.TypeLink, link: "etc/shadow"}), http.StatusBadRequest, "points outside"},
		{"zip bomb", craftTgz(t, chart, hostileEntry{name: "evil/bomb", body: strings.Repeat("\x00", 2<<20)}), http.StatusBadRequest, "decompresses to more than"},
		{"huge Chart.yaml", craftTgz(t, hostileEntry{name: "evil/Chart.yaml", body: chart.body + "description: " + strings.Repeat("a", 8<<10) + "\n"}), http.StatusBadRequest, "Chart.yaml is"},
		{"name mismatch", craftTgz(t, hostileEntry{name: "other/Chart.yaml", body: chart.body}), http.StatusBadRequest, "archive's directory"},
		{"not semver", craftTgz(t, hostileEntry{name: "evil/Chart.yaml", body: "apiVersion: v2\nname: evil\nversion: latest\n"}), http.StatusBadRequest, "not SemVer"},
		{"body over limit", bytes.Repeat([]byte{0x1f}, 400<<10), http.StatusRequestEntityTooLarge, "over"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := uploadChart(t, b, "hostile", tc.data, nil, "", "admin", b.AdminPassword)
			if code != tc.status || !strings.Contains(body, `"errors":[{"code":`) || !strings.Contains(body, tc.msg) {
				t.Errorf("upload: %d %s, want %d mentioning %q", code, body, tc.status, tc.msg)
			}
		})
	}
	if out := mustAPI(t, b, http.MethodGet, "/api/chartrepo/hostile/charts", nil, http.StatusOK); strings.TrimSpace(out) != "[]" {
		t.Errorf("charts after hostile uploads: %s", out)
	}
	_, idx, _ := getAs(t, b, "/chartrepo/hostile/index.yaml", "admin", b.AdminPassword)
	if strings.Contains(string(idx), "evil") {
		t.Errorf("index.yaml after hostile uploads:\n%s", idx)
	}
	code, cat, _ := getAs(t, b, "/v2/_catalog", "admin", b.AdminPassword)
	if code != http.StatusOK || strings.Contains(string(cat), "hostile/") {
		t.Errorf("catalog after hostile uploads: %d %s", code, cat)
	}
}
