package e2e

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// gcReport is the management API's report of a pass.
type gcReport struct {
	ID               int64 `json:"id"`
	DryRun           bool  `json:"dryRun"`
	BlobsDeleted     int64 `json:"blobsDeleted"`
	BytesFreed       int64 `json:"bytesFreed"`
	ManifestsDeleted int64 `json:"manifestsDeleted"`
	LinksRemoved     int64 `json:"linksRemoved"`
	Errors           int64 `json:"errors"`
}

func runGC(t *testing.T, b *berthtest.Berth, dry bool) gcReport {
	t.Helper()
	resp, body := httpDo(t, http.MethodPost, b.URL(fmt.Sprintf("/api/berth/v1/gc?dryRun=%v", dry)), nil)
	var r gcReport
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		t.Fatalf("POST /api/berth/v1/gc: %d %s", resp.StatusCode, body)
	}
	return r
}

// blobBytes is what the blob store holds on disk (filesystem storage).
func blobBytes(t *testing.T, b *berthtest.Berth) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(filepath.Join(b.DataDir, "registry/docker/registry/v2/blobs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return n
}

// Ten images with unique layers, deleted by digest: a garbage-collection
// pass frees their bytes (a dry run first says exactly what it will free),
// a layer another repository still uses stays, the deleted layers are 404
// BLOB_UNKNOWN from their repository, the emptied repository leaves the
// catalog and every dialect's lists, the pass is listed, and berth check
// stays clean.
func TestGCReclaimsDeletedImages(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{"BERTH_GC_DELAY=0s", "BERTH_GC_ENABLED=false"}})
	shared := randomBytes(t, 1<<20)
	keep := pushRawImage(t, b, "gc/keep", "v1", "amd64", shared)
	before := blobBytes(t, b)
	var images []rawImage
	var layers []string
	for i := range 10 {
		layer, arch := randomBytes(t, 512<<10), "amd64"
		if i == 0 {
			layer, arch = shared, "arm64" // one layer the other repository uses too (in another image)
		}
		img := pushRawImage(t, b, "gc/app", fmt.Sprintf("v%d", i), arch, layer)
		images = append(images, img)
		layers = append(layers, parseManifestLayers(t, img.Manifest)[0])
	}
	grown := blobBytes(t, b) - before
	for _, img := range images {
		if code := deleteManifest(t, b, "gc/app", img.Digest); code != http.StatusAccepted {
			t.Fatalf("delete %s: %d", img.Digest, code)
		}
	}
	if got := blobBytes(t, b) - before; got != grown {
		t.Fatalf("deleting freed %d bytes before any GC pass", grown-got)
	}
	dry := runGC(t, b, true)
	if !dry.DryRun || dry.BlobsDeleted == 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	if got := blobBytes(t, b) - before; got != grown {
		t.Fatalf("a dry run freed %d bytes", grown-got)
	}
	wet := runGC(t, b, false)
	if wet.Errors != 0 || wet.BlobsDeleted != dry.BlobsDeleted || wet.BytesFreed != dry.BytesFreed || wet.LinksRemoved != dry.LinksRemoved {
		t.Fatalf("the pass %+v differs from its dry run %+v", wet, dry)
	}
	// 10 manifests, 10 configs, 9 unique layers (the shared one stays).
	if wet.BlobsDeleted != 29 {
		t.Errorf("blobs deleted = %d, want 29", wet.BlobsDeleted)
	}
	freed := grown - (blobBytes(t, b) - before)
	if freed != wet.BytesFreed || freed < 9*(512<<10) {
		t.Errorf("freed %d bytes on disk, the report says %d", freed, wet.BytesFreed)
	}
	for i, l := range layers {
		resp, body := httpDo(t, http.MethodGet, b.URL("/v2/gc/app/blobs/"+l), nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "BLOB_UNKNOWN") {
			t.Errorf("layer %d of a deleted image: %d %s, want 404 BLOB_UNKNOWN", i, resp.StatusCode, body)
		}
	}
	if resp, _ := httpDo(t, http.MethodGet, b.URL("/v2/gc/keep/blobs/"+layers[0]), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("the layer gc/keep still uses: %d", resp.StatusCode)
	}
	if resp, body := getManifest(t, b, http.MethodGet, "gc/keep", "v1"); resp.StatusCode != http.StatusOK || string(body) != string(keep.Manifest) {
		t.Errorf("gc/keep:v1 after the pass: %d", resp.StatusCode)
	}
	var cat struct{ Repositories []string }
	getJSON(t, b.URL("/v2/_catalog"), &cat, http.StatusOK)
	if strings.Join(cat.Repositories, ",") != "gc/keep" {
		t.Errorf("catalog after the pass: %v", cat.Repositories)
	}
	for _, path := range []string{
		"/api/ccr/v1.0/instances/ccr-manager/projects/gc/repositories",
		"/v2/manage/namespaces/gc/repos",
		"/api/repositories?project_id=0",
	} {
		resp, body := httpDo(t, http.MethodGet, b.URL(path), nil)
		if strings.Contains(string(body), "gc/app") || strings.Contains(string(body), `"app"`) {
			t.Errorf("%s lists the emptied repository: %d %s", path, resp.StatusCode, body)
		}
	}
	var runs struct{ Runs []gcReport }
	getJSON(t, b.URL("/api/berth/v1/gc"), &runs, http.StatusOK)
	if len(runs.Runs) < 2 || runs.Runs[0].ID != wet.ID || runs.Runs[0].BytesFreed != wet.BytesFreed || !runs.Runs[1].DryRun {
		t.Errorf("recent passes: %+v", runs.Runs)
	}
	if again := runGC(t, b, false); again.BlobsDeleted+again.LinksRemoved != 0 {
		t.Errorf("a second pass found more: %+v", again)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, out := berthTool(t, b, "check"); code != 0 {
		t.Fatalf("check after the pass: exit %d\n%s", code, out)
	}
	code, out := berthTool(t, b, "gc", "--dry-run", "--import")
	if code != 0 || !strings.Contains(out, "imported 0 blobs") || !strings.Contains(out, "would delete 0 blobs") {
		t.Fatalf("berth gc --dry-run --import on a collected store: exit %d\n%s", code, out)
	}
}

