package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestCCRArtifacts lists the artifacts of a repository holding two images,
// a multi-arch index over them built with crane, a tagged image and a
// crane-pushed image, and checks each record field by field against the
// seed's Harbor v2 shape (the index's children are its references, not
// artifacts of the list); then deletes by digest and by tag.
func TestCCRArtifacts(t *testing.T) {
	b := startCCR(t)
	crane := berthtest.Tool(t, "crane")
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "arts"})
	repo := "arts/multi"
	amd := pushRawImage(t, b, repo, "", "amd64", layerBytes(11))
	arm := pushRawImage(t, b, repo, "", "arm64", layerBytes(12))
	berthtest.Run(t, crane, "index", "append", "--insecure", "-t", b.Addr+"/"+repo+":v1",
		"-m", b.Addr+"/"+repo+"@"+amd.Digest, "-m", b.Addr+"/"+repo+"@"+arm.Digest)
	index := craneDigest(t, b.Addr+"/"+repo+":v1")
	single := pushRawImage(t, b, repo, "single", "amd64", layerBytes(13))
	layer := filepath.Join(t.TempDir(), "l.tar")
	writeTar(t, layer, map[string][]byte{"a.txt": []byte("crane layer")})
	cranePushed := craneAppend(t, b.Addr+"/"+repo+":crane", nil, layer)

	path := ccrBase + "/projects/arts/repositories/multi/artifacts"
	res := ccr(t, b, http.MethodGet, path+"?pageNo=1&pageSize=10", nil)
	seed := seedJSON(t, ccrSeedArtifacts).(map[string]any)
	wantKeys(t, "list", res.body, seed)
	seedArt := seed["artifacts"].([]any)[0].(map[string]any)
	arts := ccrList(t, res, "artifacts")
	if res.body["total"] != 3.0 || len(arts) != 3 || res.body["page"] != 1.0 || res.body["pageSize"] != 10.0 {
		t.Fatalf("list: %s", res)
	}
	byDigest := map[string]map[string]any{}
	for _, a := range arts {
		wantKeys(t, "artifact", a, seedArt)
		wantKeys(t, "extra_attrs", a["extra_attrs"], seedArt["extra_attrs"])
		byDigest[a["digest"].(string)] = a
		for _, k := range []string{"push_time", "pull_time"} {
			if _, err := time.ParseInLocation("2006-01-02 15:04:05", a[k].(string), time.Local); err != nil {
				t.Errorf("%s %v: %v", k, a[k], err)
			}
		}
		if a["type"] != "IMAGE" || a["labels"] != "" || a["project_id"] != ccrProject(t, b, "arts")["projectId"] {
			t.Errorf("artifact %v", a)
		}
	}
	if arts[0]["digest"] != cranePushed {
		t.Errorf("newest first: first is %v, want %s", arts[0]["digest"], cranePushed)
	}

	// The index: references with platforms and child ids, its tag.
	ix := byDigest[index]
	if ix == nil {
		t.Fatalf("index %s not listed", index)
	}
	if ix["media_type"] != mtOCIIndex || ix["manifest_media_type"] != mtOCIIndex || ix["size"].(float64) <= 0 {
		t.Errorf("index: %v", ix)
	}
	refs := ix["references"].([]any)
	if len(refs) != 2 {
		t.Fatalf("index references: %v", refs)
	}
	platforms := map[string]string{}
	for _, r := range refs {
		ref := r.(map[string]any)
		wantKeys(t, "reference", ref, seedArt["references"].([]any)[0])
		if byDigest[ref["child_digest"].(string)] != nil {
			t.Errorf("child %v listed beside its index", ref["child_digest"])
		}
		child := ccr(t, b, http.MethodGet, path+"/"+ref["child_digest"].(string), nil).body["artifact"].(map[string]any)
		plat := ref["platform"].(map[string]any)
		if child == nil || ref["child_id"] != child["id"] || ref["parent_id"] != ix["id"] || plat["os"] != "linux" {
			t.Errorf("reference %v (child %v)", ref, child)
		}
		platforms[ref["child_digest"].(string)] = plat["architecture"].(string)
	}
	if platforms[amd.Digest] != "amd64" || platforms[arm.Digest] != "arm64" {
		t.Errorf("platforms: %v", platforms)
	}
	tags := ix["tags"].([]any)
	if len(tags) != 1 {
		t.Fatalf("index tags: %v", tags)
	}
	tag := tags[0].(map[string]any)
	wantKeys(t, "tag", tag, seedArt["tags"].([]any)[0])
	pushed, err := time.Parse(time.RFC3339, tag["push_time"].(string))
	if tag["name"] != "v1" || tag["artifact_id"] != ix["id"] || tag["repository_id"] != ix["repository_id"] ||
		err != nil || time.Since(pushed) > time.Hour || tag["pull_time"] != "0001-01-01T00:00:00Z" || tag["immutable"] != false {
		t.Errorf("tag %v (%v)", tag, err)
	}

	// An image: extra_attrs from its config, its size, no references.
	img := byDigest[single.Digest]
	if img["pull_time"] != "0001-01-01 00:00:00" { // crane index append read the children, not this one
		t.Errorf("never pulled: pull_time %v", img["pull_time"])
	}
	extra := img["extra_attrs"].(map[string]any)
	if extra["architecture"] != "amd64" || extra["os"] != "linux" || extra["author"] != "e2e author" || extra["created"] != "2026-01-02T03:04:05Z" {
		t.Errorf("extra_attrs %v", extra)
	}
	if img["media_type"] != "application/vnd.oci.image.config.v1+json" || img["manifest_media_type"] != mtOCIManifest ||
		img["size"] != float64(single.Size) || len(img["references"].([]any)) != 0 || len(img["tags"].([]any)) != 1 {
		t.Errorf("image %v", img)
	}

	// Paging and filters.
	if r := ccr(t, b, http.MethodGet, path+"?pageNo=2&pageSize=2", nil); len(ccrList(t, r, "artifacts")) != 1 || r.body["total"] != 3.0 || r.body["page"] != 2.0 {
		t.Errorf("page 2: %s", r)
	}
	if r := ccr(t, b, http.MethodGet, path+"?nameHas=single", nil); r.body["total"] != 1.0 {
		t.Errorf("nameHas=single: %s", r)
	}
	// A pull shows as pull_time.
	berthtest.Run(t, crane, "manifest", "--insecure", b.Addr+"/"+repo+":single")
	waitFor(t, "pull_time of single", func() bool {
		r := ccr(t, b, http.MethodGet, ccrBase+"/projects/arts/repositories/multi/artifacts/single", nil)
		return r.body["artifact"].(map[string]any)["pull_time"] != "0001-01-01 00:00:00"
	})

	// Errors.
	missing := "sha256:" + strings.Repeat("0", 64)
	errs := []struct {
		what, user, method, path string
		status                   int
		code                     string
	}{
		{"anonymous list", "", "GET", path, 401, "CCR.RespAuthFailed"},
		{"hidden list", "alice", "GET", path, 404, "CCR.CodeErrNotExists"},
		{"unknown repository", "admin", "GET", ccrBase + "/projects/arts/repositories/nosuch/artifacts", 404, "CCR.CodeErrNotExists"},
		{"unknown project", "admin", "GET", ccrBase + "/projects/nosuch/repositories/multi/artifacts", 404, "CCR.CodeErrNotExists"},
		{"bad page", "admin", "GET", path + "?pageSize=0x10", 400, "CCR.CodeParamError"},
		{"delete unknown digest", "admin", "DELETE", path + "/" + missing, 404, "CCR.CodeErrNotExists"},
		{"delete unknown tag", "admin", "DELETE", path + "/nosuch", 404, "CCR.CodeErrNotExists"},
		{"delete invalid digest", "admin", "DELETE", path + "/sha256:abc", 400, "CCR.CodeParamError"},
		{"delete anonymous", "", "DELETE", path + "/" + single.Digest, 401, "CCR.RespAuthFailed"},
		{"delete hidden", "alice", "DELETE", path + "/" + single.Digest, 404, "CCR.CodeErrNotExists"},
		{"delete in unknown repository", "admin", "DELETE", ccrBase + "/projects/arts/repositories/nosuch/artifacts/" + single.Digest, 404, "CCR.CodeErrNotExists"},
		{"wrong method", "admin", "POST", path, 405, "CCR.CodeForbidOperate"},
	}
	for _, e := range errs {
		pw := ccrUserPw
		if e.user == "admin" {
			pw = ""
		}
		wantCCRError(t, e.what, ccrAs(t, b, e.user, pw, e.method, e.path, nil), e.status, e.code)
	}

	// Delete by digest: the artifact and its tag go.
	res = ccr(t, b, http.MethodDelete, path+"/"+single.Digest, nil)
	wantKeys(t, "delete", res.body, seedJSON(t, ccrSeedEmpty))
	for _, ref := range []string{"single", single.Digest} {
		if resp, _ := getManifest(t, b, http.MethodGet, repo, ref); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s after the delete: %d", ref, resp.StatusCode)
		}
	}
	// Delete by tag: the artifact it names.
	ccr(t, b, http.MethodDelete, path+"/crane", nil)
	if resp, _ := getManifest(t, b, http.MethodGet, repo, cranePushed); resp.StatusCode != http.StatusNotFound {
		t.Errorf("crane image after the delete by tag: %d", resp.StatusCode)
	}
	res = ccr(t, b, http.MethodGet, path, nil)
	var left []string
	for _, a := range ccrList(t, res, "artifacts") {
		left = append(left, fmt.Sprint(a["digest"]))
	}
	if res.body["total"] != 1.0 || strings.Join(left, ",") != index {
		t.Errorf("after deletes: %v", left)
	}
	if r := ccr(t, b, http.MethodGet, ccrBase+"/projects/arts/repositories/multi", nil); r.body["data"].(map[string]any)["imageTagCount"] != 1.0 {
		t.Errorf("tag count after deletes: %s", r)
	}
}
