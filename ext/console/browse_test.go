package console_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestBrowse: a repository's tags a page at a time (keyset, both ways,
// with a search), an artifact with its platforms, referrers tree, manifest
// and config, the pull command, and the project's repositories.
func TestBrowse(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{})
	amd := berthtest.PushRawImage(t, b, "shop/web", "", "amd64", berthtest.LayerBytes(1))
	arm := berthtest.PushRawImage(t, b, "shop/web", "", "arm64", berthtest.LayerBytes(2))
	idx := berthtest.PushRawIndex(t, b, "shop/web", "multi", map[string]berthtest.RawImage{"amd64": amd, "arm64": arm})
	// A signature of the index, and an attestation of the signature.
	sig := pushReferrer(t, b, "shop/web", idx, "application/vnd.dev.cosign.artifact.sig.v1+json")
	att := pushReferrer(t, b, "shop/web", sig, "application/vnd.in-toto+json")
	for i := range 120 {
		berthtest.PushRawImage(t, b, "shop/web", fmt.Sprintf("v%03d", i), "amd64", berthtest.LayerBytes(i+10))
	}
	berthtest.PushRawImage(t, b, "shop/api", "latest", "amd64", berthtest.LayerBytes(500))

	br := newBrowser(t, b)
	br.login("admin", b.AdminPassword)
	_, _, body := br.get("/console/projects/shop")
	for _, want := range []string{`href="/console/repositories/shop/web"`, `href="/console/repositories/shop/api"`} {
		if !strings.Contains(body, want) {
			t.Errorf("repositories page lacks %s", want)
		}
	}
	if _, _, body := br.get("/console/projects/shop?q=ap"); strings.Contains(body, "shop/web") || !strings.Contains(body, "shop/api") {
		t.Errorf("repository search")
	}

	// Pages of 50 tags in name order: multi, v000..v119.
	rowRE := regexp.MustCompile(`<th scope="row"><a href="/console/repositories/shop/web/-/artifacts/([^"]+)">`)
	tagsOf := func(path string) ([]string, string) {
		t.Helper()
		code, _, body := br.get(path)
		if code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		var out []string
		for _, m := range rowRE.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out, body
	}
	first, body := tagsOf("/console/repositories/shop/web")
	if len(first) != 50 || first[0] != "multi" || first[49] != "v048" || strings.Contains(body, "Previous page") {
		t.Fatalf("first page: %d tags %v", len(first), first)
	}
	if !strings.Contains(body, "docker pull "+b.Addr+"/shop/web:multi") || !strings.Contains(body, "<td>multi-platform</td>") || !strings.Contains(body, "<td>linux/amd64</td>") {
		t.Errorf("no pull command or platform for multi")
	}
	second, body := tagsOf("/console/repositories/shop/web?after=v048")
	if len(second) != 50 || second[0] != "v049" || !strings.Contains(body, "before=v049") || !strings.Contains(body, "after=v098") {
		t.Fatalf("second page: %v", second)
	}
	last, body := tagsOf("/console/repositories/shop/web?after=v098")
	if len(last) != 21 || last[20] != "v119" || strings.Contains(body, "Next page") {
		t.Fatalf("last page: %v", last)
	}
	back, _ := tagsOf("/console/repositories/shop/web?before=v049")
	if strings.Join(back, ",") != strings.Join(first, ",") {
		t.Fatalf("back from the second page: %v", back)
	}
	if found, _ := tagsOf("/console/repositories/shop/web?q=v11"); len(found) != 10 {
		t.Errorf("search v11: %v", found)
	}

	// The index: platforms, the referrers tree two levels deep.
	_, _, body = br.get("/console/repositories/shop/web/-/artifacts/multi")
	body = html.UnescapeString(body)
	for _, want := range []string{idx.Digest, "linux/amd64", "linux/arm64", amd.Digest[:19], sig.Digest[:19], att.Digest[:19],
		"application/vnd.in-toto+json", "docker pull " + b.Addr + "/shop/web@" + idx.Digest, `"schemaVersion": 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("index page lacks %q", want)
		}
	}
	// An image: its config JSON.
	_, _, body = br.get("/console/repositories/shop/web/-/artifacts/" + url.PathEscape(amd.Digest))
	if !strings.Contains(body, "e2e author") || !strings.Contains(body, "Config") {
		t.Errorf("image page lacks its config")
	}
	if code, _, _ := br.get("/console/repositories/shop/web/-/artifacts/nosuch"); code != 404 {
		t.Errorf("missing tag: %d", code)
	}
}

// pushReferrer pushes an artifact of artifactType whose subject is subj.
func pushReferrer(t *testing.T, b *berthtest.Berth, repo string, subj berthtest.RawImage, artifactType string) berthtest.RawImage {
	t.Helper()
	empty := berthtest.PushBlob(t, b, repo, []byte("{}"))
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "artifactType": artifactType,
		"config":  map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
		"layers":  []any{map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}},
		"subject": map[string]any{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": subj.Digest, "size": len(subj.Manifest)},
	})
	if code, body := berthtest.PutManifest(t, b, repo, berthtest.Sha(man), "application/vnd.oci.image.manifest.v1+json", man); code != http.StatusCreated {
		t.Fatalf("referrer: %d %s", code, body)
	}
	return berthtest.RawImage{Digest: berthtest.Sha(man), Manifest: man}
}

// TestPagesAndOtherRoutes: every page answers HTML with the console's
// security headers; a browser opening / lands on the console while / for
// other clients, /v2/, /healthz and the management API answer as before.
func TestPagesAndOtherRoutes(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{})
	berthtest.PushRawImage(t, b, "lib/tool", "v1", "amd64", berthtest.LayerBytes(1))
	br := newBrowser(t, b)
	br.login("admin", b.AdminPassword)
	for _, p := range []string{"/console/", "/console/projects/lib", "/console/projects/lib/charts", "/console/projects/lib/settings",
		"/console/projects/lib/delete", "/console/repositories/lib/tool", "/console/repositories/lib/tool/-/artifacts/v1",
		"/console/repositories/lib/tool/-/tags/v1/delete", "/console/repositories/lib/tool/-/artifacts/v1/delete",
		"/console/robots", "/console/users", "/console/account", "/console/system"} {
		req, _ := http.NewRequest(http.MethodGet, b.URL(p), nil)
		resp, err := br.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := berthtest.ReadAll(t, resp)
		h := resp.Header
		if resp.StatusCode != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || h.Get("Cache-Control") != "no-store" ||
			h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			!strings.Contains(body, `<main id="main"`) {
			t.Errorf("%s: %d %v", p, resp.StatusCode, h)
		}
	}
	for _, c := range []struct {
		path, accept string
		status       int
		location     string
	}{
		{"/", "text/html,application/xhtml+xml", 302, "/console/"},
		{"/", "application/json", 404, ""},
		{"/healthz", "text/html", 200, ""},
		{"/v2/", "text/html", 401, ""}, // the registry asks for its own credentials
		{"/console/static/console.css", "", 200, ""},
		{"/console/static/nosuch.js", "", 404, ""},
		{"/console/nosuch", "text/html", 404, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, b.URL(c.path), nil)
		req.Header.Set("Accept", c.accept)
		code, loc, _ := br.do(req)
		if code != c.status || loc != c.location {
			t.Errorf("GET %s (Accept %s): %d %q, want %d %q", c.path, c.accept, code, loc, c.status, c.location)
		}
	}
	if out := berthtest.MustAPI(t, b, "GET", "/api/berth/v1/projects", nil, 200); !strings.Contains(out, `"name":"lib"`) {
		t.Errorf("management API: %s", out)
	}
}

// TestChartsAndPolicies: a project's Helm charts with their versions, and
// its retention policy and immutable-tag rules, read-only, as the
// management API set them.
func TestChartsAndPolicies(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{})
	berthtest.MustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "helmy"}, http.StatusCreated)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		tgz := berthtest.CraftTgz(t, berthtest.TarEntry{Name: "demo/Chart.yaml", Body: "apiVersion: v2\nname: demo\nversion: " + v + "\nappVersion: \"9.9\"\ndescription: a demo chart\n"})
		if code, body := berthtest.UploadChart(t, b, "helmy", tgz, nil, "", "admin", b.AdminPassword); code != http.StatusCreated {
			t.Fatalf("upload %s: %d %s", v, code, body)
		}
	}
	berthtest.MustAPI(t, b, "PUT", "/api/berth/v1/projects/helmy/retention",
		map[string]any{"rules": []any{map[string]any{"keep": "latestPushed", "count": 5}}}, 200)
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects/helmy/immutability", map[string]any{"repositories": "demo", "tags": "1.*"}, 201)

	br := newBrowser(t, b)
	br.login("admin", b.AdminPassword)
	_, _, body := br.get("/console/projects/helmy/charts")
	for _, want := range []string{`<h2 id="chart-demo">demo</h2>`, ">1.0.0</a>", ">1.1.0</a>", "a demo chart", "helm repo add helmy"} {
		if !strings.Contains(body, want) {
			t.Errorf("charts page lacks %q", want)
		}
	}
	_, _, body = br.get("/console/projects/helmy/settings")
	body = html.UnescapeString(body)
	for _, want := range []string{`"count": 5`, "<code>demo</code></td><td><code>1.*</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
}

// TestLoginThrottled: the console's login is the identity layer's, with
// its lockout: after too many wrong passwords from an address the right
// one is refused from there too, with the lockout's own answer.
func TestLoginThrottled(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{Env: []string{"BERTH_AUTH_MAX_FAILURES=3", "BERTH_AUTH_LOCKOUT_PERIOD=1m"}})
	br := newBrowser(t, b)
	for range 3 {
		br.get("/console/login")
		if code, _, _ := br.post("/console/login", url.Values{"username": {"admin"}, "password": {"Wrong-pass-1"}}); code != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", code)
		}
	}
	br.get("/console/login")
	// Refused as a lockout (429, saying so and for how long), not as a
	// wrong password, and never logged in.
	if code, _, body := br.post("/console/login", url.Values{"username": {"admin"}, "password": {b.AdminPassword}}); code != http.StatusTooManyRequests ||
		br.cookie("berth-session") != nil || !strings.Contains(body, `id="username"`) || !strings.Contains(body, "too many failed logins") ||
		strings.Contains(body, "Wrong username or password") {
		t.Errorf("the right password during a lockout: %d", code)
	}
}
