package imagebuild

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/builder"
	"github.com/berth-registry/berth/registry/domain"
)

// projectJSON is a project in info and list.
type projectJSON struct {
	Creator              string `json:"creator"`
	Name                 string `json:"name"`
	CreateTime           string `json:"createTime"`
	LastModifyTime       string `json:"lastModifyTime"`
	LastModifyOperator   string `json:"lastModifyOperator"`
	Cluster              string `json:"Cluster"`
	DefineDockerFileType string `json:"DefineDockerFileType"`
}

func toProjectJSON(p builder.Project) projectJSON {
	return projectJSON{Creator: p.Creator, Name: p.Name, CreateTime: formatTime(p.CreatedAt), LastModifyTime: formatTime(p.UpdatedAt),
		LastModifyOperator: p.LastOperator, Cluster: p.Cluster, DefineDockerFileType: p.FileType}
}

// project loads the named build project and checks action on its Cluster.
func (h *handler) project(r *http.Request, name, action string) (builder.Project, error) {
	if name == "" {
		return builder.Project{}, invalid("projectName is required")
	}
	name, err := builder.ValidateName(name)
	if err != nil {
		return builder.Project{}, err
	}
	dialect.Subject(r).Target = name
	p, err := h.b.GetProject(r.Context(), name)
	if err != nil {
		return p, err
	}
	return p, hidden(name, h.authorize(r, p.Cluster, action))
}

// hidden answers a build project in a Cluster the caller may not see
// exactly like a missing one (builder.MissingProject): the same code and
// message on every route.
func hidden(name string, err error) error {
	if errors.Is(err, auth.ErrNotFound) {
		return builder.MissingProject(name)
	}
	return err
}

// create is /api/project/new: projectName, operator, optional Cluster
// (default imagebuild.defaultCluster) and DefineDockerFileType.
func (h *handler) create(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	name, err := builder.ValidateName(p.get("projectName", "project"))
	if err != nil {
		return err
	}
	dialect.Subject(r).Target = name
	cluster := strings.ToLower(p.get("Cluster", "cluster"))
	if cluster == "" {
		cluster = h.b.Config().DefaultCluster
	}
	if err := h.authorize(r, cluster, auth.ActionPush); err != nil {
		return err
	}
	if _, err := h.b.CreateProject(r.Context(), builder.Definition{Name: name, Cluster: cluster, FileType: p.get("DefineDockerFileType")}, operator(who)); err != nil {
		return err
	}
	h.ok(w, "")
	return nil
}

// remove is /api/project/delete.
func (h *handler) remove(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	proj, err := h.project(r, p.get("projectName", "project"), auth.ActionDelete)
	if err != nil {
		return err
	}
	if err := h.b.DeleteProject(r.Context(), proj.Name); err != nil {
		return err
	}
	h.ok(w, "")
	return nil
}

// clone is /api/project/clone: srcProjectName → dstProjectName, in the
// source's Cluster.
func (h *handler) clone(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	src, err := h.project(r, p.get("srcProjectName"), auth.ActionPull)
	if err != nil {
		return err
	}
	dst, err := builder.ValidateName(p.get("dstProjectName"))
	if err != nil {
		return err
	}
	dialect.Subject(r).Target = dst
	if err := h.authorize(r, src.Cluster, auth.ActionPush); err != nil {
		return err
	}
	if _, err := h.b.CloneProject(r.Context(), src, dst, operator(who)); err != nil {
		return err
	}
	h.ok(w, "")
	return nil
}

// info is /api/project/info.
func (h *handler) info(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	proj, err := h.project(r, p.get("projectName", "project"), auth.ActionPull)
	if err != nil {
		return err
	}
	h.ok(w, toProjectJSON(proj))
	return nil
}

// list is /api/project/list: the projects whose Cluster the caller may
// see, projectName a substring filter.
func (h *handler) list(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	num, size, page, err := p.page()
	if err != nil {
		return err
	}
	ids, err := h.VisibleProjects(r)
	if err != nil {
		return err
	}
	var clusters []string
	if ids != nil {
		clusters = []string{}
		visible, _, err := h.Dom.ListProjects(r.Context(), domain.ProjectFilter{IDs: ids}, domain.Query{})
		if err != nil {
			return err
		}
		for _, v := range visible {
			clusters = append(clusters, v.Name)
		}
	}
	projects, total, err := h.b.ListProjects(r.Context(), clusters, p.get("projectName", "project"), page)
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(projects))
	for _, proj := range projects {
		out = append(out, toProjectJSON(proj))
	}
	h.JSON(w, http.StatusOK, listEnvelope{envelopeJSON: envelopeJSON{Code: CodeOK, ErrMsg: "ok", Content: out}, Page: num, PageSize: size, TotalCount: total})
	return nil
}

