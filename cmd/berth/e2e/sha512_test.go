package e2e

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

func sha512Of(b []byte) string {
	s := sha512.Sum512(b)
	return "sha512:" + hex.EncodeToString(s[:])
}

// send makes one request with a body and returns the response (body read).
func send(t *testing.T, method, url string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp, []byte(readAll(t, resp))
}

// wantCreated checks the answer to a push names the sha512 digest.
func wantCreated(t *testing.T, what string, resp *http.Response, body []byte, dgst, kind string) {
	t.Helper()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%s: %d %s", what, resp.StatusCode, body)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != dgst {
		t.Errorf("%s: Docker-Content-Digest %q, want %q", what, got, dgst)
	}
	if loc := resp.Header.Get("Location"); !strings.HasSuffix(loc, "/"+kind+"/"+dgst) {
		t.Errorf("%s: Location %q does not name %s", what, loc, dgst)
	}
}

// pushBlob512 uploads data by its sha512 digest, monolithic or in chunks.
func pushBlob512(t *testing.T, b *berthtest.Berth, repo string, data []byte, chunks int) string {
	t.Helper()
	d := sha512Of(data)
	loc := startUpload(t, b, repo)
	if chunks > 1 {
		size := (len(data) + chunks - 1) / chunks
		for start := 0; start < len(data); start += size {
			end := min(start+size, len(data))
			resp, body := send(t, http.MethodPatch, loc, data[start:end], map[string]string{
				"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("%d-%d", start, end-1),
			})
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("PATCH chunk %d-%d: %d %s", start, end-1, resp.StatusCode, body)
			}
			if loc = resp.Header.Get("Location"); strings.HasPrefix(loc, "/") {
				loc = b.URL(loc)
			}
		}
		data = nil
	}
	resp, body := send(t, http.MethodPut, withDigest(loc, d), data, map[string]string{"Content-Type": "application/octet-stream"})
	wantCreated(t, fmt.Sprintf("PUT blob (%d chunks)", chunks), resp, body, d, "blobs")
	return d
}

