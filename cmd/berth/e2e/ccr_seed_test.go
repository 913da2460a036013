package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// pushMultiArch pushes an amd64 and an arm64 image into repo and an index
// over them tagged tag (untagged when tag is ""); seed tells the layers
// apart. It returns the index and the children by architecture.
func pushMultiArch(t *testing.T, b *berthtest.Berth, repo, tag string, seed int) (rawImage, map[string]rawImage) {
	t.Helper()
	children := map[string]rawImage{
		"amd64": pushRawImage(t, b, repo, "", "amd64", layerBytes(seed)),
		"arm64": pushRawImage(t, b, repo, "", "arm64", layerBytes(seed+1)),
	}
	ref := tag
	if ref == "" {
		ref = "untagged-tmp"
	}
	idx := pushRawIndex(t, b, repo, ref, children)
	if tag == "" { // an index pushed by tag, then untagged: by digest only
		if code, out := apiDelete(t, b, "/v2/"+repo+"/manifests/untagged-tmp"); code != http.StatusAccepted {
			t.Fatalf("untag: %d %s", code, out)
		}
	}
	return idx, children
}

// apiDelete sends DELETE path as the admin.
func apiDelete(t *testing.T, b *berthtest.Berth, path string) (int, string) {
	t.Helper()
	return apiCall(t, b, http.MethodDelete, path, "admin", b.AdminPassword, nil)
}

// TestCCRSeedMultiArch compares seed 004's artifact list example, one
// multi-arch image, with berth's answer: one artifact (total 1) with its
// children under references; paging counts top-level artifacts only; a
// child a tagged index holds cannot be deleted (CCR or /v2), the index
// can, and takes its children with it.
func TestCCRSeedMultiArch(t *testing.T) {
	b := startCCR(t)
	crane := berthtest.Tool(t, "crane")
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "seedidx"})
	repo := "seedidx/test"
	idx, children := pushMultiArch(t, b, repo, "v1", 100)
	path := ccrBase + "/projects/seedidx/repositories/test/artifacts"

	res := ccr(t, b, http.MethodGet, path+"?page=1&pageSize=10", nil)
	seed := seedJSON(t, ccrSeedArtifacts).(map[string]any)
	wantKeys(t, "list", res.body, seed)
	arts := ccrList(t, res, "artifacts")
	if res.body["total"] != 1.0 || len(arts) != 1 || arts[0]["digest"] != idx.Digest {
		t.Fatalf("one multi-arch image: %s", res)
	}
	wantKeys(t, "artifact", arts[0], seed["artifacts"].([]any)[0])
	refs := arts[0]["references"].([]any)
	got := map[string]string{}
	for _, r := range refs {
		ref := r.(map[string]any)
		if ref["parent_id"] != arts[0]["id"] || ref["child_id"].(float64) < 1 {
			t.Errorf("reference %v of %v", ref, arts[0]["id"])
		}
		got[ref["platform"].(map[string]any)["architecture"].(string)] = ref["child_digest"].(string)
	}
	if len(refs) != 2 || got["amd64"] != children["amd64"].Digest || got["arm64"] != children["arm64"].Digest {
		t.Errorf("references %v", refs)
	}

	// Paging counts top-level artifacts: three multi-arch images are three.
	pushMultiArch(t, b, repo, "v2", 200)
	pushMultiArch(t, b, repo, "v3", 300)
	for page, want := range map[string]int{"1": 2, "2": 1, "3": 0} {
		r := ccr(t, b, http.MethodGet, path+"?pageNo="+page+"&pageSize=2", nil)
		if len(ccrList(t, r, "artifacts")) != want || r.body["total"] != 3.0 {
			t.Errorf("page %s of 2: %s", page, r)
		}
	}
	// A tagged child is an artifact of its own too (Harbor's rule).
	berthtest.Run(t, crane, "tag", "--insecure", b.Addr+"/"+repo+"@"+children["amd64"].Digest, "amd-only")
	if r := ccr(t, b, http.MethodGet, path, nil); r.body["total"] != 4.0 {
		t.Errorf("with a tagged child: %s", r)
	}

	// The arm64 child of v1 cannot go while v1 holds it, through CCR or /v2.
	arm := children["arm64"].Digest
	res = ccrAs(t, b, "admin", "", http.MethodDelete, path+"/"+arm, nil)
	wantCCRError(t, "delete a child of a tagged index", res, http.StatusForbidden, "CCR.CodeForbidOperate")
	if msg, _ := res.body["message"].(string); !strings.Contains(msg, idx.Digest) || !strings.Contains(msg, "v1") {
		t.Errorf("the refusal does not name the index: %s", res)
	}
	out, err := berthtest.RunErr(t, crane, "delete", "--insecure", b.Addr+"/"+repo+"@"+arm)
	if err == nil || !strings.Contains(out, "DENIED") || !strings.Contains(out, idx.Digest) {
		t.Errorf("crane delete of the child: %v\n%s", err, out)
	}
	if code, body := apiDelete(t, b, "/v2/"+repo+"/manifests/"+arm); code != http.StatusForbidden || !strings.Contains(body, `"DENIED"`) {
		t.Errorf("DELETE /v2 of the child: %d %s", code, body)
	}
	var m struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal([]byte(berthtest.Output(t, crane, "manifest", "--insecure", "--platform", "linux/arm64", b.Addr+"/"+repo+":v1")), &m); err != nil || len(m.Layers) != 1 {
		t.Errorf("arm64 of v1 after the refused deletes: %v %+v", err, m)
	}

	// Deleting v1 takes its untagged child along; the tagged one stays.
	ccr(t, b, http.MethodDelete, path+"/v1", nil)
	for d, want := range map[string]int{idx.Digest: http.StatusNotFound, arm: http.StatusNotFound, children["amd64"].Digest: http.StatusOK} {
		if resp, _ := getManifest(t, b, http.MethodGet, repo, d); resp.StatusCode != want {
			t.Errorf("%s after deleting v1: %d, want %d", d, resp.StatusCode, want)
		}
	}
	if r := ccr(t, b, http.MethodGet, path, nil); r.body["total"] != 3.0 {
		t.Errorf("after deleting v1: %s", r)
	}

	// A child of an index no tag holds may go (the index itself is untagged).
	loose, looseKids := pushMultiArch(t, b, repo, "", 400)
	if code, body := apiDelete(t, b, "/v2/"+repo+"/manifests/"+looseKids["arm64"].Digest); code != http.StatusAccepted {
		t.Errorf("child of the untagged index %s: %d %s", loose.Digest, code, body)
	}
}

