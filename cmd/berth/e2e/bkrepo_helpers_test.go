package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// bkEnv is a berth with the images the docker ext tests read: project "bk"
// (private), bk-repo repository "docker-local".
type bkEnv struct {
	b                *berthtest.Berth
	pw               string // password of the users below
	robotRO, robotRW struct{ AccessKey, Secret string }
	hello            string // digest of docker-local/hello-world:latest and :v1
}

// bkResult is one docker ext response: status, headers, envelope.
type bkResult struct {
	status int
	header http.Header
	raw    map[string]json.RawMessage
	data   any
	code   int
	body   string
}

// extAs calls a docker ext route with an Authorization header ("" means
// anonymous; "admin" means the admin's Basic credentials).
func extAs(t *testing.T, b *berthtest.Berth, method, path, authz string, hdr ...string) bkResult {
	t.Helper()
	req, err := http.NewRequest(method, b.URL(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	switch authz {
	case "":
	case "admin":
		req.SetBasicAuth("admin", b.AdminPassword)
	default:
		req.Header.Set("Authorization", authz)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res := bkResult{status: resp.StatusCode, header: resp.Header, body: readAll(t, resp)}
	if json.Unmarshal([]byte(res.body), &res.raw) == nil {
		_ = json.Unmarshal(res.raw["code"], &res.code)
		_ = json.Unmarshal(res.raw["data"], &res.data)
	}
	return res
}

// ext calls a docker ext route as the admin and wants code 0.
func ext(t *testing.T, b *berthtest.Berth, method, path string) bkResult {
	t.Helper()
	res := extAs(t, b, method, path, "admin")
	if res.status != http.StatusOK || res.code != 0 {
		t.Fatalf("%s %s: %d %s", method, path, res.status, res.body)
	}
	return res
}

func platformAuth(ak, sk string) string {
	return "Platform " + base64.StdEncoding.EncodeToString([]byte(ak+":"+sk))
}

var bkDate = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$`)

// bkCreated is the detail's createdDate as the seed writes it: "2020-09-17 03:48:42.896Z".
var bkCreated = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z$`)

// contentSize is what an image's manifest says its config and layers weigh.
func contentSize(t *testing.T, b *berthtest.Berth, repo, ref string) float64 {
	t.Helper()
	_, raw := getManifest(t, b, http.MethodGet, repo, ref)
	return manifestContentSize(t, raw)
}

// manifestContentSize is what manifest raw says its config and layers weigh.
func manifestContentSize(t *testing.T, raw []byte) float64 {
	t.Helper()
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	size := float64(m.Config.Size)
	for _, l := range m.Layers {
		size += float64(l.Size)
	}
	return size
}

// startBkEnv starts berth and fills it: crane-pushed hello-world (latest,
// v1) and library/nginx, raw-pushed app-1..5 and many:t01..t07, and an image
// in another bk-repo repository.
func startBkEnv(t *testing.T) *bkEnv {
	t.Helper()
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	e := &bkEnv{b: b, pw: "Bkrepo-pass-1"}
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "bk", "public": false}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "bkpub", "public": true}, http.StatusCreated)
	for _, u := range []string{"reader", "stranger"} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": u, "password": e.pw}, http.StatusCreated)
	}
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/bk/members/reader", map[string]string{"role": "guest"}, http.StatusOK)
	out := mustAPI(t, b, http.MethodPost, "/api/berth/v1/robots", map[string]any{"name": "bk-ro", "projects": map[string]string{"bk": "guest"}}, http.StatusCreated)
	if err := json.Unmarshal([]byte(out), &e.robotRO); err != nil {
		t.Fatal(err)
	}
	out = mustAPI(t, b, http.MethodPost, "/api/berth/v1/robots", map[string]any{"name": "bk-rw", "projects": map[string]string{"bk": "developer"}}, http.StatusCreated)
	if err := json.Unmarshal([]byte(out), &e.robotRW); err != nil {
		t.Fatal(err)
	}

	crane := berthtest.Tool(t, "crane")
	e.hello = pushSmallImage(t, b.Addr+"/bk/docker-local/hello-world:latest")
	berthtest.Run(t, crane, "tag", "--insecure", b.Addr+"/bk/docker-local/hello-world:latest", "v1")
	pushSmallImage(t, b.Addr+"/bk/docker-local/library/nginx:1.0")
	pushSmallImage(t, b.Addr+"/bk/other/hidden:1")
	pushSmallImage(t, b.Addr+"/bkpub/docker-local/open:1")
	for i := 1; i <= 5; i++ {
		pushRawImage(t, b, fmt.Sprintf("bk/docker-local/app-%d", i), "v1", "amd64", layerBytes(300+i))
	}
	for i := 1; i <= 7; i++ {
		pushRawImage(t, b, "bk/docker-local/many", fmt.Sprintf("t%02d", i), "amd64", layerBytes(400+i))
	}
	return e
}

// bkSeedDetail is the seed's version detail example (its created_by quotes
// escaped so that it parses).
const bkSeedDetail = `{"basic":{"domain":"bkrepo.example.com","size":2487,"version":"v1","createdBy":"owen",
 "createdDate":"2020-09-17 03:48:42.896Z","lastModifiedBy":"admin","lastModifiedDate":"2020-09-10T14:49:37.904",
 "downloadCount":0,"sha256":"fce289e99eb9bca977dae136fbe2a82b6b7d4c372474c9235adc1741675f587e","os":"linux"},
 "history":[{"created":"2019-01-01T01:29:27.416803627Z","created_by":"/bin/sh -c #(nop) COPY file:f77490 in / "}],
 "metadata":{"docker.manifest":"v1","sha256":"92c7f9c9","docker.repoName":"hello-world",
  "docker.manifest.digest":"sha256:92c7f9c9","docker.manifest.type":"application/vnd.docker.distribution.manifest.v2+json"},
 "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":977,"digest":"sha256:1b930d01"}]}`

// pushHistoryImage pushes a docker v2 image whose config has the seed's
// build history.
func pushHistoryImage(t *testing.T, b *berthtest.Berth, repo, tag string) {
	t.Helper()
	layer := layerBytes(777)
	ld := pushBlob(t, b, repo, layer)
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": time.Date(2019, 1, 1, 1, 29, 27, 0, time.UTC),
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld}},
		"history": []map[string]any{
			{"created": "2019-01-01T01:29:27.416803627Z", "created_by": "/bin/sh -c #(nop) COPY file:f7 in / "},
			{"created": "2019-01-01T01:29:27.650294696Z", "created_by": `/bin/sh -c #(nop)  CMD ["/hello"]`, "empty_layer": true},
		},
	})
	cd := pushBlob(t, b, repo, config)
	const mt = "application/vnd.docker.distribution.manifest.v2+json"
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": mt,
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cd, "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": ld, "size": len(layer)}},
	})
	if code, body := putManifest(t, b, repo, tag, mt, man); code != http.StatusCreated {
		t.Fatalf("PUT %s:%s: %d %s", repo, tag, code, body)
	}
}
