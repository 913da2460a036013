package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// The sizes of hello-world in seed 000's examples: the tag list's size is
// its manifest (524 bytes), the detail's its config and layer (1510 + 977).
const (
	helloManifestSize = 524
	helloConfigSize   = 1510
	helloLayerSize    = 977
)

// pad grows JSON b to n bytes with trailing white space (still the same
// JSON value).

// pushHelloWorld pushes to repo:tag an image with hello-world's sizes: a
// docker v2 manifest of 524 bytes, a config of 1510 with the seed's
// history, a layer of 977. It returns the manifest.
func pushHelloWorld(t *testing.T, b *berthtest.Berth, repo, tag string) []byte {
	t.Helper()
	layer := bytes.Repeat([]byte{0x1b}, helloLayerSize)
	ld := pushBlob(t, b, repo, layer)
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "created": "2019-01-01T01:29:27.650294696Z",
		"config": map[string]any{"Cmd": []string{"/hello"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{ld}},
		"history": []map[string]any{
			{"created": "2019-01-01T01:29:27.416803627Z", "created_by": "/bin/sh -c #(nop) COPY file:f77490f70ce51da25bd21bfc30cb5e1a24b2b65eb37d4af0c327ddc24f0986a6 in / "},
			{"created": "2019-01-01T01:29:27.650294696Z", "created_by": `/bin/sh -c #(nop)  CMD ["/hello"]`, "empty_layer": true},
		},
	})
	config = pad(t, config, helloConfigSize)
	cd := pushBlob(t, b, repo, config)
	// hello-world's own layout: three-space indents.
	man := pad(t, fmt.Appendf(nil, `{
   "schemaVersion": 2,
   "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
   "config": {
      "mediaType": "application/vnd.docker.container.image.v1+json",
      "size": %d,
      "digest": "%s"
   },
   "layers": [
      {
         "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
         "size": %d,
         "digest": "%s"
      }
   ]
}`, helloConfigSize, cd, helloLayerSize, ld), helloManifestSize)
	if code, body := putManifest(t, b, repo, tag, "application/vnd.docker.distribution.manifest.v2+json", man); code != http.StatusCreated {
		t.Fatalf("PUT %s:%s: %d %s", repo, tag, code, body)
	}
	return man
}

// TestBkRepoSeedHelloWorld compares seed 000's hello-world examples with
// berth's answers: the same sizes (524 in the tag list, 2487 in the
// detail), createdDate in the seed's format and fixed at the version's
// first push, and downloads counted per version through this API too.
func TestBkRepoSeedHelloWorld(t *testing.T) {
	e := startBkEnv(t)
	b := e.b
	crane := berthtest.Tool(t, "crane")
	repo := "bk/test/hello-world"
	man := pushHelloWorld(t, b, repo, "v1")
	detail := func(version string) map[string]any {
		t.Helper()
		res := ext(t, b, http.MethodGet, "/docker/ext/version/detail/bk/test?packageKey=docker://hello-world&version="+version)
		assertShape(t, "detail", res.data, seedJSON(t, bkSeedDetail))
		return res.data.(map[string]any)
	}
	tags := func() map[string]map[string]any {
		t.Helper()
		res := ext(t, b, http.MethodGet, "/docker/ext/tag/bk/test/hello-world?pageNumber=1&pageSize=10")
		out := map[string]map[string]any{}
		for _, r := range res.data.(map[string]any)["records"].([]any) {
			out[r.(map[string]any)["tag"].(string)] = r.(map[string]any)
		}
		return out
	}

	// Sizes: the seed's numbers exactly.
	d := detail("v1")
	basic := d["basic"].(map[string]any)
	if basic["size"] != 2487.0 || d["layers"].([]any)[0].(map[string]any)["size"] != 977.0 {
		t.Errorf("detail size %v, layers %v; the seed has 2487 and 977", basic["size"], d["layers"])
	}
	if d["metadata"].(map[string]any)["docker.manifest.digest"] != sha(man) || len(d["history"].([]any)) != 2 {
		t.Errorf("detail: %v", d)
	}
	if size := tags()["v1"]["size"]; size != 524.0 {
		t.Errorf("tag list size %v; the seed has 524", size)
	}

	// createdDate: the seed's format, the version's first push.
	created := basic["createdDate"].(string)
	at, err := time.Parse("2006-01-02 15:04:05.000Z", created)
	if !bkCreated.MatchString(created) || err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
		t.Fatalf("createdDate %q (%v): want the seed's 2020-09-17 03:48:42.896Z form, just now", created, err)
	}
	time.Sleep(20 * time.Millisecond)
	// The same manifest under another tag, and pushed again as v1.
	if code, body := putManifest(t, b, repo, "v2", "application/vnd.docker.distribution.manifest.v2+json", man); code != http.StatusCreated {
		t.Fatalf("PUT v2: %d %s", code, body)
	}
	pushHelloWorld(t, b, repo, "v1")
	if again := detail("v1")["basic"].(map[string]any)["createdDate"]; again != created {
		t.Errorf("v1 createdDate moved from %s to %v", created, again)
	}
	v2 := detail("v2")["basic"].(map[string]any)
	if v2["createdDate"].(string) <= created || v2["size"] != 2487.0 {
		t.Errorf("v2 (pushed later): createdDate %v size %v, v1 %s", v2["createdDate"], v2["size"], created)
	}
	if tl := tags(); tl["v2"]["size"] != 524.0 || tl["v1"]["size"] != 524.0 {
		t.Errorf("tag list: %v", tl)
	}

	// downloadCount: per version, through this API's manifest route as
	// through /v2; a layer download is not a version download.
	counts := func() (v1tag, v1detail, v2tag float64) {
		tl := tags()
		return tl["v1"]["downloadCount"].(float64), detail("v1")["basic"].(map[string]any)["downloadCount"].(float64), tl["v2"]["downloadCount"].(float64)
	}
	for range 2 {
		ext(t, b, http.MethodGet, "/docker/ext/manifest/bk/test/hello-world/v1")
	}
	berthtest.Run(t, crane, "pull", "--insecure", b.Addr+"/"+repo+":v2", filepath.Join(t.TempDir(), "img.tar"))
	var m manifest
	_ = json.Unmarshal(man, &m)
	if res := extAs(t, b, http.MethodGet, "/docker/ext/layer/bk/test/hello-world/"+m.Layers[0].Digest, "admin"); res.status != 200 || len(res.body) != 977 {
		t.Fatalf("layer: %d, %d bytes", res.status, len(res.body))
	}
	waitFor(t, "downloads counted", func() bool {
		a, b, c := counts()
		return a == 2 && b == 2 && c == 1
	})
	time.Sleep(time.Second) // flushes (every 200 ms here) after the layer download change nothing
	if a, b, c := counts(); a != 2 || b != 2 || c != 1 {
		t.Errorf("downloads: v1 %v (detail %v), v2 %v; want 2, 2, 1", a, b, c)
	}
	// The image's count is every download of it.
	res := ext(t, b, http.MethodGet, "/docker/ext/repo/bk/test?name=hello-world")
	if n := res.data.(map[string]any)["records"].([]any)[0].(map[string]any)["downloadCount"]; n != 3.0 {
		t.Errorf("image downloadCount %v, want 3", n)
	}
	if !strings.HasPrefix(string(man), "{\n   \"schemaVersion\": 2") {
		t.Errorf("manifest layout: %.40s", man)
	}
}
