package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestProxySingleFlight: two replicas (one PostgreSQL, one MinIO) in
// front of one upstream, three clients on each pulling the same cold blob
// and then the same cold tag at once. The upstream serves each exactly once
// (counted by the front in front of it): the clients of the replica that
// fetches read the growing download, those of the other replica stream it
// relayed from the first (they get their first byte long before the slowed
// download ends, not when it is stored). Every client gets the right bytes.
func TestProxySingleFlight(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	manifestDigest, layer := pushRandomImage(t, up.Addr+"/library/big:v1", 8<<20)
	fr.set(func(f *front) { f.slow = 10 * time.Millisecond }) // ~1.3s per copy of the layer: the pulls overlap

	minio := berthtest.StartMinIO(t)
	env := append(minio.Env("proxyflight"), "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t), "BERTH_CACHE=none")
	replicas := []*berthtest.Berth{berthtest.Start(t, berthtest.Options{Env: env, StrictProjects: true})}
	replicas = append(replicas, berthtest.Start(t, berthtest.Options{Env: env, StrictProjects: true}))
	bindProxy(t, replicas[0], map[string]any{"project": "hub", "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})
	time.Sleep(2500 * time.Millisecond) // the other replica reloads its bindings every 2s

	type timing struct{ firstByte, all time.Duration }
	var timings [6]timing
	pullAll := func(path, accept string) []string {
		t.Helper()
		var wg sync.WaitGroup
		results := make([]string, 6)
		start := make(chan struct{})
		for i := range results {
			b := replicas[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				began := time.Now()
				req, _ := http.NewRequest(http.MethodGet, b.URL(path), nil)
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					results[i] = "error: " + err.Error()
					return
				}
				defer resp.Body.Close()
				h := sha256.New()
				first := make([]byte, 1)
				if _, err := io.ReadFull(resp.Body, first); err != nil {
					results[i] = "error: " + err.Error()
					return
				}
				timings[i].firstByte = time.Since(began)
				h.Write(first)
				if _, err := io.Copy(h, resp.Body); err != nil {
					results[i] = "error: " + err.Error()
					return
				}
				timings[i].all = time.Since(began)
				results[i] = fmt.Sprintf("%d sha256:%s", resp.StatusCode, hex.EncodeToString(h.Sum(nil)))
			}()
		}
		close(start)
		wg.Wait()
		return results
	}
	for i, r := range pullAll("/v2/hub/library/big/blobs/"+layer, "") {
		if r != "200 "+layer {
			t.Errorf("client %d of the blob: %s", i, r)
		}
	}
	if n := fr.count("GET", "/blobs/"+layer); n != 1 {
		t.Errorf("6 simultaneous cold pulls on 2 replicas fetched the blob %d times from the upstream, want 1", n)
	}
	for i, tm := range timings {
		// waiting for the download to be stored, a client's first byte
		// would come at the end, with all the others
		if tm.firstByte > tm.all/2 {
			t.Errorf("client %d (replica %d) got its first byte after %s of %s: it did not stream the download", i, i%2, tm.firstByte, tm.all)
		}
	}
	for i, r := range pullAll("/v2/hub/library/big/manifests/v1", acceptAllManifests) {
		if r != "200 "+manifestDigest {
			t.Errorf("client %d of the manifest: %s", i, r)
		}
	}
	if n := fr.count("GET", "/manifests/v1") + fr.count("GET", "/manifests/"+manifestDigest); n != 1 {
		t.Errorf("6 simultaneous cold pulls of the tag fetched the manifest %d times, want 1", n)
	}
	if n := fr.count("HEAD", "/manifests/v1"); n != 1 {
		t.Errorf("the tag was checked %d times, want 1", n)
	}
}
