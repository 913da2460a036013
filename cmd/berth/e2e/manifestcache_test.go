package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// hotGet sends a manifest request to r: anonymous when anon, with a bearer
// token when tok is set, else as the admin.
func hotGet(t *testing.T, r *berthtest.Berth, method, repo, ref string, anon bool, tok string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, r.URL("/v2/"+repo+"/manifests/"+ref), nil)
	if _, ok := hdr["Accept"]; !ok {
		req.Header.Set("Accept", acceptAllManifests)
	}
	for k, v := range hdr {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	client := http.DefaultClient
	if anon || tok != "" {
		client = berthtest.AnonymousClient
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// pullToken gets a token for repository:repo:pull (anonymous when user is "").
func pullToken(t *testing.T, r *berthtest.Berth, user, pw, repo string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.URL("/service/token?service=berth&scope=repository:"+repo+":pull"), nil)
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Token string }
	if body := readAll(t, resp); resp.StatusCode != 200 || json.Unmarshal([]byte(body), &out) != nil || out.Token == "" {
		t.Fatalf("token for %s as %q: %d %s", repo, user, resp.StatusCode, body)
	}
	return out.Token
}

// TestHotManifestCache checks the in-memory manifest path against
// distribution's own answers (a replica with the cache off) on two caching
// replicas sharing storage and a database: same headers and bodies, a tag
// moved on A seen at once on B, deleted manifests 404, private
// repositories 401 for anonymous callers and foreign tokens, pulls counted.
// On PostgreSQL every request resolves its reference in the index; on
// SQLite (two processes on one file) references are cached while PRAGMA
// data_version stands still.
func TestHotManifestCache(t *testing.T) {
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			dbURL := filepath.Join(t.TempDir(), "berth.db")
			if backend == "postgres" {
				dbURL = berthtest.SharedPostgres(t).NewDatabase(t)
			}
			testHotManifestCache(t, dbURL)
		})
	}
}

