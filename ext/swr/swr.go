// Package swr serves the Huawei SWR "manage" API dialect: namespaces
// (berth projects), repositories and tags under /v2/manage/, in SWR's
// shapes: JSON arrays with a Content-Range header for lists and
// {"error_code","error_msg"} for errors. It only routes, parses, shapes
// answers and maps errors; the domain service and the auth service do the
// work and the checks.
package swr

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/methods"
	"github.com/berth-registry/berth/registry/domain"
)

// Prefix is where the dialect lives, ahead of distribution's /v2/.
const Prefix = "/v2/manage"

// handler serves every SWR route.
type handler struct {
	auth       *auth.Service
	dom        *domain.Service
	publicHost func(*http.Request) string
	log        *slog.Logger
}

// Mount adds the SWR routes to r. Only exact /v2/manage/... paths are
// registered and methods are matched without mux's 405, so every other
// request (an OCI repository named manage/..., say) still falls through
// to distribution.
func Mount(r *mux.Router, a *auth.Service, dom *domain.Service, publicHost func(*http.Request) string) {
	h := &handler{auth: a, dom: dom, publicHost: publicHost, log: slog.Default().With("dialect", "swr")}
	a.AddScheme(TokenScheme)
	ns := Prefix + "/namespaces/{namespace}"
	repo := ns + "/repos/{repository}"
	routes := []struct {
		path    string
		methods map[string]http.HandlerFunc
		// exclusive paths can never be OCI paths: other methods get an
		// SWR 405 instead of falling through.
		exclusive bool
	}{
		{Prefix + "/namespaces", map[string]http.HandlerFunc{http.MethodGet: h.listNamespaces, http.MethodPost: h.createNamespace}, true},
		{ns, map[string]http.HandlerFunc{http.MethodGet: h.getNamespace, http.MethodDelete: h.deleteNamespace}, true},
		{ns + "/repos", map[string]http.HandlerFunc{http.MethodGet: h.listRepos, http.MethodPost: h.createRepo}, true},
		{Prefix + "/repos", map[string]http.HandlerFunc{http.MethodGet: h.listAllRepos}, true},
		{repo, map[string]http.HandlerFunc{http.MethodGet: h.getRepo, http.MethodPatch: h.updateRepo, http.MethodDelete: h.deleteRepo}, true},
		{repo + "/tags", map[string]http.HandlerFunc{http.MethodGet: h.listTags}, true},
		// GET .../tags/list is an OCI tag list of a repository named
		// manage/namespaces/<ns>/repos/<repo>: only DELETE is ours.
		{repo + "/tags/{tag}", map[string]http.HandlerFunc{http.MethodDelete: h.deleteTag}, false},
	}
	for _, rt := range routes {
		methods := rt.methods
		if rt.exclusive {
			r.Path(rt.path).Handler(a.Middleware(h.dispatch(methods)))
			continue
		}
		r.Path(rt.path).MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
			return methods[req.Method] != nil
		}).Handler(a.Middleware(h.dispatch(methods)))
	}
}

// TokenScheme is SWR's X-Auth-Token: a berth token (from /service/token)
// in a header of its own. Every route accepts it once SWR is mounted.
var TokenScheme = auth.Scheme{Header: "X-Auth-Token", Read: func(_ *http.Request, v string) (auth.Credentials, error) {
	return auth.Credentials{Token: v}, nil
}}

// dispatch picks the handler for the method, answering 405 in SWR's shape.
func (h *handler) dispatch(byMethod map[string]http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn := byMethod[r.Method]
		if fn == nil {
			w.Header().Set("Allow", methods.Allow(byMethod))
			h.fail(w, r, errMethod)
			return
		}
		if _, err := h.principal(r); err != nil {
			h.fail(w, r, err)
			return
		}
		fn(w, r)
	})
}

// principal returns the caller. The SWR API always needs credentials: no
// credentials or credentials that do not verify are 401.
func (h *handler) principal(r *http.Request) (auth.Principal, error) {
	p, err := auth.FromContext(r.Context())
	if err == nil && !p.Authenticated() {
		err = auth.ErrUnauthenticated
	}
	return p, err
}

// namespaceVar returns the validated {namespace} of the path.
func namespaceVar(r *http.Request) (string, error) {
	ns, err := url.PathUnescape(mux.Vars(r)["namespace"])
	if err != nil {
		return "", badParam("namespace is not a valid path segment")
	}
	if err := domain.ValidateProjectName(ns); err != nil {
		return "", err
	}
	return ns, nil
}

// repoVars returns the namespace, the repository as SWR names it (with '/'
// for '$') and the full OCI name <namespace>/<repository>.
func repoVars(r *http.Request) (ns, repo, full string, err error) {
	if ns, err = namespaceVar(r); err != nil {
		return "", "", "", err
	}
	repo, err = url.PathUnescape(mux.Vars(r)["repository"])
	if err != nil {
		return "", "", "", badParam("repository is not a valid path segment")
	}
	repo = strings.ReplaceAll(repo, "$", "/")
	full = ns + "/" + repo
	if err := domain.ValidateRepositoryName(full); err != nil {
		return "", "", "", err
	}
	return ns, repo, full, nil
}

// authorize identifies the caller and checks action on the namespace.
func (h *handler) authorize(r *http.Request, ns, action string) (auth.Principal, error) {
	p, err := h.principal(r)
	if err != nil {
		return p, err
	}
	_, err = h.auth.Check(r.Context(), p, ns, action)
	return p, err
}
