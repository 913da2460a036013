// Package dialect is the one way to write a management API over berth's
// core: a route table, one dispatch order, one authorization step, one
// audit event, and one error table per dialect with one Fail that answers
// in the dialect's own envelope. Every dialect (ext/ccr, ext/bkrepo,
// ext/swr, ext/harborv1, ext/imagebuild), the chart repository's API and
// berth's own management API (ext/berthv1) are an API of this package;
// what is left in each is its routes, its request parsing, its answer
// shapes and its error table.
//
// A request goes through ServeHTTP in this order, the same for every
// dialect (see dispatch.go):
//
//  1. route: no route matches the path: ErrNoRoute (404), or, where the
//     dialect does not own its prefix, the next route of berth's router;
//  2. credentials: they did not verify (401), could not be checked (503),
//     or there are none where the dialect serves no anonymous caller
//     (401);
//  3. method: the route does not serve it: ErrMethod (405) with Allow;
//  4. guard: a change a browser sends from another site (every
//     dialect refuses them);
//  5. decode: the path variables, with the dialect's segment rules;
//  6. the handler, whose error goes through Fail; a change is audited.
//
// The package is not internal to ext/ because the chart repository
// (charts/, the same layer as ext/) is an API of it too.
package dialect

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// Core is what every dialect calls: the identity layer, the domain, the
// logger, and where clients reach berth.
type Core struct {
	Auth *auth.Service
	Dom  *domain.Service
	Log  *slog.Logger
	// PublicURL is scheme://host[:port] clients reach berth at: the
	// configured public URL, else the request's scheme and Host.
	PublicURL func(*http.Request) string
}

// PublicHost is PublicURL without its scheme.
func (c Core) PublicHost(r *http.Request) string {
	if c.PublicURL == nil {
		return r.Host
	}
	if u, err := url.Parse(c.PublicURL(r)); err == nil && u.Host != "" {
		return u.Host
	}
	return r.Host
}

// Handler serves one method of a route. Its error is answered by Fail in
// the dialect's envelope; it writes only successful answers.
type Handler func(w http.ResponseWriter, r *http.Request) error

// Op is one method of a route.
type Op struct {
	Serve Handler
	// Action names the change the operation makes (observe.ProjectCreate,
	// ...); "" for a read. A change is audited whatever the handler
	// returns: the handler names what it acted on (Subject), the kit the
	// rest.
	Action string
}

// Route is one path of a dialect and the methods it serves.
type Route struct {
	// Path follows the API's Prefix: literal segments, {name} for one
	// segment and {name...} for one or more (a name with slashes).
	// Literals are compared with the escaped path, so %2F never forms
	// one. Routes are tried in order; the first that matches serves.
	Path    string
	Methods map[string]Op
	// Name names the route for error rows that apply to it alone.
	Name string
	// FallThrough leaves the methods the route does not serve to the
	// rest of berth's router (SWR's DELETE .../tags/{tag}, whose GET
	// .../tags/list is an OCI tag list), instead of a 405.
	FallThrough bool

	segs     []string // Path split, set by Mount
	template string   // "<dialect> <prefix><path>", the route's metrics label
}

// API is one dialect.
type API[C any] struct {
	Core
	// Name is the dialect's name in its log lines ("dialect") and audit
	// events.
	Name string
	// Prefix is where the routes live. With OwnPrefix every path under
	// it is the dialect's (an unknown one is its 404); otherwise only
	// paths that match a route are, and every other path reaches the
	// rest of berth's router.
	Prefix    string
	OwnPrefix bool
	Routes    []Route
	// Errors is the dialect's one error table; Envelope writes a failure
	// in the dialect's shape (Fail calls it).
	Errors   Table[C]
	Envelope func(w http.ResponseWriter, r *http.Request, f Failure[C])
	// Identify replaces the credentials step for an API whose callers
	// prove who they are another way (the web console's session cookie):
	// Anonymous when it finds none, ErrUnauthenticated when what it found
	// does not verify; nil: Auth.Identify.
	Identify func(r *http.Request) (auth.Principal, error)
	// Anonymous lets callers without credentials reach the handlers
	// (public projects); otherwise they are 401 before the method is
	// looked at. Credentials that do not verify are 401 either way.
	Anonymous bool
	// Segment decodes one escaped path segment of a variable; nil:
	// url.PathUnescape, an invalid escape being ErrBadPath.
	Segment func(raw string) (string, error)
	// Check refuses a matched route as not found (CCR's unknown instance
	// ids); nil: none.
	Check func(r *http.Request, v Vars) error
	// NoRoute says why no route serves a path under an owned prefix
	// (bk-repo: a bad segment, else not found); nil, or nil from it:
	// ErrNoRoute.
	NoRoute func(r *http.Request) error
	// SameOrigin is kept so Mounts that set it compile: every API of the
	// kit refuses changes a browser sends from another site (see guard).
	SameOrigin bool
	// Header is set on every JSON answer (JSON); nil: Content-Type
	// application/json; charset=utf-8.
	Header http.Header
	// MaxBody bounds a JSON body (DecodeJSON); 0: 64 KiB. StrictJSON
	// refuses unknown fields and data after the object.
	MaxBody    int64
	StrictJSON bool
}

// Mount adds the dialect to berth's router. It refuses (panics on) a
// table that does not map the kinds every dialect must answer: a wiring
// mistake, found at start-up. Credential schemes a dialect defines are
// added to the identity layer by the dialect's own Mount.
func (a *API[C]) Mount(r *mux.Router) {
	a.Errors.mustCover(a.Name)
	a.Log = observe.Logger(a.Log).With("dialect", a.Name)
	a.init()
	if a.OwnPrefix {
		r.PathPrefix(a.Prefix).Handler(a)
		return
	}
	for i := range a.Routes {
		rt := &a.Routes[i]
		static, _, _ := strings.Cut(a.Prefix+rt.Path, "{")
		// The static prefix keeps the route visible to the core's
		// manifest fast path (it skips the router only for /v2/ paths no
		// route's prefix covers).
		r.PathPrefix(static).MatcherFunc(func(req *http.Request, _ *mux.RouteMatch) bool {
			_, ok := a.matchRoute(rt, req)
			return ok
		}).Handler(a)
	}
}

// init splits the route paths.
func (a *API[C]) init() {
	for i := range a.Routes {
		if a.Routes[i].segs == nil {
			a.Routes[i].segs = strings.Split(a.Routes[i].Path, "/")
		}
		a.Routes[i].template = a.Name + " " + a.Prefix + a.Routes[i].Path
	}
}
