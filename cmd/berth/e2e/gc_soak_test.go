package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Garbage collection runs every second with a one-second delay while six
// clients push images that share layers (skipping the ones a repository
// already holds, as docker does, or mounting them from another
// repository), re-tag them and delete them, on filesystem + SQLite and on
// MinIO + PostgreSQL. No request ever hears "blob unknown", and afterwards
// every image acknowledged and not deleted pulls back byte for byte.
//
// gc.delay is the time a client has between putting a blob into a
// repository (an upload, a mount, or finding it there) and pushing the
// manifest that uses it. On a busy two-core machine a push sometimes takes
// longer than one second: such a push may hear MANIFEST_BLOB_UNKNOWN (the
// blob was collected, as it should be after the delay) and is pushed
// again; it is counted, not a failure. Any "blob unknown" within the delay
// is.
func TestGCSoak(t *testing.T) {
	backends := []struct {
		name string
		env  func(t *testing.T) []string
	}{
		{"filesystem+sqlite", func(t *testing.T) []string { return nil }},
		{"minio+postgres", func(t *testing.T) []string {
			return append(berthtest.StartMinIO(t).Env("soak"), "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t))
		}},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: append(be.env(t), "BERTH_GC_DELAY="+soakDelay.String(), "BERTH_GC_INTERVAL=1s")})
			s := &soak{b: b, shared: make([][]byte, 6), held: map[string][]string{}, live: map[string]soakImage{}}
			for i := range s.shared {
				s.shared[i] = bytes.Repeat([]byte{byte('a' + i)}, 48<<10+i)
			}
			var wg sync.WaitGroup
			deadline := time.Now().Add(12 * time.Second)
			for c := range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.client(c, deadline)
				}()
			}
			wg.Wait()
			t.Logf("%d pushes, %d re-tags, %d deletes, %d mounts; %d images left", s.pushes, s.retags, s.deletes, s.mounts, len(s.live))
			t.Logf("%d pushes took longer than gc.delay and were told to upload again", s.slow)
			if len(s.unknown) > 0 {
				t.Fatalf("%d answers said blob unknown, e.g.:\n%s", len(s.unknown), strings.Join(s.unknown[:min(5, len(s.unknown))], "\n"))
			}
			if len(s.failed) > 0 {
				t.Fatalf("%d requests failed, e.g.:\n%s", len(s.failed), strings.Join(s.failed[:min(5, len(s.failed))], "\n"))
			}
			time.Sleep(3 * time.Second) // passes with everything due
			for ref, img := range s.live {
				repo, tag, _ := strings.Cut(ref, ":")
				resp, body := getManifest(t, b, http.MethodGet, repo, tag)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(body, img.manifest) {
					t.Fatalf("%s after the soak: %d %.200s", ref, resp.StatusCode, body)
				}
				for d, data := range img.blobs {
					resp, got := httpDo(t, http.MethodGet, b.URL("/v2/"+repo+"/blobs/"+d), nil)
					if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
						t.Fatalf("%s: blob %s after the soak: %d (%d bytes, want %d)", ref, d, resp.StatusCode, len(got), len(data))
					}
				}
			}
			var runs struct{ Runs []gcReport }
			getJSON(t, b.URL("/api/berth/v1/gc?limit=1000"), &runs, http.StatusOK)
			var freed int64
			for _, r := range runs.Runs {
				freed += r.BlobsDeleted
			}
			if freed == 0 {
				t.Fatal("no pass deleted anything: the collector did not run alongside the clients")
			}
			t.Logf("%d passes deleted %d blobs", len(runs.Runs), freed)
			waitClean(t, b, 30*time.Second)
		})
	}
}

type soakImage struct {
	digest   string
	manifest []byte
	blobs    map[string][]byte
}

type soak struct {
	b      *berthtest.Berth
	shared [][]byte

	mu                              sync.Mutex
	live                            map[string]soakImage // repo:tag → image
	held                            map[string][]string  // digest → repositories that hold it (for mounts)
	pushes, retags, deletes, mounts int
	slow                            int
	unknown, failed                 []string
}

