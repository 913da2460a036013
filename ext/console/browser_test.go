package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestMain makes plain HTTP requests act as the admin of the berth they
// address (berthtest.Main); the console's browser sends none.
func TestMain(m *testing.M) { berthtest.Main(m) }

// browser is a cookie-keeping client without credentials that does not
// follow redirects, as a test sees a browser's requests one by one.
type browser struct {
	t    testing.TB
	b    *berthtest.Berth
	c    *http.Client
	csrf string // the last page's form token
}

func newBrowser(t testing.TB, b *berthtest.Berth) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, b: b, c: &http.Client{Transport: berthtest.AnonymousClient.Transport, Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns the status, the Location and the body;
// a page's form token is kept for the next post.
func (br *browser) do(req *http.Request) (int, string, string) {
	br.t.Helper()
	resp, err := br.c.Do(req)
	if err != nil {
		br.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindSubmatch(body); m != nil {
		br.csrf = string(m[1])
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func (br *browser) get(path string) (int, string, string) {
	req, _ := http.NewRequest(http.MethodGet, br.b.URL(path), nil)
	req.Header.Set("Accept", "text/html")
	return br.do(req)
}

// post sends a form as a same-origin page would (Origin set), with the
// last page's token unless the form has its own.
func (br *browser) post(path string, form url.Values) (int, string, string) {
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", br.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, br.b.URL(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+br.b.Addr)
	return br.do(req)
}

// login logs in through the login page.
func (br *browser) login(user, pw string) {
	br.t.Helper()
	if code, _, _ := br.get("/console/login"); code != 200 {
		br.t.Fatalf("login page: %d", code)
	}
	code, loc, body := br.post("/console/login", url.Values{"username": {user}, "password": {pw}})
	if code != http.StatusSeeOther || loc != "/console/" {
		br.t.Fatalf("login as %s: %d %s %s", user, code, loc, body)
	}
}

// cookie is the browser's cookie of that name for the berth.
func (br *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(br.b.URL("/"))
	for _, c := range br.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}
