package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

const ccrUserPw = "Ccr-user-pass-1"

// startCCR starts berth with users alice (no roles) and dev (developer of
// the private project "team").
func startCCR(t *testing.T) *berthtest.Berth {
	t.Helper()
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	for _, u := range []string{"alice", "dev"} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": u, "password": ccrUserPw}, http.StatusCreated)
	}
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "team", "isPublic": false})
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/team/members/dev", map[string]string{"role": "developer"}, http.StatusOK)
	return b
}

// TestCCRProjects creates, lists and deletes projects through the CCR API
// and checks every answer against the seed's shapes and error table.
func TestCCRProjects(t *testing.T) {
	b := startCCR(t)
	before := time.Now().Add(-time.Minute)

	res := ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"isPublic": false, "name": "test04", "quota": 102400})
	wantKeys(t, "create", res.body, seedJSON(t, ccrSeedCreate))
	if id, _ := res.body["projectId"].(float64); id < 1 {
		t.Errorf("projectId %v", res.body["projectId"])
	}
	id := res.body["requestId"].(string) // the access log line follows the answer
	waitFor(t, "request id "+id+" in the logs", func() bool { return strings.Contains(b.Logs(), `"request_id":"`+id+`"`) })
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "pub01", "isPublic": true})
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "alices"}) // the admin's, private

	// The list: the seed's shape, exact keys, real values.
	res = ccr(t, b, http.MethodGet, ccrBase+"/projects?pageNo=1&pageSize=10", nil)
	wantKeys(t, "list", res.body, seedJSON(t, ccrSeedProjects))
	projects := ccrList(t, res, "projects")
	if res.body["total"] != 5.0 || len(projects) != 5 || res.body["page"] != 1.0 || res.body["pageSize"] != 10.0 {
		t.Fatalf("list: %s", res)
	}
	seedProject := seedJSON(t, ccrSeedProjects).(map[string]any)["projects"].([]any)[0]
	for _, p := range projects {
		wantKeys(t, "project "+fmt.Sprint(p["projectName"]), p, seedProject)
		created, err := time.ParseInLocation("2006-01-02 15:04:05", p["createdAt"].(string), time.Local)
		if err != nil || created.Before(before) || p["id"] != p["projectId"] || p["instanceId"] != "ccr-manager" {
			t.Errorf("project record %v (%v)", p, err)
		}
	}
	p := ccrProject(t, b, "test04")
	if p["quota"] != 102400.0 || p["isPublic"] != false || p["storageUsed"] != 0.0 || p["tenantId"] != "admin" {
		t.Errorf("test04: %v", p)
	}
	if p := ccrProject(t, b, "pub01"); p["quota"] != -1.0 || p["isPublic"] != true {
		t.Errorf("pub01 (defaults): %v", p)
	}

	// Paging, filters, noPaging.
	names := func(res ccrResult) string {
		var out []string
		for _, p := range ccrList(t, res, "projects") {
			out = append(out, p["projectName"].(string))
		}
		return strings.Join(out, ",")
	}
	pages := []struct{ query, names string }{
		{"pageNo=1&pageSize=2", "alices,library"},
		{"pageNo=2&pageSize=2", "pub01,team"},
		{"pageNo=3&pageSize=2", "test04"},
		{"pageNo=4&pageSize=2", ""},
		{"pageNo=0&pageSize=2", "alices,library"},
		{"pageNo=-3&pageSize=2", "alices,library"},
		{"nameHas=te", "team,test04"},
		{"nameHas=TE", "team,test04"},
		{"nameHas=zzz", ""},
		{"noPaging=true&pageSize=1", "alices,library,pub01,team,test04"},
	}
	for _, pg := range pages {
		res := ccr(t, b, http.MethodGet, ccrBase+"/projects?"+pg.query, nil)
		if got := names(res); got != pg.names {
			t.Errorf("?%s: %s, want %s", pg.query, got, pg.names)
		}
	}
	if res := ccr(t, b, http.MethodGet, ccrBase+"/projects?noPaging=true", nil); res.body["page"] != 0.0 || res.body["pageSize"] != 0.0 || res.body["total"] != 5.0 {
		t.Errorf("noPaging echo: %s", res)
	}

	// Private projects are invisible to alice; public ones and her own are not.
	ccrAsUser := func(user, method, path string, body any) ccrResult {
		return ccrAs(t, b, user, ccrUserPw, method, path, body)
	}
	res = ccrAsUser("alice", http.MethodPost, ccrBase+"/projects", map[string]any{"name": "alice-own"})
	wantCCRError(t, "alice creates", res, http.StatusOK, "CCR.Success")
	res = ccrAsUser("alice", http.MethodGet, ccrBase+"/projects?noPaging=true", nil)
	if got := names(res); got != "alice-own,library,pub01" || res.body["total"] != 3.0 {
		t.Errorf("alice's list: %s", res)
	}
	if got := names(ccrAsUser("dev", http.MethodGet, ccrBase+"/projects?nameHas=t", nil)); got != "team" {
		t.Errorf("dev's list: %s", got)
	}

	// Errors, each with its status and code.
	big := `{"name":"` + strings.Repeat("a", 70000) + `"}`
	errs := []struct {
		what, user, method, path string
		body                     any
		status                   int
		code                     string
	}{
		{"duplicate", "admin", "POST", "/projects", map[string]any{"name": "test04"}, 409, "CCR.CodeErrAlreadyExists"},
		{"missing name", "admin", "POST", "/projects", map[string]any{"isPublic": true}, 400, "CCR.CodeParamError"},
		{"invalid name", "admin", "POST", "/projects", map[string]any{"name": "Bad_Name!"}, 400, "CCR.CodeParamError"},
		{"negative quota", "admin", "POST", "/projects", map[string]any{"name": "q1", "quota": -5}, 400, "CCR.CodeParamError"},
		{"zero quota", "admin", "POST", "/projects", map[string]any{"name": "q1", "quota": 0}, 400, "CCR.CodeParamError"},
		{"huge quota", "admin", "POST", "/projects", `{"name":"q1","quota":1e40}`, 400, "CCR.CodeParamError"},
		{"string quota", "admin", "POST", "/projects", `{"name":"q1","quota":"10"}`, 400, "CCR.CodeParamError"},
		{"malformed JSON", "admin", "POST", "/projects", `{"name":`, 400, "CCR.CodeParamError"},
		{"empty body", "admin", "POST", "/projects", nil, 400, "CCR.CodeParamError"},
		{"unknown field", "admin", "POST", "/projects", map[string]any{"name": "q1", "public": true}, 400, "CCR.CodeParamError"},
		{"oversized body", "admin", "POST", "/projects", big, 400, "CCR.CodeParamError"},
		{"bad pageSize", "admin", "GET", "/projects?pageSize=101", nil, 400, "CCR.CodeParamError"},
		{"bad pageNo", "admin", "GET", "/projects?pageNo=abc", nil, 400, "CCR.CodeParamError"},
		{"huge pageNo", "admin", "GET", "/projects?pageNo=99999999999999999999", nil, 400, "CCR.CodeParamError"},
		{"bad noPaging", "admin", "GET", "/projects?noPaging=yes", nil, 400, "CCR.CodeParamError"},
		{"anonymous list", "", "GET", "/projects", nil, 401, "CCR.RespAuthFailed"},
		{"anonymous create", "", "POST", "/projects", map[string]any{"name": "anon"}, 401, "CCR.RespAuthFailed"},
		{"anonymous delete", "", "DELETE", "/projects/test04", nil, 401, "CCR.RespAuthFailed"},
		{"wrong password", "alice:nope-Passw0rd", "GET", "/projects", nil, 401, "CCR.RespAuthFailed"},
		{"delete hidden", "alice", "DELETE", "/projects/test04", nil, 404, "CCR.CodeErrNotExists"},
		{"delete public, not admin", "alice", "DELETE", "/projects/pub01", nil, 403, "CCR.RespPermissionDenied"},
		{"delete as developer", "dev", "DELETE", "/projects/team", nil, 403, "CCR.RespPermissionDenied"},
		{"delete unknown", "admin", "DELETE", "/projects/nosuch", nil, 404, "CCR.CodeErrNotExists"},
		{"delete invalid name", "admin", "DELETE", "/projects/Bad%20Name", nil, 400, "CCR.CodeParamError"},
		{"update hidden", "alice", "PUT", "/projects/test04", map[string]any{"quota": 5}, 404, "CCR.CodeErrNotExists"},
		{"update bad quota", "admin", "PUT", "/projects/test04", map[string]any{"quota": -2}, 400, "CCR.CodeParamError"},
		{"wrong method", "admin", "PATCH", "/projects", nil, 405, "CCR.CodeForbidOperate"},
		{"unknown route", "admin", "GET", "/nothing", nil, 404, "CCR.CodeErrNotExists"},
	}
	for _, e := range errs {
		user, pw := e.user, ccrUserPw
		if u, p, ok := strings.Cut(user, ":"); ok {
			user, pw = u, p
		} else if user == "admin" {
			pw = ""
		}
		res := ccrAs(t, b, user, pw, e.method, ccrBase+e.path, e.body)
		wantCCRError(t, e.what, res, e.status, e.code)
	}
	res = ccrAs(t, b, "admin", "", http.MethodGet, "/api/ccr/v1.0/instances/other-instance/projects", nil)
	wantCCRError(t, "unknown instance", res, http.StatusNotFound, "CCR.CodeErrNotExists")
	if p := ccrProject(t, b, "test04"); p["quota"] != 102400.0 {
		t.Errorf("refused updates changed test04: %v", p)
	}

	// Quota and visibility changes (berth's PUT), then deletes.
	ccr(t, b, http.MethodPut, ccrBase+"/projects/test04", map[string]any{"quota": 2048, "isPublic": true})
	if p := ccrProject(t, b, "test04"); p["quota"] != 2048.0 || p["isPublic"] != true {
		t.Errorf("after update: %v", p)
	}
	res = ccr(t, b, http.MethodDelete, ccrBase+"/projects/test04", nil)
	wantKeys(t, "delete", res.body, seedJSON(t, ccrSeedEmpty))
	wantCCRError(t, "delete again", ccrAs(t, b, "admin", "", http.MethodDelete, ccrBase+"/projects/test04", nil), 404, "CCR.CodeErrNotExists")
	ccr(t, b, http.MethodDelete, ccrBase+"/projects/alice-own", nil)
	if res := ccr(t, b, http.MethodGet, ccrBase+"/projects", nil); res.body["total"] != 4.0 {
		t.Errorf("after deletes: %s", res)
	}
}

