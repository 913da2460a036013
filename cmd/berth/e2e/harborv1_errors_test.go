package e2e

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// testHarborV1Errors: bad input is 400 (never 500), unknown things 404,
// wrong methods 405, in the one {"code","msg"} shape.
func testHarborV1Errors(t *testing.T, e *hbEnv) {
	cases := []struct {
		name, method, path, user, body string
		status                         int
	}{
		{"page not a number", "GET", "/api/projects?page=abc", "admin", "", 400},
		{"page negative", "GET", "/projects?page=-1", "admin", "", 400},
		{"page zero", "GET", "/api/projects?page=0", "", "", 400},
		{"page fraction", "GET", "/api/projects?page=1.5", "", "", 400},
		{"page huge", "GET", "/api/projects?page=99999999999999999999", "", "", 400},
		{"page beyond any list", "GET", "/api/projects?page=9223372036854775807&page_size=100", "", "", 400},
		{"page_size zero", "GET", "/api/projects?page_size=0", "", "", 400},
		{"page_size negative", "GET", "/api/repositories?page_size=-3", "", "", 400},
		{"page_size huge", "GET", "/api/repositories?page_size=99999999999999999999", "", "", 400},
		{"page_size exponent", "GET", "/repositories/tags?repo_name=hbpub/web&page_size=1e3", "", "", 400},
		{"is_public bad", "GET", "/api/projects?is_public=maybe", "", "", 400},
		{"project_name NUL", "GET", "/api/projects?project_name=a%00b", "", "", 400},
		{"project_name too long", "GET", "/api/projects?project_name=" + strings.Repeat("a", 300), "", "", 400},
		{"project_id not a number", "GET", "/api/repositories?project_id=abc", "", "", 400},
		{"project_id negative", "GET", "/api/repositories?project_id=-1", "", "", 400},
		{"project_id zero", "GET", "/repositories?project_id=0", "", "", 400},
		{"project_id huge", "GET", "/repositories?project_id=99999999999999999999", "", "", 400},
		{"q NUL", "GET", "/repositories?q=%00", "", "", 400},
		{"tags without repo_name", "GET", "/api/repositories/tags", "", "", 400},
		{"repo_name dot dot", "GET", "/api/repositories/tags?repo_name=hbpub/../hbpriv/secret", "admin", "", 400},
		{"repo_name %2F double encoded", "GET", "/api/repositories/tags?repo_name=hbpub%252Fweb", "", "", 400},
		{"repo_name NUL", "GET", "/api/repositories/tags?repo_name=hbpub/we%00b", "", "", 400},
		{"repo_name uppercase", "GET", "/api/repositories/tags?repo_name=HBPUB/web", "", "", 400},
		{"repo_name double slash", "GET", "/api/repositories/tags?repo_name=hbpub//web", "", "", 400},
		{"repo_name leading slash", "GET", "/api/repositories/tags?repo_name=/web", "", "", 400},
		{"repo_name backslash", "GET", "/api/repositories/tags?repo_name=hbpub%5Cweb", "", "", 400},
		{"repo_name too long", "GET", "/api/repositories/tags?repo_name=hbpub/" + strings.Repeat("a", 300), "", "", 400},
		{"manifest without tag", "GET", "/api/repositories/manifests?repo_name=hbpub/web", "", "", 400},
		{"manifest bad tag", "GET", "/api/repositories/manifests?repo_name=hbpub/web&tag=-x", "", "", 400},
		{"manifest bad digest", "GET", "/api/repositories/manifests?repo_name=hbpub/web&tag=sha256:zz", "", "", 400},
		{"manifest without repo_name", "GET", "/repositories/manifests?tag=1.0", "", "", 400},
		{"unknown repository", "GET", "/api/repositories/tags?repo_name=hbpub/nope", "", "", 404},
		{"unknown project", "GET", "/api/repositories/tags?repo_name=nope/x", "hbstranger", "", 404},
		{"unknown bare name", "GET", "/api/repositories/tags?repo_name=nope", "hbstranger", "", 404},
		{"unknown bare name anonymous", "GET", "/api/repositories/tags?repo_name=nope", "", "", 401},
		{"private bare name", "GET", "/api/repositories/tags?repo_name=secret", "hbstranger", "", 404},
		{"unknown digest", "GET", "/api/repositories/manifests?repo_name=hbpub/web&tag=sha256:" + strings.Repeat("0", 64), "", "", 404},
		{"PUT projects", "PUT", "/api/projects", "admin", "", 405},
		{"DELETE projects", "DELETE", "/projects", "admin", "", 405},
		{"PATCH tags", "PATCH", "/repositories/tags?repo_name=hbpub/web", "admin", "", 405},
		{"POST without method", "POST", "/api/repositories", "admin", `{"repo_name":"hbpub/web","tag":"1.0"}`, 405},
		{"POST method=GET", "POST", "/repositories?method=GET", "admin", `{"repo_name":"hbpub/web","tag":"1.0"}`, 405},
		{"delete without repo_name", "DELETE", "/api/repositories", "admin", "", 400},
		{"delete broken JSON", "DELETE", "/api/repositories", "admin", `{"repo_name":`, 400},
		{"delete unknown body key", "DELETE", "/api/repositories", "admin", `{"repo_name":"hbpub/web","all":true}`, 400},
		{"delete conflicting names", "DELETE", "/api/repositories?repo_name=hbpub/web", "admin", `{"repo_name":"hbpub/api"}`, 400},
		{"delete seed form without tag", "DELETE", "/repositories", "admin", `{"projectName":"myweb"}`, 400},
		{"delete bad tag", "DELETE", "/api/repositories?repo_name=hbpub/web&tag=a/b", "admin", "", 400},
		{"delete dot dot", "DELETE", "/api/repositories?repo_name=hbpub/..", "admin", "", 400},
		{"delete unknown tag", "DELETE", "/api/repositories?repo_name=hbpub/web&tag=nope", "admin", "", 404},
		{"delete unknown repository", "DELETE", "/api/repositories?repo_name=hbpub/nope", "admin", "", 404},
		{"delete body too large", "DELETE", "/api/repositories", "admin", `{"repo_name":"` + strings.Repeat("a", 70<<10) + `"}`, 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hbWantError(t, c.name, hbCall(t, e, c.method, c.path, c.user, c.body), c.status)
		})
	}

	t.Run("credentials that do not verify", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.b.URL("/api/projects"), nil)
		req.SetBasicAuth("hbguest", "Wrong-pass-1")
		resp, err := berthtest.AnonymousClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" || !strings.Contains(body, `"code":401`) {
			t.Errorf("%d %v %s", resp.StatusCode, resp.Header, body)
		}
	})

	t.Run("405 names the methods", func(t *testing.T) {
		res := hbCall(t, e, http.MethodPut, "/api/repositories/tags", "", "")
		if res.header.Get("Allow") != "GET, HEAD, POST" {
			t.Errorf("Allow %q", res.header.Get("Allow"))
		}
	})

	t.Run("other routes are not shadowed", func(t *testing.T) {
		for path, want := range map[string]int{
			"/api/berth/v1/projects":  200,
			"/v2/hbpub/web/tags/list": 200,
			"/api/projects/":          404,
			"/projectsx":              404,
		} {
			res := hbCall(t, e, http.MethodGet, path, "admin", "")
			if res.status != want {
				t.Errorf("%s: %d %s", path, res.status, res.body)
			}
		}
	})
}

