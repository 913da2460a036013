// Package console serves berth's web console at /console/: server-rendered
// pages (html/template, embedded with the CSS and a little plain
// JavaScript, no toolchain) to browse projects, repositories, tags and
// artifacts, and to manage projects, members, robot accounts, users and
// quotas.
//
// It is an API of the dialect kit like the others: one route table, the
// kit's dispatch, authorization through the same auth.Check the
// management API calls (a private project the user may not see is a 404
// exactly like a missing one), and the kit's audit event for every change.
// What differs is how a caller proves who they are: a session cookie
// (Identify) from logging in with a user's password through auth.Login, so
// login throttling is the identity layer's. Sessions live in the metadata
// database (every replica reads them). Every form carries the session's
// CSRF token, and the kit refuses changes a browser sends from another
// site (SameOrigin).
package console

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/gc"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/registry/retention"
)

// Prefix is where the console lives.
const Prefix = "/console"

// maxForm bounds a form body.
const maxForm = 64 << 10

// Services are the core's services whose state the console shows.
type Services struct {
	GC        *gc.Collector
	Retention *retention.Runner
}

type console struct {
	*dialect.API[string]
	gc        *gc.Collector
	retention *retention.Runner
}

// Mount adds the console to r, and sends browsers that open berth's root
// there (a GET of / that accepts HTML; nothing else of / changes).
func Mount(r *mux.Router, core dialect.Core, svc Services) {
	c := &console{gc: svc.GC, retention: svc.Retention}
	c.API = &dialect.API[string]{Core: core, Name: "console", Prefix: Prefix, OwnPrefix: true, Routes: c.routes(),
		Errors: errorTable, Envelope: c.errorPage, Anonymous: true, SameOrigin: true, Identify: c.identify, MaxBody: maxForm}
	c.Mount(r)
	r.Methods(http.MethodGet, http.MethodHead).Path("/").MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
		return strings.Contains(req.Header.Get("Accept"), "text/html")
	}).Handler(http.RedirectHandler(Prefix+"/", http.StatusFound))
}

// routes is the console's one route table. A repository's pages follow
// its name and "/-/" (no repository path component is "-").
func (c *console) routes() []dialect.Route {
	const get, post = http.MethodGet, http.MethodPost
	page := func(h dialect.Handler) map[string]dialect.Op { return map[string]dialect.Op{get: {Serve: h}} }
	return []dialect.Route{
		{Path: "/", Methods: page(c.projects)},
		{Path: "/static/{file}", Methods: page(c.static)},
		{Path: "/login", Methods: map[string]dialect.Op{get: {Serve: c.loginPage}, post: {Serve: c.login}}},
		{Path: "/logout", Methods: map[string]dialect.Op{post: {Serve: c.form(c.logout)}}},
		{Path: "/projects", Methods: map[string]dialect.Op{post: {Serve: c.form(c.createProject), Action: observe.ProjectCreate}}},
		{Path: "/projects/{project}", Methods: page(c.repositories)},
		{Path: "/projects/{project}/charts", Methods: page(c.charts)},
		{Path: "/projects/{project}/settings", Methods: map[string]dialect.Op{get: {Serve: c.settings},
			post: {Serve: c.form(c.updateProject), Action: observe.ProjectUpdate}}},
		{Path: "/projects/{project}/delete", Methods: map[string]dialect.Op{get: {Serve: c.confirmDeleteProject},
			post: {Serve: c.form(c.deleteProject), Action: observe.ProjectDelete}}},
		{Path: "/projects/{project}/members", Methods: map[string]dialect.Op{post: {Serve: c.form(c.setMember), Action: observe.MemberSet}}},
		{Path: "/projects/{project}/members/{user}/delete", Methods: map[string]dialect.Op{post: {Serve: c.form(c.removeMember), Action: observe.MemberRemove}}},
		{Path: "/repositories/{repo...}/-/artifacts/{ref}", Methods: page(c.artifact)},
		{Path: "/repositories/{repo...}/-/artifacts/{ref}/delete", Methods: map[string]dialect.Op{get: {Serve: c.confirmDeleteArtifact},
			post: {Serve: c.form(c.deleteArtifact), Action: observe.ArtifactDelete}}},
		{Path: "/repositories/{repo...}/-/tags/{tag}/delete", Methods: map[string]dialect.Op{get: {Serve: c.confirmDeleteTag},
			post: {Serve: c.form(c.deleteTag), Action: observe.TagDelete}}},
		{Path: "/repositories/{repo...}", Methods: page(c.tags)},
		{Path: "/robots", Methods: map[string]dialect.Op{get: {Serve: c.robotsPage}, post: {Serve: c.form(c.createRobot), Action: observe.RobotCreate}}},
		{Path: "/users", Methods: map[string]dialect.Op{get: {Serve: c.usersPage}, post: {Serve: c.form(c.createUser), Action: observe.UserCreate}}},
		{Path: "/account", Methods: map[string]dialect.Op{get: {Serve: c.accountPage}, post: {Serve: c.form(c.changePassword), Action: observe.CredentialReset}}},
		{Path: "/system", Methods: page(c.system)},
	}
}

// errorTable is the console's one error table; its codes are what the
// error page titles.
var errorTable = dialect.NewTable(
	dialect.Faults("Unavailable", "Storage full"),
	dialect.Unauthenticated("Login required", ""),
	dialect.Rows(http.StatusForbidden, "Form expired", errBadCSRF),
	dialect.Denied("Not allowed"),
	dialect.NotFound("Not found", "not found", retention.ErrNoPolicy),
	dialect.Invalid("Invalid"),
	dialect.Method("Method not allowed"),
	dialect.Rows(http.StatusConflict, "Already exists", domain.ErrAlreadyExists),
	dialect.Rows(http.StatusConflict, "Not empty", domain.ErrNotEmpty),
	dialect.Rows(http.StatusConflict, "Referenced", domain.ErrReferenced),
	dialect.Rows(http.StatusConflict, "Busy", retention.ErrBusy),
	dialect.Internal(http.StatusInternalServerError, "Internal error", ""),
)

// form wraps a handler of a form post: the body is parsed (at most
// maxForm) and must carry the session's CSRF token.
func (c *console) form(h dialect.Handler) dialect.Handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return domain.Errorf(dialect.ErrBadBody, "the form could not be read: %v", err)
		}
		ses, ok := sessionOf(r)
		if !ok {
			return auth.ErrUnauthenticated
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(ses.CSRF)) != 1 {
			return errBadCSRF
		}
		return h(w, r)
	}
}

// user is the caller, who must have logged in.
func user(r *http.Request) (auth.Principal, error) {
	p := dialect.Caller(r)
	if !p.Authenticated() {
		return p, auth.ErrUnauthenticated
	}
	return p, nil
}
