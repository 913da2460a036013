package dialect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

const adminPw = "Admin-pass-123"

var errToy = errors.New("toy refusal")

// toyTable maps every kind the kit requires, and one of the toy's own.
var toyTable = Table[string]{
	{Kind: domain.ErrUnavailable, Status: 503, Code: "UNAVAILABLE"},
	{Kind: domain.ErrFull, Status: 507, Code: "FULL"},
	{Kind: auth.ErrUnauthenticated, Status: 401, Code: "AUTH"},
	{Kind: ErrBadPath, Status: 400, Code: "PATH"},
	{Kind: ErrBadBody, Status: 400, Code: "BODY"},
	{Kind: ErrMethod, Status: 405, Code: "METHOD"},
	{Kind: ErrCrossSite, Status: 403, Code: "SITE"},
	{Kind: auth.ErrDenied, Status: 403, Code: "DENIED"},
	{Kind: auth.ErrNotFound, Status: 404, Code: "HIDDEN", Message: "project not found"},
	{Kind: ErrNoRoute, Status: 404, Code: "ROUTE"},
	{Kind: errToy, Status: 409, Code: "TOY"},
	{Status: 500, Code: "INTERNAL"},
}

// toy is a dialect over a real identity layer (SQLite) with the admin
// and a project "p", logging JSON into logs.
func toy(t *testing.T, configure func(a *API[string])) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := metadatatest.Open(t, filepath.Join(dir, "berth.db"))
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	as, err := auth.New(ctx, auth.Defaults(), db, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := as.Bootstrap(ctx, adminPw, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateProject(ctx, metadata.Project{Name: "p", QuotaBytes: -1, Creator: "admin"}); err != nil {
		t.Fatal(err)
	}
	a := &API[string]{Core: Core{Auth: as, Log: log}, Name: "toy", Prefix: "/toy/", OwnPrefix: true, Errors: toyTable,
		Segment: func(raw string) (string, error) {
			if raw == "bad" {
				return "", domain.Errorf(ErrBadPath, "bad segment")
			}
			return unescape(raw)
		}}
	a.Envelope = func(w http.ResponseWriter, r *http.Request, f Failure[string]) {
		a.JSON(w, f.Status, map[string]string{"code": f.Code, "message": f.Message, "id": observe.RequestID(r.Context())})
	}
	ok := func(w http.ResponseWriter, r *http.Request) error {
		a.JSON(w, 200, map[string]any{"vars": r.Context().Value(varsKey{}), "caller": Caller(r).Name})
		return nil
	}
	a.Routes = []Route{
		{Path: "items/{project}/{name...}/tags/{tag}", Methods: map[string]Op{http.MethodGet: {Serve: ok}}},
		{Path: "items/{project}/special", FallThrough: true, Methods: map[string]Op{http.MethodGet: {Serve: ok}}},
		{Path: "items/{project}/{name...}", Methods: map[string]Op{http.MethodGet: {Serve: ok},
			http.MethodPut: {Serve: func(w http.ResponseWriter, r *http.Request) error {
				Subject(r).Repository = Var(r, "project") + "/" + Var(r, "name")
				if _, err := a.Authorize(r, Var(r, "project"), auth.ActionPush); err != nil {
					return err
				}
				return ok(w, r)
			}, Action: observe.RepositoryUpdate},
			http.MethodDelete: {Serve: func(http.ResponseWriter, *http.Request) error { return errors.New("disk on fire") },
				Action: observe.RepositoryDelete},
			http.MethodPost: {Serve: func(http.ResponseWriter, *http.Request) error { return domain.Errorf(errToy, "toy says no") }}}},
	}
	if configure != nil {
		configure(a)
	}
	r := mux.NewRouter()
	r.UseEncodedPath()
	r.SkipClean(true)
	a.Mount(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, logs
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
}

func call(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header}
	_ = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}

var admin = map[string]string{"Authorization": "Basic " + basic("admin", adminPw)}

func basic(u, p string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(u, p)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestDispatchOrder: route 404, then credentials 401, then method 405
// with Allow, then the guard, then decode, then the handler.
func TestDispatchOrder(t *testing.T) {
	srv, _ := toy(t, func(a *API[string]) {
		a.SameOrigin = true
		a.Check = func(_ *http.Request, v Vars) error {
			if v["project"] == "gone" {
				return domain.Errorf(ErrNoRoute, "project route gone")
			}
			return nil
		}
	})
	wrong := map[string]string{"Authorization": "Basic " + basic("admin", "nope")}
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		code               string
	}{
		{"no route, anonymous", "GET", "/toy/nothing", nil, 404, "ROUTE"},
		{"no route, wrong method", "PATCH", "/toy/nothing", nil, 404, "ROUTE"},
		{"check before credentials", "GET", "/toy/items/gone/x", nil, 404, "ROUTE"},
		{"anonymous before method", "PATCH", "/toy/items/p/x", nil, 401, "AUTH"},
		{"wrong password", "GET", "/toy/items/p/x", wrong, 401, "AUTH"},
		{"method before guard", "PATCH", "/toy/items/p/x", map[string]string{"Authorization": admin["Authorization"], "Origin": "https://evil.example"}, 405, "METHOD"},
		{"method before decode", "PATCH", "/toy/items/p/bad", admin, 405, "METHOD"},
		{"guard before decode", "PUT", "/toy/items/p/bad", map[string]string{"Authorization": admin["Authorization"], "Sec-Fetch-Site": "cross-site"}, 403, "SITE"},
		{"a read from anywhere", "GET", "/toy/items/p/x", map[string]string{"Authorization": admin["Authorization"], "Origin": "https://evil.example"}, 200, ""},
		{"decode", "GET", "/toy/items/p/bad", admin, 400, "PATH"},
		{"handler error in the table", "POST", "/toy/items/p/x", admin, 409, "TOY"},
		{"internal error", "DELETE", "/toy/items/p/x", admin, 500, "INTERNAL"},
		{"hidden project", "PUT", "/toy/items/q/x", admin, 404, "HIDDEN"},
		{"served", "PUT", "/toy/items/p/x", admin, 200, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, srv, c.method, c.path, c.hdr)
			if a.status != c.status || (c.code != "" && a.body["code"] != c.code) {
				t.Fatalf("%d %v, want %d %s", a.status, a.body, c.status, c.code)
			}
			if c.code != "" && (a.body["id"] == "" || a.body["id"] != a.header.Get("X-Request-Id")) {
				t.Errorf("request id %v vs header %q", a.body["id"], a.header.Get("X-Request-Id"))
			}
			if c.status == 405 && a.header.Get("Allow") != "DELETE, GET, POST, PUT" {
				t.Errorf("Allow %q", a.header.Get("Allow"))
			}
			if c.status == 401 && a.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
			if c.code == "INTERNAL" && a.body["message"] != "internal error" {
				t.Errorf("a 500 tells %v", a.body["message"])
			}
		})
	}
}

