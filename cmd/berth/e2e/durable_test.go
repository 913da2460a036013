package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// On SQLite every request that changed the index is answered only after
// the index's write-ahead log was synced (a power loss cannot take back a
// push crane was told succeeded); requests answering at the same moment
// share a sync, and reads wait for none. Counted by berth's metrics.
func TestAnsweredChangesSyncTheIndexLog(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	scrape := func() (syncs, requests int) {
		t.Helper()
		resp, body := httpDo(t, http.MethodGet, b.URL("/metrics"), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics: %d", resp.StatusCode)
		}
		value := func(name string) int {
			for _, l := range strings.Split(string(body), "\n") {
				if v, ok := strings.CutPrefix(l, name+" "); ok {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil {
						t.Fatalf("%s: %v", l, err)
					}
					return int(f)
				}
			}
			t.Fatalf("no %s in /metrics", name)
			return 0
		}
		return value("berth_index_log_syncs_total"), value("berth_index_log_sync_requests_total")
	}
	s0, r0 := scrape()
	ref := b.Addr + "/library/durable:v1"
	pushSmallImage(t, ref) // two blob uploads and the manifest, then crane digest
	s1, r1 := scrape()
	// The upload's commit of each blob and the manifest's PUT changed the index.
	if r1-r0 < 3 || s1-s0 < 1 || s1-s0 > r1-r0 {
		t.Fatalf("a push: %d requests waited for %d syncs, want at least 3 requests and a sync", r1-r0, s1-s0)
	}
	crane := berthtest.Tool(t, "crane")
	berthtest.Run(t, crane, "pull", "--insecure", ref, t.TempDir()+"/img.tar")
	if _, r2 := scrape(); r2 != r1 {
		t.Errorf("a pull: %d requests waited for a sync, want none", r2-r1)
	}
	// A management API's change waits too (the dialect kit's success).
	berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "durable", "public": false}, http.StatusCreated)
	if s3, r3 := scrape(); r3 != r1+1 || s3 < s1+1 {
		t.Errorf("a project's creation: %d requests waited for %d syncs, want 1 and 1", r3-r1, s3-s1)
	}
	// And a delete through the OCI API.
	if resp, _ := httpDo(t, http.MethodDelete, b.URL("/v2/library/durable/manifests/v1"), nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("DELETE of the tag: %d", resp.StatusCode)
	}
	if _, r4 := scrape(); r4 != r1+2 {
		t.Errorf("a tag's delete: %d requests waited for a sync, want 1", r4-r1-1)
	}
}
