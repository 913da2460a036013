package charts

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// api is the HTTP face of a Service.
type api struct {
	*dialect.API[string]
	svc *Service
}

// serveFunc serves one method of a route, in the project the caller was
// authorized for.
type serveFunc func(a *api, w http.ResponseWriter, r *http.Request, proj domain.Project) error

// op authorizes action on the path's project, then serves.
func (a *api) op(action string, fn serveFunc, change string) dialect.Op {
	return dialect.Op{Action: change, Serve: func(w http.ResponseWriter, r *http.Request) error {
		name := dialect.Var(r, "project")
		dialect.Subject(r).Project = name
		proj, err := a.Authorize(r, name, action)
		if err != nil {
			return err
		}
		return fn(a, w, r, proj)
	}}
}

// routes is the one route table of the chart repository.
func (a *api) routes() []dialect.Route {
	const get, head, post, del = http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete
	pull, push, remove := auth.ActionPull, auth.ActionPush, auth.ActionDelete
	return []dialect.Route{
		{Path: "/chartrepo/{project}/index.yaml", Methods: map[string]dialect.Op{
			get: a.op(pull, (*api).index, ""), head: a.op(pull, (*api).index, "")}},
		{Path: "/chartrepo/{project}/charts/{file}", Methods: map[string]dialect.Op{
			get: a.op(pull, (*api).download, ""), head: a.op(pull, (*api).download, "")}},
		{Path: "/api/chartrepo/{project}/charts", Methods: map[string]dialect.Op{
			get: a.op(pull, (*api).listCharts, ""), post: a.op(push, (*api).upload, observe.ChartUpload)}},
		{Path: "/api/chartrepo/{project}/charts/{name}", Methods: map[string]dialect.Op{
			get: a.op(pull, (*api).listVersions, ""), del: a.op(remove, (*api).deleteChart, observe.ChartDelete)}},
		{Path: "/api/chartrepo/{project}/charts/{name}/{version}", Methods: map[string]dialect.Op{
			get: a.op(pull, (*api).versionDetail, ""), del: a.op(remove, (*api).deleteVersion, observe.ChartVersionDelete)}},
	}
}

// Mount adds the chart repository (/chartrepo/ and /api/chartrepo/) to
// r, through the dialect kit: anonymous callers are served (public
// projects); the public URL starts index.yaml's download URLs.
func Mount(r *mux.Router, core dialect.Core, svc *Service) {
	a := &api{svc: svc}
	a.API = &dialect.API[string]{Core: core, Name: "charts", Routes: a.routes(), Errors: errorTable,
		Envelope: a.envelope, Anonymous: true}
	a.Mount(r)
}

// index: GET /chartrepo/{project}/index.yaml
func (a *api) index(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	c, err := a.svc.indexFile(r.Context(), proj.ID, proj.Name, a.PublicURL(r))
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
func (a *api) download(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	file := dialect.Var(r, "file")
	prov := strings.HasSuffix(file, ".tgz.prov")
	if !prov && !strings.HasSuffix(file, ".tgz") {
		return dialect.NotFoundf("no chart file %q (want <name>-<version>.tgz or .tgz.prov)", file)
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
func (a *api) listCharts(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	vs, err := a.svc.versions(r.Context(), proj.ID, "", "", false)
	if err != nil {
		return err
	}
	out := []chartInfo{}
	for _, g := range summarize(byName(vs)) {
		out = append(out, chartInfo{Name: g.Name, TotalVersions: g.TotalVersions, LatestVersion: g.LatestVersion,
			Created: g.Created, Updated: g.Updated, Icon: g.latest.Icon, Home: g.latest.Home, Deprecated: g.latest.Deprecated})
	}
	a.JSON(w, http.StatusOK, out)
	return nil
}

// byName restores name order after a SemVer sort.
func byName(vs []domain.ChartVersion) []domain.ChartVersion {
	groups := map[string][]domain.ChartVersion{}
	var names []string
	for _, v := range vs {
		if _, ok := groups[v.Name]; !ok {
			names = append(names, v.Name)
		}
		groups[v.Name] = append(groups[v.Name], v)
	}
	sort.Strings(names)
	out := make([]domain.ChartVersion, 0, len(vs))
	for _, n := range names {
		out = append(out, groups[n]...)
	}
	return out
}

// chartVersion is one version as ChartMuseum and Harbor show it: Chart.yaml
// plus urls, created and digest.
func (a *api) chartVersion(r *http.Request, v domain.ChartVersion) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(v.Metadata, &m)
	m["urls"] = []string{chartURL(a.PublicURL(r), v.Project, v.Name, v.Version)}
	m["created"] = v.Created.UTC()
	m["digest"] = trimAlgo(v.ChartDigest)
	m["labels"] = []any{}
	return m
}

// listVersions: GET /api/chartrepo/{project}/charts/{name}
func (a *api) listVersions(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	name := dialect.Var(r, "name")
	vs, err := a.svc.versions(r.Context(), proj.ID, name, "", true)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return dialect.NotFoundf("chart %s not found in project %s", name, proj.Name)
	}
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, a.chartVersion(r, v))
	}
	a.JSON(w, http.StatusOK, out)
	return nil
}

// versionDetail: GET /api/chartrepo/{project}/charts/{name}/{version}
func (a *api) versionDetail(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	v, err := a.svc.version(r.Context(), proj.Name, dialect.Var(r, "name"), dialect.Var(r, "version"), true)
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
		prov = chartURL(a.PublicURL(r), v.Project, v.Name, v.Version) + ".prov"
	}
	a.JSON(w, http.StatusOK, map[string]any{
		"metadata":     meta,
		"dependencies": deps,
		"security":     map[string]any{"signature": map[string]any{"signed": v.ProvDigest != "", "prov_file": prov}},
		"labels":       []any{},
	})
	return nil
}

// deleteChart: DELETE /api/chartrepo/{project}/charts/{name}
func (a *api) deleteChart(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	name := dialect.Var(r, "name")
	dialect.Subject(r).Target = name
	if err := a.svc.DeleteChart(r.Context(), proj.Name, name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// deleteVersion: DELETE /api/chartrepo/{project}/charts/{name}/{version}
func (a *api) deleteVersion(w http.ResponseWriter, r *http.Request, proj domain.Project) error {
	name, version := dialect.Var(r, "name"), dialect.Var(r, "version")
	ev := dialect.Subject(r)
	ev.Target, ev.Tag = name, version
	if err := a.svc.DeleteChartVersion(r.Context(), proj.Name, name, version); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