// TestRoutes: variables, {x...} with literals after it, FallThrough, and
// paths that are no route.
func TestRoutes(t *testing.T) {
	srv, _ := toy(t, nil)
	cases := []struct {
		method, path string
		status       int
		vars         map[string]any
	}{
		{"GET", "/toy/items/p/a/b/tags/v1", 200, map[string]any{"project": "p", "name": "a/b", "tag": "v1"}},
		{"GET", "/toy/items/p/a%2Fb", 200, map[string]any{"project": "p", "name": "a/b"}},
		{"GET", "/toy/items/p/a/tags", 200, map[string]any{"project": "p", "name": "a/tags"}},
		{"GET", "/toy/items/p/special", 200, map[string]any{"project": "p"}},
		{"PUT", "/toy/items/p/special", 200, map[string]any{"project": "p", "name": "special"}}, // fell through
		{"GET", "/toy/items/p", 404, nil},
		{"GET", "/toy/itemsx/p/a", 404, nil},
	}
	for _, c := range cases {
		a := call(t, srv, c.method, c.path, admin)
		if a.status != c.status {
			t.Errorf("%s %s: %d %v", c.method, c.path, a.status, a.body)
			continue
		}
		if c.vars == nil {
			continue
		}
		got, _ := a.body["vars"].(map[string]any)
		if len(got) != len(c.vars) || a.body["caller"] != "admin" {
			t.Errorf("%s %s: vars %v caller %v, want %v", c.method, c.path, got, a.body["caller"], c.vars)
		}
		for k, v := range c.vars {
			if got[k] != v {
				t.Errorf("%s %s: %s = %v, want %v", c.method, c.path, k, got[k], v)
			}
		}
	}
}

