package swr

import (
	"net/http"
	"regexp"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

const maxBody = 64 << 10

// SWR permission levels of the caller on a namespace ("auth").
const (
	permRead   = 1
	permWrite  = 3
	permManage = 7
)

// namespaceSpec: namespaces sort by name or creation and filter by a
// substring of the name.
var namespaceSpec = listSpec{
	filters:     map[string]*regexp.Regexp{"namespace": nameFilterRE},
	columns:     map[string]string{"name": "name", "created_at": "created"},
	defaultSort: domain.Sort{By: "name"},
}

// namespaceJSON is SWR's namespace record.
type namespaceJSON struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	CreatorName string `json:"creator_name"`
	Auth        int    `json:"auth"`
	IsPublic    bool   `json:"is_public"`
	RepoCount   int64  `json:"repo_count"`
	Created     string `json:"created"`
}

func (h *handler) namespaceRecord(r *http.Request, proj domain.Project) (namespaceJSON, error) {
	perm := 0
	for _, c := range []struct {
		action string
		perm   int
	}{{auth.ActionManage, permManage}, {auth.ActionPush, permWrite}, {auth.ActionPull, permRead}} {
		ok, err := h.Auth.Can(r.Context(), dialect.Caller(r), proj, c.action)
		if err != nil {
			return namespaceJSON{}, err
		}
		if ok {
			perm = c.perm
			break
		}
	}
	return namespaceJSON{ID: proj.ID, Name: proj.Name, CreatorName: proj.Creator, Auth: perm,
		IsPublic: proj.Public, RepoCount: proj.RepoCount, Created: utc(proj.CreatedAt)}, nil
}

// POST /v2/manage/namespaces {"namespace":"group"}: any user may create a
// namespace and administers it; it is private unless "is_public" is true.
func (h *handler) createNamespace(w http.ResponseWriter, r *http.Request) error {
	p := dialect.Caller(r)
	if p.Kind != auth.KindUser {
		return auth.ErrDenied // app credentials are scoped to existing namespaces
	}
	var body struct {
		Namespace string `json:"namespace"`
		IsPublic  bool   `json:"is_public"`
	}
	if err := h.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.Namespace == "" {
		return badBody("namespace is required")
	}
	dialect.Subject(r).Project = body.Namespace
	if _, err := h.Dom.CreateProject(r.Context(), domain.ProjectSpec{Name: body.Namespace, Public: body.IsPublic, QuotaBytes: -1, Creator: p.Name}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// GET /v2/manage/namespaces: the namespaces the caller may see.
func (h *handler) listNamespaces(w http.ResponseWriter, r *http.Request) error {
	q, err := parseList(r.URL.Query(), namespaceSpec)
	if err != nil {
		return err
	}
	ids, err := h.VisibleProjects(r)
	if err != nil {
		return err
	}
	list, total, err := h.Dom.ListProjects(r.Context(), domain.ProjectFilter{IDs: ids}, q.query("namespace"))
	if err != nil {
		return err
	}
	out := make([]namespaceJSON, 0, len(list))
	for _, pr := range list {
		rec, err := h.namespaceRecord(r, pr)
		if err != nil {
			return err
		}
		out = append(out, rec)
	}
	contentRange(w, q.Page.Offset, len(out), total)
	h.JSON(w, http.StatusOK, map[string]any{"namespaces": out})
	return nil
}

// GET /v2/manage/namespaces/{namespace}
func (h *handler) getNamespace(w http.ResponseWriter, r *http.Request) error {
	ns, err := namespaceVar(r)
	if err != nil {
		return err
	}
	if _, err := h.Authorize(r, ns, auth.ActionPull); err != nil {
		return err
	}
	// A one-name list fills the repository count that a get leaves out.
	list, _, err := h.Dom.ListProjects(r.Context(), domain.ProjectFilter{Names: []string{ns}}, domain.Query{})
	if err != nil {
		return err
	}
	if len(list) != 1 {
		return auth.ErrNotFound // deleted since the check
	}
	rec, err := h.namespaceRecord(r, list[0])
	if err != nil {
		return err
	}
	h.JSON(w, http.StatusOK, rec)
	return nil
}

// DELETE /v2/manage/namespaces/{namespace}: only an empty namespace.
func (h *handler) deleteNamespace(w http.ResponseWriter, r *http.Request) error {
	ns, err := namespaceVar(r)
	if err != nil {
		return err
	}
	if _, err := h.Authorize(r, ns, auth.ActionManage); err != nil {
		return err
	}
	if err := h.Dom.DeleteProject(r.Context(), ns, false); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
