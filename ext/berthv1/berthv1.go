// Package berthv1 serves berth's own management API, /api/berth/v1:
// projects, their members, users and application credentials (robots),
// garbage collection, retention policies and immutable tags, in plain JSON with {"error":{"code","message"}} for failures. It is a
// dialect like the others, over the dialect kit: routes, parsing, shapes
// and one error table; the identity layer and the domain do the work.
package berthv1

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/events"
	"github.com/berth-registry/berth/registry/gc"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/registry/proxy"
	"github.com/berth-registry/berth/registry/retention"
)

// Prefix is where the API lives.
const Prefix = "/api/berth/v1"

// maxBody bounds a request body.
const maxBody = 64 << 10

// api serves the management API.
type api struct {
	*dialect.API[string]
	gc        *gc.Collector
	retention *retention.Runner
	events    *events.Service
	proxy     *proxy.Service
}

// Services are the core's services this API runs beside the domain.
type Services struct {
	GC        *gc.Collector
	Retention *retention.Runner
	Events    *events.Service // webhooks and the audit log
	Proxy     *proxy.Service  // nil: no /proxies routes
}

// Mount adds the management API to r. Every route identifies the caller;
// project routes authorize the action on the project, user and garbage
// collection routes need a system administrator (or the user, for a
// credential reset).
func Mount(r *mux.Router, core dialect.Core, svc Services) {
	a := &api{gc: svc.GC, retention: svc.Retention, events: svc.Events, proxy: svc.Proxy}
	a.API = &dialect.API[string]{Core: core, Name: "berthv1", Prefix: Prefix, OwnPrefix: true, Routes: a.routes(),
		Errors: errorTable, Envelope: a.envelope, Anonymous: true, MaxBody: maxBody,
		Header: http.Header{"Content-Type": {"application/json"}}}
	a.Mount(r)
}

// routes is the API's one route table.
func (a *api) routes() []dialect.Route {
	const get, put, post, del = http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete
	return append([]dialect.Route{
		{Path: "/projects", Methods: map[string]dialect.Op{get: {Serve: a.listProjects},
			post: {Serve: a.createProject, Action: observe.ProjectCreate}}},
		{Path: "/projects/{project}", Methods: map[string]dialect.Op{get: {Serve: a.getProject},
			put: {Serve: a.updateProject, Action: observe.ProjectUpdate}, del: {Serve: a.deleteProject, Action: observe.ProjectDelete}}},
		{Path: "/projects/{project}/members", Methods: map[string]dialect.Op{get: {Serve: a.listMembers}}},
		{Path: "/projects/{project}/members/{user}", Methods: map[string]dialect.Op{put: {Serve: a.setMember, Action: observe.MemberSet},
			del: {Serve: a.removeMember, Action: observe.MemberRemove}}},
		{Path: "/users", Methods: map[string]dialect.Op{get: {Serve: a.listUsers}, post: {Serve: a.createUser, Action: observe.UserCreate}}},
		{Path: "/users/{user}/password", Methods: map[string]dialect.Op{put: {Serve: a.resetPassword, Action: observe.CredentialReset}}},
		{Path: "/robots", Methods: map[string]dialect.Op{post: {Serve: a.createRobot, Action: observe.RobotCreate}}},
		{Path: "/gc", Methods: map[string]dialect.Op{get: {Serve: a.gcRuns}, post: {Serve: a.runGC, Action: observe.GCRun}}},
		{Path: "/projects/{project}/retention", Methods: map[string]dialect.Op{get: {Serve: a.getPolicy},
			put: {Serve: a.putPolicy, Action: observe.RetentionPolicySet}, del: {Serve: a.deletePolicy, Action: observe.RetentionPolicyDel}}},
		{Path: "/projects/{project}/retention/runs", Methods: map[string]dialect.Op{get: {Serve: a.retentionRuns},
			post: {Serve: a.runRetention, Action: observe.RetentionRun}}},
		{Path: "/projects/{project}/retention/runs/{id}", Methods: map[string]dialect.Op{get: {Serve: a.retentionRun}}},
		{Path: "/projects/{project}/immutability", Methods: map[string]dialect.Op{get: {Serve: a.listImmutable},
			post: {Serve: a.createImmutable, Action: observe.ImmutableRuleAdd}}},
		{Path: "/projects/{project}/immutability/{id}", Methods: map[string]dialect.Op{del: {Serve: a.deleteImmutable, Action: observe.ImmutableRuleDel}}},
		{Path: "/proxies", Methods: map[string]dialect.Op{get: {Serve: a.listProxies}, post: {Serve: a.createProxy, Action: observe.ProxySet}}},
		{Path: "/proxies/{project}", Methods: map[string]dialect.Op{get: {Serve: a.getProxy},
			put: {Serve: a.updateProxy, Action: observe.ProxySet}, del: {Serve: a.deleteProxy, Action: observe.ProxyDelete}}},
		{Path: "/proxies/{project}/ping", Methods: map[string]dialect.Op{post: {Serve: a.pingProxy}}},
		{Path: "/proxies/{project}/evict", Methods: map[string]dialect.Op{post: {Serve: a.evictProxy, Action: observe.ProxyEvict}}},
	}, a.eventRoutes()...)
}

// errorTable is the one error table of this API.
var errorTable = dialect.NewTable(
	dialect.Faults("UNAVAILABLE", "INSUFFICIENT_STORAGE"),
	dialect.Unauthenticated("UNAUTHORIZED", ""),
	dialect.Denied("DENIED"),
	dialect.NotFound("NOT_FOUND", "not found", retention.ErrNoPolicy), // a hidden project reads exactly like a missing one
	dialect.Invalid("INVALID"),
	dialect.Method("METHOD_NOT_ALLOWED"),
	dialect.Rows(http.StatusConflict, "ALREADY_EXISTS", domain.ErrAlreadyExists),
	dialect.Rows(http.StatusConflict, "NOT_EMPTY", domain.ErrNotEmpty),
	dialect.Rows(http.StatusConflict, "CONFLICT", retention.ErrBusy, proxy.ErrEvictBusy),
	dialect.Internal(http.StatusInternalServerError, "INTERNAL", ""),
)

// envelope writes a failure as {"error":{"code","message"}}.
func (a *api) envelope(w http.ResponseWriter, _ *http.Request, f dialect.Failure[string]) {
	a.JSON(w, f.Status, map[string]any{"error": map[string]string{"code": f.Code, "message": f.Message}})
}

// project authorizes action on the route's {project} and returns it.
func (a *api) project(r *http.Request, action string) (domain.Project, error) {
	name := dialect.Var(r, "project")
	dialect.Subject(r).Project = name
	return a.Authorize(r, name, action)
}
