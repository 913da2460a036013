package e2e

import (
	"bytes"
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

// Eight clients PUT one tag to eight different manifests at the same
// moment (some rounds also delete it), round after round. After every
// round, the OCI API, tags/list, the tag's link in storage and the SWR,
// Harbor v1, CCR and bk-repo views all name the same digest, and no request
// got a 5xx. On SQLite and on PostgreSQL.
func TestFaultsSameTagRace(t *testing.T) {
	for _, dbe := range berthtest.Databases() {
		t.Run(dbe.Name, func(t *testing.T) {
			b := berthtest.Start(t, berthtest.Options{Env: dbe.Env(t)})
			const repo, tag, clients, rounds = "race/app/img", "hot", 8, 25
			var images []rawImage
			for i := range clients {
				images = append(images, pushRawImage(t, b, repo, "", "amd64", layerBytes(1000+i)))
			}
			pushRawImage(t, b, repo, "keep", "amd64", layerBytes(999)) // the repository never empties
			rng := rand.New(rand.NewSource(7))
			for round := range rounds {
				deletes := 0
				if round%3 == 2 {
					deletes = 2 // tag puts mixed with tag deletes
				}
				codes := raceRound(t, b, repo, tag, images, deletes, rng)
				for _, c := range codes {
					if c >= 500 {
						t.Fatalf("round %d: a racing request got %d (all: %v)", round, c, codes)
					}
				}
				if v := tagViews(t, b, repo, tag, true); !v.agree() {
					t.Fatalf("round %d: the views disagree: %v", round, v)
				}
			}
			if err := b.Stop(); err != nil {
				t.Fatal(err)
			}
			if code, out := berthTool(t, b, "check"); code != 0 {
				t.Fatalf("check after the races: exit %d\n%s", code, out)
			}
		})
	}
}

// raceRound releases every client at once: clients-deletes of them PUT
// their manifest under tag, the others DELETE the tag. It returns the
// status codes.
func raceRound(t *testing.T, b *berthtest.Berth, repo, tag string, images []rawImage, deletes int, rng *rand.Rand) []int {
	t.Helper()
	order := rng.Perm(len(images))
	start := make(chan struct{})
	codes := make([]int, len(images))
	var wg sync.WaitGroup
	for i, idx := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var req *http.Request
			if i < deletes {
				req, _ = http.NewRequest(http.MethodDelete, b.URL("/v2/"+repo+"/manifests/"+tag), nil)
			} else {
				req, _ = http.NewRequest(http.MethodPut, b.URL("/v2/"+repo+"/manifests/"+tag), bytes.NewReader(images[idx].Manifest))
				req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes[i] = -1
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	return codes
}

// Eight clients re-tag, delete tags and delete and re-push manifests of one
// repository through /v2 and the Harbor v1 API for a few seconds: no
// request gets a 5xx, no answer shows a server path, and afterwards the
// index and storage agree.
func TestFaultsRacesAnswerLikeARegistry(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	const repo = "churn/app/img"
	var images []rawImage
	for i := range 4 {
		images = append(images, pushRawImage(t, b, repo, fmt.Sprintf("t%d", i), "amd64", layerBytes(2000+i)))
	}
	deadline := time.Now().Add(6 * time.Second)
	var mu sync.Mutex
	counts := map[int]int{}
	var bad []string
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(c)))
			for time.Now().Before(deadline) {
				img := images[rng.Intn(len(images))]
				tag := fmt.Sprintf("t%d", rng.Intn(4))
				var req *http.Request
				switch rng.Intn(5) {
				case 0, 1:
					req, _ = http.NewRequest(http.MethodPut, b.URL("/v2/"+repo+"/manifests/"+tag), bytes.NewReader(img.Manifest))
					req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
				case 2:
					req, _ = http.NewRequest(http.MethodDelete, b.URL("/v2/"+repo+"/manifests/"+tag), nil)
				case 3:
					req, _ = http.NewRequest(http.MethodDelete, b.URL("/api/repositories?repo_name="+repo+"&tag="+tag), nil)
				default:
					req, _ = http.NewRequest(http.MethodDelete, b.URL("/v2/"+repo+"/manifests/"+img.Digest), nil)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				counts[resp.StatusCode]++
				if resp.StatusCode >= 500 || strings.Contains(string(body), "/docker/registry") || strings.Contains(string(body), b.DataDir) {
					bad = append(bad, fmt.Sprintf("%s %s: %d %.300s", req.Method, req.URL, resp.StatusCode, body))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("statuses: %v", counts)
	if len(bad) > 0 {
		t.Fatalf("%d bad answers, e.g.:\n%s", len(bad), strings.Join(bad[:min(5, len(bad))], "\n"))
	}
	for i := range 4 {
		if v := tagViews(t, b, repo, fmt.Sprintf("t%d", i), true); !v.agree() {
			t.Errorf("t%d: the views disagree: %v", i, v)
		}
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if code, out := berthTool(t, b, "check"); code != 0 {
		t.Fatalf("check after the churn: exit %d\n%s", code, out)
	}
}