// TestCCRRepositories creates, lists, reads and deletes repositories
// (multi-level names included) over images pushed with crane.
func TestCCRRepositories(t *testing.T) {
	b := startCCR(t)
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "test01", "isPublic": true})
	res := ccr(t, b, http.MethodPost, ccrBase+"/projects/test01/repositories", map[string]any{"repositoryName": "test", "summary": "hello", "detail": "hello, this is a detail."})
	wantKeys(t, "create", res.body, seedJSON(t, ccrSeedEmpty))
	ccr(t, b, http.MethodPost, ccrBase+"/projects/test01/repositories", map[string]any{"repositoryName": "sub1/sub2/repo"})

	layer := t.TempDir() + "/layer.tar"
	writeTar(t, layer, map[string][]byte{"hello.txt": []byte("hello ccr\n")})
	craneAppend(t, b.Addr+"/test01/test:v1", nil, layer)
	craneAppend(t, b.Addr+"/test01/test:v2", nil, layer)
	craneAppend(t, b.Addr+"/test01/pushed/only:latest", nil, layer)

	res = ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories?pageNo=1&pageSize=10", nil)
	wantKeys(t, "list", res.body, seedJSON(t, ccrSeedRepos))
	seedRepo := seedJSON(t, ccrSeedRepos).(map[string]any)["data"].([]any)[0]
	repos := ccrList(t, res, "data")
	if res.body["totalCount"] != 3.0 || len(repos) != 3 {
		t.Fatalf("list: %s", res)
	}
	want := map[string]float64{"pushed/only": 1, "sub1/sub2/repo": 0, "test": 2}
	for _, r := range repos {
		wantKeys(t, "repository", r, seedRepo)
		name := r["repositoryName"].(string)
		if tags, ok := want[name]; !ok || r["imageTagCount"] != tags || r["projectName"] != "test01" || r["public"] != true {
			t.Errorf("repository record %v", r)
		}
	}
	if r := ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories?nameHas=sub&pageSize=1", nil); r.body["totalCount"] != 1.0 {
		t.Errorf("nameHas=sub: %s", r)
	}
	if r := ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories?nameHas=test01", nil); r.body["totalCount"] != 0.0 {
		t.Errorf("nameHas matched the project prefix: %s", r)
	}
	if r := ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories?pageNo=2&pageSize=2", nil); len(ccrList(t, r, "data")) != 1 || r.body["totalCount"] != 3.0 {
		t.Errorf("page 2: %s", r)
	}

	// One repository, plain and multi-level (plain segments or %2F).
	res = ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories/test", nil)
	wantKeys(t, "get", res.body, seedJSON(t, ccrSeedRepo))
	d := res.body["data"].(map[string]any)
	if d["summary"] != "hello" || d["detail"] != "hello, this is a detail." || d["imageTagCount"] != 2.0 || d["repositoryName"] != "test" {
		t.Errorf("get: %v", d)
	}
	for _, path := range []string{"sub1/sub2/repo", "sub1%2Fsub2%2Frepo", "sub1%252Fsub2%252Frepo"} {
		res = ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories/"+path, nil)
		if res.body["data"].(map[string]any)["repositoryName"] != "sub1/sub2/repo" {
			t.Errorf("get %s: %s", path, res)
		}
	}

	// Errors.
	errs := []struct {
		what, user, method, path string
		body                     any
		status                   int
		code                     string
	}{
		{"duplicate", "admin", "POST", "/projects/test01/repositories", map[string]any{"repositoryName": "test"}, 409, "CCR.CodeErrAlreadyExists"},
		{"missing name", "admin", "POST", "/projects/test01/repositories", map[string]any{"summary": "x"}, 400, "CCR.CodeParamError"},
		{"unknown project", "admin", "POST", "/projects/nosuch/repositories", map[string]any{"repositoryName": "ab"}, 404, "CCR.CodeErrNotExists"},
		{"long summary", "admin", "POST", "/projects/test01/repositories", map[string]any{"repositoryName": "ab", "summary": strings.Repeat("s", 101)}, 400, "CCR.CodeParamError"},
		{"long detail", "admin", "POST", "/projects/test01/repositories", map[string]any{"repositoryName": "ab", "detail": strings.Repeat("d", 257)}, 400, "CCR.CodeParamError"},
		{"unknown field", "admin", "POST", "/projects/test01/repositories", map[string]any{"repositoryName": "ab", "public": true}, 400, "CCR.CodeParamError"},
		{"malformed", "admin", "POST", "/projects/test01/repositories", `{"repositoryName": "test01" ,}`, 400, "CCR.CodeParamError"},
		{"not permitted", "alice", "POST", "/projects/test01/repositories", map[string]any{"repositoryName": "ab"}, 403, "CCR.RespPermissionDenied"},
		{"hidden project", "alice", "POST", "/projects/team/repositories", map[string]any{"repositoryName": "ab"}, 404, "CCR.CodeErrNotExists"},
		{"anonymous", "", "POST", "/projects/test01/repositories", map[string]any{"repositoryName": "ab"}, 401, "CCR.RespAuthFailed"},
		{"anonymous list", "", "GET", "/projects/test01/repositories", nil, 401, "CCR.RespAuthFailed"},
		{"list hidden", "alice", "GET", "/projects/team/repositories", nil, 404, "CCR.CodeErrNotExists"},
		{"list bad page", "admin", "GET", "/projects/test01/repositories?pageSize=x", nil, 400, "CCR.CodeParamError"},
		{"get missing", "admin", "GET", "/projects/test01/repositories/nosuch", nil, 404, "CCR.CodeErrNotExists"},
		{"get hidden", "alice", "GET", "/projects/team/repositories/x", nil, 404, "CCR.CodeErrNotExists"},
		{"get invalid", "admin", "GET", "/projects/test01/repositories/Bad", nil, 400, "CCR.CodeParamError"},
		{"delete missing", "admin", "DELETE", "/projects/test01/repositories/nosuch", nil, 404, "CCR.CodeErrNotExists"},
		{"delete not permitted", "alice", "DELETE", "/projects/test01/repositories/test", nil, 403, "CCR.RespPermissionDenied"},
		{"delete anonymous", "", "DELETE", "/projects/test01/repositories/test", nil, 401, "CCR.RespAuthFailed"},
		{"project not empty", "admin", "DELETE", "/projects/test01", nil, 403, "CCR.CodeForbidOperate"},
	}
	for _, bad := range []string{"a", strings.Repeat("a", 65), "Test", "-ab", "ab-", "a//b", "a__b", "a.-b", "/ab", "ab/", "a b", "a:b"} {
		errs = append(errs, struct {
			what, user, method, path string
			body                     any
			status                   int
			code                     string
		}{"name " + bad, "admin", "POST", "/projects/test01/repositories", map[string]any{"repositoryName": bad}, 400, "CCR.CodeParamError"})
	}
	for _, e := range errs {
		pw := ccrUserPw
		if e.user == "admin" {
			pw = ""
		}
		wantCCRError(t, e.what, ccrAs(t, b, e.user, pw, e.method, ccrBase+e.path, e.body), e.status, e.code)
	}
	if r := ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories", nil); r.body["totalCount"] != 3.0 {
		t.Errorf("refused creates left repositories: %s", r)
	}
	// A developer of a private project creates there.
	wantCCRError(t, "developer creates", ccrAs(t, b, "dev", ccrUserPw, "POST", ccrBase+"/projects/team/repositories", map[string]any{"repositoryName": "app"}), 200, "CCR.Success")

	// Delete: the repository with its images; then it is gone everywhere.
	res = ccr(t, b, http.MethodDelete, ccrBase+"/projects/test01/repositories/test", nil)
	wantKeys(t, "delete", res.body, seedJSON(t, ccrSeedEmpty))
	if resp, _ := getManifest(t, b, http.MethodGet, "test01/test", "v1"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("test01/test:v1 after the delete: %d", resp.StatusCode)
	}
	wantCCRError(t, "get deleted", ccrAs(t, b, "admin", "", "GET", ccrBase+"/projects/test01/repositories/test", nil), 404, "CCR.CodeErrNotExists")
	ccr(t, b, http.MethodDelete, ccrBase+"/projects/test01/repositories/sub1%2Fsub2%2Frepo", nil)
	ccr(t, b, http.MethodDelete, ccrBase+"/projects/test01/repositories/pushed/only", nil)
	if r := ccr(t, b, http.MethodGet, ccrBase+"/projects/test01/repositories", nil); r.body["totalCount"] != 0.0 {
		t.Errorf("after deletes: %s", r)
	}
	ccr(t, b, http.MethodDelete, ccrBase+"/projects/test01", nil)
}

// TestCCRInstances serves the configured instance ids only.
func TestCCRInstances(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: []string{"BERTH_CCR_INSTANCES=ccr-a, ccr-b"}})
	for _, id := range []string{"ccr-a", "ccr-b"} {
		res := ccr(t, b, http.MethodGet, "/api/ccr/v1.0/instances/"+id+"/projects", nil)
		if p := ccrList(t, res, "projects"); len(p) != 1 || p[0]["instanceId"] != id {
			t.Errorf("%s: %s", id, res)
		}
	}
	wantCCRError(t, "default instance not configured", ccrAs(t, b, "admin", "", http.MethodGet, ccrBase+"/projects", nil), 404, "CCR.CodeErrNotExists")
	out, err := berthtest.RunEnvErr(t, []string{"BERTH_CCR_INSTANCES=bad id!"}, berthtest.Binary(t), "config")
	if err == nil || !strings.Contains(out, "ccr.instances") {
		t.Errorf("berth config with a bad instance id: %v\n%s", err, out)
	}
}
