// Package bkrepo serves the bk-repo (BlueKing artifact repository) "docker
// ext" management API (seed 000) over berth's domain service. It holds only
// routes, request parsing, the {code, message, data, traceId} envelope and
// one error table; every read and change goes through domain.Service, and
// every route calls auth.Service.Check before doing anything.
//
// A bk-repo image projectId/repoName/name is the OCI repository
// "projectId/repoName/name": projectId is the berth project.
package bkrepo

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
)

// Prefix is where the dialect lives.
const Prefix = "/docker/ext/"

// HostFunc returns the public registry host (no scheme) for a request.
type HostFunc func(*http.Request) string

// api is the dialect's state: the core services it calls.
type api struct {
	auth *auth.Service
	dom  *domain.Service
	host HostFunc
	log  *slog.Logger
}

// handler serves one route; segs are the decoded path segments after the
// route's keyword.
type handler func(a *api, w http.ResponseWriter, r *http.Request, segs []string) error

// route is one entry of the route table.
type route struct {
	methods []string
	minSegs int
	maxSegs int // -1: no limit (a name with slashes)
	serve   handler
}

// routes is the dialect's one route table, keyed by the path keyword after
// /docker/ext/. Segment counts are those after the keyword.
var routes = map[string]route{
	"addr":           {[]string{http.MethodGet}, 0, 0, (*api).addr},
	"manifest":       {[]string{http.MethodGet}, 4, -1, (*api).manifest},                 // {p}/{r}/{name...}/{tag}
	"layer":          {[]string{http.MethodGet, http.MethodHead}, 4, -1, (*api).layer},   // {p}/{r}/{name...}/{digest}
	"repo":           {[]string{http.MethodGet}, 2, 2, (*api).listImages},                // {p}/{r}
	"tag":            {[]string{http.MethodGet}, 3, -1, (*api).listTags},                 // {p}/{r}/{name...}
	"package/delete": {[]string{http.MethodDelete}, 2, 2, (*api).deletePackage},          // {p}/{r}?packageKey
	"version/delete": {[]string{http.MethodDelete}, 2, 2, (*api).deleteVersion},          // {p}/{r}?packageKey&version
	"version/detail": {[]string{http.MethodGet}, 2, 2, (*api).versionDetail},             // {p}/{r}?packageKey&version
	"version/stage":  {[]string{http.MethodPost, http.MethodPut}, 2, 2, (*api).setStage}, // {p}/{r}?packageKey&version&tag
}

// Mount adds the dialect to r. host gives the public registry host.
func Mount(r *mux.Router, authSvc *auth.Service, dom *domain.Service, host HostFunc) {
	a := &api{auth: authSvc, dom: dom, host: host, log: slog.Default().With("dialect", "bkrepo")}
	authSvc.AddScheme(PlatformScheme)
	r.PathPrefix(Prefix).Handler(authSvc.Middleware(http.HandlerFunc(a.serve)))
}

// PlatformScheme is bk-repo's "Authorization: Platform
// base64(accessKey:secretKey)", an application credential, with an
// optional X-BKREPO-UID naming the user it acts for. Every route accepts
// it once the dialect is mounted.
var PlatformScheme = auth.Scheme{Authorization: "Platform", Read: func(r *http.Request, v string) (auth.Credentials, error) {
	raw, err := base64.StdEncoding.DecodeString(v)
	ak, sk, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok || !strings.HasPrefix(ak, auth.AccessKeyPrefix) {
		return auth.Credentials{}, auth.ErrUnauthenticated
	}
	return auth.Credentials{Username: ak, Password: sk, ActingUser: r.Header.Get("X-BKREPO-UID")}, nil
}}

// serve dispatches a request: route lookup (404), authentication (401),
// method (405), path segments (400), then the route itself.
func (a *api) serve(w http.ResponseWriter, r *http.Request) {
	keyword, raw := splitRoute(strings.TrimPrefix(r.URL.EscapedPath(), Prefix))
	rt, ok := routes[keyword]
	if !ok {
		a.fail(w, r, notFound("no docker ext route %q", r.URL.EscapedPath()))
		return
	}
	if _, err := a.principal(r); err != nil {
		a.fail(w, r, err)
		return
	}
	if !allowed(rt.methods, r.Method) {
		w.Header().Set("Allow", strings.Join(rt.methods, ", "))
		a.fail(w, r, errMethod)
		return
	}
	segs, err := decodeSegments(raw)
	if err == nil && (len(segs) < rt.minSegs || (rt.maxSegs >= 0 && len(segs) > rt.maxSegs)) {
		err = notFound("no docker ext route %q", r.URL.EscapedPath())
	}
	if err == nil {
		err = rt.serve(a, w, r, segs)
	}
	if err != nil {
		a.fail(w, r, err)
	}
}

// splitRoute separates the keyword (one segment, or two for package/ and
// version/) from the raw segments that follow it.
func splitRoute(rest string) (string, []string) {
	parts := strings.Split(rest, "/")
	n := 1
	if (parts[0] == "package" || parts[0] == "version") && len(parts) > 1 {
		n = 2
	}
	if len(parts) <= n {
		return strings.Join(parts, "/"), nil
	}
	return strings.Join(parts[:n], "/"), parts[n:]
}

func allowed(methods []string, m string) bool {
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

// principal is the authenticated caller; anonymous callers and credentials
// that did not verify are ErrUnauthenticated (bk-repo never serves
// anonymous requests).
func (a *api) principal(r *http.Request) (auth.Principal, error) {
	p, err := auth.FromContext(r.Context())
	if err == nil && !p.Authenticated() {
		err = auth.ErrUnauthenticated
	}
	return p, err
}

// authorize is the one authorization step of every project route.
func (a *api) authorize(r *http.Request, project, action string) (int64, error) {
	p, err := a.principal(r)
	if err != nil {
		return 0, err
	}
	proj, err := a.auth.Check(r.Context(), p, project, action)
	return proj.ID, err
}

// audit logs a change with who made it (the acting user of an app
// credential when X-BKREPO-UID names one).
func (a *api) audit(r *http.Request, what string, attrs ...any) {
	p, _ := a.principal(r)
	attrs = append([]any{"request_id", requestID(r), "user", p.DisplayName()}, attrs...)
	a.log.InfoContext(r.Context(), what, attrs...)
}

// addr: GET /docker/ext/addr — the public registry host.
func (a *api) addr(w http.ResponseWriter, r *http.Request, _ []string) error {
	ok(w, r, a.host(r))
	return nil
}
