package charts

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/methods"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// BaseURLFunc returns the public scheme://host clients reach berth at.
type BaseURLFunc func(*http.Request) string

// api is the HTTP face of a Service.
type api struct {
	svc  *Service
	auth *auth.Service
	base BaseURLFunc
	log  *slog.Logger
}

// op is one method of a route: the project action it needs and its handler.
type op struct {
	action string
	serve  func(a *api, w http.ResponseWriter, r *http.Request, proj metadata.Project, vars map[string]string) error
}

// routes is the one route table of the chart repository.
var routes = []struct {
	path    string
	methods map[string]op
}{
	{"/chartrepo/{project}/index.yaml", map[string]op{
		http.MethodGet: {auth.ActionPull, (*api).index}, http.MethodHead: {auth.ActionPull, (*api).index}}},
	{"/chartrepo/{project}/charts/{file}", map[string]op{
		http.MethodGet: {auth.ActionPull, (*api).download}, http.MethodHead: {auth.ActionPull, (*api).download}}},
	{"/api/chartrepo/{project}/charts", map[string]op{
		http.MethodGet: {auth.ActionPull, (*api).listCharts}, http.MethodPost: {auth.ActionPush, (*api).upload}}},
	{"/api/chartrepo/{project}/charts/{name}", map[string]op{
		http.MethodGet: {auth.ActionPull, (*api).listVersions}, http.MethodDelete: {auth.ActionDelete, (*api).deleteChart}}},
	{"/api/chartrepo/{project}/charts/{name}/{version}", map[string]op{
		http.MethodGet: {auth.ActionPull, (*api).versionDetail}, http.MethodDelete: {auth.ActionDelete, (*api).deleteVersion}}},
}

// Mount adds the chart repository (/chartrepo/ and /api/chartrepo/) to r.
// base gives the public URL that index.yaml download URLs start with.
func Mount(r *mux.Router, authSvc *auth.Service, svc *Service, base BaseURLFunc) {
	a := &api{svc: svc, auth: authSvc, base: base, log: svc.log}
	for _, rt := range routes {
		methods := rt.methods
		r.Path(rt.path).Handler(authSvc.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a.serve(w, r, methods)
		})))
	}
}

// serve authenticates, checks the method, authorizes the project action,
// then runs the route.
func (a *api) serve(w http.ResponseWriter, r *http.Request, byMethod map[string]op) {
	vars := map[string]string{}
	for k, v := range mux.Vars(r) {
		dec, err := url.PathUnescape(v)
		if err != nil {
			a.fail(w, r, invalid("bad path segment %q", v))
			return
		}
		vars[k] = dec
	}
	p, err := auth.FromContext(r.Context())
	if err != nil {
		a.fail(w, r, err) // credentials presented but wrong, or unverifiable now
		return
	}
	o, ok := byMethod[r.Method]
	if !ok {
		w.Header().Set("Allow", methods.Allow(byMethod))
		a.fail(w, r, domain.Errorf(errMethod, "method %s is not allowed here", r.Method))
		return
	}
	proj, err := a.auth.Check(r.Context(), p, vars["project"], o.action)
	if err == nil {
		err = o.serve(a, w, r, proj, vars)
	}
	if err != nil {
		a.fail(w, r, err)
	}
}

