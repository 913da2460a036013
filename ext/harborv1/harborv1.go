// Package harborv1 serves the Harbor 0.4.x API subset of seed 001 (part 2)
// over berth's domain service: projects, repositories, tags, manifests and
// deletes, at /api/... as Harbor does and at the bare paths the seed writes
// (/projects, /repositories, ...). It holds only routes, request parsing,
// Harbor's JSON shapes and pagination headers, and one error table; every
// read and change goes through the domain after the dialect kit's one
// authorization step.
//
// Harbor names a repository by its full name "project/path" (repo_name)
// and a project by its integer id (project_id).
package harborv1

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/observe"
)

// Prefixes the routes are served under: Harbor's own, and the seed's bare
// paths.
var prefixes = []string{"/api", ""}

// api is the dialect.
type api struct {
	*dialect.API[int]
}

// Mount adds the dialect to r. Only these exact paths are the dialect's,
// so nothing else on the router (distribution's /v2/, /api/berth/v1,
// other dialects' prefixes) is shadowed. Anonymous callers are served
// (public projects); credentials that do not verify are 401.
func Mount(r *mux.Router, core dialect.Core) {
	a := &api{}
	a.API = &dialect.API[int]{Core: core, Name: "harborv1", Routes: a.routes(), Errors: errorTable,
		Envelope: a.envelope, Anonymous: true}
	a.Mount(r)
}

// routes is the dialect's one route table. The seed calls the tag and
// manifest reads with POST, so they accept it; POST /repositories is a
// delete only with method=DELETE (the seed's form), see postRepositories.
func (a *api) routes() []dialect.Route {
	const get, head, post, del = http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete
	// A delete names a tag (TagDelete, set by the handler) or the
	// whole repository.
	deleteOp := dialect.Op{Serve: a.deleteRepository, Action: observe.RepositoryDelete}
	postOp := dialect.Op{Serve: a.postRepositories, Action: observe.RepositoryDelete}
	var out []dialect.Route
	for _, prefix := range prefixes {
		out = append(out,
			dialect.Route{Path: prefix + "/projects", Methods: map[string]dialect.Op{get: {Serve: a.listProjects}, head: {Serve: a.listProjects}}},
			dialect.Route{Path: prefix + "/repositories", Methods: map[string]dialect.Op{get: {Serve: a.listRepositories},
				head: {Serve: a.listRepositories}, del: deleteOp, post: postOp}},
			dialect.Route{Path: prefix + "/repositories/tags", Methods: map[string]dialect.Op{get: {Serve: a.listTags},
				head: {Serve: a.listTags}, post: {Serve: a.listTags}}},
			dialect.Route{Path: prefix + "/repositories/manifests", Methods: map[string]dialect.Op{get: {Serve: a.manifest},
				head: {Serve: a.manifest}, post: {Serve: a.manifest}}},
		)
	}
	return out
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
	dialect.Subject(r).Project = project
	_, err := a.Authorize(r, project, action)
	return err
}
