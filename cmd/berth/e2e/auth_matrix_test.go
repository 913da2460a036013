package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// The whole matrix: {anonymous, guest, developer, project admin, member of
// another project, system admin, app credential} × {public, private} ×
// {pull, push, delete, catalog, project management}, on a live berth.
func TestAccessMatrix(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	pw := "Matrix-pass-1"
	for _, u := range []string{"guest1", "dev1", "padmin1", "other1"} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": u, "password": pw}, http.StatusCreated)
	}
	for _, p := range []struct {
		name   string
		public bool
	}{{"pub", true}, {"priv", false}, {"elsewhere", false}} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": p.name, "public": p.public}, http.StatusCreated)
	}
	for _, p := range []string{"pub", "priv"} {
		for user, role := range map[string]string{"guest1": "guest", "dev1": "developer", "padmin1": "admin"} {
			mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/"+p+"/members/"+user, map[string]string{"role": role}, http.StatusOK)
		}
	}
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/elsewhere/members/other1", map[string]string{"role": "developer"}, http.StatusOK)
	var robot struct{ AccessKey, Secret string }
	out := mustAPI(t, b, http.MethodPost, "/api/berth/v1/robots", map[string]any{"name": "ci", "projects": map[string]string{"pub": "developer", "priv": "developer"}}, http.StatusCreated)
	if err := json.Unmarshal([]byte(out), &robot); err != nil || !strings.HasPrefix(robot.AccessKey, "berth-ak-") || robot.Secret == "" {
		t.Fatalf("robot: %s", out)
	}
	for _, p := range []string{"pub", "priv"} {
		pushRawImage(t, b, p+"/app", "v1", "amd64", layerBytes(1))
	}

	type who struct{ name, user, pw string }
	principals := []who{
		{"anonymous", "", ""}, {"guest", "guest1", pw}, {"developer", "dev1", pw}, {"project admin", "padmin1", pw},
		{"other project's member", "other1", pw}, {"system admin", "admin", b.AdminPassword}, {"app credential", robot.AccessKey, robot.Secret},
	}
	// Expected outcome per principal: pull, push, delete, sees in catalog, manage (HTTP status).
	type expect struct {
		pull, push, del, catalog bool
		manage                   int
	}
	table := map[string]map[string]expect{
		"pub": {
			"anonymous":              {true, false, false, true, 401},
			"guest":                  {true, false, false, true, 403},
			"developer":              {true, true, true, true, 403},
			"project admin":          {true, true, true, true, 200},
			"other project's member": {true, false, false, true, 403},
			"system admin":           {true, true, true, true, 200},
			"app credential":         {true, true, true, true, 403},
		},
		"priv": {
			"anonymous":              {false, false, false, false, 401},
			"guest":                  {true, false, false, true, 403},
			"developer":              {true, true, true, true, 403},
			"project admin":          {true, true, true, true, 200},
			"other project's member": {false, false, false, false, 404},
			"system admin":           {true, true, true, true, 200},
			"app credential":         {true, true, true, true, 403},
		},
	}
	status := func(ok bool, allowed int) int {
		if ok {
			return allowed
		}
		return http.StatusUnauthorized
	}
	for _, project := range []string{"pub", "priv"} {
		for _, p := range principals {
			want := table[project][p.name]
			t.Run(project+"/"+p.name, func(t *testing.T) {
				repo := project + "/app"
				req, _ := http.NewRequest(http.MethodGet, b.URL("/v2/"+repo+"/manifests/v1"), nil)
				req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
				if code, body := sendAs(t, req, p.user, p.pw); code != status(want.pull, 200) {
					t.Errorf("pull: %d %s", code, body)
				}
				req, _ = http.NewRequest(http.MethodPost, b.URL("/v2/"+repo+"/blobs/uploads/"), nil)
				if code, body := sendAs(t, req, p.user, p.pw); code != status(want.push, 202) {
					t.Errorf("push: %d %s", code, body)
				}
				victim := pushRawImage(t, b, repo, "", "amd64", layerBytes(len(p.name)*100+len(project)))
				req, _ = http.NewRequest(http.MethodDelete, b.URL("/v2/"+repo+"/manifests/"+victim.Digest), nil)
				if code, body := sendAs(t, req, p.user, p.pw); code != status(want.del, 202) {
					t.Errorf("delete: %d %s", code, body)
				}
				req, _ = http.NewRequest(http.MethodGet, b.URL("/v2/_catalog"), nil)
				code, body := sendAs(t, req, p.user, p.pw)
				if code != 200 && p.user != "" {
					t.Errorf("catalog: %d %s", code, body)
				}
				if seen := strings.Contains(body, `"`+repo+`"`); code == 200 && seen != want.catalog {
					t.Errorf("catalog lists %s: %v, want %v (%s)", repo, seen, want.catalog, body)
				}
				if code == 200 && strings.Contains(body, "elsewhere/") && p.user != "admin" && p.user != "other1" {
					t.Errorf("catalog shows a private project to a non-member: %s", body)
				}
				code, body = apiCall(t, b, http.MethodPut, "/api/berth/v1/projects/"+project, p.user, p.pw, map[string]any{"public": project == "pub"})
				if code != want.manage {
					t.Errorf("manage: %d %s, want %d", code, body, want.manage)
				}
			})
		}
	}
	// A private project and a missing one look the same to a non-member.
	c1, b1 := apiCall(t, b, http.MethodGet, "/api/berth/v1/projects/priv", "other1", pw, nil)
	c2, b2 := apiCall(t, b, http.MethodGet, "/api/berth/v1/projects/nosuch", "other1", pw, nil)
	if c1 != 404 || c1 != c2 || b1 != b2 {
		t.Errorf("private vs missing project: %d %s / %d %s", c1, b1, c2, b2)
	}
	// Anonymous catalog requests get a challenge rather than an error body.
	req, _ := http.NewRequest(http.MethodGet, b.URL("/v2/"), nil)
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(ch, fmt.Sprintf(`realm="http://%s/service/token"`, b.Addr)) {
		t.Errorf("GET /v2/ anonymously: %d %q", resp.StatusCode, ch)
	}
}

