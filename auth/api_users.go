package auth

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

func (a *api) listMembers(w http.ResponseWriter, r *http.Request) {
	pr, ok := a.project(w, r, ActionManage)
	if !ok {
		return
	}
	ms, err := a.s.db.ListMembers(r.Context(), pr.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []map[string]string{}
	for _, m := range ms {
		out = append(out, map[string]string{"user": m.Username, "role": m.Role})
	}
	writeJSON(w, http.StatusOK, map[string]any{"members": out})
}

func (a *api) setMember(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.project(w, r, ActionManage); !ok {
		return
	}
	v := mux.Vars(r)
	var body struct {
		Role string `json:"role"`
	}
	if err := decode(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.s.SetMember(r.Context(), v["project"], v["user"], body.Role); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": v["user"], "role": body.Role})
}

func (a *api) removeMember(w http.ResponseWriter, r *http.Request) {
	pr, ok := a.project(w, r, ActionManage)
	if !ok {
		return
	}
	u, err := a.s.db.GetUser(r.Context(), mux.Vars(r)["user"])
	if err == nil {
		err = a.s.db.RemoveMember(r.Context(), pr.ID, u.ID)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) {
	p, ok := a.principal(w, r)
	if !ok {
		return
	}
	if err := a.s.CheckAdmin(p); err != nil {
		a.fail(w, r, err)
		return
	}
	us, err := a.s.db.ListUsers(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, u := range us {
		out = append(out, map[string]any{"username": u.Username, "admin": u.Admin, "disabled": u.Disabled, "createdAt": u.CreatedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (a *api) createUser(w http.ResponseWriter, r *http.Request) {
	p, ok := a.principal(w, r)
	if !ok {
		return
	}
	if err := a.s.CheckAdmin(p); err != nil {
		a.fail(w, r, err)
		return
	}
	if p.ViaToken {
		a.fail(w, r, fmt.Errorf("%w: creating users needs the caller's password (HTTP Basic), not a token", ErrDenied))
		return
	}
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	if err := decode(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.s.AddUser(r.Context(), body.Username, body.Password, body.Admin)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"username": u.Username, "admin": u.Admin})
}

// resetPassword is the credential reset: users their own, admins anyone's.
func (a *api) resetPassword(w http.ResponseWriter, r *http.Request) {
	p, ok := a.principal(w, r)
	if !ok {
		return
	}
	var body struct {
		Password string `json:"password"`
	}
	if err := decode(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	created, err := a.s.ResetCredential(r.Context(), p, mux.Vars(r)["user"], body.Password)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"username": mux.Vars(r)["user"], "created": created})
}

func (a *api) createRobot(w http.ResponseWriter, r *http.Request) {
	p, ok := a.principal(w, r)
	if !ok {
		return
	}
	if !p.Authenticated() {
		a.fail(w, r, ErrUnauthenticated)
		return
	}
	var body struct {
		Name      string            `json:"name"`
		Projects  map[string]string `json:"projects"` // project → role
		ExpiresIn string            `json:"expiresIn"`
	}
	if err := decode(w, r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	var ttl time.Duration
	if body.ExpiresIn != "" {
		d, err := time.ParseDuration(body.ExpiresIn)
		if err != nil || d <= 0 {
			a.fail(w, r, ErrInvalid)
			return
		}
		ttl = d
	}
	c, err := a.s.CreateAppCredential(r.Context(), p, body.Name, body.Projects, ttl)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": c.Name, "accessKey": c.AccessKey, "secret": c.Secret})
}
