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
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
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

// maxBody bounds a JSON request body.
const maxBody = 64 << 10

// handler is the dialect: the kit's API and the chart store it calls.
type handler struct {
	*dialect.API[string]
	charts ChartStore // nil: chart routes answer 501
}

// Mount adds the CCR routes to r. charts may be nil until a chart store is
// wired: the chart routes then answer 501 in the CCR envelope.
func Mount(r *mux.Router, core dialect.Core, cfg Config, charts ChartStore) error {
	ids, err := cfg.InstanceIDs()
	if err != nil {
		return err
	}
	h := &handler{charts: charts}
	h.API = &dialect.API[string]{
		Core: core, Name: "ccr", Prefix: Prefix, OwnPrefix: true, Routes: h.routes(),
		Errors: errorTable, Segment: decodeSegment, StrictJSON: true, MaxBody: maxBody,
		Check: func(_ *http.Request, v dialect.Vars) error {
			if !slices.Contains(ids, v["instance"]) {
				return dialect.NotFoundf("instance %q not found", dialect.Clip(v["instance"]))
			}
			return nil
		},
	}
	h.Envelope = h.envelope
	h.Mount(r)
	return nil
}

// routes is the dialect's one route table, after the prefix.
func (h *handler) routes() []dialect.Route {
	const (
		get, put, post, del = http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete
		project             = "{instance}/projects/{project}"
		repo                = project + "/repositories/{repo...}"
	)
	return []dialect.Route{
		{Path: "{instance}/account/reset", Methods: map[string]dialect.Op{post: {Serve: h.resetAccount, Action: observe.CredentialReset}}},
		{Path: "{instance}/repositories", Methods: map[string]dialect.Op{get: {Serve: h.listAllRepos}}},
		{Path: "{instance}/projects", Methods: map[string]dialect.Op{get: {Serve: h.listProjects},
			post: {Serve: h.createProject, Action: observe.ProjectCreate}}},
		// GET .../projects/charts lists the charts of every project; its
		// other methods are those of a project named charts.
		{Path: "{instance}/projects/charts", FallThrough: true, Methods: map[string]dialect.Op{get: {Serve: h.listCharts}}},
		{Path: project, Methods: map[string]dialect.Op{get: {Serve: h.getProject},
			put: {Serve: h.updateProject, Action: observe.ProjectUpdate}, del: {Serve: h.deleteProject, Action: observe.ProjectDelete}}},
		{Path: project + "/repositories", Methods: map[string]dialect.Op{get: {Serve: h.listRepos},
			post: {Serve: h.createRepo, Action: observe.RepositoryCreate}}},
		{Path: project + "/charts/{chart}/delete", Methods: map[string]dialect.Op{del: {Serve: h.deleteChart, Action: observe.ChartDelete}}},
		{Path: project + "/charts/{chart}/download", Methods: map[string]dialect.Op{get: {Serve: h.downloadChart}}},
		{Path: repo + "/artifacts", Methods: map[string]dialect.Op{get: {Serve: h.listArtifacts}}},
		{Path: repo + "/artifacts/{ref}", Methods: map[string]dialect.Op{get: {Serve: h.getArtifact},
			del: {Serve: h.deleteArtifact, Action: observe.ArtifactDelete}}},
		{Path: repo, Methods: map[string]dialect.Op{get: {Serve: h.getRepo}, del: {Serve: h.deleteRepo, Action: observe.RepositoryDelete}}},
	}
}

// decodeSegment unescapes one path segment; an encoded slash (%2F, or
// Harbor's double-encoded %252F) stands for a level of a repository name.
// "." and ".." name nothing.
func decodeSegment(s string) (string, error) {
	d, err := url.PathUnescape(s)
	if err != nil {
		return "", dialect.Invalidf("path segment %q is not validly escaped", dialect.Clip(s))
	}
	d = strings.ReplaceAll(strings.ReplaceAll(d, "%2F", "/"), "%2f", "/")
	if d == "" || d == "." || d == ".." {
		return "", dialect.NotFoundf("no CCR route for the path segment %q", d)
	}
	return d, nil
}

// project authorizes action on the path's project and returns it.
func (h *handler) project(r *http.Request, action string) (domain.Project, error) {
	name := dialect.Var(r, "project")
	if err := domain.ValidateProjectName(name); err != nil {
		return domain.Project{}, err
	}
	dialect.Subject(r).Project = name
	return h.Authorize(r, name, action)
}

// fullName is the OCI repository name of the path's repository (or of
// repo inside the path's project, when given).
func fullName(r *http.Request, repo ...string) (string, error) {
	name := dialect.Var(r, "repo")
	if len(repo) > 0 {
		name = repo[0]
	}
	full := dialect.Var(r, "project") + "/" + name
	if err := domain.ValidateRepositoryName(full); err != nil {
		return "", err
	}
	dialect.Subject(r).Repository = full
	return full, nil
}

// repository resolves the path's repository once, after the check.
func (h *handler) repository(r *http.Request, action string) (domain.Project, *domain.Repo, error) {
	proj, err := h.project(r, action)
	if err != nil {
		return proj, nil, err
	}
	full, err := fullName(r)
	if err != nil {
		return proj, nil, err
	}
	repo, err := h.Dom.Repository(r.Context(), full)
	return proj, repo, err
}