// index: GET /chartrepo/{project}/index.yaml
func (a *api) index(w http.ResponseWriter, r *http.Request, proj metadata.Project, _ map[string]string) error {
	c, err := a.svc.indexFile(r.Context(), proj.ID, proj.Name, a.base(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-yaml")
	w.Header().Set("ETag", c.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(c.body))
	return nil
}

// download: GET /chartrepo/{project}/charts/{name}-{version}.tgz[.prov]
func (a *api) download(w http.ResponseWriter, r *http.Request, proj metadata.Project, vars map[string]string) error {
	file := vars["file"]
	prov := strings.HasSuffix(file, ".tgz.prov")
	if !prov && !strings.HasSuffix(file, ".tgz") {
		return notFound("no chart file %q (want <name>-<version>.tgz or .tgz.prov)", file)
	}
	name, version, err := a.svc.splitFileName(r.Context(), proj.ID, strings.TrimSuffix(strings.TrimSuffix(file, ".prov"), ".tgz"))
	if err != nil {
		return err
	}
	var rc io.ReadSeekCloser
	if prov {
		b, err := a.svc.openProv(r.Context(), proj.Name, name, version)
		if err != nil {
			return err
		}
		rc = b
		w.Header().Set("Content-Type", "application/octet-stream")
	} else {
		b, _, err := a.svc.OpenChart(r.Context(), proj.Name, name, version)
		if err != nil {
			return err
		}
		rc = b.(io.ReadSeekCloser) // a domain blob
		w.Header().Set("Content-Type", "application/gzip")
	}
	defer rc.Close()
	w.Header().Set("Content-Disposition", `attachment; filename="`+file+`"`)
	http.ServeContent(w, r, "", time.Time{}, rc) // streams; supports ranges
	return nil
}

// chartInfo is a chart in the chart list (Harbor's ChartInfo).
type chartInfo struct {
	Name          string    `json:"name"`
	TotalVersions int64     `json:"total_versions"`
	LatestVersion string    `json:"latest_version"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
	Icon          string    `json:"icon"`
	Home          string    `json:"home"`
	Deprecated    bool      `json:"deprecated"`
}

// listCharts: GET /api/chartrepo/{project}/charts
func (a *api) listCharts(w http.ResponseWriter, r *http.Request, proj metadata.Project, _ map[string]string) error {
	vs, err := a.svc.versions(r.Context(), proj.ID, "", "", false)
	if err != nil {
		return err
	}
	out := []chartInfo{}
	for _, g := range summarize(byName(vs)) {
		out = append(out, chartInfo{Name: g.Name, TotalVersions: g.TotalVersions, LatestVersion: g.LatestVersion,
			Created: g.Created, Updated: g.Updated, Icon: g.latest.Icon, Home: g.latest.Home, Deprecated: g.latest.Deprecated})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// byName restores name order after a SemVer sort.
func byName(vs []metadata.ChartVersion) []metadata.ChartVersion {
	groups := map[string][]metadata.ChartVersion{}
	var names []string
	for _, v := range vs {
		if _, ok := groups[v.Name]; !ok {
			names = append(names, v.Name)
		}
		groups[v.Name] = append(groups[v.Name], v)
	}
	sort.Strings(names)
	out := make([]metadata.ChartVersion, 0, len(vs))
	for _, n := range names {
		out = append(out, groups[n]...)
	}
	return out
}

// chartVersion is one version as ChartMuseum and Harbor show it: Chart.yaml
// plus urls, created and digest.
func (a *api) chartVersion(r *http.Request, v metadata.ChartVersion) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(v.Metadata, &m)
	m["urls"] = []string{chartURL(a.base(r), v.Project, v.Name, v.Version)}
	m["created"] = v.Created.UTC()
	m["digest"] = trimAlgo(v.ChartDigest)
	m["labels"] = []any{}
	return m
}

// listVersions: GET /api/chartrepo/{project}/charts/{name}
func (a *api) listVersions(w http.ResponseWriter, r *http.Request, proj metadata.Project, vars map[string]string) error {
	vs, err := a.svc.versions(r.Context(), proj.ID, vars["name"], "", true)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return notFound("chart %s not found in project %s", vars["name"], proj.Name)
	}
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, a.chartVersion(r, v))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// versionDetail: GET /api/chartrepo/{project}/charts/{name}/{version}
func (a *api) versionDetail(w http.ResponseWriter, r *http.Request, proj metadata.Project, vars map[string]string) error {
	v, err := a.svc.version(r.Context(), proj.Name, vars["name"], vars["version"], true)
	if err != nil {
		return err
	}
	meta := a.chartVersion(r, v)
	deps, _ := meta["dependencies"].([]any)
	if deps == nil {
		deps = []any{}
	}
	prov := ""
	if v.ProvDigest != "" {
		prov = chartURL(a.base(r), v.Project, v.Name, v.Version) + ".prov"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"metadata":     meta,
		"dependencies": deps,
		"security":     map[string]any{"signature": map[string]any{"signed": v.ProvDigest != "", "prov_file": prov}},
		"labels":       []any{},
	})
	return nil
}

// deleteChart: DELETE /api/chartrepo/{project}/charts/{name}
func (a *api) deleteChart(w http.ResponseWriter, r *http.Request, proj metadata.Project, vars map[string]string) error {
	if err := a.svc.DeleteChart(r.Context(), proj.Name, vars["name"]); err != nil {
		return err
	}
	a.audit(r, "chart deleted", "project", proj.Name, "chart", vars["name"])
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteVersion: DELETE /api/chartrepo/{project}/charts/{name}/{version}
func (a *api) deleteVersion(w http.ResponseWriter, r *http.Request, proj metadata.Project, vars map[string]string) error {
	if err := a.svc.DeleteChartVersion(r.Context(), proj.Name, vars["name"], vars["version"]); err != nil {
		return err
	}
	a.audit(r, "chart version deleted", "project", proj.Name, "chart", vars["name"], "version", vars["version"])
	w.WriteHeader(http.StatusOK)
	return nil
}

// audit logs a change with who made it.
func (a *api) audit(r *http.Request, what string, attrs ...any) {
	p, _ := auth.FromContext(r.Context())
	a.log.InfoContext(r.Context(), what, append([]any{"user", p.DisplayName()}, attrs...)...)
}