// save is /api/project/save: project, Cluster, DefineDockerFileType,
// addOrUpdate (add | update; empty: update when it exists), $$plugin and
// <plugin>.<attr> settings.
func (h *handler) save(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	name, err := builder.ValidateName(p.get("project", "projectName"))
	if err != nil {
		return err
	}
	dialect.Subject(r).Target = name
	plugins, err := p.definitionPlugins()
	if err != nil {
		return err
	}
	typ := p.get("DefineDockerFileType")
	if typ == "" {
		return invalid("DefineDockerFileType is required (edit, tool or download)")
	}
	mode := strings.ToLower(p.get("addOrUpdate"))
	existing, err := h.b.GetProject(r.Context(), name)
	if err == nil {
		// One in a Cluster the caller may not see is missing to them.
		if err = hidden(name, h.authorize(r, existing.Cluster, auth.ActionPull)); errors.Is(err, builder.ErrNotFound) {
			existing = builder.Project{}
		} else if err != nil {
			return err
		}
	}
	switch {
	case err == nil && mode == "add":
		return domain.Errorf(builder.ErrExists, "project: %s already exist", name)
	case err == nil:
		mode = "update"
		if err := h.authorize(r, existing.Cluster, auth.ActionPush); err != nil {
			return err
		}
	case mode == "update":
		return err
	case mode != "" && mode != "add":
		return invalid("addOrUpdate must be add or update, not %q", mode)
	default:
		mode = "add"
	}
	cluster := strings.ToLower(p.get("Cluster", "cluster"))
	if cluster == "" {
		cluster = existing.Cluster
	}
	if cluster == "" {
		cluster = h.b.Config().DefaultCluster
	}
	if err := h.authorize(r, cluster, auth.ActionPush); err != nil {
		return err
	}
	def := builder.Definition{Name: name, Cluster: cluster, FileType: typ, Plugins: plugins}
	if err := h.b.SaveProject(r.Context(), def, mode == "add", operator(who)); err != nil {
		return err
	}
	h.ok(w, "")
	return nil
}

// buildStarted is build's content: the seed's object with idStr (the
// build id as a string), and the id as a number as buildHistory has it.
type buildStarted struct {
	ID    int64  `json:"id"`
	IDStr string `json:"idStr"`
}

// build is /api/project/build: starts a build of tag; content names it.
func (h *handler) build(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	proj, err := h.project(r, p.get("projectName", "project"), auth.ActionPush)
	if err != nil {
		return err
	}
	b, err := h.b.StartBuild(r.Context(), proj, p.get("tag"), operator(who))
	if err != nil {
		return err
	}
	dialect.Subject(r).Tag = b.Tag
	h.ok(w, buildStarted{ID: b.ID, IDStr: strconv.FormatInt(b.ID, 10)})
	return nil
}

// buildJSON is one build in buildHistory.
type buildJSON struct {
	ID          int64  `json:"id"`
	IDStr       string `json:"idStr"`
	ProjectName string `json:"projectName"`
	Tag         string `json:"tag"`
	State       int    `json:"state"`
	Logs        string `json:"logs"`
	Image       string `json:"image"`
	Digest      string `json:"digest"`
	Operator    string `json:"operator"`
	CreateTime  string `json:"createTime"`
	StartTime   string `json:"startTime"`
	FinishTime  string `json:"finishTime"`
}

// history is /api/project/buildHistory: builds newest first (paged like
// list, default 10); an empty list for a project never built.
func (h *handler) history(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	proj, err := h.project(r, p.get("projectName", "project"), auth.ActionPull)
	if err != nil {
		return err
	}
	_, _, page, err := p.page()
	if err != nil {
		return err
	}
	builds, _, err := h.b.History(r.Context(), proj, page)
	if err != nil {
		return err
	}
	host := h.PublicHost(r)
	out := make([]buildJSON, 0, len(builds))
	for _, b := range builds {
		out = append(out, buildJSON{ID: b.ID, IDStr: strconv.FormatInt(b.ID, 10), ProjectName: proj.Name, Tag: b.Tag, State: b.State,
			Logs: b.Logs, Image: host + "/" + b.Image, Digest: b.Digest, Operator: b.Operator,
			CreateTime: formatTime(b.CreatedAt), StartTime: formatTime(b.StartedAt), FinishTime: formatTime(b.FinishedAt)})
	}
	h.ok(w, out)
	return nil
}

// plugin is /api/plugin/extension/interface: plugin, method, and the
// method's own parameters.
func (h *handler) plugin(w http.ResponseWriter, r *http.Request, p params, who auth.Principal) error {
	plugin, method := p.get("plugin"), p.get("method")
	if plugin == "" || method == "" {
		return domain.Errorf(builder.ErrPluginParam, "plugin and method are required")
	}
	rest := p.v
	for _, k := range []string{"plugin", "method", "operator"} {
		rest.Del(k)
	}
	ids, err := h.VisibleProjects(r)
	if err != nil {
		return err
	}
	out, err := h.b.CallPlugin(r.Context(), plugin, method, rest, builder.Caller{VisibleProjects: ids, Host: h.PublicHost(r)})
	if err != nil {
		return err
	}
	h.ok(w, out)
	return nil
}
