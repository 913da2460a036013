package berthv1

import (
	"net/http"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

type projectJSON struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	Public      bool      `json:"public"`
	Quota       int64     `json:"quota"`
	StorageUsed int64     `json:"storageUsed"`
	RepoCount   int64     `json:"repoCount"`
	Creator     string    `json:"creator"`
	CreatedAt   time.Time `json:"createdAt"`
}

func toProjectJSON(p domain.Project) projectJSON {
	return projectJSON{p.ID, p.Name, p.Public, p.QuotaBytes, p.StorageUsed, p.RepoCount, p.Creator, p.CreatedAt}
}

// GET /projects[?name=]: the projects the caller may see.
func (a *api) listProjects(w http.ResponseWriter, r *http.Request) error {
	ids, err := a.VisibleProjects(r)
	if err != nil {
		return err
	}
	list, total, err := a.Dom.ListProjects(r.Context(), domain.ProjectFilter{IDs: ids}, domain.Query{Filter: r.URL.Query().Get("name")})
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(list))
	for _, pr := range list {
		out = append(out, toProjectJSON(pr))
	}
	a.JSON(w, http.StatusOK, map[string]any{"total": total, "projects": out})
	return nil
}

// POST /projects {"name","public","quota"}: any user; the creator
// administers the project.
func (a *api) createProject(w http.ResponseWriter, r *http.Request) error {
	p := dialect.Caller(r)
	if !p.Authenticated() || p.Kind != auth.KindUser {
		return auth.ErrUnauthenticated
	}
	var body struct {
		Name   string `json:"name"`
		Public bool   `json:"public"`
		Quota  *int64 `json:"quota"`
	}
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	quota := int64(-1)
	if body.Quota != nil {
		quota = *body.Quota
	}
	dialect.Subject(r).Project = body.Name
	pr, err := a.Dom.CreateProject(r.Context(), domain.ProjectSpec{Name: body.Name, Public: body.Public, QuotaBytes: quota, Creator: p.Name})
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusCreated, toProjectJSON(pr))
	return nil
}

// GET /projects/{project}
func (a *api) getProject(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionPull)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, toProjectJSON(pr))
	return nil
}

// PUT /projects/{project} {"public","quota"}: absent fields stay.
func (a *api) updateProject(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	var body struct {
		Public *bool  `json:"public"`
		Quota  *int64 `json:"quota"`
	}
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Public != nil {
		pr.Public = *body.Public
	}
	if body.Quota != nil {
		pr.QuotaBytes = *body.Quota
	}
	if err := a.Dom.UpdateProject(r.Context(), pr); err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, toProjectJSON(pr))
	return nil
}

// DELETE /projects/{project}[?force=true]
func (a *api) deleteProject(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := a.Dom.DeleteProject(r.Context(), pr.Name, r.URL.Query().Get("force") == "true"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
