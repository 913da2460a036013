package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/storage/metadata"
)

// MountRetention adds a project's retention policy and runs, and its
// immutability rules, to the management API (project admins and system
// admins):
//
//	GET/PUT/DELETE /projects/{p}/retention       the policy {"rules":[...],"schedule":"..."}
//	POST /projects/{p}/retention/runs[?dryRun=true]  a run now: its report
//	GET  /projects/{p}/retention/runs            recent runs
//	GET  /projects/{p}/retention/runs/{id}[?after=&limit=]  a run with what it removed
//	GET/POST /projects/{p}/immutability          the rules {"repositories","tags"}
//	DELETE /projects/{p}/immutability/{id}
func MountRetention(r *mux.Router, s *Service, dom *domain.Service, rn *retention.Runner) {
	h := &retentionAPI{api: &api{s: s, dom: dom}, rn: rn}
	sr := r.PathPrefix(APIPrefix + "/projects/{project}").Subrouter()
	sr.Use(s.Middleware)
	sr.HandleFunc("/retention", h.getPolicy).Methods(http.MethodGet)
	sr.HandleFunc("/retention", h.putPolicy).Methods(http.MethodPut)
	sr.HandleFunc("/retention", h.deletePolicy).Methods(http.MethodDelete)
	sr.HandleFunc("/retention/runs", h.run).Methods(http.MethodPost)
	sr.HandleFunc("/retention/runs", h.runs).Methods(http.MethodGet)
	sr.HandleFunc("/retention/runs/{id:[0-9]+}", h.runDetail).Methods(http.MethodGet)
	sr.HandleFunc("/immutability", h.listRules).Methods(http.MethodGet)
	sr.HandleFunc("/immutability", h.createRule).Methods(http.MethodPost)
	sr.HandleFunc("/immutability/{id:[0-9]+}", h.deleteRule).Methods(http.MethodDelete)
}

type retentionAPI struct {
	*api
	rn *retention.Runner
}

func (h *retentionAPI) getPolicy(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	pol, err := h.s.db.GetRetentionPolicy(r.Context(), pr.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var body map[string]any
	_ = json.Unmarshal(pol.Rules, &body)
	body["nextRunAt"], body["updatedBy"], body["updatedAt"] = pol.NextRunAt, pol.UpdatedBy, pol.UpdatedAt
	writeJSON(w, http.StatusOK, body)
}

func (h *retentionAPI) putPolicy(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: request body: %v", ErrInvalid, err))
		return
	}
	p, _ := FromContext(r.Context())
	pol, next, err := h.rn.SetPolicy(r.Context(), pr.ID, raw, p.DisplayName())
	if err != nil {
		h.fail(w, r, fmt.Errorf("%w: %v", ErrInvalid, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": pol.Rules, "schedule": pol.Schedule, "nextRunAt": next})
}

func (h *retentionAPI) deletePolicy(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	if err := h.s.db.DeleteRetentionPolicy(r.Context(), pr.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *retentionAPI) run(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	dry, _ := strconv.ParseBool(r.URL.Query().Get("dryRun"))
	p, _ := FromContext(r.Context())
	// A client that stops waiting does not stop the run: it is recorded
	// and listed with the project's runs.
	run, err := h.rn.Run(context.WithoutCancel(r.Context()), pr.Name, retention.Options{DryRun: dry, Cause: "api", Actor: p.DisplayName()})
	switch {
	case errors.Is(err, retention.ErrNoPolicy):
		h.fail(w, r, fmt.Errorf("%w: %v", ErrNotFound, err))
		return
	case errors.Is(err, retention.ErrBusy):
		writeJSON(w, http.StatusConflict, map[string]any{"error": map[string]string{"code": "CONFLICT", "message": err.Error()}})
		return
	}
	if err != nil && run.ID == 0 {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (h *retentionAPI) runs(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	runs, err := h.s.db.RetentionRuns(r.Context(), pr.ID, 100)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

func (h *retentionAPI) runDetail(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	after, limit, err := pageAfter(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	run, err := h.s.db.GetRetentionRun(r.Context(), pr.ID, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	items, err := h.s.db.RetentionItems(r.Context(), run.ID, after, limit)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"run": run, "items": items})
}

// pageAfter reads ?after (a sequence number) and ?limit (1-1000, default 100).
func pageAfter(r *http.Request) (int64, int, error) {
	after, limit := int64(0), 100
	q := r.URL.Query()
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("%w: after must be a sequence number", ErrInvalid)
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, fmt.Errorf("%w: limit must be 1 to 1000", ErrInvalid)
		}
		limit = n
	}
	return after, limit, nil
}

func (h *retentionAPI) listRules(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	rules, err := h.s.db.ImmutableRules(r.Context(), pr.ID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rules": rules})
}

func (h *retentionAPI) createRule(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	var body struct {
		Repositories string `json:"repositories"`
		Tags         string `json:"tags"`
	}
	if err := decode(w, r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Repositories == "" {
		body.Repositories = "**"
	}
	rule := metadata.ImmutableRule{ProjectID: pr.ID, Repositories: body.Repositories, Tags: body.Tags}
	if body.Tags == "" {
		h.fail(w, r, fmt.Errorf("%w: tags (a pattern) is required", ErrInvalid))
		return
	}
	if _, err := index.CompileImmutable([]metadata.ImmutableRule{rule}); err != nil {
		h.fail(w, r, fmt.Errorf("%w: %v", ErrInvalid, err))
		return
	}
	p, _ := FromContext(r.Context())
	rule.CreatedBy = p.DisplayName()
	rule, err := h.s.db.CreateImmutableRule(r.Context(), rule)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.s.log.InfoContext(r.Context(), "immutable rule created", "project", pr.Name, "rule", rule.ID, "repositories", rule.Repositories, "tags", rule.Tags, "user", rule.CreatedBy)
	writeJSON(w, http.StatusCreated, rule)
}

func (h *retentionAPI) deleteRule(w http.ResponseWriter, r *http.Request) {
	pr, ok := h.project(w, r, ActionManage)
	if !ok {
		return
	}
	id, _ := strconv.ParseInt(mux.Vars(r)["id"], 10, 64)
	if err := h.s.db.DeleteImmutableRule(r.Context(), pr.ID, id); err != nil {
		h.fail(w, r, err)
		return
	}
	p, _ := FromContext(r.Context())
	h.s.log.InfoContext(r.Context(), "immutable rule removed", "project", pr.Name, "rule", id, "user", p.DisplayName())
	w.WriteHeader(http.StatusNoContent)
}