func testHotManifestCache(t *testing.T, dbURL string) {
	shared := []string{
		"BERTH_DATABASE_URL=" + dbURL,
		"BERTH_STORAGE_FILESYSTEM_ROOT_DIRECTORY=" + t.TempDir(),
		"BERTH_DATABASE_PULL_FLUSH_INTERVAL=100ms",
	}
	a := berthtest.Start(t, berthtest.Options{Env: shared, StrictProjects: true})
	b := berthtest.Start(t, berthtest.Options{Env: shared, StrictProjects: true})
	stock := berthtest.Start(t, berthtest.Options{Env: append(slices.Clone(shared), "BERTH_MANIFEST_CACHE=0"), StrictProjects: true})
	mustAPI(t, a, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "hotpub", "public": true}, http.StatusCreated)
	mustAPI(t, a, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "hotpriv", "public": false}, http.StatusCreated)
	img1 := pushRawImage(t, a, "hotpub/app", "v1", "amd64", layerBytes(501))
	img2 := pushRawImage(t, a, "hotpub/app", "v2", "arm64", layerBytes(502))
	priv := pushRawImage(t, a, "hotpriv/app", "v1", "amd64", layerBytes(503))

	compared := []string{"Content-Type", "Content-Length", "Docker-Content-Digest", "Etag", "Docker-Distribution-API-Version"}
	t.Run("same answers as distribution", func(t *testing.T) {
		for _, c := range []struct {
			name, method, ref string
			hdr               map[string]string
			status            int
		}{
			{"GET by tag", "GET", "v1", nil, 200},
			{"GET by digest", "GET", img1.Digest, nil, 200},
			{"HEAD by tag", "HEAD", "v1", nil, 200},
			{"HEAD by digest", "HEAD", img1.Digest, nil, 200},
			{"If-None-Match", "GET", "v1", map[string]string{"If-None-Match": `"` + img1.Digest + `"`}, 304},
			{"OCI not accepted", "GET", "v1", map[string]string{"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, 404},
			{"unknown tag", "GET", "nope", nil, 404},
			{"unknown digest", "GET", img2.Digest[:len(img2.Digest)-4] + "0000", nil, 404},
		} {
			t.Run(c.name, func(t *testing.T) {
				want, wantBody := hotGet(t, stock, c.method, "hotpub/app", c.ref, true, "", c.hdr)
				for i := 0; i < 3; i++ { // the second and third come from memory
					got, body := hotGet(t, b, c.method, "hotpub/app", c.ref, true, "", c.hdr)
					if got.StatusCode != c.status || want.StatusCode != c.status {
						t.Fatalf("status %d, distribution %d, want %d: %s", got.StatusCode, want.StatusCode, c.status, body)
					}
					if c.status == 200 && body != wantBody {
						t.Errorf("body differs:\n%s\n%s", body, wantBody)
					}
					if c.status == 404 && body != wantBody {
						t.Errorf("error body %s, distribution %s", body, wantBody)
					}
					if c.status == 404 && !slices.Equal(errorCodes([]byte(body)), errorCodes([]byte(wantBody))) {
						t.Errorf("errors %s, distribution %s", body, wantBody)
					}
					for _, h := range compared {
						if got.Header.Get(h) != want.Header.Get(h) {
							t.Errorf("try %d %s: %q, distribution %q", i, h, got.Header.Get(h), want.Header.Get(h))
						}
					}
				}
			})
		}
	})

	t.Run("tag moved on A is seen on B at once", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if resp, _ := hotGet(t, b, "GET", "hotpub/app", "latest", true, "", nil); i == 0 && resp.StatusCode != 404 {
				t.Fatalf("latest before push: %d", resp.StatusCode)
			}
		}
		for round, img := range []rawImage{img1, img2, img1} {
			if code, body := putManifest(t, a, "hotpub/app", "latest", "application/vnd.oci.image.manifest.v1+json", img.Manifest); code != 201 {
				t.Fatalf("retag: %d %s", code, body)
			}
			for i := 0; i < 3; i++ {
				resp, body := hotGet(t, b, "GET", "hotpub/app", "latest", true, "", nil)
				if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != img.Digest || body != string(img.Manifest) {
					t.Fatalf("round %d try %d: %d %s, want %s", round, i, resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), img.Digest)
				}
			}
		}
	})

	t.Run("deleted manifest is 404 on B", func(t *testing.T) {
		img3 := pushRawImage(t, a, "hotpub/gone", "v1", "amd64", layerBytes(504))
		for _, ref := range []string{"v1", img3.Digest} {
			for _, r := range []*berthtest.Berth{b, stock} {
				if resp, _ := hotGet(t, r, "GET", "hotpub/gone", ref, true, "", nil); resp.StatusCode != 200 {
					t.Fatalf("%s before delete: %d", ref, resp.StatusCode)
				}
			}
		}
		if code := deleteManifest(t, a, "hotpub/gone", img3.Digest); code != http.StatusAccepted {
			t.Fatalf("delete: %d", code)
		}
		for _, ref := range []string{"v1", img3.Digest} {
			for _, method := range []string{"GET", "HEAD"} {
				resp, body := hotGet(t, b, method, "hotpub/gone", ref, true, "", nil)
				if resp.StatusCode != 404 || (method == "GET" && !slices.Contains(errorCodes([]byte(body)), "MANIFEST_UNKNOWN")) {
					t.Errorf("%s %s after delete: %d %s", method, ref, resp.StatusCode, body)
				}
			}
		}
	})

	t.Run("private repository", func(t *testing.T) {
		if resp, _ := hotGet(t, b, "GET", "hotpriv/app", "v1", false, "", nil); resp.StatusCode != 200 {
			t.Fatalf("admin: %d", resp.StatusCode) // now in memory
		}
		adminTok := pullToken(t, b, "admin", b.AdminPassword, "hotpriv/app")
		anonTok := pullToken(t, b, "", "", "hotpriv/app")
		otherTok := pullToken(t, b, "admin", b.AdminPassword, "hotpub/app")
		for i := 0; i < 3; i++ {
			for _, c := range []struct {
				name   string
				anon   bool
				tok    string
				status int
			}{
				{"anonymous", true, "", 401},
				{"anonymous token", false, anonTok, 401},
				{"token for another repository", false, otherTok, 401},
				{"admin token", false, adminTok, 200},
				{"garbage token", false, adminTok[:len(adminTok)-3] + "abc", 401},
			} {
				for _, method := range []string{"GET", "HEAD"} {
					resp, body := hotGet(t, b, method, "hotpriv/app", priv.Digest, c.anon, c.tok, nil)
					if resp.StatusCode != c.status {
						t.Errorf("%s %s: %d %s", c.name, method, resp.StatusCode, body)
					}
					if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
						t.Errorf("%s: no challenge", c.name)
					}
				}
			}
		}
	})

	t.Run("pulls are counted", func(t *testing.T) {
		count := func() float64 {
			res := hbCall(t, &hbEnv{b: a}, http.MethodGet, "/api/repositories?q=hotpub/app", "admin", "")
			arr, _ := res.json.([]any)
			if len(arr) != 1 {
				t.Fatalf("repositories: %s", res.body)
			}
			return arr[0].(map[string]any)["pull_count"].(float64)
		}
		waitFor(t, "earlier pulls flushed", func() bool { c := count(); time.Sleep(300 * time.Millisecond); return c == count() })
		before := count()
		for i := 0; i < 5; i++ {
			hotGet(t, b, "GET", "hotpub/app", "v2", true, "", nil)
			hotGet(t, b, "HEAD", "hotpub/app", "v2", true, "", nil) // HEADs are not pulls
		}
		want := before + 5
		waitFor(t, fmt.Sprintf("pull_count %v", want), func() bool { return count() == want })
		time.Sleep(300 * time.Millisecond)
		if got := count(); got != want {
			t.Errorf("pull_count %v, want %v", got, want)
		}
	})
}
