package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
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

	// A real client: crane pulls a new image through both replicas at once.
	// The layer comes from the upstream once, and the replica that did not
	// fetch it streamed it from the one that did (its relay request is in
	// that replica's request log).
	_, layer2 := pushRandomImage(t, up.Addr+"/library/other:v1", 8<<20)
	crane := berthtest.Tool(t, "crane")
	errs := make([]error, len(replicas))
	var cwg sync.WaitGroup
	for i, b := range replicas {
		tarball := filepath.Join(t.TempDir(), "img.tar")
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			if out, err := berthtest.RunErr(t, crane, "pull", b.Addr+"/hub/library/other:v1", tarball, "--insecure"); err != nil {
				errs[i] = fmt.Errorf("%v: %s", err, out)
			}
		}()
	}
	cwg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("crane pull through replica %d: %v", i, err)
		}
	}
	if n := fr.count("GET", "/blobs/"+layer2); n != 1 {
		t.Errorf("two crane pulls on 2 replicas fetched the layer %d times from the upstream, want 1", n)
	}
	relayed := 0
	for _, b := range replicas {
		for _, line := range strings.Split(b.Logs(), "\n") {
			if strings.Contains(line, `"path":"`+proxyPeerPath+`"`) && strings.Contains(line, `"status":200`) {
				relayed++
			}
		}
	}
	if relayed == 0 {
		t.Error("no replica served a relay of the download to the other")
	}
}

// proxyPeerPath is where a replica relays its downloads (registry/proxy.PeerPath).
const proxyPeerPath = "/internal/berth/proxy/flight"

// TestProxyRelayLeaderKilled: the replica downloading a blob is killed
// (-9) while a client of the other replica streams the download relayed
// from it. That client's answer breaks off (never a whole 200 of a blob
// that did not arrive), the other replica stores nothing from it, and once
// the dead replica's lease has run out the blob pulls through the survivor,
// whole and right.
func TestProxyRelayLeaderKilled(t *testing.T) {
	up := startUpstreamRegistry(t)
	fr := startFront(t, up.Addr)
	_, layer := pushRandomImage(t, up.Addr+"/library/big:v1", 4<<20)
	fr.set(func(f *front) { f.slow = 40 * time.Millisecond }) // ~2.6s per copy of the layer

	minio := berthtest.StartMinIO(t)
	env := append(minio.Env("proxyrelay"), "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t), "BERTH_CACHE=none")
	leader := berthtest.Start(t, berthtest.Options{Env: env, StrictProjects: true})
	survivor := berthtest.Start(t, berthtest.Options{Env: env, StrictProjects: true})
	bindProxy(t, leader, map[string]any{"project": "hub", "url": "http://" + fr.Addr, "username": up.User, "password": up.PW})
	time.Sleep(2500 * time.Millisecond) // the other replica reloads its bindings every 2s
	path := "/v2/hub/library/big/blobs/" + layer

	// The leader starts the download; its own client is cut off by the kill.
	go func() {
		if resp, err := http.Get(leader.URL(path)); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	berthtest.WaitWithin(t, 10*time.Second, "the leader's download", func() bool { return fr.count("GET", "/blobs/"+layer) == 1 })

	resp, err := http.Get(survivor.URL(path))
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("the relayed answer: %d, %v", resp.StatusCode, err)
	}
	leader.Kill()
	h := sha256.New()
	h.Write(first)
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err == nil && "sha256:"+hex.EncodeToString(h.Sum(nil)) == layer {
		t.Fatalf("the relayed answer completed (%d bytes) although the download died", int64(len(first))+n)
	}
	if err == nil {
		t.Fatalf("the relayed answer ended cleanly after %d of %s bytes: the client cannot tell it is cut short", int64(len(first))+n, resp.Header.Get("Content-Length"))
	}

	// The survivor fetches the blob itself once the lease has expired
	// (leaseTTL, 30s): until then a pull waits, or fails, never lies.
	fr.set(func(f *front) { f.slow = 0 })
	berthtest.WaitWithin(t, 60*time.Second, "a pull through the survivor", func() bool {
		resp, err := http.Get(survivor.URL(path))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		h := sha256.New()
		if _, err := io.Copy(h, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != layer {
			t.Fatalf("the survivor served %s for %s", got, layer)
		}
		return true
	})
	if n := fr.count("GET", "/blobs/"+layer); n != 2 {
		t.Errorf("the upstream served the blob %d times, want 2 (the killed download, the survivor's)", n)
	}
}
