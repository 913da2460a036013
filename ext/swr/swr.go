// Package swr serves the Huawei SWR "manage" API dialect: namespaces
// (berth projects), repositories and tags under /v2/manage/, in SWR's
// shapes: JSON arrays with a Content-Range header for lists and
// {"error_code","error_msg"} for errors. It only routes, parses, shapes
// answers and maps errors; the domain service and the auth service do the
// work and the checks.
package swr

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// Prefix is where the dialect lives, ahead of distribution's /v2/.
const Prefix = "/v2/manage"

// handler serves every SWR route.
type handler struct {
	*dialect.API[string]
}

// Mount adds the SWR routes to r, and X-Auth-Token to every route. Only
// exact /v2/manage/... paths are the dialect's, so every other request
// (an OCI repository named manage/..., say) still reaches distribution.
func Mount(r *mux.Router, core dialect.Core) {
	h := &handler{}
	h.API = &dialect.API[string]{Core: core, Name: "swr", Prefix: Prefix, Routes: h.routes(), Errors: errorTable,
		Envelope: h.envelope, StrictJSON: true, MaxBody: maxBody, Header: http.Header{"Content-Type": {"application/json;charset=utf-8"}}}
	core.Auth.AddScheme(TokenScheme)
	h.Mount(r)
}

// routes is the dialect's one route table.
func (h *handler) routes() []dialect.Route {
	const (
		get, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
		ns                    = "/namespaces/{namespace}"
		repo                  = ns + "/repos/{repository}"
	)
	return []dialect.Route{
		{Path: "/namespaces", Methods: map[string]dialect.Op{get: {Serve: h.listNamespaces},
			post: {Serve: h.createNamespace, Action: observe.ProjectCreate}}},
		{Path: ns, Methods: map[string]dialect.Op{get: {Serve: h.getNamespace}, del: {Serve: h.deleteNamespace, Action: observe.ProjectDelete}}},
		{Path: ns + "/repos", Methods: map[string]dialect.Op{get: {Serve: h.listRepos}, post: {Serve: h.createRepo, Action: observe.RepositoryCreate}}},
		{Path: "/repos", Methods: map[string]dialect.Op{get: {Serve: h.listAllRepos}}},
		{Path: repo, Methods: map[string]dialect.Op{get: {Serve: h.getRepo}, patch: {Serve: h.updateRepo, Action: observe.RepositoryUpdate},
			del: {Serve: h.deleteRepo, Action: observe.RepositoryDelete}}},
		{Path: repo + "/tags", Methods: map[string]dialect.Op{get: {Serve: h.listTags}}},
		// GET .../tags/list is an OCI tag list of a repository named
		// manage/namespaces/<ns>/repos/<repo>: only DELETE is ours.
		{Path: repo + "/tags/{tag}", FallThrough: true, Methods: map[string]dialect.Op{del: {Serve: h.deleteTag, Action: observe.TagDelete}}},
	}
}

// TokenScheme is SWR's X-Auth-Token: a berth token (from /service/token)
// in a header of its own. Every route accepts it once SWR is mounted.
var TokenScheme = auth.Scheme{Header: "X-Auth-Token", Read: func(_ *http.Request, v string) (auth.Credentials, error) {
	return auth.Credentials{Token: v}, nil
}}

// namespaceVar returns the validated {namespace} of the path.
func namespaceVar(r *http.Request) (string, error) {
	ns := dialect.Var(r, "namespace")
	if err := domain.ValidateProjectName(ns); err != nil {
		return "", err
	}
	dialect.Subject(r).Project = ns
	return ns, nil
}

// repoVars returns the namespace, the repository as SWR names it (with '/'
// for '$') and the full OCI name <namespace>/<repository>.
func repoVars(r *http.Request) (ns, repo, full string, err error) {
	if ns, err = namespaceVar(r); err != nil {
		return "", "", "", err
	}
	repo = strings.ReplaceAll(dialect.Var(r, "repository"), "$", "/")
	full = ns + "/" + repo
	if err := domain.ValidateRepositoryName(full); err != nil {
		return "", "", "", err
	}
	dialect.Subject(r).Repository = full
	return ns, repo, full, nil
}

// repository authorizes action on the path's namespace and resolves the
// path's repository once.
func (h *handler) repository(r *http.Request, action string) (domain.Project, *domain.Repo, error) {
	ns, _, full, err := repoVars(r)
	if err != nil {
		return domain.Project{}, nil, err
	}
	proj, err := h.Authorize(r, ns, action)
	if err != nil {
		return proj, nil, err
	}
	repo, err := h.Dom.Repository(r.Context(), full)
	return proj, repo, err
}
