package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

const pw = "Member-pass-1"

// TestLoginSessions: the login page, its cookie and token, a refused
// password, the session cookie's attributes, pages that ask an anonymous
// browser to log in (and return after), logout ending the session in the
// database (the old cookie no longer works), and no Basic prompt.
func TestLoginSessions(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	br := newBrowser(t, b)

	code, loc, _ := br.get("/console/account")
	if code != http.StatusSeeOther || loc != "/console/login?next=%2Fconsole%2Faccount" {
		t.Fatalf("anonymous account page: %d %q", code, loc)
	}
	br.get("/console/login")
	if c := br.cookie("berth-login"); c == nil || c.Value == "" || c.Value != br.csrf {
		t.Fatalf("login cookie %v, form token %q", c, br.csrf)
	}
	code, _, body := br.post("/console/login", url.Values{"username": {"admin"}, "password": {"wrong-password-1"}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password") || strings.Contains(body, "wrong-password-1") {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	// The login form needs its cookie's token.
	code, _, _ = br.post("/console/login", url.Values{"username": {"admin"}, "password": {b.AdminPassword}, "csrf": {"forged"}})
	if code != http.StatusForbidden {
		t.Fatalf("login with a forged token: %d", code)
	}
	br.get("/console/login")
	code, loc, _ = br.post("/console/login", url.Values{"username": {"admin"}, "password": {b.AdminPassword}, "next": {"/console/account"}})
	if code != http.StatusSeeOther || loc != "/console/account" {
		t.Fatalf("login: %d %q", code, loc)
	}
	// The session cookie as the response set it.
	resp := loginResponse(t, b)
	var set string
	for _, v := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, "berth-session=") {
			set = v
		}
	}
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("session cookie %q lacks %s", set, want)
		}
	}
	code, _, body = br.get("/console/account")
	if code != 200 || !strings.Contains(body, "Your account: admin") {
		t.Fatalf("account page after login: %d", code)
	}
	old := br.cookie("berth-session")
	if code, loc, _ = br.post("/console/logout", url.Values{}); code != http.StatusSeeOther || loc != "/console/login" {
		t.Fatalf("logout: %d %q", code, loc)
	}
	// The old cookie, replayed, is nobody's now.
	replay := newBrowser(t, b)
	u, _ := url.Parse(b.URL("/"))
	replay.c.Jar.SetCookies(u, []*http.Cookie{old})
	if code, loc, _ := replay.get("/console/account"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/login") {
		t.Fatalf("a logged-out session still works: %d %q", code, loc)
	}
	if code, loc, _ := replay.post("/console/projects", url.Values{"name": {"late"}, "csrf": {"x"}}); code != http.StatusSeeOther || loc != "/console/login" {
		t.Errorf("a form of a logged-out session: %d %q", code, loc)
	}
	// Behind a proxy that terminates TLS: Secure cookies with the __Host-
	// prefix (bound to this host and path /).
	tls := func(method string, form url.Values, cookie string) *http.Response {
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, _ := http.NewRequest(method, b.URL("/console/login"), body)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := berthtest.AnonymousClient.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	page := tls("GET", nil, "")
	var loginCookie *http.Cookie
	for _, ck := range page.Cookies() {
		if ck.Name == "__Host-berth-login" && ck.Secure && ck.HttpOnly && ck.Path == "/" {
			loginCookie = ck
		}
	}
	if loginCookie == nil {
		t.Fatalf("login cookie under TLS: %v", page.Header.Values("Set-Cookie"))
	}
	resp = tls("POST", url.Values{"username": {"admin"}, "password": {b.AdminPassword}, "csrf": {loginCookie.Value}}, "__Host-berth-login="+loginCookie.Value)
	if got := strings.Join(resp.Header.Values("Set-Cookie"), "\n"); resp.StatusCode != http.StatusSeeOther ||
		!regexp.MustCompile(`(?m)^__Host-berth-session=[^;]+; Path=/; HttpOnly; Secure; SameSite=Strict$`).MatchString(got) {
		t.Errorf("login under TLS: %d %s", resp.StatusCode, got)
	}
	// Redirects after login stay inside the console.
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/v2/", "/console\\..\\x"} {
		br.get("/console/login")
		if _, loc, _ := br.post("/console/login", url.Values{"username": {"admin"}, "password": {b.AdminPassword}, "next": {next}}); loc != "/console/" {
			t.Errorf("next %q redirected to %q", next, loc)
		}
	}
}

