package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// pageSize is the rows of one page of a list.
const pageSize = 50

// GET / [?q=]: the projects the caller may see, as the management API
// lists them, with their quota use.
func (c *console) projects(w http.ResponseWriter, r *http.Request) error {
	ids, err := c.VisibleProjects(r)
	if err != nil {
		return err
	}
	q := r.URL.Query().Get("q")
	list, total, err := c.Dom.ListProjects(r.Context(), domain.ProjectFilter{IDs: ids}, domain.Query{Filter: q, Page: domain.Page{Limit: domain.MaxPageSize}})
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "projects", pageData{Title: "Projects",
		Data: map[string]any{"Projects": list, "Total": total, "Query": q}})
	return nil
}

// POST /projects: name, public, quota (GiB; empty: unlimited). Any user;
// the creator administers the project.
func (c *console) createProject(w http.ResponseWriter, r *http.Request) error {
	p, err := user(r)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	dialect.Subject(r).Project = name
	quota, err := quotaBytes(r.PostForm.Get("quota"))
	if err != nil {
		return err
	}
	if _, err := c.Dom.CreateProject(r.Context(), domain.ProjectSpec{Name: name, Public: r.PostForm.Get("public") == "on",
		QuotaBytes: quota, Creator: p.Name}); err != nil {
		return err
	}
	return redirect(w, r, "/projects/"+url.PathEscape(name))
}

// quotaBytes reads a quota in GiB ("" or "-1": unlimited).
func quotaBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "-1" {
		return -1, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1<<30 {
		return 0, dialect.Invalidf("quota must be a number of GiB (empty for unlimited), not %q", dialect.Clip(v))
	}
	return int64(f * (1 << 30)), nil
}

// GET /projects/{project}[?q=&after=]: the project's repositories in name
// order, a page at a time by keyset (after the last name shown), from the
// index.
func (c *console) repositories(w http.ResponseWriter, r *http.Request) error {
	pr, err := c.project(r, auth.ActionPull)
	if err != nil {
		return err
	}
	q, after := r.URL.Query().Get("q"), r.URL.Query().Get("after")
	if after != "" && !strings.HasPrefix(after, pr.Name+"/") {
		return dialect.Invalidf("after must name a repository of the project")
	}
	repos, _, err := c.Dom.ListRepositories(r.Context(), domain.RepoFilter{ProjectID: pr.ID, Prefix: pr.Name + "/", After: after},
		domain.Query{Filter: q, Page: domain.Page{Limit: pageSize + 1}})
	if err != nil {
		return err
	}
	next := ""
	if len(repos) > pageSize {
		repos = repos[:pageSize]
		next = repos[pageSize-1].Name
	}
	role, err := c.Auth.RoleIn(r.Context(), dialect.Caller(r), pr)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "repositories", pageData{Title: pr.Name, Crumbs: []crumb{{"Projects", Prefix + "/"}},
		Data: map[string]any{"Project": pr, "Repos": repos, "Query": q, "Next": next, "After": after, "Role": role,
			"Manage": role == auth.RoleAdmin}})
	return nil
}

// GET /projects/{project}/charts: the project's Helm charts and versions.
func (c *console) charts(w http.ResponseWriter, r *http.Request) error {
	pr, err := c.project(r, auth.ActionPull)
	if err != nil {
		return err
	}
	vs, err := c.Dom.ChartVersions(r.Context(), domain.ChartFilter{ProjectID: pr.ID}, false)
	if err != nil {
		return err
	}
	type chart struct {
		Name     string
		Versions []domain.ChartVersion
	}
	var charts []chart
	for _, v := range vs {
		if len(charts) == 0 || charts[len(charts)-1].Name != v.Name {
			charts = append(charts, chart{Name: v.Name})
		}
		charts[len(charts)-1].Versions = append(charts[len(charts)-1].Versions, v)
	}
	c.render(w, r, http.StatusOK, "charts", pageData{Title: "Charts of " + pr.Name,
		Crumbs: []crumb{{"Projects", Prefix + "/"}, {pr.Name, Prefix + "/projects/" + url.PathEscape(pr.Name)}},
		Data:   map[string]any{"Project": pr, "Charts": charts}})
	return nil
}

// GET /projects/{project}/delete: the confirmation.
func (c *console) confirmDeleteProject(w http.ResponseWriter, r *http.Request) error {
	pr, err := c.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "confirm", pageData{Title: "Delete project " + pr.Name,
		Crumbs: []crumb{{"Projects", Prefix + "/"}, {pr.Name, Prefix + "/projects/" + url.PathEscape(pr.Name)}},
		Data: confirmation{What: "project " + pr.Name, Action: Prefix + "/projects/" + url.PathEscape(pr.Name) + "/delete",
			Back: Prefix + "/projects/" + url.PathEscape(pr.Name), Name: pr.Name,
			Detail: "Only an empty project can be deleted: delete its repositories first."}})
	return nil
}

// POST /projects/{project}/delete: confirm (the project's name typed again).
func (c *console) deleteProject(w http.ResponseWriter, r *http.Request) error {
	pr, err := c.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != pr.Name {
		return dialect.Invalidf("type the project's name to confirm its deletion")
	}
	if err := c.Dom.DeleteProject(r.Context(), pr.Name, false); err != nil {
		return err
	}
	return redirect(w, r, "/")
}

// confirmation is the data of the confirm page: typing Name confirms.
type confirmation struct {
	What, Detail, Action, Back, Name string
}