// With autoCreateProjects, a user's first push creates a private project the
// user administers; nobody else sees it.
func TestAutoCreatedProjectBelongsToThePusher(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{}) // autoCreateProjects on
	pw := "Carol-pass-1"
	for _, u := range []string{"carol", "dave"} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": u, "password": pw}, http.StatusCreated)
	}
	home := t.TempDir()
	env := []string{"HOME=" + home, "DOCKER_CONFIG=" + home + "/.docker"}
	crane := berthtest.Tool(t, "crane")
	berthtest.RunEnv(t, env, crane, "auth", "login", b.Addr, "-u", "carol", "-p", pw)
	layer := t.TempDir() + "/l.tar"
	writeTar(t, layer, map[string][]byte{"c.txt": []byte("carol")})
	berthtest.RunEnv(t, env, crane, "append", "--insecure", "-f", layer, "-t", b.Addr+"/carolsproj/app:v1")
	if out := berthtest.RunEnv(t, env, crane, "ls", "--insecure", b.Addr+"/carolsproj/app"); strings.TrimSpace(out) != "v1" {
		t.Fatalf("carol cannot list her own push: %q", out)
	}
	code, body := apiCall(t, b, http.MethodGet, "/api/berth/v1/projects/carolsproj", "carol", pw, nil)
	if code != 200 || !strings.Contains(body, `"creator":"carol"`) || !strings.Contains(body, `"public":false`) {
		t.Fatalf("carol's project: %d %s", code, body)
	}
	if code, _ := apiCall(t, b, http.MethodGet, "/api/berth/v1/projects/carolsproj", "dave", pw, nil); code != 404 {
		t.Errorf("dave sees carol's private project: %d", code)
	}
	req, _ := http.NewRequest(http.MethodGet, b.URL("/v2/carolsproj/app/tags/list"), nil)
	if code, _ := sendAs(t, req, "dave", pw); code != 401 {
		t.Errorf("dave lists carol's tags: %d", code)
	}
}

// A token proves enough to use the registry, not to change credentials: a
// leaked pull token cannot reset its owner's password or mint robots.
func TestTokensCannotChangeCredentials(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	pw := "Erin-pass-1"
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": "erin", "password": pw}, http.StatusCreated)
	req, _ := http.NewRequest(http.MethodGet, b.URL("/service/token?service=berth&scope=repository:library/x:pull"), nil)
	code, body := sendAs(t, req, "erin", pw)
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || code != 200 || tok.Token == "" {
		t.Fatalf("token: %d %s", code, body)
	}
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPut, "/api/berth/v1/users/erin/password", `{"password":"Taken-over-1"}`},
		{http.MethodPost, "/api/berth/v1/robots", `{"name":"r","projects":{}}`},
	} {
		req, _ := http.NewRequest(c.method, b.URL(c.path), strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		code, out := sendAs(t, req, "", "")
		if code != http.StatusForbidden {
			t.Errorf("%s %s with a token: %d %s", c.method, c.path, code, out)
		}
	}
	// The password still works; the same change with Basic succeeds.
	if code, out := apiCall(t, b, http.MethodPut, "/api/berth/v1/users/erin/password", "erin", pw, map[string]string{"password": "Changed-pass-2"}); code != 200 {
		t.Fatalf("self reset with Basic: %d %s", code, out)
	}
}
