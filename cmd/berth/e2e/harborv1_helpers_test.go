package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// hbEnv is a berth holding what the Harbor v1 tests read: public project
// hbpub (web:1.0,1.2,latest, api:v1, tools/cli:v1, myweb:1.1,1.2), private
// hbpriv (secret:v1,v2) with a guest and a developer, and five public
// hbpage-N projects for paging.
type hbEnv struct {
	b         *berthtest.Berth
	pw        string
	pubID     int64
	privID    int64
	web10     string // digest of hbpub/web:1.0
	secretV1  string
	pageNames []string
}

// hbResult is one Harbor v1 response.
type hbResult struct {
	status int
	header http.Header
	body   string
	json   any
}

// hbCall sends a Harbor v1 request as user ("" anonymous, "admin" the
// admin) with an optional raw body.
func hbCall(t *testing.T, e *hbEnv, method, path, user, body string) hbResult {
	t.Helper()
	req, err := http.NewRequest(method, e.b.URL(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch user {
	case "":
	case "admin":
		req.SetBasicAuth("admin", e.b.AdminPassword)
	default:
		req.SetBasicAuth(user, e.pw)
	}
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res := hbResult{status: resp.StatusCode, header: resp.Header, body: readAll(t, resp)}
	_ = json.Unmarshal([]byte(res.body), &res.json)
	return res
}

// hbOK wants 200 and a JSON body.
func hbOK(t *testing.T, e *hbEnv, method, path, user string) hbResult {
	t.Helper()
	res := hbCall(t, e, method, path, user, "")
	if res.status != http.StatusOK || res.json == nil {
		t.Fatalf("%s %s as %q: %d %s", method, path, user, res.status, res.body)
	}
	return res
}

// names returns the "name" of every object of a JSON array.
func hbNames(t *testing.T, v any) []string {
	t.Helper()
	arr, ok := v.([]any)
	if !ok {
		t.Fatalf("%T, want an array", v)
	}
	out := []string{}
	for _, x := range arr {
		m, ok := x.(map[string]any)
		if !ok {
			t.Fatalf("entry %T, want an object", x)
		}
		out = append(out, fmt.Sprint(m["name"]))
	}
	return out
}

// hbKeys returns the sorted keys of a JSON object.
func hbKeys(v any) []string {
	m, _ := v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hbWantError checks a Harbor v1 error: the status and {"code":status,"msg"}.
func hbWantError(t *testing.T, what string, res hbResult, status int) {
	t.Helper()
	m, _ := res.json.(map[string]any)
	if res.status != status || m["code"] != float64(status) || m["msg"] == "" || m["msg"] == nil || len(m) != 2 {
		t.Errorf("%s: %d %s, want %d {code,msg}", what, res.status, res.body, status)
	}
	if strings.Contains(res.body, "internal") {
		t.Errorf("%s: internal error leaked: %s", what, res.body)
	}
}

var linkRE = regexp.MustCompile(`<([^>]+)>; rel="(next|prev)"`)

// hbLinks parses a Link header into rel → target.
func hbLinks(h http.Header) map[string]string {
	out := map[string]string{}
	for _, m := range linkRE.FindAllStringSubmatch(h.Get("Link"), -1) {
		out[m[2]] = m[1]
	}
	return out
}

// startHbEnv starts berth and fills it with crane.
func startHbEnv(t *testing.T) *hbEnv {
	t.Helper()
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	e := &hbEnv{b: b, pw: "Harbor-pass-1"}
	var id struct{ ID int64 }
	out := mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "hbpub", "public": true}, http.StatusCreated)
	_ = json.Unmarshal([]byte(out), &id)
	e.pubID = id.ID
	out = mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "hbpriv", "public": false}, http.StatusCreated)
	_ = json.Unmarshal([]byte(out), &id)
	e.privID = id.ID
	if e.pubID == 0 || e.privID == 0 || e.pubID == e.privID {
		t.Fatalf("project ids %d %d (%s)", e.pubID, e.privID, out)
	}
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("hbpage-%d", i)
		e.pageNames = append(e.pageNames, name)
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": name, "public": true}, http.StatusCreated)
	}
	for _, u := range []string{"hbguest", "hbdev", "hbstranger"} {
		mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": u, "password": e.pw}, http.StatusCreated)
	}
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/hbpriv/members/hbguest", map[string]string{"role": "guest"}, http.StatusOK)
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/hbpriv/members/hbdev", map[string]string{"role": "developer"}, http.StatusOK)

	crane := berthtest.Tool(t, "crane")
	e.web10 = pushSmallImage(t, b.Addr+"/hbpub/web:1.0")
	pushSmallImage(t, b.Addr+"/hbpub/web:1.2")
	berthtest.Run(t, crane, "tag", "--insecure", b.Addr+"/hbpub/web:1.2", "latest")
	pushSmallImage(t, b.Addr+"/hbpub/api:v1")
	pushSmallImage(t, b.Addr+"/hbpub/tools/cli:v1")
	pushSmallImage(t, b.Addr+"/hbpub/myweb:1.1")
	pushSmallImage(t, b.Addr+"/hbpub/myweb:1.2")
	e.secretV1 = pushSmallImage(t, b.Addr+"/hbpriv/secret:v1")
	pushSmallImage(t, b.Addr+"/hbpriv/secret:v2")
	return e
}

// craneFails runs crane and wants it to fail with one of the words.
func craneFails(t *testing.T, words []string, args ...string) {
	t.Helper()
	out, err := berthtest.RunErr(t, berthtest.Tool(t, "crane"), append(args, "--insecure")...)
	if err == nil {
		t.Errorf("crane %v succeeded: %.200s", args, out)
		return
	}
	for _, w := range words {
		if strings.Contains(out, w) {
			return
		}
	}
	t.Errorf("crane %v: %.300s, want one of %v", args, out, words)
}
