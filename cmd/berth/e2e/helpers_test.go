// Package e2e holds black-box tests of whole workflows against a running
// berth process, driven by real clients (crane, oras, regctl, helm, skopeo).
package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Media types the registry is asked for when fetching manifests directly.
const (
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

var acceptAllManifests = strings.Join([]string{mtOCIManifest, mtOCIIndex, mtDockerManifest, mtDockerList}, ", ")

// descriptor and manifest are the parts of OCI/Docker manifests and indexes
// the tests look at.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
	} `json:"platform"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	ArtifactType  string       `json:"artifactType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
	Manifests     []descriptor `json:"manifests"`
}

func parseManifest(t *testing.T, raw []byte) manifest {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("parse manifest: %v\n%s", err, raw)
	}
	return m
}

// digestOf is the sha256 digest string of b.
func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// fileDigest is the sha256 digest of a file's contents.
func fileDigest(t *testing.T, path string) string {
	t.Helper()
	return digestOf(readFile(t, path))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTar writes an uncompressed tarball (a layer for `crane append`)
// holding files, in name order.
func writeTar(t *testing.T, path string, files map[string][]byte) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, buf.Bytes())
}

// readTar returns the regular files of an uncompressed tarball by name
// (without a leading "./" or "/").
func readTar(t *testing.T, path string) map[string][]byte {
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
			t.Fatalf("read %s: %v", path, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")] = b
	}
}

// httpDo sends a request to berth and returns the response with its body
// read.
func httpDo(t *testing.T, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// getManifest fetches /v2/<repo>/manifests/<ref> accepting every manifest
// media type.
func getManifest(t *testing.T, b *berthtest.Berth, method, repo, ref string) (*http.Response, []byte) {
	t.Helper()
	return httpDo(t, method, b.URL("/v2/"+repo+"/manifests/"+ref), map[string]string{"Accept": acceptAllManifests})
}

// errorCodes returns the codes of an OCI error body.
func errorCodes(body []byte) []string {
	var e struct {
		Errors []struct {
			Code string `json:"code"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(body, &e)
	var codes []string
	for _, x := range e.Errors {
		codes = append(codes, x.Code)
	}
	return codes
}

// lines splits tool output into trimmed, non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// craneDigest is `crane digest ref`.
func craneDigest(t *testing.T, ref string, extra ...string) string {
	t.Helper()
	args := append([]string{"digest", ref, "--insecure"}, extra...)
	d := strings.TrimSpace(berthtest.Output(t, berthtest.Tool(t, "crane"), args...))
	if !strings.HasPrefix(d, "sha256:") || len(d) != len("sha256:")+64 {
		t.Fatalf("crane digest %s = %q, not a sha256 digest", ref, d)
	}
	return d
}

// craneAppend pushes an image built from layer tarballs and returns the
// digest crane reports.
func craneAppend(t *testing.T, ref string, extra []string, layers ...string) string {
	t.Helper()
	args := []string{"append", "-t", ref, "--insecure"}
	for _, l := range layers {
		args = append(args, "-f", l)
	}
	args = append(args, extra...)
	out := strings.TrimSpace(berthtest.Output(t, berthtest.Tool(t, "crane"), args...))
	_, d, ok := strings.Cut(out, "@")
	if !ok || !strings.HasPrefix(d, "sha256:") {
		t.Fatalf("crane append: unexpected output %q", out)
	}
	return d
}
