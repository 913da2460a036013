package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// A blob whose data is gone from storage while the index still links it
// (lost by hand or by the backend; garbage collection unlinks first): a
// GET answers 404 BLOB_UNKNOWN, not 503 as if storage were down nor 200
// with a short body, and the blob is forgotten, so HEAD says 404 too and a
// client pushing the image again uploads it.
// Behind a proxy project, the next pull fetches it from the upstream
// again, and the data is back in storage. berth check names the loss, and
// is clean once the data is back.
func TestBlobDataGoneFromStorage(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	_, proxied := pushRandomImage(t, up.Addr+"/library/gone:v1", 1<<20)
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	bindProxy(t, b, map[string]any{"project": "hub", "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})
	crane := berthtest.Tool(t, "crane")
	for range 2 { // cold, then warm (served from storage)
		berthtest.Run(t, crane, "pull", b.Addr+"/hub/library/gone:v1", filepath.Join(t.TempDir(), "img.tar"), "--insecure")
	}
	_, local := pushRandomImage(t, b.Addr+"/library/local:v1", 1<<20)
	saved := filepath.Join(t.TempDir(), "local.tar")
	berthtest.Run(t, crane, "pull", b.Addr+"/library/local:v1", saved, "--insecure")

	get := func(method, repo, d string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, b.URL("/v2/"+repo+"/blobs/"+d), nil)
		return berthtest.SendAs(t, req, "admin", b.AdminPassword)
	}
	for _, c := range []struct{ repo, digest string }{{"library/local", local}, {"hub/library/gone", proxied}} {
		if code, body := get(http.MethodGet, c.repo, c.digest); code != http.StatusOK || berthtest.Sha([]byte(body)) != c.digest {
			t.Fatalf("GET %s before: %d, %d bytes", c.repo, code, len(body))
		}
		if err := os.Remove(blobData(b, c.digest)); err != nil {
			t.Fatal(err)
		}
	}

	// berth check names what storage lost.
	if code, out := berthTool(t, b, "check"); code != 1 || !strings.Contains(out, "broken") || !strings.Contains(out, local) || !strings.Contains(out, "its data not in storage") {
		t.Fatalf("berth check with a layer's data gone: exit %d\n%s", code, out)
	}

	code, body := get(http.MethodGet, "library/local", local)
	if code != http.StatusNotFound || !strings.Contains(body, "BLOB_UNKNOWN") {
		t.Fatalf("GET of a blob whose data is gone: %d %s, want 404 BLOB_UNKNOWN", code, body)
	}
	if code, _ := get(http.MethodHead, "library/local", local); code != http.StatusNotFound {
		t.Fatalf("HEAD after it: %d, want 404", code)
	}
	// Told it is not there, a client pushing the image again (under a new
	// tag: the manifest is there) uploads it.
	berthtest.Run(t, crane, "push", saved, b.Addr+"/library/local:again", "--insecure")
	if code, body := get(http.MethodGet, "library/local", local); code != http.StatusOK || berthtest.Sha([]byte(body)) != local {
		t.Fatalf("GET after the image was pushed again: %d, %d bytes", code, len(body))
	}

	// The proxy: the first GET finds the data gone (404, forgotten), the
	// next fetches it again.
	if code, body := get(http.MethodGet, "hub/library/gone", proxied); code != http.StatusNotFound && (code != http.StatusOK || berthtest.Sha([]byte(body)) != proxied) {
		t.Fatalf("proxied GET of a blob whose data is gone: %d, %d bytes", code, len(body))
	}
	berthtest.Run(t, crane, "pull", b.Addr+"/hub/library/gone:v1", filepath.Join(t.TempDir(), "img.tar"), "--insecure")
	if code, body := get(http.MethodGet, "hub/library/gone", proxied); code != http.StatusOK || berthtest.Sha([]byte(body)) != proxied {
		t.Fatalf("proxied GET after a pull: %d, %d bytes", code, len(body))
	}
	if _, err := os.Stat(blobData(b, proxied)); err != nil {
		t.Fatalf("the proxied blob's data is not back in storage: %v", err)
	}
	// The server is live: the storage copies of the push just made may
	// still be pending for a moment (check lists them as such).
	waitClean(t, b, 30*time.Second)
}
