package berthtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The plain-HTTP clients tests drive berth with, in a process or in this
// one (apptest). Calls through http.DefaultClient act as the admin once
// InstallAuthTransport ran (TestMain).

// ReadAll reads and closes a response body.
func ReadAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// BasicAuth is an Authorization header value for user and pw.
func BasicAuth(user, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
}

// APICall sends a management API request with the given credentials (""
// user means anonymous) and returns the status and body.
func APICall(t testing.TB, b *Berth, method, path, user, pw string, body any) (int, string) {
	t.Helper()
	return SendAs(t, JSONRequest(t, method, b.URL(path), body), user, pw)
}

// JSONRequest is a request with body as JSON (nil: none).
func JSONRequest(t testing.TB, method, url string, body any) *http.Request {
	t.Helper()
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// SendAs sends req with Basic credentials, or none when user is "".
func SendAs(t testing.TB, req *http.Request, user, pw string) (int, string) {
	t.Helper()
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, ReadAll(t, resp)
}

// MustAPI calls as the admin and wants status want.
func MustAPI(t testing.TB, b *Berth, method, path string, body any, want int) string {
	t.Helper()
	code, out := APICall(t, b, method, path, "admin", b.AdminPassword, body)
	if code != want {
		t.Fatalf("%s %s as admin: %d %s", method, path, code, out)
	}
	return out
}

// WaitFor polls cond for up to 10s.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, 10*time.Second, what, cond)
}

// WaitWithin is WaitFor with its own limit, for what waits on a lease or
// a timer longer than WaitFor's 10 s.
func WaitWithin(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// RawImage is an image pushed with plain OCI distribution requests, for
// workloads too large to drive through a CLI one process at a time.
type RawImage struct {
	Digest   string
	Manifest []byte
	Size     int64 // manifest + config + layers
}

// Sha is the sha256 digest string of b.
func Sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// Pad fills b with spaces to n bytes (a JSON document stays valid).
func Pad(t testing.TB, b []byte, n int) []byte {
	t.Helper()
	if len(b) > n {
		t.Fatalf("%d bytes already, want %d", len(b), n)
	}
	return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
}

// StartUpload starts a blob upload and returns its location.
func StartUpload(t testing.TB, b *Berth, repo string) string {
	t.Helper()
	resp, err := http.Post(b.URL("/v2/"+repo+"/blobs/uploads/"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ReadAll(t, resp)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if strings.HasPrefix(loc, "/") {
		loc = b.URL(loc)
	}
	return loc
}

// WithDigest adds the digest parameter to an upload location.
func WithDigest(loc, digest string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + "digest=" + digest
}

// PushBlob uploads one blob with POST + monolithic PUT.
func PushBlob(t testing.TB, b *Berth, repo string, data []byte) string {
	t.Helper()
	d := Sha(data)
	loc := StartUpload(t, b, repo)
	req, _ := http.NewRequest(http.MethodPut, WithDigest(loc, d), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if body := ReadAll(t, resp); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT blob to %s: %d %s", repo, resp.StatusCode, body)
	}
	return d
}

// PutManifest PUTs a manifest under ref and returns the status and body.
func PutManifest(t testing.TB, b *Berth, repo, ref, mediaType string, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, b.URL("/v2/"+repo+"/manifests/"+ref), bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, ReadAll(t, resp)
}

// PushRawImage pushes a one-layer OCI image for os/arch under tag (by
// digest when tag is "").
func PushRawImage(t testing.TB, b *Berth, repo, tag, arch string, layer []byte) RawImage {
	t.Helper()
	layerDigest := PushBlob(t, b, repo, layer)
	config, _ := json.Marshal(map[string]any{
		"architecture": arch, "os": "linux", "author": "e2e author", "created": "2026-01-02T03:04:05Z",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest := PushBlob(t, b, repo, config)
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": len(layer)}},
	})
	ref := tag
	if ref == "" {
		ref = Sha(man)
	}
	if code, body := PutManifest(t, b, repo, ref, "application/vnd.oci.image.manifest.v1+json", man); code != http.StatusCreated {
		t.Fatalf("PUT manifest %s:%s: %d %s", repo, ref, code, body)
	}
	return RawImage{Digest: Sha(man), Manifest: man, Size: int64(len(man) + len(config) + len(layer))}
}

// PushRawIndex pushes an OCI index over images (already in repo).
func PushRawIndex(t testing.TB, b *Berth, repo, tag string, children map[string]RawImage) RawImage {
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
	if code, body := PutManifest(t, b, repo, tag, "application/vnd.oci.image.index.v1+json", man); code != http.StatusCreated {
		t.Fatalf("PUT index %s:%s: %d %s", repo, tag, code, body)
	}
	return RawImage{Digest: Sha(man), Manifest: man, Size: int64(len(man)) + size}
}

// DeleteManifest deletes a manifest by digest or tag, returning the status.
func DeleteManifest(t testing.TB, b *Berth, repo, ref string) int {
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

// LayerBytes is a small layer that differs with seed.
func LayerBytes(seed int) []byte {
	return []byte(fmt.Sprintf("layer content %d %s", seed, bytes.Repeat([]byte{'x'}, seed%97)))
}
