package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// rawImage is an image pushed with plain OCI distribution requests, for
// workloads too large to drive through a CLI one process at a time.
type rawImage struct {
	Digest   string
	Manifest []byte
	Size     int64 // manifest + config + layers
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// pushBlob uploads one blob with POST + monolithic PUT.
func pushBlob(t *testing.T, b *berthtest.Berth, repo string, data []byte) string {
	t.Helper()
	d := sha(data)
	loc := startUpload(t, b, repo)
	req, _ := http.NewRequest(http.MethodPut, withDigest(loc, d), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT blob to %s: %d %s", repo, resp.StatusCode, body)
	}
	return d
}

// putManifest PUTs a manifest under ref and returns the status and body.
func putManifest(t *testing.T, b *berthtest.Berth, repo, ref, mediaType string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, b.URL("/v2/"+repo+"/manifests/"+ref), bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// pushRawImage pushes a one-layer OCI image for os/arch under tag.
func pushRawImage(t *testing.T, b *berthtest.Berth, repo, tag, arch string, layer []byte) rawImage {
	t.Helper()
	layerDigest := pushBlob(t, b, repo, layer)
	config, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux", "author": "e2e author", "created": "2026-01-02T03:04:05Z",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest := pushBlob(t, b, repo, config)
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": len(layer)}},
	})
	ref := tag
	if ref == "" {
		ref = sha(man)
	}
	if code, body := putManifest(t, b, repo, ref, "application/vnd.oci.image.manifest.v1+json", man); code != http.StatusCreated {
		t.Fatalf("PUT manifest %s:%s: %d %s", repo, ref, code, body)
	}
	return rawImage{Digest: sha(man), Manifest: man, Size: int64(len(man) + len(config) + len(layer))}
}

// pushRawIndex pushes an OCI index over images (already in repo).
func pushRawIndex(t *testing.T, b *berthtest.Berth, repo, tag string, children map[string]rawImage) rawImage {
	t.Helper()
	var ms []any
	var size int64
	for arch, img := range children {
		ms = append(ms, map[string]any{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": img.Digest, "size": len(img.Manifest),
			"platform": map[string]any{"architecture": arch, "os": "linux"},
		})
		size += img.Size
	}
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": ms})
	if code, body := putManifest(t, b, repo, tag, "application/vnd.oci.image.index.v1+json", man); code != http.StatusCreated {
		t.Fatalf("PUT index %s:%s: %d %s", repo, tag, code, body)
	}
	return rawImage{Digest: sha(man), Manifest: man, Size: int64(len(man)) + size}
}

// deleteManifest deletes a manifest by digest or tag, returning the status.
func deleteManifest(t *testing.T, b *berthtest.Berth, repo, ref string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, b.URL("/v2/"+repo+"/manifests/"+ref), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func layerBytes(seed int) []byte {
	return []byte(fmt.Sprintf("layer content %d %s", seed, bytes.Repeat([]byte{'x'}, seed%97)))
}
