package e2e

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// webCall sends what a browser would: Basic credentials it cached for
// berth replayed on a request another site's page makes, with the headers
// the browser adds (Origin, Sec-Fetch-Site) and the body's content type.
func webCall(t *testing.T, b *berthtest.Berth, method, path, user, pw, ctype, body string, hdr map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, b.URL(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return berthtest.SendAs(t, req, user, pw)
}

// multipartChart is a chart upload form as a page's <form
// enctype="multipart/form-data"> posts it.
func multipartChart(t *testing.T, name string) (string, string) {
	tgz := berthtest.CraftTgz(t, berthtest.TarEntry{Name: name + "/Chart.yaml", Body: "apiVersion: v2\nname: " + name + "\nversion: 0.1.0\n"})
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("chart", name+"-0.1.0.tgz")
	_, _ = fw.Write(tgz)
	_ = mw.Close()
	return mw.FormDataContentType(), buf.String()
}

// Cross-site requests: with the admin's Basic credentials cached by the
// browser, a page on another site sends the changes the security review
// found berth acting on (a text/plain or form body, a multipart upload),
// from another origin, from an opaque one (Origin: null) and as
// Sec-Fetch-Site: cross-site. Every management API refuses each in its own
// envelope and nothing changes; a JSON API also refuses a body that is not
// sent as JSON (which a page can send without a preflight); curl-like
// clients (no Origin) and berth's own origin keep working.
func TestCrossSiteChangesAreRefused(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	pw := b.AdminPassword
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/users", map[string]any{"username": "alice", "password": "Alice1234"}, 201)
	pushRawImage(t, b, "team/app", "v1", "amd64", layerBytes(1))
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects", map[string]any{"name": "empty"}, 201)
	chartType, chartBody := multipartChart(t, "evilchart")

	attacks := []struct {
		name, method, path, ctype, body string
	}{
		{"berthv1: create an admin", "POST", "/api/berth/v1/users", "text/plain", `{"username":"mallory","password":"Mallory123","admin":true}`},
		{"berthv1: delete a project", "DELETE", "/api/berth/v1/projects/empty", "", ""},
		{"berthv1: add a member", "PUT", "/api/berth/v1/projects/team/members/alice", "text/plain", `{"role":"admin"}`},
		{"ccr: reset alice's password", "POST", ccrBase + "/account/reset", "text/plain", `{"username":"alice","new_password":"Hacked1234"}`},
		{"ccr: create a project", "POST", ccrBase + "/projects", "text/plain", `{"name":"ccrevil"}`},
		{"harbor: POST method=DELETE", "POST", "/api/repositories", "application/x-www-form-urlencoded", "method=DELETE&repo_name=team/app"},
		{"harbor: DELETE", "DELETE", "/api/repositories?repo_name=team/app&tag=v1", "", ""},
		{"charts: multipart upload", "POST", "/api/chartrepo/team/charts", chartType, chartBody},
		{"swr: create a namespace", "POST", "/v2/manage/namespaces", "text/plain", `{"namespace":"swrevil"}`},
		{"bk-repo: delete a version", "DELETE", "/docker/ext/version/delete/team/docker-local?packageKey=app&version=v1", "", ""},
	}
	browsers := map[string]map[string]string{
		"other origin":         {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
		"opaque origin (null)": {"Origin": "null"},
		"sec-fetch-site only":  {"Sec-Fetch-Site": "cross-site"},
		"other origin only":    {"Origin": "http://127.0.0.1:1"},
	}
	for _, a := range attacks {
		for bname, hdr := range browsers {
			code, out := webCall(t, b, a.method, a.path, "admin", pw, a.ctype, a.body, hdr)
			if code != http.StatusForbidden {
				t.Errorf("%s from %s: %d %s, want 403", a.name, bname, code, out)
			}
		}
	}
	// A JSON API takes JSON only: a page's text/plain or typeless body is
	// 415 in the API's envelope even where a browser sent no Origin.
	for _, a := range attacks {
		if a.ctype != "text/plain" {
			continue
		}
		for _, ct := range []string{"text/plain", "", "application/x-www-form-urlencoded"} {
			code, out := webCall(t, b, a.method, a.path, "admin", pw, ct, a.body, nil)
			if code != http.StatusUnsupportedMediaType {
				t.Errorf("%s as %q: %d %s, want 415", a.name, ct, code, out)
			}
		}
	}

	// The token service's password grant (a form POST) from another site
	// is refused before the password is looked at: a page cannot make a
	// visitor's browser lock the admin out from the visitor's address.
	for i := 0; i < 12; i++ {
		code, out := webCall(t, b, "POST", "/service/token", "", "", "application/x-www-form-urlencoded",
			"grant_type=password&service=berth&username=admin&password=guess"+fmt.Sprint(i), map[string]string{"Origin": "https://evil.example"})
		if code != http.StatusForbidden {
			t.Fatalf("cross-site password grant #%d: %d %s", i+1, code, out)
		}
	}
	if code, out := webCall(t, b, "POST", "/service/token", "", "", "application/x-www-form-urlencoded",
		"grant_type=password&service=berth&username=admin&password="+url.QueryEscape(pw), nil); code != 200 {
		t.Errorf("the admin's password grant after the cross-site guesses: %d %s", code, out)
	}

	// Nothing happened.
	if code, out := berthtest.APICall(t, b, "GET", "/api/berth/v1/users", "admin", pw, nil); code != 200 || strings.Contains(out, "mallory") {
		t.Errorf("users after the attacks: %d %s", code, out)
	}
	if code, _ := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects/team", "alice", "Alice1234", nil); code != http.StatusNotFound {
		t.Errorf("alice's password or membership changed: project team answers her %d, want 404 (not a member)", code)
	}
	for _, p := range []string{"/api/berth/v1/projects/empty", "/api/berth/v1/projects/team"} {
		if code, out := berthtest.APICall(t, b, "GET", p, "admin", pw, nil); code != 200 {
			t.Errorf("%s after the attacks: %d %s", p, code, out)
		}
	}
	for _, p := range []string{"ccrevil", "swrevil"} {
		if code, _ := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects/"+p, "admin", pw, nil); code != http.StatusNotFound {
			t.Errorf("project %s was created: %d", p, code)
		}
	}
	if resp, _ := getManifest(t, b, "GET", "team/app", "v1"); resp.StatusCode != 200 {
		t.Errorf("team/app:v1 after the attacks: %d", resp.StatusCode)
	}
	if code, out := berthtest.APICall(t, b, "GET", "/api/chartrepo/team/charts", "admin", pw, nil); strings.Contains(out, "evilchart") {
		t.Errorf("the cross-site chart upload was stored: %d %s", code, out)
	}

	// Clients that are not browsers, and berth's own pages, still work.
	same := map[string]string{"Origin": "http://" + b.Addr, "Sec-Fetch-Site": "same-origin"}
	if code, out := webCall(t, b, "POST", "/api/berth/v1/users", "admin", pw, "application/json", `{"username":"bob","password":"Bobby1234"}`, same); code != 201 {
		t.Errorf("same-origin create user: %d %s", code, out)
	}
	if code, out := webCall(t, b, "POST", ccrBase+"/account/reset", "alice", "Alice1234", "application/json; charset=utf-8", `{"username":"alice","new_password":"Alice5678"}`, nil); code != 200 {
		t.Errorf("alice resets her own password with curl: %d %s", code, out)
	}
	if code, out := webCall(t, b, "POST", "/api/chartrepo/team/charts", "admin", pw, chartType, chartBody, nil); code != 201 {
		t.Errorf("chart upload without an Origin: %d %s", code, out)
	}
	if code, out := webCall(t, b, "POST", "/api/repositories", "admin", pw, "application/x-www-form-urlencoded", "method=DELETE&repo_name=team/app&tag=v1", nil); code != 200 {
		t.Errorf("harbor's POST method=DELETE from curl: %d %s", code, out)
	}
}
