package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Existence: what a caller may not see answers exactly like what does not
// exist. Image-market build projects in a private Cluster (info, save,
// build, delete, files), a private project on /api/berth/v1 and /v2 tag
// lists, and the users a project admin adds as members or removes.
// (Status and body are compared; that both take the same work is by
// construction, never timed in a test.)
func TestHiddenAnswersLikeMissing(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	const evePw = "eve-Passw0rd"
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/users", map[string]any{"username": "eve", "password": evePw}, 201)
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/users", map[string]any{"username": "carol", "password": "carol-Passw0rd"}, 201)
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects", map[string]any{"name": "priv"}, 201)
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects", map[string]any{"name": "evep"}, 201)
	berthtest.MustAPI(t, b, "PUT", "/api/berth/v1/projects/evep/members/eve", map[string]any{"role": "admin"}, 200)
	pushRawImage(t, b, "priv/app", "v1", "amd64", layerBytes(1))
	ib(t, b, "POST", "/api/project/new", url.Values{"projectName": {"secretbp"}, "Cluster": {"priv"}})
	eve := berthtest.BasicAuth("eve", evePw)

	// The image market: the same code and message for the hidden and the
	// missing build project, route by route.
	for _, c := range []struct {
		path string
		v    url.Values
	}{
		{"/api/project/info", url.Values{}},
		{"/api/project/save", url.Values{"DefineDockerFileType": {"edit"}, "addOrUpdate": {"update"}}},
		{"/api/project/build", url.Values{"tag": {"v1"}}},
		{"/api/project/delete", url.Values{}},
		{"/api/project/buildHistory", url.Values{}},
		{"/api/project/clone", url.Values{"dstProjectName": {"copy"}}},
	} {
		ask := func(name string) ibResult {
			v := url.Values{}
			for k, vs := range c.v {
				v[k] = vs
			}
			v.Set("projectName", name)
			v.Set("project", name)
			v.Set("srcProjectName", name)
			return ibCall(t, b, "POST", c.path, eve, v)
		}
		hidden, missing := ask("secretbp"), ask("nosuchbp")
		if hidden.status != missing.status || hidden.code != missing.code || strings.ReplaceAll(hidden.errMsg, "secretbp", "X") != strings.ReplaceAll(missing.errMsg, "nosuchbp", "X") {
			t.Errorf("%s: hidden %d %s; missing %d %s", c.path, hidden.status, hidden.body, missing.status, missing.body)
		}
		if hidden.code == 10000 {
			t.Errorf("%s of a hidden build project succeeded: %s", c.path, hidden.body)
		}
	}

	// A private project and a missing one, on berth's API and the OCI API.
	for _, p := range [][2]string{
		{"/api/berth/v1/projects/priv", "/api/berth/v1/projects/nosuch"},
		{"/api/berth/v1/projects/priv/members", "/api/berth/v1/projects/nosuch/members"},
		{"/v2/priv/app/tags/list", "/v2/nosuch/app/tags/list"},
		{"/v2/priv/app/manifests/v1", "/v2/nosuch/app/manifests/v1"},
	} {
		hc, hb := berthtest.APICall(t, b, "GET", p[0], "eve", evePw, nil)
		mc, mb := berthtest.APICall(t, b, "GET", p[1], "eve", evePw, nil)
		// An OCI error names the repository asked for; nothing else differs.
		hb, mb = strings.ReplaceAll(hb, "priv/", "X/"), strings.ReplaceAll(mb, "nosuch/", "X/")
		if hc != mc || hb != mb || hc < 400 {
			t.Errorf("%s = %d %s; %s = %d %s", p[0], hc, hb, p[1], mc, mb)
		}
	}

	// eve administers evep: adding or removing a user tells her nothing
	// about whether the name is taken.
	kc, kb := berthtest.APICall(t, b, "PUT", "/api/berth/v1/projects/evep/members/carol", "eve", evePw, map[string]any{"role": "guest"})
	uc, ub := berthtest.APICall(t, b, "PUT", "/api/berth/v1/projects/evep/members/nobody", "eve", evePw, map[string]any{"role": "guest"})
	if kc != http.StatusOK || kc != uc || strings.ReplaceAll(kb, "carol", "X") != strings.ReplaceAll(ub, "nobody", "X") {
		t.Errorf("PUT member: existing user %d %s; unknown user %d %s", kc, kb, uc, ub)
	}
	if code, out := berthtest.APICall(t, b, "DELETE", "/api/berth/v1/projects/evep/members/carol", "eve", evePw, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE member carol: %d %s", code, out)
	}
	// carol is no member now: removing her again, or a name nobody has,
	// is the same not found.
	kc, kb = berthtest.APICall(t, b, "DELETE", "/api/berth/v1/projects/evep/members/carol", "eve", evePw, nil)
	uc, ub = berthtest.APICall(t, b, "DELETE", "/api/berth/v1/projects/evep/members/nobody", "eve", evePw, nil)
	if kc != http.StatusNotFound || kc != uc || strings.ReplaceAll(kb, "carol", "X") != strings.ReplaceAll(ub, "nobody", "X") {
		t.Errorf("DELETE member: non-member %d %s; unknown user %d %s", kc, kb, uc, ub)
	}
	// The unknown name was not stored; the system admin is told.
	if out := berthtest.MustAPI(t, b, "GET", "/api/berth/v1/projects/evep/members", nil, 200); strings.Contains(out, "nobody") {
		t.Errorf("an unknown user became a member: %s", out)
	}
	if code, out := berthtest.APICall(t, b, "PUT", "/api/berth/v1/projects/evep/members/nobody", "admin", b.AdminPassword, map[string]any{"role": "guest"}); code != http.StatusNotFound {
		t.Errorf("the system admin adds an unknown user: %d %s, want 404", code, out)
	}
}