// Blobs and manifests pushed, mounted, read and deleted by sha512 digests:
// every answer names the sha512 digest, deletes by either digest remove
// both, a wrong digest stores nothing, and the index matches storage.
func TestSHA512Digests(t *testing.T) {
	for _, be := range berthtest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: be.Env(t)})
			const repo, src = "library/sha512", "library/sha512-src"
			blobURL := func(r, d string) string { return b.URL("/v2/" + r + "/blobs/" + d) }

			layer := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			layerDigest := pushBlob512(t, b, repo, layer, 3)
			config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
			configDigest := pushBlob512(t, b, repo, config, 1)

			// Reads of the layer: whole, head, ranges.
			reads := []struct {
				name, method, rng string
				status            int
				body              []byte
				contentRange      string
			}{
				{"get", http.MethodGet, "", http.StatusOK, layer, ""},
				{"head", http.MethodHead, "", http.StatusOK, nil, ""},
				{"range", http.MethodGet, "bytes=5-9", http.StatusPartialContent, layer[5:10], fmt.Sprintf("bytes 5-9/%d", len(layer))},
				{"suffix range", http.MethodGet, "bytes=-4", http.StatusPartialContent, layer[len(layer)-4:], fmt.Sprintf("bytes %d-%d/%d", len(layer)-4, len(layer)-1, len(layer))},
			}
			for _, c := range reads {
				hdr := map[string]string{}
				if c.rng != "" {
					hdr["Range"] = c.rng
				}
				resp, body := httpDo(t, c.method, blobURL(repo, layerDigest), hdr)
				if resp.StatusCode != c.status || !bytes.Equal(body, c.body) {
					t.Errorf("%s: %d, %d bytes", c.name, resp.StatusCode, len(body))
				}
				wantLen := len(c.body)
				if c.method == http.MethodHead {
					wantLen = len(layer)
				}
				if got := resp.Header.Get("Content-Length"); got != fmt.Sprint(wantLen) {
					t.Errorf("%s: Content-Length %s, want %d", c.name, got, wantLen)
				}
				if got := resp.Header.Get("Docker-Content-Digest"); got != layerDigest {
					t.Errorf("%s: Docker-Content-Digest %s", c.name, got)
				}
				if got := resp.Header.Get("ETag"); got != `"`+layerDigest+`"` {
					t.Errorf("%s: ETag %s", c.name, got)
				}
				if got := resp.Header.Get("Content-Range"); got != c.contentRange {
					t.Errorf("%s: Content-Range %q, want %q", c.name, got, c.contentRange)
				}
			}
			if resp, _ := httpDo(t, http.MethodGet, blobURL(repo, layerDigest), map[string]string{"If-None-Match": `"` + layerDigest + `"`}); resp.StatusCode != http.StatusNotModified {
				t.Errorf("conditional get by the sha512 ETag: %d", resp.StatusCode)
			}

			// Mounts by sha512: from a repository holding the blob, and from one that does not.
			mounted := pushBlob512(t, b, src, []byte("mounted layer"), 1)
			resp, body := send(t, http.MethodPost, b.URL("/v2/"+repo+"/blobs/uploads/?mount="+mounted+"&from="+src), nil, nil)
			wantCreated(t, "mount", resp, body, mounted, "blobs")
			if resp, body := httpDo(t, http.MethodGet, blobURL(repo, mounted), nil); resp.StatusCode != http.StatusOK || string(body) != "mounted layer" {
				t.Errorf("get the mounted blob: %d %q", resp.StatusCode, body)
			}
			resp, _ = send(t, http.MethodPost, b.URL("/v2/"+repo+"/blobs/uploads/?mount="+sha512Of([]byte("nowhere"))+"&from="+src), nil, nil)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("mount of a blob the source lacks: %d, want 202 (an upload)", resp.StatusCode)
			}

			// A wrong digest stores nothing.
			bad := []byte("content that does not match")
			wrong := sha512Of([]byte("other content"))
			resp, body = send(t, http.MethodPut, withDigest(startUpload(t, b, repo), wrong), bad, map[string]string{"Content-Type": "application/octet-stream"})
			if resp.StatusCode != http.StatusBadRequest || !slices.Contains(errorCodes(body), "DIGEST_INVALID") {
				t.Errorf("blob PUT with a wrong sha512: %d %s", resp.StatusCode, body)
			}
			for _, d := range []string{wrong, sha512Of(bad), sha(bad)} {
				if resp, _ := httpDo(t, http.MethodHead, blobURL(repo, d), nil); resp.StatusCode != http.StatusNotFound {
					t.Errorf("HEAD %s after a failed push: %d", d, resp.StatusCode)
				}
			}

			// Manifests by sha512, and an index of one by its sha512 digest.
			man, _ := json.Marshal(map[string]any{
				"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
				"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
				"layers": []any{
					map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": len(layer)},
					map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": mounted, "size": len("mounted layer")},
				},
			})
			manDigest := sha512Of(man)
			putBy := func(ref, mediaType string, body []byte) (*http.Response, []byte) {
				return send(t, http.MethodPut, b.URL("/v2/"+repo+"/manifests/"+ref), body, map[string]string{"Content-Type": mediaType})
			}
			resp, body = putBy(manDigest, "application/vnd.oci.image.manifest.v1+json", man)
			wantCreated(t, "PUT manifest", resp, body, manDigest, "manifests")
			idx, _ := json.Marshal(map[string]any{
				"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
				"manifests": []any{map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manDigest, "size": len(man),
					"platform": map[string]any{"architecture": "amd64", "os": "linux"}}},
			})
			idxDigest := sha512Of(idx)
			resp, body = putBy(idxDigest, "application/vnd.oci.image.index.v1+json", idx)
			wantCreated(t, "PUT index", resp, body, idxDigest, "manifests")
			resp, body = putBy(sha512Of([]byte("not this")), "application/vnd.oci.image.manifest.v1+json", man)
			if resp.StatusCode != http.StatusBadRequest || !slices.Contains(errorCodes(body), "DIGEST_INVALID") {
				t.Errorf("manifest PUT with a wrong sha512: %d %s", resp.StatusCode, body)
			}
			for _, m := range []struct{ digest, sha256 string }{{manDigest, sha(man)}, {idxDigest, sha(idx)}} {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					resp, _ := getManifest(t, b, method, repo, m.digest)
					if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != m.digest {
						t.Errorf("%s manifest %s: %d, digest %s", method, m.digest, resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
					}
				}
				if resp, _ := getManifest(t, b, http.MethodHead, repo, m.sha256); resp.StatusCode != http.StatusOK {
					t.Errorf("HEAD manifest by its sha256 digest %s: %d", m.sha256, resp.StatusCode)
				}
			}

			// Deletes by either digest remove both.
			deletes := []struct{ name, kind, by, other string }{
				{"index by sha512", "manifests", idxDigest, sha(idx)},
				{"manifest by sha256", "manifests", sha(man), manDigest},
				{"blob by sha512", "blobs", layerDigest, sha(layer)},
				{"blob by sha256", "blobs", sha(config), configDigest},
			}
			for _, d := range deletes {
				resp, body := send(t, http.MethodDelete, b.URL("/v2/"+repo+"/"+d.kind+"/"+d.by), nil, nil)
				if resp.StatusCode != http.StatusAccepted {
					t.Fatalf("delete %s: %d %s", d.name, resp.StatusCode, body)
				}
				for _, ref := range []string{d.by, d.other} {
					if resp, _ := httpDo(t, http.MethodHead, b.URL("/v2/"+repo+"/"+d.kind+"/"+ref), map[string]string{"Accept": acceptAllManifests}); resp.StatusCode != http.StatusNotFound {
						t.Errorf("after delete %s: HEAD %s: %d", d.name, ref, resp.StatusCode)
					}
				}
			}

			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(berthtest.Binary(t), "check", "--data-dir", b.DataDir)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, b.Env()...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("berth check: %v\n%s", err, out)
			}
		})
	}
}