func (s *soak) note(list *[]string, format string, args ...any) {
	s.mu.Lock()
	*list = append(*list, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

// client works on a repository of its own (re-tags and deletes of one
// repository by one client, as a CI job would), with layers shared with
// every other client's.
func (s *soak) client(c int, deadline time.Time) {
	rng := rand.New(rand.NewSource(int64(c)))
	repo := fmt.Sprintf("soak/c%d", c)
	var mine []string // tags of live images, this client's
	for n := 0; time.Now().Before(deadline); n++ {
		switch op := rng.Intn(10); {
		case op < 6 || len(mine) == 0:
			for try := 0; try < 3; try++ { // a push slower than gc.delay goes again
				tag, ok, slow := s.push(rng, repo, fmt.Sprintf("p%d", n))
				if ok {
					mine = append(mine, tag)
				}
				if !slow {
					break
				}
			}
		case op < 8:
			s.mu.Lock()
			img := s.live[repo+":"+mine[rng.Intn(len(mine))]]
			s.mu.Unlock()
			tag := fmt.Sprintf("r%d", n)
			if s.putManifest(repo, tag, img.manifest) {
				s.mu.Lock()
				s.live[repo+":"+tag], s.retags = img, s.retags+1
				s.mu.Unlock()
				mine = append(mine, tag)
			}
		default:
			i := rng.Intn(len(mine))
			s.mu.Lock()
			img := s.live[repo+":"+mine[i]]
			s.mu.Unlock()
			resp, body := s.do(http.MethodDelete, "/v2/"+repo+"/manifests/"+img.digest, nil, "")
			if resp == nil || resp.StatusCode != http.StatusAccepted {
				s.note(&s.failed, "delete %s@%s: %v %s", repo, img.digest, status(resp), body)
				continue
			}
			kept := mine[:0]
			s.mu.Lock()
			for _, tag := range mine {
				if s.live[repo+":"+tag].digest == img.digest {
					delete(s.live, repo+":"+tag)
				} else {
					kept = append(kept, tag)
				}
			}
			s.deletes++
			s.mu.Unlock()
			mine = kept
		}
	}
}

// push pushes an image of two shared layers and one of its own, the way a
// client does: a layer the repository holds is not sent again, one another
// repository holds is mounted from there, the rest is uploaded. slow
// reports a push refused because it took longer than gc.delay.
func (s *soak) push(rng *rand.Rand, repo, tag string) (_ string, ok, slow bool) {
	start := time.Now()
	own := []byte(fmt.Sprintf("%s %s %d", repo, tag, rng.Int63()))
	layers := [][]byte{s.shared[rng.Intn(len(s.shared))], s.shared[rng.Intn(len(s.shared))], own}
	img := soakImage{blobs: map[string][]byte{}}
	var descs []any
	for _, l := range layers {
		d := sha(l)
		if !s.ensureBlob(repo, d, l) {
			return "", false, false
		}
		img.blobs[d] = l
		descs = append(descs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(l)})
	}
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","soak":%q}`, tag))
	if !s.ensureBlob(repo, sha(config), config) {
		return "", false, false
	}
	img.blobs[sha(config)] = config
	img.manifest, _ = json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
		"layers": descs})
	img.digest = sha(img.manifest)
	resp, body := s.send(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, img.manifest, "application/vnd.oci.image.manifest.v1+json")
	if resp != nil && resp.StatusCode == http.StatusBadRequest && strings.Contains(body, "MANIFEST_BLOB_UNKNOWN") && time.Since(start) > soakDelay*9/10 {
		s.mu.Lock()
		s.slow++
		s.mu.Unlock()
		return "", false, true
	}
	if resp == nil || resp.StatusCode != http.StatusCreated {
		s.noteAnswer(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, resp, body)
		s.note(&s.failed, "manifest %s:%s: %v %s", repo, tag, status(resp), body)
		return "", false, false
	}
	s.mu.Lock()
	s.live[repo+":"+tag] = img
	s.pushes++
	for d := range img.blobs {
		s.held[d] = append(s.held[d], repo)
	}
	s.mu.Unlock()
	return tag, true, false
}

// ensureBlob makes repo hold blob d: already there (HEAD), mounted from a
// repository that held it, or uploaded.
func (s *soak) ensureBlob(repo, d string, data []byte) bool {
	if resp, _ := s.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d, nil, ""); resp != nil && resp.StatusCode == http.StatusOK {
		return true
	}
	s.mu.Lock()
	from := s.held[d]
	s.mu.Unlock()
	if len(from) > 0 && from[len(from)-1] != repo {
		resp, body := s.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?mount="+d+"&from="+from[len(from)-1], nil, "")
		if resp != nil && resp.StatusCode == http.StatusCreated {
			s.mu.Lock()
			s.mounts++
			s.mu.Unlock()
			return true
		}
		if resp != nil && resp.StatusCode == http.StatusAccepted {
			return s.finishUpload(repo, resp.Header.Get("Location"), d, data)
		}
		s.note(&s.failed, "mount %s into %s: %v %s", d, repo, status(resp), body)
		return false
	}
	resp, body := s.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, "")
	if resp == nil || resp.StatusCode != http.StatusAccepted {
		s.note(&s.failed, "upload start in %s: %v %s", repo, status(resp), body)
		return false
	}
	return s.finishUpload(repo, resp.Header.Get("Location"), d, data)
}

func (s *soak) finishUpload(repo, loc, d string, data []byte) bool {
	if !strings.HasPrefix(loc, "http") {
		loc = s.b.URL(loc)
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, body := s.do(http.MethodPut, strings.TrimPrefix(loc, s.b.URL(""))+sep+"digest="+d, data, "application/octet-stream")
	if resp == nil || resp.StatusCode != http.StatusCreated {
		s.note(&s.failed, "upload %s to %s: %v %s", d, repo, status(resp), body)
		return false
	}
	return true
}

func (s *soak) putManifest(repo, tag string, m []byte) bool {
	resp, body := s.do(http.MethodPut, "/v2/"+repo+"/manifests/"+tag, m, "application/vnd.oci.image.manifest.v1+json")
	if resp == nil || resp.StatusCode != http.StatusCreated {
		s.note(&s.failed, "manifest %s:%s: %v %s", repo, tag, status(resp), body)
		return false
	}
	return true
}

// soakDelay is the gc.delay the soak runs with.
const soakDelay = time.Second

// do sends one request, noting any answer that says blob unknown.
func (s *soak) do(method, path string, body []byte, contentType string) (*http.Response, string) {
	resp, b := s.send(method, path, body, contentType)
	s.noteAnswer(method, path, resp, b)
	return resp, b
}

func (s *soak) send(method, path string, body []byte, contentType string) (*http.Response, string) {
	req, _ := http.NewRequest(method, s.b.URL(path), bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.note(&s.failed, "%s %s: %v", method, path, err)
		return nil, ""
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (s *soak) noteAnswer(method, path string, resp *http.Response, body string) {
	if resp != nil && strings.Contains(body, "BLOB_UNKNOWN") && method != http.MethodHead {
		s.note(&s.unknown, "%s %s: %d %s", method, path, resp.StatusCode, body)
	}
}

func status(resp *http.Response) any {
	if resp == nil {
		return "no answer"
	}
	return resp.StatusCode
}
