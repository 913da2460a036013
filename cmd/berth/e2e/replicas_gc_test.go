package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// replicaGC deletes an image through the front and runs a garbage
// collection pass on every replica at the same moment: they share the
// review queue (each review is done once, by one of them), the blobs are
// gone from every replica, and a second round finds nothing.
func replicaGC(t *testing.T, rs *replicaSet) {
	const repo = "library/gc-replicas"
	img := pushRawImage(t, rs.front, repo, "v1", "amd64", randomBytes(t, 200<<10))
	layer := parseManifestLayers(t, img.Manifest)[0]
	pushRawImage(t, rs.front, repo, "keep", "arm64", randomBytes(t, 1024)) // the repository stays
	if code := deleteManifest(t, rs.front, repo, img.Digest); code != http.StatusAccepted {
		t.Fatalf("delete: %d", code)
	}
	passes := func() (total gcReport) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, r := range rs.replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, body := httpDo(t, http.MethodPost, r.URL("/api/berth/v1/gc"), nil)
				var rep gcReport
				if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &rep) != nil {
					t.Errorf("POST /gc on %s: %d %s", r.Addr, resp.StatusCode, body)
					return
				}
				mu.Lock()
				total.BlobsDeleted += rep.BlobsDeleted
				total.LinksRemoved += rep.LinksRemoved
				total.Errors += rep.Errors
				mu.Unlock()
			}()
		}
		wg.Wait()
		return total
	}
	// What is due (this image, and what the earlier steps deleted) is
	// carried out once in all: the three passes together delete exactly
	// what one dry run says.
	resp, body := httpDo(t, http.MethodPost, rs.front.URL("/api/berth/v1/gc?dryRun=true"), nil)
	var dry gcReport
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &dry) != nil || dry.BlobsDeleted < 3 || dry.LinksRemoved < 2 {
		t.Fatalf("dry run: %d %s", resp.StatusCode, body)
	}
	if got := passes(); got.BlobsDeleted != dry.BlobsDeleted || got.LinksRemoved != dry.LinksRemoved || got.Errors != 0 {
		t.Errorf("three passes at once: %+v, want what the dry run said (%d blobs, %d links) once in all, no error", got, dry.BlobsDeleted, dry.LinksRemoved)
	}
	sameEverywhere(t, rs, "a collected layer", func(b *berthtest.Berth) error {
		resp, body := httpDo(t, http.MethodGet, b.URL("/v2/"+repo+"/blobs/"+layer), nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "BLOB_UNKNOWN") {
			return fmt.Errorf("GET the collected layer = %d %s", resp.StatusCode, body)
		}
		return nil
	})
	if got := passes(); got.BlobsDeleted+got.LinksRemoved != 0 || got.Errors != 0 {
		t.Errorf("a second round found more: %+v", got)
	}
}
