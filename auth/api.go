package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// APIPrefix is where berth's own management API lives: projects, members,
// users and application credentials.
const APIPrefix = "/api/berth/v1"

const maxAPIBody = 64 << 10

// api serves berth's own management API.
type api struct {
	s   *Service
	dom *domain.Service
}

// MountAPI adds the management API to r. Every route identifies the caller
// and calls Check (or CheckAdmin) before doing anything.
func MountAPI(r *mux.Router, s *Service, dom *domain.Service) {
	a := &api{s: s, dom: dom}
	sr := r.PathPrefix(APIPrefix).Subrouter()
	sr.Use(s.Middleware)
	sr.HandleFunc("/projects", a.listProjects).Methods(http.MethodGet)
	sr.HandleFunc("/projects", a.createProject).Methods(http.MethodPost)
	sr.HandleFunc("/projects/{project}", a.getProject).Methods(http.MethodGet)
	sr.HandleFunc("/projects/{project}", a.updateProject).Methods(http.MethodPut)
	sr.HandleFunc("/projects/{project}", a.deleteProject).Methods(http.MethodDelete)
	sr.HandleFunc("/projects/{project}/members", a.listMembers).Methods(http.MethodGet)
	sr.HandleFunc("/projects/{project}/members/{user}", a.setMember).Methods(http.MethodPut)
	sr.HandleFunc("/projects/{project}/members/{user}", a.removeMember).Methods(http.MethodDelete)
	sr.HandleFunc("/users", a.listUsers).Methods(http.MethodGet)
	sr.HandleFunc("/users", a.createUser).Methods(http.MethodPost)
	sr.HandleFunc("/users/{user}/password", a.resetPassword).Methods(http.MethodPut)
	sr.HandleFunc("/robots", a.createRobot).Methods(http.MethodPost)
}

// principal returns the caller, or answers 401 when credentials failed
// (503 when they could not be checked).
func (a *api) principal(w http.ResponseWriter, r *http.Request) (Principal, bool) {
	p, err := FromContext(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return p, false
	}
	return p, true
}

// project identifies the caller and runs the one authorization check for
// action on the route's {project}; on refusal it has already answered.
func (a *api) project(w http.ResponseWriter, r *http.Request, action string) (metadata.Project, bool) {
	p, ok := a.principal(w, r)
	if !ok {
		return metadata.Project{}, false
	}
	pr, err := a.s.Check(r.Context(), p, mux.Vars(r)["project"], action)
	if err != nil {
		a.fail(w, r, err)
		return pr, false
	}
	return pr, true
}

// fail is the one error table of this API.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, "INTERNAL"
	switch err = domain.Classify(err); {
	case errors.Is(err, domain.ErrUnavailable):
		status, code = http.StatusServiceUnavailable, "UNAVAILABLE"
	case errors.Is(err, domain.ErrFull):
		status, code = http.StatusInsufficientStorage, "INSUFFICIENT_STORAGE"
	case errors.Is(err, ErrUnauthenticated):
		status, code = http.StatusUnauthorized, "UNAUTHORIZED"
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	case errors.Is(err, ErrDenied), errors.Is(err, domain.ErrDenied):
		status, code = http.StatusForbidden, "DENIED"
	case errors.Is(err, ErrNotFound), errors.Is(err, domain.ErrNotFound), errors.Is(err, metadata.ErrNotFound):
		status, code = http.StatusNotFound, "NOT_FOUND"
	case errors.Is(err, ErrInvalid), errors.Is(err, domain.ErrInvalid), errors.Is(err, ErrWeakPassword):
		status, code = http.StatusBadRequest, "INVALID"
	case errors.Is(err, domain.ErrAlreadyExists), errors.Is(err, metadata.ErrExists):
		status, code = http.StatusConflict, "ALREADY_EXISTS"
	case errors.Is(err, domain.ErrNotEmpty), errors.Is(err, metadata.ErrNotEmpty):
		status, code = http.StatusConflict, "NOT_EMPTY"
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		a.s.log.ErrorContext(r.Context(), "management API", "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	if errors.Is(err, ErrNotFound) && !errors.Is(err, metadata.ErrNotFound) {
		msg = "not found"
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a bounded JSON body into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", ErrInvalid, err)
	}
	return nil
}

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

func toProjectJSON(p metadata.Project) projectJSON {
	return projectJSON{p.ID, p.Name, p.Public, p.QuotaBytes, p.StorageUsed, p.RepoCount, p.Creator, p.CreatedAt}
}

func (a *api) listProjects(w http.ResponseWriter, r *http.Request) {
	p, ok := a.principal(w, r)
	if !ok {
		return
	}
	ids, err := a.s.VisibleProjects(r.Context(), p)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	list, total, err := a.dom.ListProjects(r.Context(), metadata.ProjectFilter{IDs: ids}, domain.Query{Filter: r.URL.Query().Get("name")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]projectJSON, 0, len(list))
	for _, pr := range list {
		out = append(out, toProjectJSON(pr))
	}
	writeJSON(w, http.StatusOK, map[string]any{"total": total, "projects": out})
}

func (a *api) createProject(w http.ResponseWriter, r *http.Request) {
	p, ok := a.principal(w, r)
	if !ok {
		return
	}
	if !p.Authenticated() || p.Kind != KindUser {
		a.fail(w, r, ErrUnauthenticated)
		return
	}
	var body struct {
		Name   string `json:"name"`
		Public bool   `json:"public"`
		Quota  *int64 `json:"quota"`
	}
	if err := decode(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	quota := int64(-1)
	if body.Quota != nil {
		quota = *body.Quota
	}
	pr, err := a.dom.CreateProject(r.Context(), domain.ProjectSpec{Name: body.Name, Public: body.Public, QuotaBytes: quota, Creator: p.Name})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toProjectJSON(pr))
}

func (a *api) getProject(w http.ResponseWriter, r *http.Request) {
	if pr, ok := a.project(w, r, ActionPull); ok {
		writeJSON(w, http.StatusOK, toProjectJSON(pr))
	}
}

func (a *api) updateProject(w http.ResponseWriter, r *http.Request) {
	pr, ok := a.project(w, r, ActionManage)
	if !ok {
		return
	}
	var body struct {
		Public *bool  `json:"public"`
		Quota  *int64 `json:"quota"`
	}
	if err := decode(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if body.Public != nil {
		pr.Public = *body.Public
	}
	if body.Quota != nil {
		pr.QuotaBytes = *body.Quota
	}
	if err := a.dom.UpdateProject(r.Context(), pr); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toProjectJSON(pr))
}

func (a *api) deleteProject(w http.ResponseWriter, r *http.Request) {
	pr, ok := a.project(w, r, ActionManage)
	if !ok {
		return
	}
	if err := a.dom.DeleteProject(r.Context(), pr.Name, r.URL.Query().Get("force") == "true"); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