// TestCCRSeedRepositories calls section 1.5's example, the repository list
// without a project, and checks storageUsed is in MiB.
func TestCCRSeedRepositories(t *testing.T) {
	b := startCCR(t)
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "test01", "isPublic": true})
	ccr(t, b, http.MethodPost, ccrBase+"/projects/test01/repositories", map[string]any{"repositoryName": "test"})
	ccr(t, b, http.MethodPost, ccrBase+"/projects/team/repositories", map[string]any{"repositoryName": "sub/hidden"})
	layer := filepath.Join(t.TempDir(), "big.tar")
	writeTar(t, layer, map[string][]byte{"big.bin": randomBytes(t, 1<<20+4096)})
	craneAppend(t, b.Addr+"/test01/test:v1", nil, layer)

	res := ccr(t, b, http.MethodGet, ccrBase+"/repositories?pageNo=0&pageSize=10", nil)
	wantKeys(t, "list", res.body, seedJSON(t, ccrSeedRepos))
	data := ccrList(t, res, "data")
	seedRepo := seedJSON(t, ccrSeedRepos).(map[string]any)["data"].([]any)[0]
	names := []string{}
	for _, r := range data {
		wantKeys(t, "repository", r, seedRepo)
		names = append(names, r["projectName"].(string)+":"+r["repositoryName"].(string))
	}
	if strings.Join(names, ",") != "team:sub/hidden,test01:test" || res.body["totalCount"] != 2.0 || data[1]["imageTagCount"] != 1.0 || data[1]["public"] != true {
		t.Errorf("all repositories: %s", res)
	}
	// Only what the caller may see; paging and nameHas as everywhere.
	if r := ccrAs(t, b, "alice", ccrUserPw, http.MethodGet, ccrBase+"/repositories", nil); r.status != 200 || r.body["totalCount"] != 1.0 {
		t.Errorf("alice sees: %s", r)
	}
	if r := ccr(t, b, http.MethodGet, ccrBase+"/repositories?pageNo=2&pageSize=1&nameHas=e", nil); len(ccrList(t, r, "data")) != 1 || r.body["totalCount"] != 2.0 {
		t.Errorf("page 2: %s", r)
	}
	wantCCRError(t, "anonymous", ccrAs(t, b, "", "", http.MethodGet, ccrBase+"/repositories", nil), http.StatusUnauthorized, "CCR.RespAuthFailed")
	wantCCRError(t, "bad page", ccrAs(t, b, "admin", "", http.MethodGet, ccrBase+"/repositories?pageSize=x", nil), http.StatusBadRequest, "CCR.CodeParamError")

	// storageUsed: MiB, rounded up ("单位：MiB"), as the seed's 5.
	p := ccrProject(t, b, "test01")
	var own map[string]any
	_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodGet, "/api/berth/v1/projects/test01", nil, http.StatusOK)), &own)
	if used := own["storageUsed"].(float64); used < 1<<20 || used > 2<<20 || p["storageUsed"] != 2.0 {
		t.Errorf("storageUsed %v MiB for %v bytes", p["storageUsed"], used)
	}
}
