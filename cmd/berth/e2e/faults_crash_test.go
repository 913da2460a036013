package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
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

// A retention run's storage copies trail it (the index is the truth; the
// copies are written behind, from rows the run committed). Killed with
// every copy still to write (storage paused), on SQLite and on
// PostgreSQL, the server leaves them in the index as a dead writer's:
// `berth check` reports them pending, and the restarted server writes
// them with nobody running a repair, until check is clean; what the run
// removed stays removed and what it kept still pulls.
func TestFaultsKill9WithRetentionCopiesPending(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			minio := berthtest.StartMinIO(t)
			env := append(minio.Env("retkill"), "BERTH_STORAGE_TIMEOUT=2s", "BERTH_GC_ENABLED=false")
			if db == "postgres" {
				env = append(env, "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t))
			}
			b := berthtest.Start(t, berthtest.Options{Env: env})
			mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "rk"}, http.StatusCreated)
			const tags, keep = 600, 10
			start := time.Now()
			manifests := manifestsOneApart(t, b, "rk/app", tags)
			t.Logf("%d manifests pushed in %s", tags, time.Since(start))
			mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/rk/retention",
				map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": keep}}}, http.StatusOK)

			minio.Pause()
			var run struct {
				Status                        string
				TagsRemoved, ManifestsRemoved int64
			}
			_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/rk/retention/runs", nil, http.StatusOK)), &run)
			// The image's own tag (base), older than all, goes too.
			if gone := int64(tags + 1 - keep); run.Status != "done" || run.TagsRemoved != gone || run.ManifestsRemoved != gone {
				t.Fatalf("run with storage paused: %+v, want done with %d tags and manifests removed", run, gone)
			}
			t.Logf("run done in %s with storage paused; killing berth", time.Since(start))
			b.Kill()
			minio.Resume()

			code, out := berthTool(t, b, "check")
			if pending := strings.Count(out, "storage copy not written yet"); code == 0 || pending < tags-keep {
				t.Fatalf("berth check after the kill: exit %d, %d pending copies, want at least %d\n%.2000s", code, pending, tags-keep, out)
			}
			b = berthtest.Start(t, berthtest.Options{Env: env, DataDir: b.DataDir})
			restarted := time.Now()
			waitClean(t, b, 2*time.Minute)
			t.Logf("check clean %s after the restart", time.Since(restarted))
			if !strings.Contains(b.Logs(), "repaired a storage copy left by a stopped writer") {
				t.Error("the restarted server logged no copy repaired for the killed one")
			}
			var list struct{ Tags []string }
			getJSON(t, b.URL("/v2/rk/app/tags/list"), &list, http.StatusOK)
			var newest []string
			for i := tags - keep; i < tags; i++ {
				newest = append(newest, fmt.Sprintf("t%04d", i))
			}
			if slices.Sort(list.Tags); !slices.Equal(list.Tags, newest) {
				t.Errorf("tags after the restart: %v, want the newest %d: %v", list.Tags, keep, newest)
			}
			for i, m := range manifests {
				resp, _ := getManifest(t, b, http.MethodHead, "rk/app", m)
				if want := map[bool]int{true: http.StatusOK, false: http.StatusNotFound}[i >= tags-keep]; resp.StatusCode != want {
					t.Errorf("manifest %d of %d (%s) after the restart: %d, want %d", i, tags, m, resp.StatusCode, want)
				}
			}
		})
	}
}

// manifestsOneApart pushes an image under the tag base, then n manifests
// of it (they differ in an annotation) under tags t0000.., the newest 20
// one after the other, and returns their digests by tag number.
func manifestsOneApart(t *testing.T, b *berthtest.Berth, repo string, n int) []string {
	t.Helper()
	img := pushRawImage(t, b, repo, "base", "amd64", layerBytes(3))
	var man map[string]any
	if err := json.Unmarshal(img.Manifest, &man); err != nil {
		t.Fatal(err)
	}
	out := make([]string, n)
	push := func(i int) {
		m := maps.Clone(man)
		m["annotations"] = map[string]string{"build": fmt.Sprint(i)}
		body, _ := json.Marshal(m)
		// Not PutManifest: it may call t.Fatal, which this goroutine must not.
		req, _ := http.NewRequest(http.MethodPut, b.URL(fmt.Sprintf("/v2/%s/manifests/t%04d", repo, i)), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("PUT manifest %d: %v", i, err)
			return
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("PUT manifest %d: %d %s", i, resp.StatusCode, msg)
		}
		out[i] = sha(body)
	}
	// Eight at a time, but the newest 20 one after the other, their push
	// times apart where a keep-the-newest rule draws its line.
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				push(i)
			}
		})
	}
	for i := range n - 20 {
		next <- i
	}
	close(next)
	wg.Wait()
	for i := n - 20; i < n; i++ {
		time.Sleep(3 * time.Millisecond)
		push(i)
	}
	if t.Failed() {
		t.FailNow()
	}
	return out
}
