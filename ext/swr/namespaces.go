package swr

import (
	"encoding/json"
	"net/http"
	"regexp"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
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

func (h *handler) namespaceRecord(r *http.Request, p auth.Principal, proj metadata.Project) (namespaceJSON, error) {
	perm := 0
	for _, c := range []struct {
		action string
		perm   int
	}{{auth.ActionManage, permManage}, {auth.ActionPush, permWrite}, {auth.ActionPull, permRead}} {
		ok, err := h.auth.Can(r.Context(), p, proj, c.action)
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

// decodeBody reads a bounded JSON object into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badBody("request body: %v", err)
	}
	return nil
}

// POST /v2/manage/namespaces {"namespace":"group"}: any user may create a
// namespace and administers it; it is private unless "is_public" is true.
func (h *handler) createNamespace(w http.ResponseWriter, r *http.Request) {
	p, err := h.principal(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if p.Kind != auth.KindUser {
		h.fail(w, r, auth.ErrDenied) // app credentials are scoped to existing namespaces
		return
	}
	var body struct {
		Namespace string `json:"namespace"`
		IsPublic  bool   `json:"is_public"`
	}
	if err := decodeBody(w, r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Namespace == "" {
		h.fail(w, r, badBody("namespace is required"))
		return
	}
	if _, err := h.dom.CreateProject(r.Context(), domain.ProjectSpec{Name: body.Namespace, Public: body.IsPublic, QuotaBytes: -1, Creator: p.Name}); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "namespace created", "namespace", body.Namespace, "by", p.DisplayName())
	w.WriteHeader(http.StatusCreated)
}

// GET /v2/manage/namespaces: the namespaces the caller may see.
func (h *handler) listNamespaces(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := h.principal(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q, err := parseList(r.URL.Query(), namespaceSpec)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ids, err := h.auth.VisibleProjects(ctx, p)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	list, total, err := h.dom.ListProjects(ctx, metadata.ProjectFilter{IDs: ids}, q.query("namespace"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]namespaceJSON, 0, len(list))
	for _, pr := range list {
		rec, err := h.namespaceRecord(r, p, pr)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		out = append(out, rec)
	}
	contentRange(w, q.Page.Offset, len(out), total)
	writeJSON(w, http.StatusOK, map[string]any{"namespaces": out})
}

// GET /v2/manage/namespaces/{namespace}
func (h *handler) getNamespace(w http.ResponseWriter, r *http.Request) {
	ns, err := namespaceVar(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.authorize(r, ns, auth.ActionPull)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	// A one-name list fills the repository count that a get leaves out.
	list, _, err := h.dom.ListProjects(r.Context(), metadata.ProjectFilter{Names: []string{ns}}, domain.Query{})
	if err == nil && len(list) != 1 {
		err = auth.ErrNotFound // deleted since the check
	}
	if err == nil {
		var rec namespaceJSON
		if rec, err = h.namespaceRecord(r, p, list[0]); err == nil {
			writeJSON(w, http.StatusOK, rec)
			return
		}
	}
	h.fail(w, r, err)
}

// DELETE /v2/manage/namespaces/{namespace}: only an empty namespace.
func (h *handler) deleteNamespace(w http.ResponseWriter, r *http.Request) {
	ns, err := namespaceVar(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p, err := h.authorize(r, ns, auth.ActionManage)
	if err == nil {
		err = h.dom.DeleteProject(r.Context(), ns, false)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.InfoContext(r.Context(), "namespace deleted", "namespace", ns, "by", p.DisplayName())
	w.WriteHeader(http.StatusNoContent)
}
