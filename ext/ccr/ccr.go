// Package ccr serves the CCR OpenAPI (seed 004, a Harbor-based registry's
// management API) under /api/ccr/v1.0/instances/{instance}/: projects,
// repositories, artifacts, Helm charts and the registry credential reset.
// It holds only routes, request parsing, the {code, message, requestId}
// envelope and one error table; the domain service, the auth service and a
// ChartStore do the work and the checks.
//
// A CCR repository "repositoryName" of project "projectName" is the OCI
// repository "projectName/repositoryName"; the name may have several levels
// (sub1/sub2/repo), in the path either as plain segments or with the
// slashes encoded (%2F, or Harbor's double-encoded %252F).
package ccr

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/methods"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// Prefix is where the dialect lives; the instance id follows it.
const Prefix = "/api/ccr/v1.0/instances/"

// DefaultInstance is the instance id of the seed's examples.
const DefaultInstance = "ccr-manager"

// Config configures the dialect (the "ccr" section of berth's config;
// BERTH_CCR_INSTANCES in the environment).
type Config struct {
	// Instances is a comma-separated list of the instance ids the API
	// answers to; any other id is 404.
	Instances string `yaml:"instances"`
}

// Defaults returns the embedded defaults.
func Defaults() Config { return Config{Instances: DefaultInstance} }

var instanceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// InstanceIDs returns the configured instance ids, validated.
func (c Config) InstanceIDs() ([]string, error) {
	var ids []string
	for _, id := range strings.Split(c.Instances, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue
		}
		if !instanceRE.MatchString(id) {
			return nil, fmt.Errorf("%q is not an instance id (1-128 of A-Z a-z 0-9 . _ -)", id)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("at least one instance id is required (default %s)", DefaultInstance)
	}
	return ids, nil
}

// Validate checks the configuration.
func (c Config) Validate() error {
	_, err := c.InstanceIDs()
	return err
}

// handler is the dialect's state: the core services it calls.
type handler struct {
	auth      *auth.Service
	dom       *domain.Service
	charts    ChartStore // nil: chart routes answer 501
	instances []string
	log       *slog.Logger
}

// vars are the decoded path parameters of a route.
type vars struct {
	instance string
	project  string // projectName
	repo     string // repositoryName inside the project (may have slashes)
	ref      string // artifact digest or tag
	chart    string // chart name, or the file name of a download
}

// serveFunc serves one route.
type serveFunc func(h *handler, w http.ResponseWriter, r *http.Request, v vars) error

// Mount adds the CCR routes to r. charts may be nil until a chart store is
// wired: the chart routes then answer 501 in the CCR envelope.
func Mount(r *mux.Router, a *auth.Service, dom *domain.Service, cfg Config, charts ChartStore) error {
	ids, err := cfg.InstanceIDs()
	if err != nil {
		return err
	}
	h := &handler{auth: a, dom: dom, charts: charts, instances: ids, log: slog.Default().With("dialect", "ccr")}
	r.PathPrefix(Prefix).Handler(withRequestID(a.Middleware(http.HandlerFunc(h.serve))))
	return nil
}

// serve dispatches: route (404), instance (404), credentials (401),
// method (405), then the route, whose errors go through the one table.
func (h *handler) serve(w http.ResponseWriter, r *http.Request) {
	raw := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), Prefix), "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		d, err := decodeSegment(s)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		segs[i] = d
	}
	byMethod, v, found := match(raw[1:], segs[1:])
	if !found {
		h.fail(w, r, notFound("no CCR route %s %s", r.Method, r.URL.EscapedPath()))
		return
	}
	v.instance = segs[0]
	if !slices.Contains(h.instances, v.instance) {
		h.fail(w, r, notFound("instance %q not found", clip(v.instance)))
		return
	}
	if _, err := h.principal(r); err != nil {
		h.fail(w, r, err)
		return
	}
	fn := byMethod[r.Method]
	if fn == nil {
		allow := methods.Allow(byMethod)
		w.Header().Set("Allow", allow)
		h.fail(w, r, domain.Errorf(errMethod, "method %s is not allowed here (allowed: %s)", r.Method, allow))
		return
	}
	if err := fn(h, w, r, v); err != nil {
		h.fail(w, r, err)
	}
}

