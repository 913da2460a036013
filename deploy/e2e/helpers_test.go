package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// writeTar writes an uncompressed tarball (a layer for `crane append`).
func writeTar(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarGz returns a gzipped tarball of files (a chart archive).
func tarGz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cranePushPull pushes a one-layer image to ref with crane, pulls it back
// into a tarball, and checks that digests and the layer's bytes agree. It
// returns the manifest digest.
func cranePushPull(t *testing.T, ref string) string {
	t.Helper()
	crane := berthtest.Tool(t, "crane")
	dir := t.TempDir()
	content := randomBytes(t, 64<<10)
	layer := filepath.Join(dir, "layer.tar")
	writeTar(t, layer, map[string][]byte{"data.bin": content})
	out := strings.TrimSpace(berthtest.Output(t, crane, "append", "--insecure", "-f", layer, "-t", ref))
	_, pushed, ok := strings.Cut(out, "@")
	if !ok || !strings.HasPrefix(pushed, "sha256:") {
		t.Fatalf("crane append: unexpected output %q", out)
	}
	if got := strings.TrimSpace(berthtest.Output(t, crane, "digest", "--insecure", ref)); got != pushed {
		t.Fatalf("crane digest %s = %s, pushed %s", ref, got, pushed)
	}
	pulled := filepath.Join(dir, "pulled.tar")
	berthtest.Run(t, crane, "pull", "--insecure", ref, pulled)
	export := filepath.Join(dir, "export.tar")
	berthtest.Run(t, crane, "export", "--insecure", ref, export)
	files := readTarFiles(t, export)
	if !bytes.Equal(files["data.bin"], content) {
		t.Fatalf("crane export %s: data.bin differs from what was pushed (%d bytes, want %d)", ref, len(files["data.bin"]), len(content))
	}
	if fi, err := os.Stat(pulled); err != nil || fi.Size() == 0 {
		t.Fatalf("crane pull %s wrote nothing: %v", ref, err)
	}
	return pushed
}

// readTarFiles reads the regular files of an uncompressed tarball.
func readTarFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(h.Name, "./")] = b
	}
}

// httpStatus sends a request and returns the status and body.
func httpStatus(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// regexpLine reports whether any line of s matches re.
func regexpLine(s, re string) bool {
	rx := regexp.MustCompile(re)
	for _, l := range strings.Split(s, "\n") {
		if rx.MatchString(strings.TrimRight(l, " \r")) {
			return true
		}
	}
	return false
}
