package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickSmoke runs the harness in -quick mode for two workloads against a
// real berth and the stock registry and checks that the report has their
// rows. It asserts nothing about the numbers.
func TestQuickSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts berth and the stock registry")
	}
	root := repoRoot(t)
	registry := filepath.Join(root, ".tools", "bin", "registry")
	if _, err := os.Stat(registry); err != nil {
		t.Skip("stock registry not installed: make tools")
	}
	berth := os.Getenv("BERTH_BIN")
	if berth == "" {
		berth = filepath.Join(t.TempDir(), "berth")
		cmd := exec.Command("go", "build", "-o", berth, "./cmd/berth")
		cmd.Dir, cmd.Env = root, append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	}
	out := filepath.Join(t.TempDir(), "bench.md")
	o, err := parseFlags([]string{"-quick", "-only", "blobs|tags", "-berth", berth, "-registry", registry,
		"-workdir", t.TempDir(), "-sizes", "1M,4M", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var logs bytes.Buffer
	md, err := run(ctx, o, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("run: %v\nlogs:\n%s", err, logs.String())
	}
	for _, want := range []string{
		"| monolithic 1 MiB × 1 | MB/s |", "| chunked (2 MiB) 4 MiB × 4 | MB/s |",
		"### Blob pull", "### Peak RSS", "| tags/list first page (n=100) of 300 tags | ms |", "- Machine: ",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "workload") && strings.Contains(md, "failed") {
		t.Errorf("a workload failed:\n%s", md)
	}
	written, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(written), md) {
		t.Errorf("-out file does not hold the report (%v)", err)
	}
}

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
}

func TestStream(t *testing.T) {
	const size = 3*genBlock + 12345
	whole, err := io.ReadAll(newStream(7, size))
	if err != nil || len(whole) != size {
		t.Fatalf("read %d bytes, %v; want %d", len(whole), err, size)
	}
	// Odd read sizes give the same bytes.
	var pieces []byte
	s := newStream(7, size)
	buf := make([]byte, 1000)
	for {
		n, err := s.Read(buf[:1+len(pieces)%999])
		pieces = append(pieces, buf[:n]...)
		if err == io.EOF {
			break
		}
	}
	if !bytes.Equal(whole, pieces) {
		t.Error("reading in pieces gives other bytes")
	}
	other, _ := io.ReadAll(newStream(8, size))
	if bytes.Equal(whole[:genBlock], other[:genBlock]) {
		t.Error("seeds 7 and 8 give the same block")
	}
	if bytes.Equal(whole[:genBlock], whole[genBlock:2*genBlock]) {
		t.Error("two blocks of one stream are equal")
	}
	d := newDigests()
	if got, want := d.get(blobKey{7, size}), digestOf(whole); got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
}

func TestStats(t *testing.T) {
	vs := []float64{5, 1, 4, 2, 3}
	if m := median(vs); m != 3 {
		t.Errorf("median %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("even median %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing is not NaN")
	}
	var hundred []float64
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, float64(i))
	}
	for p, want := range map[float64]float64{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := percentile(hundred, p); got != want {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
}

func TestVerdicts(t *testing.T) {
	cases := []struct {
		r    row
		want string
	}{
		{row{target: target{ratioAtLeast, 0.95}, berth: []float64{96}, stock: []float64{100}}, "pass"},
		{row{target: target{ratioAtLeast, 3}, berth: []float64{200}, stock: []float64{100}}, "FAIL"},
		{row{target: target{ratioAtMost, 0.1}, berth: []float64{1}, stock: []float64{12}}, "pass"},
		{row{target: target{berthBelow, 20}, berth: []float64{25}}, "FAIL"},
		{row{target: target{berthBelow, 20}, berth: []float64{5, 30, 6}}, "pass"},
		{row{target: target{ratioAtLeast, 1}, berth: []float64{5}}, ""},
		{row{berth: []float64{5}, stock: []float64{5}}, ""},
	}
	for i, c := range cases {
		if got := c.r.verdict(); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}

func TestReportGroupsSections(t *testing.T) {
	rp := &report{}
	rp.add("A", "a1", "ms", target{}, "berth", 1)
	rp.add("B", "b1", "ms", target{}, "berth", 1)
	rp.add("A", "a2", "ms", target{}, "stock", 2)
	rp.na("B", "b2", "ms", target{berthBelow, 20}, "n/a (endpoint missing)")
	md := rp.markdown()
	if strings.Count(md, "### A") != 1 || strings.Index(md, "a2") > strings.Index(md, "### B") {
		t.Errorf("sections not grouped:\n%s", md)
	}
	if !strings.Contains(md, "n/a (endpoint missing)") {
		t.Errorf("missing n/a row:\n%s", md)
	}
}

func TestSpliceGenerated(t *testing.T) {
	block := beginMarker + "\nNEW\n" + endMarker
	fresh := spliceGenerated("", block)
	if !strings.HasPrefix(fresh, "# Benchmarks") || !strings.Contains(fresh, "NEW") {
		t.Errorf("fresh file: %q", fresh)
	}
	old := "intro\n" + beginMarker + "\nOLD\n" + endMarker + "\nnotes\n"
	if got := spliceGenerated(old, block); got != "intro\n"+block+"\nnotes\n" {
		t.Errorf("spliced: %q", got)
	}
}

func TestParseSizesAndLinks(t *testing.T) {
	got, err := parseSizes("1M, 64m,2G,512K")
	if err != nil || len(got) != 4 || got[0] != 1<<20 || got[1] != 64<<20 || got[2] != 2<<30 || got[3] != 512<<10 {
		t.Errorf("parseSizes: %v %v", got, err)
	}
	if _, err := parseSizes("x"); err == nil {
		t.Error("parseSizes accepted x")
	}
	s := &server{base: "http://h:1"}
	if u := s.nextLink(`</v2/_catalog?last=a&n=100>; rel="next"`); u != "http://h:1/v2/_catalog?last=a&n=100" {
		t.Errorf("nextLink: %q", u)
	}
	if u := s.nextLink(""); u != "" {
		t.Errorf("nextLink of nothing: %q", u)
	}
}
