package ccr

import (
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// projectJSON is the seed's project record (1.4.6).
type projectJSON struct {
	CreatedAt   string `json:"createdAt"`
	ID          int64  `json:"id"`
	InstanceID  string `json:"instanceId"`
	IsPublic    bool   `json:"isPublic"`
	ProjectID   int64  `json:"projectId"`
	ProjectName string `json:"projectName"`
	Quota       int64  `json:"quota"`
	StorageUsed int64  `json:"storageUsed"`
	SyncFields  string `json:"syncFields"`
	SyncStatus  int    `json:"syncStatus"`
	SyncType    int    `json:"syncType"`
	TenantID    string `json:"tenantId"`
	UpdatedAt   string `json:"updatedAt"`
}

// projectRecord shapes a project. quota is bytes and storageUsed MiB, as
// the seed's field table has them ("单位：B", "单位：MiB"), rounded up so
// that a project holding anything never shows 0. The record keeps exactly
// the seed's fields (a client may refuse unknown ones): the exact usage in
// bytes is berth's own API's storageUsed (/api/berth/v1/projects/{name}).
// The tenant is the project's creator; berth has no replication, so the
// sync fields are zero.
func projectRecord(r *http.Request, p domain.Project) projectJSON {
	return projectJSON{CreatedAt: formatTime(p.CreatedAt), ID: p.ID, InstanceID: dialect.Var(r, "instance"), IsPublic: p.Public,
		ProjectID: p.ID, ProjectName: p.Name, Quota: p.QuotaBytes, StorageUsed: mebibytes(p.StorageUsed),
		TenantID: p.Creator, UpdatedAt: formatTime(p.UpdatedAt)}
}

// mebibytes is n bytes in MiB, rounded up.
func mebibytes(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return (n + 1<<20 - 1) >> 20
}

// validateQuota accepts -1 (unlimited) or a positive number of bytes.
func validateQuota(q int64) error {
	if q != -1 && q < 1 {
		return dialect.Invalidf("quota must be -1 (unlimited) or a positive number of bytes, not %d", q)
	}
	return nil
}

// POST .../projects {"isPublic":false,"name":"test04","quota":102400}:
// any user may create a project, and administers it.
func (h *handler) createProject(w http.ResponseWriter, r *http.Request) error {
	p := dialect.Caller(r)
	if p.Kind != auth.KindUser {
		return forbidden("application credentials may not create projects")
	}
	var body struct {
		IsPublic *bool   `json:"isPublic"`
		Name     *string `json:"name"`
		Quota    *int64  `json:"quota"`
	}
	if err := h.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Name == nil || *body.Name == "" {
		return dialect.Invalidf("name is required")
	}
	spec := domain.ProjectSpec{Name: *body.Name, QuotaBytes: -1, Creator: p.Name}
	if body.IsPublic != nil {
		spec.Public = *body.IsPublic
	}
	if body.Quota != nil {
		if err := validateQuota(*body.Quota); err != nil {
			return err
		}
		spec.QuotaBytes = *body.Quota
	}
	dialect.Subject(r).Project = spec.Name
	proj, err := h.Dom.CreateProject(r.Context(), spec)
	if err != nil {
		return err
	}
	return h.ok(w, r, map[string]any{"projectId": proj.ID})
}

// DELETE .../projects/{projectName}: only a project without repositories
// (CCR.CodeForbidOperate otherwise), by a project administrator.
func (h *handler) deleteProject(w http.ResponseWriter, r *http.Request) error {
	proj, err := h.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := h.Dom.DeleteProject(r.Context(), proj.Name, false); err != nil {
		return err
	}
	return h.ok(w, r, nil)
}

// GET .../projects?pageNo&pageSize&nameHas&noPaging: the projects the
// caller may see, by name.
func (h *handler) listProjects(w http.ResponseWriter, r *http.Request) error {
	lp, err := parseList(r.URL.Query())
	if err != nil {
		return err
	}
	ids, err := h.VisibleProjects(r)
	if err != nil {
		return err
	}
	list, total, err := h.Dom.ListProjects(r.Context(), domain.ProjectFilter{IDs: ids}, lp.query())
	if err != nil {
		return err
	}
	out := make([]projectJSON, 0, len(list))
	for _, pr := range list {
		out = append(out, projectRecord(r, pr))
	}
	return h.ok(w, r, map[string]any{"page": lp.PageNo, "pageSize": lp.PageSize, "projects": out, "total": total})
}

// GET .../projects/{projectName} (berth's addition, as Harbor has it): one
// project record under "project".
func (h *handler) getProject(w http.ResponseWriter, r *http.Request) error {
	proj, err := h.project(r, auth.ActionPull)
	if err != nil {
		return err
	}
	return h.ok(w, r, map[string]any{"project": projectRecord(r, proj)})
}

// PUT .../projects/{projectName} {"isPublic":true,"quota":1048576} (berth's
// addition, as Harbor has it): change visibility and quota; absent fields
// stay. A quota below current usage blocks pushes, never pulls.
func (h *handler) updateProject(w http.ResponseWriter, r *http.Request) error {
	proj, err := h.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	var body struct {
		IsPublic *bool  `json:"isPublic"`
		Quota    *int64 `json:"quota"`
	}
	if err := h.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Quota != nil {
		if err := validateQuota(*body.Quota); err != nil {
			return err
		}
	}
	if body.IsPublic != nil {
		proj.Public = *body.IsPublic
	}
	if body.Quota != nil {
		proj.QuotaBytes = *body.Quota
	}
	if err := h.Dom.UpdateProject(r.Context(), proj); err != nil {
		return err
	}
	return h.ok(w, r, nil)
}