// decodeSegment unescapes one path segment; an encoded slash (%2F, or
// Harbor's double-encoded %252F) stands for a level of a repository name.
func decodeSegment(s string) (string, error) {
	d, err := url.PathUnescape(s)
	if err != nil {
		return "", badParam("path segment %q is not validly escaped", clip(s))
	}
	d = strings.ReplaceAll(strings.ReplaceAll(d, "%2F", "/"), "%2f", "/")
	return d, nil
}

// match is the dialect's one route table. raw are the escaped segments
// after the instance (keywords must be literal segments), segs the same
// decoded.
func match(raw, segs []string) (map[string]serveFunc, vars, bool) {
	n := len(raw)
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return nil, vars{}, false
		}
	}
	if n == 0 {
		return nil, vars{}, false
	}
	if n == 2 && raw[0] == "account" && raw[1] == "reset" {
		return map[string]serveFunc{http.MethodPost: (*handler).resetAccount}, vars{}, true
	}
	if n == 1 && raw[0] == "repositories" {
		return map[string]serveFunc{http.MethodGet: (*handler).listAllRepos}, vars{}, true
	}
	if raw[0] != "projects" {
		return nil, vars{}, false
	}
	if n == 1 {
		return map[string]serveFunc{http.MethodGet: (*handler).listProjects, http.MethodPost: (*handler).createProject}, vars{}, true
	}
	v := vars{project: segs[1]}
	switch {
	case n == 2:
		m := map[string]serveFunc{http.MethodGet: (*handler).getProject, http.MethodPut: (*handler).updateProject,
			http.MethodDelete: (*handler).deleteProject}
		if raw[1] == "charts" {
			m[http.MethodGet] = (*handler).listCharts // GET .../projects/charts lists charts of every project
		}
		return m, v, true
	case n == 3 && raw[2] == "repositories":
		return map[string]serveFunc{http.MethodGet: (*handler).listRepos, http.MethodPost: (*handler).createRepo}, v, true
	case n == 5 && raw[2] == "charts" && raw[4] == "delete":
		v.chart = segs[3]
		return map[string]serveFunc{http.MethodDelete: (*handler).deleteChart}, v, true
	case n == 5 && raw[2] == "charts" && raw[4] == "download":
		v.chart = segs[3]
		return map[string]serveFunc{http.MethodGet: (*handler).downloadChart}, v, true
	case n >= 4 && raw[2] == "repositories":
		rest, drest := raw[3:], segs[3:]
		k := len(rest)
		switch {
		case k >= 2 && rest[k-1] == "artifacts":
			v.repo = strings.Join(drest[:k-1], "/")
			return map[string]serveFunc{http.MethodGet: (*handler).listArtifacts}, v, true
		case k >= 3 && rest[k-2] == "artifacts":
			v.repo, v.ref = strings.Join(drest[:k-2], "/"), drest[k-1]
			return map[string]serveFunc{http.MethodGet: (*handler).getArtifact, http.MethodDelete: (*handler).deleteArtifact}, v, true
		}
		v.repo = strings.Join(drest, "/")
		return map[string]serveFunc{http.MethodGet: (*handler).getRepo, http.MethodDelete: (*handler).deleteRepo}, v, true
	}
	return nil, vars{}, false
}

// principal is the authenticated caller: the CCR API never serves
// anonymous callers, and credentials that do not verify are 401.
func (h *handler) principal(r *http.Request) (auth.Principal, error) {
	p, err := auth.FromContext(r.Context())
	if err == nil && !p.Authenticated() {
		err = auth.ErrUnauthenticated
	}
	return p, err
}

// authorize is the one authorization step of every project route: may the
// caller do action in the path's project? Hidden projects are 404. It
// returns the project, so handlers need not look it up again.
func (h *handler) authorize(r *http.Request, v vars, action string) (metadata.Project, error) {
	if err := domain.ValidateProjectName(v.project); err != nil {
		return metadata.Project{}, err
	}
	p, err := h.principal(r)
	if err != nil {
		return metadata.Project{}, err
	}
	return h.auth.Check(r.Context(), p, v.project, action)
}

// fullName is the OCI repository name of the path's repository.
func (v vars) fullName() (string, error) {
	full := v.project + "/" + v.repo
	if err := domain.ValidateRepositoryName(full); err != nil {
		return "", err
	}
	return full, nil
}

// audit logs a change with who made it and the request id.
func (h *handler) audit(r *http.Request, what string, attrs ...any) {
	p, _ := h.principal(r)
	attrs = append([]any{"request_id", requestID(r), "user", p.DisplayName()}, attrs...)
	h.log.InfoContext(r.Context(), what, attrs...)
}

// clip keeps echoed input short.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
