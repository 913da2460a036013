package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestBkRepoDockerExt drives every docker ext route against a live berth.
func TestBkRepoDockerExt(t *testing.T) {
	e := startBkEnv(t)
	b := e.b
	crane := berthtest.Tool(t, "crane")

	t.Run("addr and envelope", func(t *testing.T) {
		res := ext(t, b, http.MethodGet, "/docker/ext/addr")
		assertShape(t, "addr", map[string]any{"code": float64(res.code), "message": nil, "data": res.data, "traceId": ""},
			seedJSON(t, `{"code":0,"message":null,"data":"docker.bk.com","traceId":""}`))
		if res.data != b.Addr || string(res.raw["message"]) != "null" || len(res.raw) != 4 {
			t.Errorf("addr: %s", res.body)
		}
		var trace string
		_ = json.Unmarshal(res.raw["traceId"], &trace)
		if trace == "" || trace != res.header.Get("X-Request-Id") {
			t.Errorf("traceId %q, X-Request-Id %q", trace, res.header.Get("X-Request-Id"))
		}
		waitFor(t, "the traceId in the access log", func() bool { return strings.Contains(b.Logs(), trace) })
	})

	t.Run("manifest is the raw manifest string", func(t *testing.T) {
		_, want := getManifest(t, b, http.MethodGet, "bk/docker-local/hello-world", "latest")
		for _, path := range []string{"/docker/ext/manifest/bk/docker-local/hello-world/latest", "/docker/ext/manifest/bk/docker-local/hello-world/" + e.hello} {
			res := ext(t, b, http.MethodGet, path)
			s, ok := res.data.(string)
			if !ok || s != string(want) {
				t.Errorf("%s: data %T %.80v, want the manifest bytes as a string", path, res.data, res.data)
			}
		}
		if res := ext(t, b, http.MethodGet, "/docker/ext/manifest/bk/docker-local/library/nginx/1.0"); !strings.Contains(res.data.(string), `"layers"`) {
			t.Errorf("nested name: %s", res.body)
		}
	})

	t.Run("layer streams the blob", func(t *testing.T) {
		var m manifest
		_, raw := getManifest(t, b, http.MethodGet, "bk/docker-local/library/nginx", "1.0")
		if err := json.Unmarshal(raw, &m); err != nil || len(m.Layers) == 0 {
			t.Fatalf("manifest: %v %s", err, raw)
		}
		for _, d := range append(m.Layers, m.Config) {
			path := "/docker/ext/layer/bk/docker-local/library/nginx/" + d.Digest
			resp, body := httpDo(t, http.MethodGet, b.URL(path), nil)
			if resp.StatusCode != 200 || sha(body) != d.Digest || resp.Header.Get("Docker-Content-Digest") != d.Digest ||
				resp.ContentLength != d.Size || int64(len(body)) != d.Size {
				t.Errorf("%s: %d digest %s (header %s) length %d/%d, want %s %d", path, resp.StatusCode, sha(body),
					resp.Header.Get("Docker-Content-Digest"), resp.ContentLength, len(body), d.Digest, d.Size)
			}
			resp, part := httpDo(t, http.MethodGet, b.URL(path), map[string]string{"Range": "bytes=1-4"})
			if resp.StatusCode != http.StatusPartialContent || string(part) != string(body[1:5]) {
				t.Errorf("range: %d %q, want 206 %q", resp.StatusCode, part, body[1:5])
			}
		}
	})

	t.Run("images with pages and filter", func(t *testing.T) {
		res := ext(t, b, http.MethodGet, "/docker/ext/repo/bk/docker-local?pageNumber=1&pageSize=3")
		assertShape(t, "repo", res.data, seedJSON(t, `{"toatalRecords":100,"records":[{"name":"hello-world","lastModifiedBy":"admin",
			"lastModifiedDate":"2020-09-10T14:48:22.846","downloadCount":0,"logoUrl":"","description":""}]}`))
		var names []string
		for page := 1; page <= 4; page++ {
			res := ext(t, b, http.MethodGet, fmt.Sprintf("/docker/ext/repo/bk/docker-local?pageNumber=%d&pageSize=3", page))
			d := res.data.(map[string]any)
			if d["totalRecords"] != float64(8) || d["pageNumber"] != float64(page) || d["pageSize"] != float64(3) {
				t.Errorf("page %d: %s", page, res.body)
			}
			for _, r := range d["records"].([]any) {
				rec := r.(map[string]any)
				names = append(names, rec["name"].(string))
				if rec["lastModifiedBy"] != "admin" || !bkDate.MatchString(rec["lastModifiedDate"].(string)) {
					t.Errorf("record %v", rec)
				}
			}
		}
		want := "app-1 app-2 app-3 app-4 app-5 hello-world library/nginx many"
		if strings.Join(names, " ") != want {
			t.Errorf("images across pages: %q, want %q", names, want)
		}
		res = ext(t, b, http.MethodGet, "/docker/ext/repo/bk/docker-local?pageNumber=0&pageSize=2&name=app")
		d := res.data.(map[string]any)
		if d["totalRecords"] != float64(5) || len(d["records"].([]any)) != 2 || d["pageNumber"] != float64(1) {
			t.Errorf("name filter: %s", res.body)
		}
		res = ext(t, b, http.MethodGet, "/docker/ext/repo/bk/docker-local?pageNumber=9&pageSize=-1&name=nginx")
		d = res.data.(map[string]any)
		if d["totalRecords"] != float64(1) || len(d["records"].([]any)) != 0 || d["pageSize"] != float64(20) {
			t.Errorf("page past the end: %s", res.body)
		}
	})

	t.Run("tags with pages and filter", func(t *testing.T) {
		res := ext(t, b, http.MethodGet, "/docker/ext/tag/bk/docker-local/hello-world?pageNumber=0&pageSize=10")
		assertShape(t, "tag", res.data, seedJSON(t, `{"toatalRecords":100,"records":[{"tag":"latest","stageTag":"","size":524,
			"lastModifiedBy":"admin","lastModifiedDate":"2020-09-10T14:48:22.846","downloadCount":0,"registryUrl":"bkrepo.example.com/test/test/php:latest"}]}`))
		recs := res.data.(map[string]any)["records"].([]any)
		if len(recs) != 2 {
			t.Fatalf("hello-world tags: %s", res.body)
		}
		for i, tag := range []string{"latest", "v1"} {
			rec := recs[i].(map[string]any)
			if rec["tag"] != tag || rec["registryUrl"] != b.Addr+"/bk/docker-local/hello-world:"+tag || rec["size"].(float64) <= 0 ||
				rec["lastModifiedBy"] != "admin" || rec["stageTag"] != "" || !bkDate.MatchString(rec["lastModifiedDate"].(string)) {
				t.Errorf("tag record %d: %v", i, rec)
			}
		}
		var tags []string
		for page := 1; page <= 3; page++ {
			res := ext(t, b, http.MethodGet, fmt.Sprintf("/docker/ext/tag/bk/docker-local/many?pageNumber=%d&pageSize=3", page))
			if res.data.(map[string]any)["totalRecords"] != float64(7) {
				t.Errorf("total: %s", res.body)
			}
			for _, r := range res.data.(map[string]any)["records"].([]any) {
				tags = append(tags, r.(map[string]any)["tag"].(string))
			}
		}
		if strings.Join(tags, ",") != "t01,t02,t03,t04,t05,t06,t07" {
			t.Errorf("tags across pages: %v", tags)
		}
		res = ext(t, b, http.MethodGet, "/docker/ext/tag/bk/docker-local/many?pageNumber=1&pageSize=10&tag=t0")
		if res.data.(map[string]any)["totalRecords"] != float64(7) {
			t.Errorf("tag filter t0: %s", res.body)
		}
		res = ext(t, b, http.MethodGet, "/docker/ext/tag/bk/docker-local/many?tag=05")
		if recs := res.data.(map[string]any)["records"].([]any); len(recs) != 1 || recs[0].(map[string]any)["tag"] != "t05" {
			t.Errorf("tag filter 05: %s", res.body)
		}
		if res := ext(t, b, http.MethodGet, "/docker/ext/tag/bk/docker-local/library/nginx"); !strings.Contains(res.body, `"registryUrl":"`+b.Addr+`/bk/docker-local/library/nginx:1.0"`) {
			t.Errorf("nested name: %s", res.body)
		}
	})

	t.Run("version detail", func(t *testing.T) {
		res := ext(t, b, http.MethodGet, "/docker/ext/version/detail/bk/docker-local?packageKey=docker://library/nginx&version=1.0")
		assertShape(t, "detail", res.data, seedJSON(t, bkSeedDetail))
		d := res.data.(map[string]any)
		basic, meta := d["basic"].(map[string]any), d["metadata"].(map[string]any)
		_, raw := getManifest(t, b, http.MethodGet, "bk/docker-local/library/nginx", "1.0")
		var m manifest
		_ = json.Unmarshal(raw, &m)
		size := float64(m.Config.Size) // config + layers, as the seed's 2487
		for _, l := range m.Layers {
			size += float64(l.Size)
		}
		dg := sha(raw)
		if basic["domain"] != b.Addr || basic["version"] != "1.0" || basic["size"] != size ||
			basic["sha256"] != strings.TrimPrefix(m.Config.Digest, "sha256:") || basic["createdBy"] != "admin" || !bkCreated.MatchString(basic["createdDate"].(string)) {
			t.Errorf("basic: %v", basic)
		}
		if meta["docker.manifest"] != "1.0" || meta["docker.repoName"] != "library/nginx" || meta["docker.manifest.digest"] != dg ||
			meta["sha256"] != strings.TrimPrefix(dg, "sha256:") || meta["docker.manifest.type"] == "" {
			t.Errorf("metadata: %v", meta)
		}
		if layers := d["layers"].([]any); len(layers) != len(m.Layers) || layers[0].(map[string]any)["digest"] != m.Layers[0].Digest {
			t.Errorf("layers: %v", layers)
		}
		// the bare name is a packageKey too; history comes from the image config
		pushHistoryImage(t, b, "bk/docker-local/built", "v2")
		res = ext(t, b, http.MethodGet, "/docker/ext/version/detail/bk/docker-local?packageKey=built&version=v2")
		h, _ := json.Marshal(res.data.(map[string]any)["history"])
		if basic := res.data.(map[string]any)["basic"].(map[string]any); basic["os"] != "linux" || basic["size"] != contentSize(t, b, "bk/docker-local/built", "v2") {
			t.Errorf("basic of a docker v2 image: %v", basic)
		}
		if res.data.(map[string]any)["metadata"].(map[string]any)["docker.manifest.type"] != "application/vnd.docker.distribution.manifest.v2+json" {
			t.Errorf("metadata of a docker v2 image: %s", res.body)
		}
		if string(h) != `[{"created":"2019-01-01T01:29:27.416803627Z","created_by":"/bin/sh -c #(nop) COPY file:f7 in / "},{"created":"2019-01-01T01:29:27.650294696Z","created_by":"/bin/sh -c #(nop)  CMD [\"/hello\"]"}]` {
			t.Errorf("history: %s", h)
		}
		// a multi-arch index is described by its linux/amd64 image
		children := map[string]rawImage{}
		for _, arch := range []string{"arm64", "amd64"} {
			children[arch] = pushRawImage(t, b, "bk/docker-local/multi", "", arch, layerBytes(len(arch)*11))
		}
		idx := pushRawIndex(t, b, "bk/docker-local/multi", "v1", children)
		res = ext(t, b, http.MethodGet, "/docker/ext/version/detail/bk/docker-local?packageKey=docker://multi&version=v1")
		d = res.data.(map[string]any)
		if d["metadata"].(map[string]any)["docker.manifest.digest"] != idx.Digest || d["basic"].(map[string]any)["os"] != "linux" ||
			d["basic"].(map[string]any)["size"] != float64(children["amd64"].Size-int64(len(children["amd64"].Manifest))) || len(d["layers"].([]any)) != 1 {
			t.Errorf("index detail: %s", res.body)
		}
		res = ext(t, b, http.MethodGet, "/docker/ext/version/detail/bk/docker-local?packageKey=app-1&version=v1")
		if h := res.data.(map[string]any)["history"]; h == nil {
			t.Errorf("history must be an array: %s", res.body)
		}
	})

	t.Run("download counts rise after pulls", func(t *testing.T) {
		count := func() (tagCount, imageCount, detailCount float64) {
			res := ext(t, b, http.MethodGet, "/docker/ext/tag/bk/docker-local/library/nginx")
			tagCount = res.data.(map[string]any)["records"].([]any)[0].(map[string]any)["downloadCount"].(float64)
			res = ext(t, b, http.MethodGet, "/docker/ext/repo/bk/docker-local?name=nginx")
			imageCount = res.data.(map[string]any)["records"].([]any)[0].(map[string]any)["downloadCount"].(float64)
			res = ext(t, b, http.MethodGet, "/docker/ext/version/detail/bk/docker-local?packageKey=docker://library/nginx&version=1.0")
			detailCount = res.data.(map[string]any)["basic"].(map[string]any)["downloadCount"].(float64)
			return
		}
		t0, i0, d0 := count()
		for i := 0; i < 2; i++ {
			berthtest.Run(t, crane, "pull", "--insecure", b.Addr+"/bk/docker-local/library/nginx:1.0", filepath.Join(t.TempDir(), "img.tar"))
		}
		waitFor(t, "download counts to rise by 2", func() bool {
			t1, i1, d1 := count()
			return t1 >= t0+2 && i1 >= i0+2 && d1 >= d0+2
		})
	})

	t.Run("promotion stage", func(t *testing.T) {
		stageOf := func() string {
			res := ext(t, b, http.MethodGet, "/docker/ext/tag/bk/docker-local/many?tag=t03")
			return res.data.(map[string]any)["records"].([]any)[0].(map[string]any)["stageTag"].(string)
		}
		base := "/docker/ext/version/stage/bk/docker-local?packageKey=docker://many&version=t03"
		steps := []struct {
			query, want string
			code        int
		}{
			{"&tag=@prerelease", "@prerelease", 0},
			{"", "@release", 0},
			{"", "@release", 250105},
			{"&tag=@gold", "@release", 250105},
			{"&tag=", "", 0},
			{"&stage=release", "@release", 0},
		}
		for _, s := range steps {
			res := extAs(t, b, http.MethodPost, base+s.query, "admin")
			if res.code != s.code || stageOf() != s.want {
				t.Errorf("stage %q: %d %s; stage now %q, want %q", s.query, res.status, res.body, stageOf(), s.want)
			}
		}
		if res := ext(t, b, http.MethodGet, "/docker/ext/version/detail/bk/docker-local?packageKey=many&version=t03"); !strings.Contains(res.body, `"stageTag":"@release"`) {
			t.Errorf("detail stage: %s", res.body)
		}
		if res := ext(t, b, http.MethodGet, "/docker/ext/tag/bk/docker-local/many?tag=t04"); !strings.Contains(res.body, `"stageTag":""`) {
			t.Errorf("another tag's stage: %s", res.body)
		}
	})

	t.Run("deletes are visible at once", func(t *testing.T) {
		ls := func(repo string) string {
			out, _ := berthtest.RunErr(t, crane, "ls", "--insecure", b.Addr+"/"+repo)
			return out
		}
		res := ext(t, b, http.MethodDelete, "/docker/ext/version/delete/bk/docker-local?packageKey=docker://hello-world&version=v1")
		if res.data != true {
			t.Errorf("version delete: %s", res.body)
		}
		if got := lines(ls("bk/docker-local/hello-world")); strings.Join(got, ",") != "latest" {
			t.Errorf("crane ls after version delete: %q", got)
		}
		if res := extAs(t, b, http.MethodDelete, "/docker/ext/version/delete/bk/docker-local?packageKey=docker://hello-world&version=v1", "admin"); res.status != 404 || res.code != 250108 {
			t.Errorf("deleting it again: %d %s", res.status, res.body)
		}
		res = ext(t, b, http.MethodDelete, "/docker/ext/package/delete/bk/docker-local?packageKey=docker://library/nginx")
		if res.data != true {
			t.Errorf("package delete: %s", res.body)
		}
		if out := ls("bk/docker-local/library/nginx"); strings.Contains(out, "1.0") {
			t.Errorf("crane ls after package delete: %q", out)
		}
		if res := extAs(t, b, http.MethodGet, "/docker/ext/repo/bk/docker-local?name=nginx", "admin"); res.data.(map[string]any)["totalRecords"] != float64(0) {
			t.Errorf("image list after package delete: %s", res.body)
		}
		if res := extAs(t, b, http.MethodDelete, "/docker/ext/package/delete/bk/docker-local?packageKey=docker://library/nginx", "admin"); res.status != 404 || res.code != 250108 {
			t.Errorf("deleting it again: %d %s", res.status, res.body)
		}
	})

	t.Run("errors", func(t *testing.T) { testBkRepoErrors(t, e) })
}
