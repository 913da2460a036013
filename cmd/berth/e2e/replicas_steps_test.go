package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// replicaCrane pushes with crane through the front, pulls from every
// replica, and copies across repositories (a blob mount that may land on
// another replica than the push).
func replicaCrane(t *testing.T, rs *replicaSet) {
	crane := berthtest.Tool(t, "crane")
	dir := t.TempDir()
	content := randomBytes(t, 256<<10)
	layer := filepath.Join(dir, "layer.tar")
	writeTar(t, layer, map[string][]byte{"app.bin": content})
	digest := craneAppend(t, rs.front.Addr+"/library/app:v1", nil, layer)
	berthtest.Run(t, crane, "copy", "--insecure", rs.front.Addr+"/library/app:v1", rs.front.Addr+"/library/app-copy:v1")
	for _, repo := range []string{"library/app", "library/app-copy"} {
		sameEverywhere(t, rs, "crane push", wantManifest(t, repo, "v1", digest))
	}
	for i, tg := range rs.frontTargets() {
		out := filepath.Join(dir, fmt.Sprintf("export-%d.tar", i))
		berthtest.Run(t, crane, "export", "--insecure", tg.b.Addr+"/library/app-copy:v1", out)
		if got := readTar(t, out)["app.bin"]; !bytes.Equal(got, content) {
			t.Errorf("crane export from %s: app.bin has %d bytes, not what was pushed", tg.name, len(got))
		}
	}
	sameEverywhere(t, rs, "catalog", func(b *berthtest.Berth) error {
		resp, body := httpDo(t, http.MethodGet, b.URL("/v2/_catalog"), nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"library/app","library/app-copy"`) {
			return fmt.Errorf("GET /v2/_catalog = %d %s", resp.StatusCode, body)
		}
		return nil
	})
	for _, tg := range rs.frontTargets() {
		if out := berthtest.Output(t, crane, "catalog", "--insecure", tg.b.Addr); !strings.Contains(out, "library/app\nlibrary/app-copy\n") {
			t.Errorf("crane catalog through %s:\n%s", tg.name, out)
		}
	}
}

// replicaChunkedUpload sends one blob upload as POST, three PATCHes and a
// PUT through the front: round robin spreads the requests of one upload
// session over every replica.
func replicaChunkedUpload(t *testing.T, rs *replicaSet) {
	const repo = "library/chunked"
	data := randomBytes(t, 3<<20)
	answered := map[string]bool{}
	send := func(method, loc string, body []byte, header map[string]string, want int) string {
		t.Helper()
		req, _ := http.NewRequest(method, loc, bytes.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out := readAll(t, resp)
		if resp.StatusCode != want {
			t.Fatalf("%s %s (replica %s): %d %s", method, loc, resp.Header.Get(replicaHeader), resp.StatusCode, out)
		}
		answered[resp.Header.Get(replicaHeader)] = true
		next := resp.Header.Get("Location")
		if strings.HasPrefix(next, "/") {
			next = rs.front.URL(next)
		}
		if method != http.MethodPut && !strings.HasPrefix(next, rs.front.URL("/")) {
			t.Fatalf("%s: Location %q does not point at the public URL %s", method, next, rs.front.URL("/"))
		}
		return next
	}
	loc := send(http.MethodPost, rs.front.URL("/v2/"+repo+"/blobs/uploads/"), nil, nil, http.StatusAccepted)
	const chunk = 1 << 20
	for off := 0; off < len(data); off += chunk {
		loc = send(http.MethodPatch, loc, data[off:off+chunk], map[string]string{
			"Content-Type":  "application/octet-stream",
			"Content-Range": fmt.Sprintf("%d-%d", off, off+chunk-1),
		}, http.StatusAccepted)
	}
	digest := sha(data)
	send(http.MethodPut, withDigest(loc, digest), nil, nil, http.StatusCreated)
	if len(answered) < len(rs.replicas) {
		t.Errorf("the upload's requests reached replicas %v, want all %d", answered, len(rs.replicas))
	}
	sameEverywhere(t, rs, "blob after a chunked upload", func(b *berthtest.Berth) error {
		resp, body := httpDo(t, http.MethodGet, b.URL("/v2/"+repo+"/blobs/"+digest), nil)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
			return fmt.Errorf("GET blob = %d with %d bytes, want 200 with the %d uploaded", resp.StatusCode, len(body), len(data))
		}
		return nil
	})
}

// replicaTagMoves moves one tag between three images, alternately with a
// manifest PUT and with crane tag, through the front; right after each move
// every replica resolves the tag to the new digest, although each had
// just served (and may have cached) the old one.
func replicaTagMoves(t *testing.T, rs *replicaSet) {
	const repo = "library/moving"
	var imgs []rawImage
	for i := range 3 {
		imgs = append(imgs, pushRawImage(t, rs.front, repo, "build-"+strconv.Itoa(i), "amd64", layerBytes(1000+i)))
	}
	crane := berthtest.Tool(t, "crane")
	for round, i := range []int{0, 1, 2, 0, 2, 1} {
		if round%2 == 0 {
			if code, body := putManifest(t, rs.front, repo, "stable", "application/vnd.oci.image.manifest.v1+json", imgs[i].Manifest); code != http.StatusCreated {
				t.Fatalf("move stable to image %d: %d %s", i, code, body)
			}
		} else {
			berthtest.Run(t, crane, "tag", "--insecure", rs.front.Addr+"/"+repo+"@"+imgs[i].Digest, "stable")
		}
		sameEverywhere(t, rs, fmt.Sprintf("round %d: stable moved to image %d", round, i), wantManifest(t, repo, "stable", imgs[i].Digest))
	}
	sameEverywhere(t, rs, "tags/list", func(b *berthtest.Berth) error {
		resp, body := httpDo(t, http.MethodGet, b.URL("/v2/"+repo+"/tags/list"), nil)
		if want := `{"name":"library/moving","tags":["build-0","build-1","build-2","stable"]}`; resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != want {
			return fmt.Errorf("tags/list = %d %s, want %s", resp.StatusCode, body, want)
		}
		return nil
	})
}

// replicaDeletes deletes a tag, then the manifest, through the front, each
// after every replica has served it; then deletes an image with crane.
func replicaDeletes(t *testing.T, rs *replicaSet) {
	const repo = "library/doomed"
	img := pushRawImage(t, rs.front, repo, "v1", "amd64", layerBytes(2000))
	if code, body := putManifest(t, rs.front, repo, "v2", "application/vnd.oci.image.manifest.v1+json", img.Manifest); code != http.StatusCreated {
		t.Fatalf("tag v2: %d %s", code, body)
	}
	for _, ref := range []string{"v1", "v2", img.Digest} {
		sameEverywhere(t, rs, "before the deletes", wantManifest(t, repo, ref, img.Digest))
	}

	if code := deleteManifest(t, rs.front, repo, "v2"); code != http.StatusAccepted {
		t.Fatalf("DELETE tag v2: %d", code)
	}
	sameEverywhere(t, rs, "after deleting tag v2", wantNoManifest(t, repo, "v2"))
	sameEverywhere(t, rs, "v1 after deleting tag v2", wantManifest(t, repo, "v1", img.Digest))

	if code := deleteManifest(t, rs.front, repo, img.Digest); code != http.StatusAccepted {
		t.Fatalf("DELETE manifest: %d", code)
	}
	for _, ref := range []string{img.Digest, "v1"} {
		sameEverywhere(t, rs, "after deleting the manifest", wantNoManifest(t, repo, ref))
	}

	crane := berthtest.Tool(t, "crane")
	other := pushRawImage(t, rs.front, repo, "v3", "arm64", layerBytes(2001))
	sameEverywhere(t, rs, "before crane delete", wantManifest(t, repo, other.Digest, other.Digest))
	berthtest.Run(t, crane, "delete", "--insecure", rs.front.Addr+"/"+repo+"@"+other.Digest)
	sameEverywhere(t, rs, "after crane delete", wantNoManifest(t, repo, other.Digest))
	for _, tg := range rs.frontTargets() {
		out, err := berthtest.RunErr(t, crane, "manifest", "--insecure", rs.front.Addr+"/"+repo+":v3")
		if err == nil || !strings.Contains(out, "MANIFEST_UNKNOWN") {
			t.Errorf("crane manifest of the deleted image through %s: %v\n%s", tg.name, err, out)
		}
	}
}

// replicaOras pushes a file artifact with oras through the front and pulls
// it from every replica.
func replicaOras(t *testing.T, rs *replicaSet) {
	oras := berthtest.Tool(t, "oras")
	dir := t.TempDir()
	sbom := []byte(`{"sbom": true, "replicas": 3}`)
	writeFile(t, filepath.Join(dir, "sbom.json"), sbom)
	berthtest.RunIn(t, dir, nil, oras, "push", "--plain-http", rs.front.Addr+"/library/app-sbom:v1", "sbom.json:application/json")
	for i, tg := range rs.targets() {
		out := filepath.Join(dir, "out", strconv.Itoa(i))
		berthtest.Run(t, oras, "pull", "--plain-http", "-o", out, tg.b.Addr+"/library/app-sbom:v1")
		if got, err := os.ReadFile(filepath.Join(out, "sbom.json")); err != nil || !bytes.Equal(got, sbom) {
			t.Errorf("oras pull from %s: %q %v", tg.name, got, err)
		}
	}
}