// loginResponse logs the admin in with a fresh client and returns the
// login's response (its Set-Cookie headers).
func loginResponse(t *testing.T, b *berthtest.Berth) *http.Response {
	br := newBrowser(t, b)
	br.get("/console/login")
	form := url.Values{"username": {"admin"}, "password": {b.AdminPassword}, "csrf": {br.csrf}}
	req, _ := http.NewRequest(http.MethodPost, b.URL("/console/login"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := br.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestForgedPosts: a change without the session's token, with another
// session's token, or from another site is refused and changes nothing.
func TestForgedPosts(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	br := newBrowser(t, b)
	br.login("admin", b.AdminPassword)
	br.get("/console/")
	other := newBrowser(t, b)
	other.login("admin", b.AdminPassword)
	other.get("/console/")
	cases := []struct {
		name   string
		csrf   string
		header map[string]string
	}{
		{"no token", "", nil},
		{"another session's token", other.csrf, nil},
		{"cross-site origin", br.csrf, map[string]string{"Origin": "http://evil.example"}},
		{"cross-site fetch", br.csrf, map[string]string{"Origin": "", "Sec-Fetch-Site": "cross-site"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("forged%d", i)
			form := url.Values{"name": {name}, "csrf": {c.csrf}}
			req, _ := http.NewRequest(http.MethodPost, b.URL("/console/projects"), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "http://"+b.Addr)
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			code, _, body := br.do(req)
			if code != http.StatusForbidden {
				t.Errorf("%d %s", code, body)
			}
			if code, _ := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects/"+name, "admin", b.AdminPassword, nil); code != 404 {
				t.Errorf("the forged post created project %s: %d", name, code)
			}
		})
	}
	br.get("/console/")
	if code, loc, body := br.post("/console/projects", url.Values{"name": {"real"}}); code != http.StatusSeeOther || loc != "/console/projects/real" {
		t.Fatalf("the same post with the token: %d %q %s", code, loc, body)
	}
}

// TestVisibility: a user sees what the management API would show them: a
// private project of others reads exactly like a missing one, its
// repositories too; roles decide what a page offers and what a post may
// do.
func TestVisibility(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	must := func(method, path string, body any, want int) {
		t.Helper()
		berthtest.MustAPI(t, b, method, path, body, want)
	}
	for _, u := range []string{"alice", "bob"} {
		must("POST", "/api/berth/v1/users", map[string]any{"username": u, "password": pw}, 201)
	}
	must("POST", "/api/berth/v1/projects", map[string]any{"name": "team", "public": false, "quota": 1 << 30}, 201)
	must("PUT", "/api/berth/v1/projects/team/members/alice", map[string]string{"role": "guest"}, 200)
	berthtest.PushRawImage(t, b, "team/app", "v1", "amd64", berthtest.LayerBytes(1))

	alice, bob := newBrowser(t, b), newBrowser(t, b)
	alice.login("alice", pw)
	bob.login("bob", pw)
	_, _, list := bob.get("/console/")
	if strings.Contains(list, "/console/projects/team") {
		t.Errorf("bob's project list shows the private project")
	}
	_, _, list = alice.get("/console/")
	if !strings.Contains(list, "/console/projects/team") || !strings.Contains(list, "<meter") {
		t.Errorf("alice's project list lacks team or its quota bar: %s", list)
	}
	for _, pair := range [][2]string{
		{"/console/projects/team", "/console/projects/nosuch"},
		{"/console/repositories/team/app", "/console/repositories/nosuch/app"},
		{"/console/repositories/team/app/-/artifacts/v1", "/console/repositories/nosuch/app/-/artifacts/v1"},
	} {
		c1, _, b1 := bob.get(pair[0])
		c2, _, b2 := bob.get(pair[1])
		if c1 != 404 || c2 != 404 || stripToken(b1) != stripToken(b2) {
			t.Errorf("hidden %s: %d, missing %s: %d (pages differ: %v)", pair[0], c1, pair[1], c2, b1 != b2)
		}
	}
	// A guest browses but may not delete or manage.
	if code, _, body := alice.get("/console/repositories/team/app"); code != 200 || !strings.Contains(body, ">v1<") || strings.Contains(body, "/delete") {
		t.Errorf("guest's tag page: %d (delete offered: %v)", code, strings.Contains(body, "/delete"))
	}
	cases := []struct {
		path string
		want int
	}{
		{"/console/repositories/team/app/-/tags/v1/delete", 403},
		{"/console/projects/team/settings", 403},
		{"/console/users", 403},
		{"/console/system", 403},
	}
	for _, c := range cases {
		if code, _, _ := alice.get(c.path); code != c.want {
			t.Errorf("guest GET %s: %d, want %d", c.path, code, c.want)
		}
	}
	if code, _, _ := alice.post("/console/repositories/team/app/-/tags/v1/delete", url.Values{"confirm": {"v1"}}); code != 403 {
		t.Errorf("guest's delete post: %d", code)
	}
	if code, _, _ := alice.post("/console/projects/team/members", url.Values{"user": {"alice"}, "role": {"admin"}}); code != 403 {
		t.Errorf("guest promoting herself: %d", code)
	}
}

// stripToken removes what differs between two renderings of one page
// for the same session: nothing but the token, which is per session.
func stripToken(s string) string { return csrfRE.ReplaceAllString(s, "") }
