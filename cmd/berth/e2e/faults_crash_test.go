package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// berth is killed (SIGKILL) while eight clients push, on filesystem +
// SQLite and on MinIO + PostgreSQL. Restarted on the same data, every push
// it acknowledged pulls back (manifest and blobs), and without anyone
// running a repair, `berth check` is clean within a minute: what the killed
// writes left half-done is visible everywhere or nowhere.
func TestFaultsKill9DuringPushes(t *testing.T) {
	backends := []struct {
		name string
		fs   bool
		env  func(t *testing.T) []string
	}{
		{"filesystem+sqlite", true, func(t *testing.T) []string { return nil }},
		{"minio+postgres", false, func(t *testing.T) []string {
			return append(berthtest.StartMinIO(t).Env("crash"), "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t))
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			env := be.env(t)
			b := berthtest.Start(t, berthtest.Options{Env: env})
			acked := pushUntilKilled(t, b, 8, 10)
			if len(acked) == 0 {
				t.Fatal("no push was acknowledged before the kill")
			}
			b = berthtest.Start(t, berthtest.Options{Env: env, DataDir: b.DataDir})
			for ref, dgst := range acked {
				repo, tag, _ := strings.Cut(ref, ":")
				req, _ := http.NewRequest(http.MethodGet, b.URL("/v2/"+repo+"/manifests/"+tag), nil)
				req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != dgst {
					t.Fatalf("acknowledged push %s lost after the crash: %d %s", ref, resp.StatusCode, body)
				}
				var m struct{ Layers []struct{ Digest string } }
				_ = json.Unmarshal(body, &m)
				for _, l := range m.Layers {
					resp, err := http.Head(b.URL("/v2/" + repo + "/blobs/" + l.Digest))
					if err != nil || resp.StatusCode != http.StatusOK {
						t.Fatalf("layer %s of %s missing after the crash: %v %v", l.Digest, ref, resp, err)
					}
				}
			}
			waitClean(t, b, 60*time.Second)
		})
	}
}

// pushUntilKilled runs clients pushing one-layer images (each under a tag
// of its own) and kills b once at least least pushes were acknowledged,
// while the others are in flight. It returns the pushes acknowledged with
// 201 (repo:tag → digest).
func pushUntilKilled(t *testing.T, b *berthtest.Berth, clients, least int) map[string]string {
	t.Helper()
	var mu sync.Mutex
	acked := map[string]string{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				repo := fmt.Sprintf("crash/r%d", c%3)
				tag := fmt.Sprintf("c%d-%d", c, n)
				if dgst, ok := tryPush(b, repo, tag, []byte(fmt.Sprintf("crash layer %d %d %s", c, n, strings.Repeat("z", n%50)))); ok {
					mu.Lock()
					acked[repo+":"+tag] = dgst
					mu.Unlock()
				}
			}
		}()
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= least {
			break
		}
	}
	time.Sleep(150 * time.Millisecond) // well inside the next pushes
	b.Kill()
	close(stop)
	wg.Wait()
	t.Logf("%d pushes acknowledged before the kill", len(acked))
	return acked
}

// tryPush pushes a one-layer image and reports whether berth acknowledged
// the manifest (errors are expected: the server dies under it).
func tryPush(b *berthtest.Berth, repo, tag string, layer []byte) (string, bool) {
	client := &http.Client{Timeout: 10 * time.Second}
	blob := func(data []byte) (string, bool) {
		resp, err := client.Post(b.URL("/v2/"+repo+"/blobs/uploads/"), "", nil)
		if err != nil {
			return "", false
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusAccepted || loc == "" {
			return "", false
		}
		if !strings.HasPrefix(loc, "http") {
			loc = b.URL(loc)
		}
		d := sha(data)
		req, _ := http.NewRequest(http.MethodPut, withDigest(loc, d), bytes.NewReader(data))
		resp, err = client.Do(req)
		if err != nil {
			return "", false
		}
		resp.Body.Close()
		return d, resp.StatusCode == http.StatusCreated
	}
	layerDigest, ok := blob(layer)
	if !ok {
		return "", false
	}
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["` + layerDigest + `"]}}`)
	configDigest, ok := blob(config)
	if !ok {
		return "", false
	}
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": len(layer)}},
	})
	req, _ := http.NewRequest(http.MethodPut, b.URL("/v2/"+repo+"/manifests/"+tag), bytes.NewReader(man))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err := client.Do(req)
	if err != nil {
		return "", false
	}
	resp.Body.Close()
	return sha(man), resp.StatusCode == http.StatusCreated
}
