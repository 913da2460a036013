package e2e

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// ibEnv is a berth with a public "base" project holding base/tiny:1 (one
// layer with etc/base.txt) and a private "apps" project where "dev" is a
// developer and "viewer" a guest.
type ibEnv struct {
	b  *berthtest.Berth
	pw string
}

func startIBEnv(t *testing.T, opts berthtest.Options) *ibEnv {
	t.Helper()
	opts.StrictProjects = true
	b := berthtest.Start(t, opts)
	e := &ibEnv{b: b, pw: "Imagebuild-pass-1"}
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "base", "public": true}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "apps", "public": false}, http.StatusCreated)
	for _, u := range []string{"dev", "viewer", "stranger"} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": u, "password": e.pw}, http.StatusCreated)
	}
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/apps/members/dev", map[string]string{"role": "developer"}, http.StatusOK)
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/apps/members/viewer", map[string]string{"role": "guest"}, http.StatusOK)
	dir := t.TempDir()
	layer := filepath.Join(dir, "base.tar")
	writeTar(t, layer, map[string][]byte{"etc/base.txt": []byte("from the base image\n")})
	craneAppend(t, b.Addr+"/base/tiny:1", nil, layer)
	return e
}

// lastLayer returns the uncompressed last layer of ref, its diff id, and
// the image's config.
func lastLayer(t *testing.T, ref string) (map[string][]byte, string, map[string]any) {
	t.Helper()
	crane := berthtest.Tool(t, "crane")
	var m manifest
	if err := json.Unmarshal([]byte(berthtest.Output(t, crane, "manifest", "--insecure", ref)), &m); err != nil {
		t.Fatal(err)
	}
	repo, _, _ := strings.Cut(ref, ":v")
	blob := berthtest.Output(t, crane, "blob", "--insecure", repo+"@"+m.Layers[len(m.Layers)-1].Digest)
	zr, err := gzip.NewReader(strings.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	files := map[string][]byte{}
	tr := tar.NewReader(strings.NewReader(string(raw)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	cfg := craneConfig(t, ref)
	diffIDs := cfg["rootfs"].(map[string]any)["diff_ids"].([]any)
	if len(diffIDs) != len(m.Layers) {
		t.Errorf("%s: %d diff_ids for %d layers", ref, len(diffIDs), len(m.Layers))
	}
	if got := "sha256:" + hex.EncodeToString(sum[:]); diffIDs[len(diffIDs)-1] != got {
		t.Errorf("%s: last diff_id %v, uncompressed layer is %s", ref, diffIDs[len(diffIDs)-1], got)
	}
	return files, m.Layers[len(m.Layers)-1].Digest, cfg
}

func TestImageBuild(t *testing.T) {
	e := startIBEnv(t, berthtest.Options{})
	b := e.b
	devAuth := basicAuth("dev", e.pw)

	t.Run("tool definition builds with the copied file in a new last layer", func(t *testing.T) {
		res := ibCall(t, b, http.MethodPost, "/api/project/new", devAuth, map[string]any{"projectName": "Web", "operator": "root", "Cluster": "apps"})
		if res.code != 10000 || res.content != "" {
			t.Fatalf("new: %s", res.body)
		}
		assertShape(t, "new", res.raw, seedJSON(t, `{"code":10000,"errMsg":"ok","content":""}`))
		if up := ibUpload(t, b, devAuth, "web", map[string][]byte{"hello.txt": []byte("hello, market\n")}); up.code != 10000 {
			t.Fatalf("upload: %s", up.body)
		}
		form := url.Values{
			"project": {"web"}, "Cluster": {"apps"}, "DefineDockerFileType": {"tool"}, "addOrUpdate": {"update"},
			"$$plugin":           {"base_image", "env", "workdir", "copy", "entrypoint"},
			"base_image.image":   {b.Addr + "/base/tiny:1"},
			"env.key":            {"GREETING", "MODE"},
			"env.value":          {"hello world", "prod"},
			"workdir.dir":        {"/app"},
			"copy.src":           {"hello.txt"},
			"copy.dest":          {"/app/"},
			"entrypoint.command": {"/app/run", "--serve"},
		}
		ibCall(t, b, http.MethodPost, "/api/project/save", devAuth, form)
		if res := ibCall(t, b, http.MethodPost, "/api/project/save", devAuth, form); res.code != 10000 {
			t.Fatalf("save: %s", res.body)
		}
		res = ibCall(t, b, http.MethodPost, "/api/project/build", devAuth, map[string]any{"projectName": "web", "operator": "dev", "tag": "v1"})
		assertShape(t, "build", res.raw, seedJSON(t, `{"code":10000,"errMsg":"ok","content":{"idStr":"0"}}`))
		id, _ := res.content.(map[string]any)["idStr"].(string)
		if res.code != 10000 || id == "" {
			t.Fatalf("build: %s", res.body)
		}
		build := waitBuild(t, b, "web", id)
		if build["state"] != float64(1) || build["tag"] != "v1" || build["operator"] != "dev" || !strings.HasPrefix(build["digest"].(string), "sha256:") {
			t.Fatalf("build: %v", build)
		}
		ref := b.Addr + "/apps/web:v1"
		if d := craneDigest(t, ref); d != build["digest"] {
			t.Errorf("pushed %s, build reports %s", d, build["digest"])
		}
		files, _, cfg := lastLayer(t, ref)
		if string(files["app/hello.txt"]) != "hello, market\n" || len(files) != 2 {
			t.Errorf("last layer holds %v", files)
		}
		c := cfg["config"].(map[string]any)
		env := strings.Join(toStrings(c["Env"]), "|")
		if env != "GREETING=hello world|MODE=prod" || c["WorkingDir"] != "/app" ||
			!reflect.DeepEqual(toStrings(c["Entrypoint"]), []string{"/app/run", "--serve"}) {
			t.Errorf("config %v", c)
		}
		hist := cfg["history"].([]any)
		var createdBy []string
		for _, h := range hist {
			cb, _ := h.(map[string]any)["created_by"].(string)
			createdBy = append(createdBy, cb)
		}
		want := []string{`ENV GREETING="hello world"`, `ENV MODE="prod"`, "WORKDIR /app", `COPY ["hello.txt","/app/"]`, `ENTRYPOINT ["/app/run","--serve"]`}
		if len(createdBy) < len(want) || !reflect.DeepEqual(createdBy[len(createdBy)-len(want):], want) {
			t.Errorf("history %q", createdBy)
		}
		export := filepath.Join(t.TempDir(), "fs.tar")
		berthtest.Run(t, berthtest.Tool(t, "crane"), "export", "--insecure", ref, export)
		fs := readTar(t, export)
		if string(fs["etc/base.txt"]) != "from the base image\n" || string(fs["app/hello.txt"]) != "hello, market\n" {
			t.Errorf("exported filesystem: %d files", len(fs))
		}
	})

	t.Run("edit Dockerfile sets every config instruction", func(t *testing.T) {
		df := "ARG BASE=base/tiny:1\nFROM ${BASE}\nARG VERSION=2.0\nLABEL org.opencontainers.image.version=$VERSION team=\"market\"\n" +
			"USER 1000:1000\nEXPOSE 8080 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\n" +
			"HEALTHCHECK --interval=5s --retries=2 CMD [\"/app/check\"]\nCOPY --chmod=755 hello.txt /app/run\nCMD [\"--port\", \"8080\"]\n"
		body := map[string]any{"project": "edited", "Cluster": "apps", "DefineDockerFileType": "edit", "addOrUpdate": "add",
			"$$plugin": []any{"static_dockerfile"}, "static_dockerfile.dockerfile": df}
		if res := ib(t, b, http.MethodPost, "/api/project/save", body); res.content != "" {
			t.Fatalf("save: %s", res.body)
		}
		ibUpload(t, b, "admin", "edited", map[string][]byte{"hello.txt": []byte("#!/bin/sh\n")})
		id := ibBuild(t, b, "edited", "v2")
		build := waitBuild(t, b, "edited", id)
		if build["state"] != float64(1) {
			t.Fatalf("build failed: %v", build["logs"])
		}
		files, _, cfg := lastLayer(t, b.Addr+"/apps/edited:v2")
		if string(files["app/run"]) != "#!/bin/sh\n" {
			t.Errorf("layer %v", files)
		}
		c := cfg["config"].(map[string]any)
		labels := c["Labels"].(map[string]any)
		hc, _ := c["Healthcheck"].(map[string]any)
		if labels["org.opencontainers.image.version"] != "2.0" || labels["team"] != "market" || c["User"] != "1000:1000" ||
			c["StopSignal"] != "SIGINT" || !reflect.DeepEqual(toStrings(c["Cmd"]), []string{"--port", "8080"}) ||
			hc == nil || !reflect.DeepEqual(toStrings(hc["Test"]), []string{"CMD", "/app/check"}) || hc["Retries"] != float64(2) {
			t.Errorf("config %v", c)
		}
		ports := c["ExposedPorts"].(map[string]any)
		if _, ok := ports["53/udp"]; !ok || len(ports) != 2 {
			t.Errorf("ports %v", ports)
		}
		for _, a := range []string{"BASE", "VERSION"} {
			if strings.Contains(strings.Join(toStrings(c["Env"]), " "), a) {
				t.Errorf("ARG %s leaked into Env", a)
			}
		}
	})

	t.Run("RUN without BuildKit fails clearly", func(t *testing.T) {
		body := map[string]any{"project": "runner", "Cluster": "apps", "DefineDockerFileType": "edit",
			"$$plugin": "static_dockerfile", "static_dockerfile.dockerfile": "FROM scratch\nRUN echo hi\n"}
		ib(t, b, http.MethodPost, "/api/project/save", body)
		id := ibBuild(t, b, "runner", "v1")
		build := waitBuild(t, b, "runner", id)
		if build["state"] != float64(2) || !strings.Contains(build["logs"].(string), "RUN needs a container runtime; configure imagebuild.buildkitAddr") {
			t.Fatalf("build: %v", build)
		}
		if resp, _ := getManifest(t, b, http.MethodGet, "apps/runner", "v1"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("a failed build pushed something: %d", resp.StatusCode)
		}
	})

	t.Run("FROM another registry is refused by default", func(t *testing.T) {
		body := map[string]any{"project": "remote", "Cluster": "apps", "DefineDockerFileType": "tool",
			"$$plugin": []any{map[string]any{"name": "base_image", "attrs": map[string]any{"image": "docker.io/library/alpine:3"}}}}
		ib(t, b, http.MethodPost, "/api/project/save", body)
		id := ibBuild(t, b, "remote", "v1")
		if build := waitBuild(t, b, "remote", id); build["state"] != float64(2) || !strings.Contains(build["logs"].(string), "imagebuild.remotePulls") {
			t.Fatalf("build: %v", build)
		}
	})

	t.Run("a build pushes with the operator's rights only", func(t *testing.T) {
		// viewer may read apps but not push there; dev can, and builds as dev.
		if res := ibCall(t, b, http.MethodPost, "/api/project/build", basicAuth("viewer", e.pw), map[string]any{"projectName": "web", "tag": "v9"}); res.code != 10403 || res.status != 200 {
			t.Fatalf("viewer build: %d %s", res.status, res.body)
		}
	})

	t.Run("shapes of info, list, buildHistory and the plugin interface", func(t *testing.T) {
		res := ib(t, b, http.MethodGet, "/api/project/info?projectName=web&operator=admin", nil)
		assertShape(t, "info", res.raw, seedJSON(t, `{"code":10000,"errMsg":"success","content":{"creator":"","name":"","createTime":"",
			"lastModifyTime":"","lastModifyOperator":"","Cluster":"","DefineDockerFileType":""}}`))
		info := res.content.(map[string]any)
		if info["creator"] != "dev" || info["Cluster"] != "apps" || info["DefineDockerFileType"] != "tool" || info["name"] != "web" {
			t.Errorf("info %v", info)
		}
		res = ib(t, b, http.MethodPost, "/api/project/list", url.Values{"page": {"1"}, "page_size": {"2"}})
		assertShape(t, "list", res.raw, seedJSON(t, `{"code":10000,"errMsg":"success","content":[{"creator":"","name":"","createTime":"",
			"lastModifyTime":"","lastModifyOperator":"","Cluster":"","DefineDockerFileType":""}],"page":1,"page_size":10,"total_count":1}`))
		if res.raw["total_count"] != float64(4) || len(res.content.([]any)) != 2 || res.raw["page_size"] != float64(2) {
			t.Errorf("list %s", res.body)
		}
		if res := ib(t, b, http.MethodGet, "/api/project/list?projectName=edit", nil); res.raw["total_count"] != float64(1) {
			t.Errorf("filtered list %s", res.body)
		}
		if res := ibCall(t, b, http.MethodGet, "/api/project/list", basicAuth("stranger", e.pw), nil); res.raw["total_count"] != float64(0) {
			t.Errorf("a stranger sees private build projects: %s", res.body)
		}
		res = ib(t, b, http.MethodPost, "/api/project/buildHistory?projectName=web&operator=admin", nil)
		assertShape(t, "buildHistory", res.raw, seedJSON(t, `{"code":10000,"errMsg":"success","content":[{"id":1,"idStr":"1","tag":"v1","state":1,
			"logs":"","digest":"","createTime":"","startTime":"","finishTime":"","image":"","operator":""}]}`))
		res = ib(t, b, http.MethodPost, "/api/plugin/extension/interface", map[string]any{"plugin": "base_image_choose_from_harbor", "method": "BaseImageList"})
		if !reflect.DeepEqual(res.content, []any{b.Addr + "/base/tiny:1"}) {
			t.Errorf("BaseImageList %s", res.body)
		}
	})

	t.Run("clone and delete", func(t *testing.T) {
		ib(t, b, http.MethodPost, "/api/project/clone", map[string]any{"srcProjectName": "web", "dstProjectName": "web2", "operator": "root"})
		info := ib(t, b, http.MethodGet, "/api/project/info?projectName=web2", nil).content.(map[string]any)
		if info["DefineDockerFileType"] != "tool" || info["Cluster"] != "apps" {
			t.Errorf("clone %v", info)
		}
		files := ib(t, b, http.MethodGet, "/api/project/file?projectName=web2", nil).content.([]any)
		if len(files) != 1 || files[0].(map[string]any)["name"] != "hello.txt" {
			t.Errorf("cloned files %v", files)
		}
		ib(t, b, http.MethodPost, "/api/project/delete", url.Values{"projectName": {"web2"}, "operator": {"root"}})
		if res := ibCall(t, b, http.MethodGet, "/api/project/info?projectName=web2", "admin", nil); res.code != 10008 {
			t.Errorf("after delete: %s", res.body)
		}
	})
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}