// testHarborV1Delete: rights first (401, 403, 404), then what each form
// deletes, seen by crane.
func testHarborV1Delete(t *testing.T, e *hbEnv) {
	b := e.b
	crane := berthtest.Tool(t, "crane")
	ref := func(s string) string { return b.Addr + "/" + s }
	gone := []string{"MANIFEST_UNKNOWN", "NAME_UNKNOWN", "404"}

	for _, c := range []struct {
		name, user, path string
		status           int
	}{
		{"anonymous", "", "/api/repositories?repo_name=hbpub/web&tag=1.2", 401},
		{"stranger on public", "hbstranger", "/api/repositories?repo_name=hbpub/web&tag=1.2", 403},
		{"guest on private", "hbguest", "/api/repositories?repo_name=hbpriv/secret&tag=v2", 403},
		{"stranger on private", "hbstranger", "/api/repositories?repo_name=hbpriv/secret&tag=v2", 404},
		{"stranger, private bare name", "hbstranger", "/repositories?repo_name=secret", 404},
	} {
		hbWantError(t, c.name, hbCall(t, e, http.MethodDelete, c.path, c.user, ""), c.status)
	}
	berthtest.Run(t, crane, "manifest", "--insecure", ref("hbpub/web:1.2"))
	berthtest.Run(t, crane, "manifest", "--insecure", ref("hbpriv/secret:v2"))

	wantOK := func(what string, res hbResult) {
		t.Helper()
		if res.status != http.StatusOK {
			t.Fatalf("%s: %d %s", what, res.status, res.body)
		}
		assertShape(t, what, res.json, seedJSON(t, hbSeedDelete))
		if strings.TrimSpace(res.body) != hbSeedDelete {
			t.Errorf("%s: %s", what, res.body)
		}
	}

	// A developer deletes a tag of the private project.
	wantOK("developer", hbCall(t, e, http.MethodDelete, "/api/repositories?repo_name=hbpriv/secret&tag=v2", "hbdev", ""))
	craneFails(t, gone, "manifest", ref("hbpriv/secret:v2"))
	berthtest.Run(t, crane, "manifest", "--insecure", ref("hbpriv/secret:v1"))

	// Harbor's form: only that tag goes; latest (same manifest) stays.
	wantOK("harbor form", hbCall(t, e, http.MethodDelete, "/repositories?repo_name=hbpub/web&tag=1.2", "admin", ""))
	craneFails(t, gone, "manifest", ref("hbpub/web:1.2"))
	if got := lines(berthtest.Run(t, crane, "ls", "--insecure", ref("hbpub/web"))); !reflect.DeepEqual(got, []string{"1.0", "latest"}) {
		t.Errorf("web tags after delete: %v", got)
	}

	// The seed's curl: POST with method=DELETE and the JSON body.
	wantOK("seed curl", hbCall(t, e, http.MethodPost, "/repositories", "admin", `method=DELETE&{"repoName":"1.1","projectName":"myweb"}`))
	craneFails(t, gone, "manifest", ref("hbpub/myweb:1.1"))
	berthtest.Run(t, crane, "manifest", "--insecure", ref("hbpub/myweb:1.2"))
	wantOK("seed JSON, full name", hbCall(t, e, http.MethodDelete, "/api/repositories", "admin", `{"repoName":"1.2","projectName":"hbpub/myweb"}`))
	craneFails(t, gone, "manifest", ref("hbpub/myweb:1.2"))

	// An ambiguous bare name deletes nothing.
	pushRawImage(t, b, "hbpage-1/dup", "v1", "amd64", layerBytes(901))
	pushRawImage(t, b, "hbpage-2/dup", "v1", "amd64", layerBytes(902))
	hbWantError(t, "ambiguous", hbCall(t, e, http.MethodDelete, "/repositories", "admin", `{"repoName":"v1","projectName":"dup"}`), 400)
	berthtest.Run(t, crane, "manifest", "--insecure", ref("hbpage-1/dup:v1"))

	// Without a tag: the whole repository.
	wantOK("repository", hbCall(t, e, http.MethodDelete, "/api/repositories?repo_name=hbpub/api", "admin", ""))
	craneFails(t, gone, "manifest", ref("hbpub/api:v1"))
	craneFails(t, gone, "ls", ref("hbpub/api"))
	names := hbNames(t, hbOK(t, e, http.MethodGet, fmt.Sprintf("/api/repositories?project_id=%d", e.pubID), "").json)
	if !reflect.DeepEqual(names, []string{"hbpub/myweb", "hbpub/tools/cli", "hbpub/web"}) {
		t.Errorf("repositories after delete: %v", names)
	}
	hbWantError(t, "deleted again", hbCall(t, e, http.MethodDelete, "/api/repositories?repo_name=hbpub/api", "admin", ""), 404)
}
