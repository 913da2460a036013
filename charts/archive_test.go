package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"github.com/berth-registry/berth/registry/domain"
)

const goodChartYAML = "apiVersion: v2\nname: demo\nversion: 1.0.0\n"

// entry is one tar entry of a test archive.
type entry struct {
	name, body, link string
	typ              byte
}

func tgz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hd := &tar.Header{Name: e.name, Typeflag: typ, Linkname: e.link, Mode: 0o644}
		if typ == tar.TypeReg {
			hd.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(hd); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			_, _ = tw.Write([]byte(e.body))
		}
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

// HostileArchives returns named archives every upload must refuse, shared
// with the end-to-end test.
func hostileArchives(t testing.TB) map[string][]byte {
	chart := entry{name: "demo/Chart.yaml", body: goodChartYAML}
	return map[string][]byte{
		"not gzip":           []byte("this is not a gzip stream at all"),
		"gzip but not tar":   gzipOf(t, []byte(strings.Repeat("x", 2000))),
		"path traversal":     tgz(t, chart, entry{name: "demo/../../etc/passwd", body: "x"}),
		"absolute path":      tgz(t, chart, entry{name: "/etc/cron.d/evil", body: "x"}),
		"symlink out":        tgz(t, chart, entry{name: "demo/templates/x", typ: tar.TypeSymlink, link: "../../../etc/passwd"}),
		"absolute symlink":   tgz(t, chart, entry{name: "demo/x", typ: tar.TypeSymlink, link: "/etc/passwd"}),
		"hardlink out":       tgz(t, chart, entry{name: "demo/x", typ: tar.TypeLink, link: "etc/passwd"}),
		"device":             tgz(t, chart, entry{name: "demo/dev", typ: tar.TypeChar}),
		"zip bomb":           tgz(t, chart, entry{name: "demo/big", body: strings.Repeat("\x00", 3<<20)}),
		"huge Chart.yaml":    tgz(t, entry{name: "demo/Chart.yaml", body: goodChartYAML + "description: " + strings.Repeat("a", 70<<10) + "\n"}),
		"no Chart.yaml":      tgz(t, entry{name: "demo/values.yaml", body: "a: 1\n"}),
		"two top dirs":       tgz(t, chart, entry{name: "other/x", body: "x"}),
		"name mismatch":      tgz(t, entry{name: "other/Chart.yaml", body: goodChartYAML}),
		"version not semver": tgz(t, entry{name: "demo/Chart.yaml", body: "apiVersion: v2\nname: demo\nversion: one\n"}),
		"no apiVersion":      tgz(t, entry{name: "demo/Chart.yaml", body: "name: demo\nversion: 1.0.0\n"}),
		"bad YAML":           tgz(t, entry{name: "demo/Chart.yaml", body: "name: [demo\n"}),
		"truncated":          tgz(t, chart)[:30],
	}
}

func gzipOf(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, _ = gz.Write(b)
	_ = gz.Close()
	return buf.Bytes()
}

// testLimits are small so bombs stay cheap.
var testLimits = Limits{MaxArchiveSize: 1 << 20, MaxUncompressedSize: 2 << 20, MaxChartYAMLSize: 64 << 10}

func TestInspectArchiveRefusesHostileArchives(t *testing.T) {
	for name, data := range hostileArchives(t) {
		t.Run(name, func(t *testing.T) {
			_, err := inspectArchive(bytes.NewReader(data), testLimits)
			if err == nil || !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("err = %v, want an invalid-archive error", err)
			}
			t.Log(err)
		})
	}
}

func TestInspectArchiveAcceptsCharts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		version string
	}{
		{"plain", tgz(t, entry{name: "demo/Chart.yaml", body: goodChartYAML}, entry{name: "demo/values.yaml", body: "a: 1\n"}), "1.0.0"},
		{"dirs and inner symlink", tgz(t, entry{name: "demo/", typ: tar.TypeDir}, entry{name: "demo/Chart.yaml", body: goodChartYAML},
			entry{name: "demo/templates/a.yaml", body: "x"}, entry{name: "demo/templates/b.yaml", typ: tar.TypeSymlink, link: "a.yaml"}), "1.0.0"},
		{"build metadata", tgz(t, entry{name: "demo/Chart.yaml", body: "apiVersion: v2\nname: demo\nversion: 1.0.0+b.1\n"}), "1.0.0+b.1"},
		{"sanitized description", tgz(t, entry{name: "demo/Chart.yaml", body: goodChartYAML + "description: \"two\\nlines\\u0007\"\n"}), "1.0.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := inspectArchive(bytes.NewReader(tc.data), testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != "demo" || m.Version != tc.version {
				t.Errorf("got %s %s", m.Name, m.Version)
			}
			if strings.ContainsAny(m.Description, "\n\a") {
				t.Errorf("description not sanitized: %q", m.Description)
			}
		})
	}
}