// TestAudit: a change writes one audit line, whatever its end; a read
// none.
func TestAudit(t *testing.T) {
	srv, logs := toy(t, nil)
	for _, c := range []struct{ method, path string }{
		{"PUT", "/toy/items/p/x"}, {"PUT", "/toy/items/q/x"}, {"DELETE", "/toy/items/p/x"}, {"GET", "/toy/items/p/x"},
	} {
		call(t, srv, c.method, c.path, admin)
	}
	var audits []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "audit" {
			audits = append(audits, m)
		}
	}
	want := []struct{ action, repo, result string }{
		{observe.RepositoryUpdate, "p/x", observe.ResultOK},
		{observe.RepositoryUpdate, "q/x", observe.ResultRefused},
		{observe.RepositoryDelete, "", observe.ResultFailed},
	}
	if len(audits) != len(want) {
		t.Fatalf("audit lines: %v\n%s", audits, logs)
	}
	for i, w := range want {
		a := audits[i]
		actor, _ := a["actor"].(map[string]any)
		if a["action"] != w.action || a["result"] != w.result || a["dialect"] != "toy" || a["request_id"] == nil ||
			actor["kind"] != "user" || actor["name"] != "admin" || actor["id"] == 0.0 || a["user"] != "admin" {
			t.Errorf("audit %d: %v", i, a)
		}
		if w.repo != "" && a["repository"] != w.repo {
			t.Errorf("audit %d: repository %v, want %s", i, a["repository"], w.repo)
		}
	}
}

// TestAnonymous: a dialect serving anonymous callers still refuses
// credentials that do not verify.
func TestAnonymous(t *testing.T) {
	srv, _ := toy(t, func(a *API[string]) { a.Anonymous = true })
	if a := call(t, srv, "GET", "/toy/items/p/x", nil); a.status != 200 || a.body["caller"] != "" {
		t.Errorf("anonymous: %d %v", a.status, a.body)
	}
	if a := call(t, srv, "GET", "/toy/items/p/x", map[string]string{"Authorization": "Basic " + basic("admin", "x")}); a.status != 401 {
		t.Errorf("wrong password: %d %v", a.status, a.body)
	}
	if a := call(t, srv, "GET", "/toy/items/p/x", map[string]string{"Authorization": "Weird scheme"}); a.status != 401 {
		t.Errorf("unknown scheme: %d %v", a.status, a.body)
	}
}

// TestTableMustCover: Mount refuses a table that misses a kind every
// dialect must answer.
func TestTableMustCover(t *testing.T) {
	for _, bad := range []Table[string]{toyTable[:len(toyTable)-1], toyTable[1:]} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("an incomplete table was mounted")
				}
			}()
			(&API[string]{Name: "bad", Errors: bad}).Mount(mux.NewRouter())
		}()
	}
}

