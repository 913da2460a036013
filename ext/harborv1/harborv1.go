// Package harborv1 serves the Harbor 0.4.x API subset of seed 001 (part 2)
// over berth's domain service: projects, repositories, tags, manifests and
// deletes, at /api/... as Harbor does and at the bare paths the seed writes
// (/projects, /repositories, ...). It holds only routes, request parsing,
// Harbor's JSON shapes and pagination headers, and one error table; every
// read and change goes through domain.Service after auth.Service.Check.
//
// Harbor names a repository by its full name "project/path" (repo_name)
// and a project by its integer id (project_id).
package harborv1

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/methods"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// Prefixes the routes are served under: Harbor's own, and the seed's bare
// paths.
var prefixes = []string{"/api", ""}

// api is the dialect's state: the core services it calls.
type api struct {
	auth *auth.Service
	dom  *domain.Service
	log  *slog.Logger
}

// handler serves one route and method.
type handler func(a *api, w http.ResponseWriter, r *http.Request) error

// routes is the dialect's one route table: path (after the prefix) →
// method → handler. The seed calls the tag and manifest reads with POST, so
// they accept it; POST /repositories is a delete only with method=DELETE
// (the seed's form), see postRepositories.
var routes = map[string]map[string]handler{
	"/projects": {
		http.MethodGet:  (*api).listProjects,
		http.MethodHead: (*api).listProjects,
	},
	"/repositories": {
		http.MethodGet:    (*api).listRepositories,
		http.MethodHead:   (*api).listRepositories,
		http.MethodDelete: (*api).deleteRepository,
		http.MethodPost:   (*api).postRepositories,
	},
	"/repositories/tags": {
		http.MethodGet:  (*api).listTags,
		http.MethodHead: (*api).listTags,
		http.MethodPost: (*api).listTags,
	},
	"/repositories/manifests": {
		http.MethodGet:  (*api).manifest,
		http.MethodHead: (*api).manifest,
		http.MethodPost: (*api).manifest,
	},
}

// Mount adds the dialect to r. Only these exact paths are registered, so
// nothing else on the router (distribution's /v2/, /api/berth/v1, other
// dialects' prefixes) is shadowed.
func Mount(r *mux.Router, authSvc *auth.Service, dom *domain.Service) {
	a := &api{auth: authSvc, dom: dom, log: slog.Default().With("dialect", "harborv1")}
	for _, prefix := range prefixes {
		for path, methods := range routes {
			r.Path(prefix + path).Handler(authSvc.Middleware(a.dispatch(methods)))
		}
	}
}

// dispatch picks the method's handler (405 otherwise), refuses credentials
// that do not verify (401, even where anonymous callers are welcome), then
// serves the route and writes any error through the table.
func (a *api) dispatch(byMethod map[string]handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn := byMethod[r.Method]
		if fn == nil {
			w.Header().Set("Allow", methods.Allow(byMethod))
			a.fail(w, r, errMethod)
			return
		}
		if _, err := auth.FromContext(r.Context()); err != nil {
			a.fail(w, r, err) // credentials presented but wrong, or unverifiable now
			return
		}
		if err := fn(a, w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// principal is the caller: a verified user or app credential, or Anonymous.
func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

// hidden is what a caller learns about a project it may not see (or that
// does not exist): anonymous callers are asked to authenticate, others get
// not found, exactly as auth.Check answers.
func hidden(p auth.Principal) error {
	if !p.Authenticated() {
		return auth.ErrUnauthenticated
	}
	return auth.ErrNotFound
}

// authorize checks action on the project of the repository full.
func (a *api) authorize(r *http.Request, full, action string) error {
	project, _, _ := strings.Cut(full, "/")
	_, err := a.auth.Check(r.Context(), principal(r), project, action)
	return err
}

// audit logs a change with who made it.
func (a *api) audit(r *http.Request, what string, attrs ...any) {
	attrs = append([]any{"request_id", observe.RequestID(r.Context()), "user", principal(r).DisplayName()}, attrs...)
	a.log.InfoContext(r.Context(), what, attrs...)
}