// A layer uploaded but never used by a manifest goes after the delay, and
// only after it; an untagged manifest stays with gc.untagged keep and goes
// with delete (unless an index holds it); the API is for admins only.
func TestGCDelayAndUntagged(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{"BERTH_GC_DELAY=0s", "BERTH_GC_ENABLED=false", "BERTH_GC_UNTAGGED=delete"}})
	orphan := pushBlob(t, b, "gc2/app", randomBytes(t, 4096))
	a := pushRawImage(t, b, "gc2/app", "a", "amd64", layerBytes(31))
	child := pushRawImage(t, b, "gc2/app", "", "arm64", layerBytes(32))
	pushRawIndex(t, b, "gc2/app", "multi", map[string]rawImage{"arm64": child})
	if code := deleteManifest(t, b, "gc2/app", "a"); code != http.StatusAccepted { // untag only
		t.Fatalf("untag: %d", code)
	}
	r := runGC(t, b, false)
	if r.ManifestsDeleted != 1 {
		t.Errorf("untagged manifests deleted = %d, want 1 (a; the index's child stays): %+v", r.ManifestsDeleted, r)
	}
	if resp, _ := getManifest(t, b, http.MethodHead, "gc2/app", a.Digest); resp.StatusCode != http.StatusNotFound {
		t.Errorf("untagged manifest after the pass: %d", resp.StatusCode)
	}
	if resp, _ := getManifest(t, b, http.MethodHead, "gc2/app", child.Digest); resp.StatusCode != http.StatusOK {
		t.Errorf("the index's child after the pass: %d", resp.StatusCode)
	}
	if resp, _ := httpDo(t, http.MethodHead, b.URL("/v2/gc2/app/blobs/"+orphan), nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a layer no manifest used, after the pass: %d", resp.StatusCode)
	}

	keep := berthtest.Start(t, berthtest.Options{Env: []string{"BERTH_GC_DELAY=1h", "BERTH_GC_ENABLED=false"}})
	orphan = pushBlob(t, keep, "gc3/app", randomBytes(t, 4096))
	img := pushRawImage(t, keep, "gc3/app", "t", "amd64", layerBytes(33))
	deleteManifest(t, keep, "gc3/app", "t")
	if r := runGC(t, keep, false); r.BlobsDeleted+r.LinksRemoved+r.ManifestsDeleted != 0 {
		t.Errorf("within the delay a pass deleted %+v", r)
	}
	if resp, _ := httpDo(t, http.MethodHead, keep.URL("/v2/gc3/app/blobs/"+orphan), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("a fresh upload within the delay: %d", resp.StatusCode)
	}
	if resp, _ := getManifest(t, keep, http.MethodHead, "gc3/app", img.Digest); resp.StatusCode != http.StatusOK {
		t.Errorf("an untagged manifest with gc.untagged keep: %d", resp.StatusCode)
	}
	resp, _ := credGet(t, keep.URL("/api/berth/v1/gc"), "", "")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous GET /gc: %d", resp.StatusCode)
	}
}