func TestDecodeJSON(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	for _, c := range []struct {
		strict bool
		in     string
		ok     bool
	}{
		{true, `{"name":"a"}`, true},
		{true, `{"name":"a","extra":1}`, false},
		{false, `{"name":"a","extra":1}`, true},
		{true, `{"name":"a"} x`, false},
		{true, ``, false},
		{true, `{"name":"` + strings.Repeat("a", 70<<10) + `"}`, false},
	} {
		a := &API[string]{StrictJSON: c.strict}
		var b body
		req := httptest.NewRequest("POST", "/", strings.NewReader(c.in))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		err := a.DecodeJSON(httptest.NewRecorder(), req, &b)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrBadBody)) {
			t.Errorf("strict %v %.30q: %v", c.strict, c.in, err)
		}
	}
}

// A JSON body is taken only as JSON: what a browser may send another site
// without asking first (a form, text/plain, a typeless blob) is
// ErrMediaType, an ErrBadBody that Invalid answers 415.
func TestDecodeJSONMediaType(t *testing.T) {
	for _, c := range []struct {
		ct string
		ok bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"application/vnd.api+json", true},
		{"", false},
		{"text/plain", false},
		{"text/plain;charset=UTF-8", false},
		{"application/x-www-form-urlencoded", false},
		{"multipart/form-data; boundary=x", false},
		{"application/jsonx", false},
	} {
		req := httptest.NewRequest("POST", "/", strings.NewReader(`{"name":"a"}`))
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		var b struct{ Name string }
		err := (&API[string]{}).DecodeJSON(httptest.NewRecorder(), req, &b)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrMediaType)) {
			t.Errorf("%q: %v", c.ct, err)
		}
	}
	tab := NewTable(Invalid("BAD"), Internal(500, "X", "internal"))
	if f := tab.Classify("", RequireJSON(httptest.NewRequest("POST", "/", nil))); f.Status != 415 || f.Code != "BAD" {
		t.Errorf("no content type: %d %s, want 415 BAD", f.Status, f.Code)
	}
}

// TestGuardRefusesCrossSiteChanges: every API refuses a change a browser
// sends from another site (no SameOrigin needed), Origin "null" included,
// and lets through its own origin, a read from anywhere and a client that
// names no origin at all (curl, helm, docker).
func TestGuardRefusesCrossSiteChanges(t *testing.T) {
	srv, _ := toy(t, func(a *API[string]) {
		a.PublicURL = func(*http.Request) string { return "https://registry.example" }
	})
	with := func(h map[string]string) map[string]string {
		h["Authorization"] = admin["Authorization"]
		return h
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, c := range []struct {
		name, method string
		hdr          map[string]string
		status       int
	}{
		{"no origin", "PUT", with(map[string]string{}), 200},
		{"own origin", "PUT", with(map[string]string{"Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"}), 200},
		{"public origin", "PUT", with(map[string]string{"Origin": "https://registry.example"}), 200},
		{"user typed it", "PUT", with(map[string]string{"Sec-Fetch-Site": "none"}), 200},
		{"other origin", "PUT", with(map[string]string{"Origin": "https://evil.example"}), 403},
		{"other port", "PUT", with(map[string]string{"Origin": "http://127.0.0.1:1"}), 403},
		{"null origin", "PUT", with(map[string]string{"Origin": "null"}), 403},
		{"empty origin", "PUT", with(map[string]string{"Origin": ""}), 403},
		{"cross-site", "PUT", with(map[string]string{"Sec-Fetch-Site": "cross-site"}), 403},
		{"same-site", "PUT", with(map[string]string{"Sec-Fetch-Site": "same-site"}), 403},
		{"cross-site delete", "DELETE", with(map[string]string{"Origin": "https://evil.example"}), 403},
		{"cross-site read", "GET", with(map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}), 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := call(t, srv, c.method, "/toy/items/p/x", c.hdr)
			if a.status != c.status || (c.status == 403 && a.body["code"] != "SITE") {
				t.Fatalf("%d %v, want %d", a.status, a.body, c.status)
			}
		})
	}
}
