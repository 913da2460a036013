// Package imagebuild serves the image market's packaging API (seed 001,
// part 1): build projects (definitions), builds and their history, the
// plugin extension interface and the project configuration page, in the
// {code, errMsg, content} envelope. It only routes, parses, shapes answers
// and maps errors; registry/builder does the work and auth.Service the
// checks.
package imagebuild

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/registry/observe"
)

// handler serves every image market route.
type handler struct {
	*dialect.API[int]
	b *builder.Service
}

// serveFunc serves one route with the request's parameters (query, form
// or JSON body, merged) and the caller.
type serveFunc func(h *handler, w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error

// op decodes a route's parameters before it serves (the kit's decode step
// for a dialect whose parameters are not in the path).
func (h *handler) op(fn serveFunc, action string) dialect.Op {
	return dialect.Op{Action: action, Serve: func(w http.ResponseWriter, r *http.Request) error {
		p, err := parseParams(w, r)
		if err != nil {
			return err
		}
		return fn(h, w, r, p, dialect.Caller(r))
	}}
}

// routes is the dialect's one route table, each route named for the
// error rows that are its own. Reads answer GET and POST as the seed
// shows both; changes are POST only.
func (h *handler) routes() []dialect.Route {
	const get, post, del = http.MethodGet, http.MethodPost, http.MethodDelete
	read := func(fn serveFunc) map[string]dialect.Op {
		return map[string]dialect.Op{get: h.op(fn, ""), post: h.op(fn, "")}
	}
	change := func(fn serveFunc, action string) map[string]dialect.Op {
		return map[string]dialect.Op{post: h.op(fn, action)}
	}
	return []dialect.Route{
		{Path: "/api/project/new", Name: "new", Methods: change((*handler).create, observe.BuildProjectCreate)},
		{Path: "/api/project/delete", Name: "delete", Methods: change((*handler).remove, observe.BuildProjectDelete)},
		{Path: "/api/project/clone", Name: "clone", Methods: change((*handler).clone, observe.BuildProjectClone)},
		{Path: "/api/project/info", Name: "info", Methods: read((*handler).info)},
		{Path: "/api/project/list", Name: "list", Methods: read((*handler).list)},
		{Path: "/api/project/save", Name: "save", Methods: change((*handler).save, observe.BuildProjectSave)},
		{Path: "/api/project/build", Name: "build", Methods: change((*handler).build, observe.BuildStart)},
		{Path: "/api/project/buildHistory", Name: "buildHistory", Methods: read((*handler).history)},
		{Path: "/api/project/file", Name: "file", Methods: map[string]dialect.Op{get: h.op((*handler).listFiles, ""),
			post: h.op((*handler).upload, observe.BuildFileUpload), del: h.op((*handler).deleteFile, observe.BuildFileDelete)}},
		{Path: "/api/plugin/extension/interface", Name: "plugin", Methods: read((*handler).plugin)},
		{Path: "/view/config/independent", Name: "view", Methods: map[string]dialect.Op{get: h.op((*handler).view, "")}},
	}
}

// Mount adds the image market's routes to r. A browser's cross-site
// change is refused: browsers replay cached Basic credentials, so a
// foreign page must not be able to save or build.
func Mount(r *mux.Router, core dialect.Core, b *builder.Service) {
	h := &handler{b: b}
	h.API = &dialect.API[int]{Core: core, Name: "imagebuild", Routes: h.routes(), Errors: errorTable(), Envelope: h.envelope,
		SameOrigin: true, Header: http.Header{"Content-Type": {"application/json;charset=utf-8"}, "Cache-Control": {"no-store"}}}
	h.Mount(r)
}

// authorize checks action on a Cluster (a registry project).
func (h *handler) authorize(r *http.Request, cluster, action string) error {
	dialect.Subject(r).Project = cluster
	_, err := h.Authorize(r, cluster, action)
	return err
}

// operator is the builder's view of the caller. The seed's operator
// parameter is not trusted: who acts is who authenticated.
func operator(who auth.Principal) builder.Operator {
	return builder.Operator{Name: who.DisplayName(), Identity: who}
}

// Tokens lets builds push as the user who started them (builder.Credentials).
type Tokens struct {
	Auth *auth.Service
	TTL  time.Duration
}

// RegistryToken mints a token with the operator's own rights.
func (t Tokens) RegistryToken(ctx context.Context, op builder.Operator, pull, push []string) (string, error) {
	who, ok := op.Identity.(auth.Principal)
	if !ok {
		return "", auth.ErrUnauthenticated
	}
	return t.Auth.IssueToken(ctx, who, pull, push, t.TTL)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.DateTime)
}
