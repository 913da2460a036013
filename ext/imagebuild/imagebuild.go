// Package imagebuild serves the image market's packaging API (seed 001,
// part 1): build projects (definitions), builds and their history, the
// plugin extension interface and the project configuration page, in the
// {code, errMsg, content} envelope. It only routes, parses, shapes answers
// and maps errors; registry/builder does the work and auth.Service the
// checks.
package imagebuild

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/registry/domain"
)

// handler serves every image market route.
type handler struct {
	auth       *auth.Service
	dom        *domain.Service
	b          *builder.Service
	publicHost func(*http.Request) string
	log        *slog.Logger
}

type route struct {
	path    string
	op      string
	methods []string
	serve   func(h *handler, w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error
}

var (
	read   = []string{http.MethodGet, http.MethodPost}
	change = []string{http.MethodPost}
)

// routes is the dialect's one route table. Reads answer GET and POST as
// the seed shows both; changes are POST only.
var routes = []route{
	{"/api/project/new", "new", change, (*handler).create},
	{"/api/project/delete", "delete", change, (*handler).remove},
	{"/api/project/clone", "clone", change, (*handler).clone},
	{"/api/project/info", "info", read, (*handler).info},
	{"/api/project/list", "list", read, (*handler).list},
	{"/api/project/save", "save", change, (*handler).save},
	{"/api/project/build", "build", change, (*handler).build},
	{"/api/project/buildHistory", "buildHistory", read, (*handler).history},
	{"/api/project/file", "file", []string{http.MethodGet, http.MethodPost, http.MethodDelete}, (*handler).file},
	{"/api/plugin/extension/interface", "plugin", read, (*handler).plugin},
	{"/view/config/independent", "view", []string{http.MethodGet}, (*handler).view},
}

// Mount adds the image market's routes to r.
func Mount(r *mux.Router, a *auth.Service, dom *domain.Service, b *builder.Service, publicHost func(*http.Request) string) {
	h := &handler{auth: a, dom: dom, b: b, publicHost: publicHost, log: slog.Default().With("dialect", "imagebuild")}
	for _, rt := range routes {
		r.Path(rt.path).Handler(a.Middleware(h.dispatch(rt)))
	}
}

// dispatch checks method, origin and credentials, parses parameters and
// runs the route.
func (h *handler) dispatch(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed := false
		for _, m := range rt.methods {
			allowed = allowed || m == r.Method
		}
		if !allowed {
			h.fail(w, r, rt.op, fmt.Errorf("%w: %s", errMethod, r.Method))
			return
		}
		if err := sameOrigin(r); err != nil {
			h.fail(w, r, rt.op, err)
			return
		}
		who, err := auth.FromContext(r.Context())
		if err == nil && !who.Authenticated() {
			err = auth.ErrUnauthenticated
		}
		if err != nil {
			h.fail(w, r, rt.op, err)
			return
		}
		p, err := parseParams(w, r)
		if err != nil {
			h.fail(w, r, rt.op, err)
			return
		}
		if err := rt.serve(h, w, r, p, who); err != nil {
			h.fail(w, r, rt.op, err)
		}
	})
}

// sameOrigin refuses requests a browser sends from another site: browsers
// replay cached Basic credentials, so a foreign page must not be able to
// save or build.
func sameOrigin(r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return errOrigin
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return errOrigin
		}
	}
	return nil
}

// authorize checks action on a Cluster (a registry project).
func (h *handler) authorize(ctx context.Context, who auth.Principal, cluster, action string) error {
	_, err := h.auth.Check(ctx, who, cluster, action)
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
