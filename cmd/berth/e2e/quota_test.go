package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// A project's quota is enforced on push: a push that would exceed it fails
// with DENIED and counts nothing; lowering the quota below usage blocks
// pushes, not pulls; storage used counts each blob once.
func TestQuotaEnforcedOnPush(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	ctx := context.Background()
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "quota", "quota": 1 << 20}, http.StatusCreated)
	db := openIndex(t, b)
	used := func() int64 {
		p, err := db.GetProject(ctx, "quota")
		if err != nil {
			t.Fatal(err)
		}
		return p.StorageUsed
	}
	first := pushRawImage(t, b, "quota/app", "v1", "amd64", layerBytes(1))
	if used() != first.Size {
		t.Fatalf("storage used %d after one push of %d bytes", used(), first.Size)
	}
	// The same image under another tag and in another repository adds nothing.
	if code, body := putManifest(t, b, "quota/app", "again", "application/vnd.oci.image.manifest.v1+json", first.Manifest); code != 201 {
		t.Fatalf("re-tag: %d %s", code, body)
	}
	if used() != first.Size {
		t.Fatalf("re-tag changed storage used: %d", used())
	}
	// Leave room for less than one more image.
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/quota", map[string]any{"quota": first.Size + 10}, http.StatusOK)
	big := strings.Repeat("x", 4096)
	layer := pushBlob(t, b, "quota/app", []byte(big))
	config := pushBlob(t, b, "quota/app", []byte(`{"architecture":"amd64","os":"linux"}`))
	man := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + config + `","size":37},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + layer + `","size":4096}]}`
	code, body := putManifest(t, b, "quota/app", "v2", "application/vnd.oci.image.manifest.v1+json", []byte(man))
	if code != http.StatusForbidden || !strings.Contains(body, "DENIED") || !strings.Contains(body, "quota exceeded") {
		t.Fatalf("push over quota: %d %s", code, body)
	}
	if used() != first.Size {
		t.Fatalf("a refused push was counted: %d", used())
	}
	if code, _ := getManifest(t, b, http.MethodGet, "quota/app", "v2"); code.StatusCode != http.StatusNotFound {
		t.Fatalf("refused manifest is stored: %d", code.StatusCode)
	}
	// crane sees the same refusal.
	tarPath := t.TempDir() + "/l.tar"
	writeTar(t, tarPath, map[string][]byte{"big.bin": []byte(big + "crane")})
	out, err := berthtest.RunErr(t, berthtest.Tool(t, "crane"), "append", "--insecure", "-f", tarPath, "-t", b.Addr+"/quota/app:crane")
	if err == nil || !strings.Contains(out, "quota exceeded") {
		t.Fatalf("crane push over quota: %v\n%s", err, out)
	}
	// Below usage: no new uploads, pulls still work.
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/quota", map[string]any{"quota": 10}, http.StatusOK)
	resp, err := http.Post(b.URL("/v2/quota/app/blobs/uploads/"), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "quota exceeded") {
		t.Fatalf("upload while over quota: %d %s", resp.StatusCode, body)
	}
	if resp, _ := getManifest(t, b, http.MethodGet, "quota/app", "v1"); resp.StatusCode != 200 {
		t.Fatalf("pull while over quota: %d", resp.StatusCode)
	}
	// Unlimited again.
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/quota", map[string]any{"quota": -1}, http.StatusOK)
	if code, body := putManifest(t, b, "quota/app", "v2", "application/vnd.oci.image.manifest.v1+json", []byte(man)); code != 201 {
		t.Fatalf("push after lifting the quota: %d %s", code, body)
	}
}
