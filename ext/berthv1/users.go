package berthv1

import (
	"fmt"
	"net/http"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
)

// GET /projects/{project}/members
func (a *api) listMembers(w http.ResponseWriter, r *http.Request) error {
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	ms, err := a.Auth.Members(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	out := []map[string]string{}
	for _, m := range ms {
		out = append(out, map[string]string{"user": m.Username, "role": m.Role})
	}
	a.JSON(w, http.StatusOK, map[string]any{"members": out})
	return nil
}

// PUT /projects/{project}/members/{user} {"role"}
func (a *api) setMember(w http.ResponseWriter, r *http.Request) error {
	user := dialect.Var(r, "user")
	dialect.Subject(r).Target = user
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	var body struct {
		Role string `json:"role"`
	}
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if err := a.Auth.SetMemberAs(r.Context(), dialect.Caller(r), pr.Name, user, body.Role); err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, map[string]string{"user": user, "role": body.Role})
	return nil
}

// DELETE /projects/{project}/members/{user}
func (a *api) removeMember(w http.ResponseWriter, r *http.Request) error {
	user := dialect.Var(r, "user")
	dialect.Subject(r).Target = user
	pr, err := a.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := a.Auth.RemoveMember(r.Context(), pr.ID, user); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /users: system administrators only.
func (a *api) listUsers(w http.ResponseWriter, r *http.Request) error {
	if err := a.Auth.CheckAdmin(dialect.Caller(r)); err != nil {
		return err
	}
	us, err := a.Auth.Users(r.Context())
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, u := range us {
		out = append(out, map[string]any{"username": u.Username, "admin": u.Admin, "disabled": u.Disabled, "createdAt": u.CreatedAt})
	}
	a.JSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}

// POST /users {"username","password","admin"}: a system administrator,
// proven by password.
func (a *api) createUser(w http.ResponseWriter, r *http.Request) error {
	p := dialect.Caller(r)
	if err := a.Auth.CheckAdmin(p); err != nil {
		return err
	}
	if p.ViaToken {
		return fmt.Errorf("%w: creating users needs the caller's password (HTTP Basic), not a token", auth.ErrDenied)
	}
	var body struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Admin    bool   `json:"admin"`
	}
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	dialect.Subject(r).Target = body.Username
	u, err := a.Auth.AddUser(r.Context(), body.Username, body.Password, body.Admin)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusCreated, map[string]any{"username": u.Username, "admin": u.Admin})
	return nil
}

// PUT /users/{user}/password {"password"}: the credential reset, users
// their own, administrators anyone's.
func (a *api) resetPassword(w http.ResponseWriter, r *http.Request) error {
	user := dialect.Var(r, "user")
	dialect.Subject(r).Target = user
	var body struct {
		Password string `json:"password"`
	}
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	created, err := a.Auth.ResetCredential(r.Context(), dialect.Caller(r), user, body.Password)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, map[string]any{"username": user, "created": created})
	return nil
}

// POST /robots {"name","projects":{"p":"role"},"expiresIn"}: an
// application credential with a role per project, by their admins.
func (a *api) createRobot(w http.ResponseWriter, r *http.Request) error {
	p := dialect.Caller(r)
	if !p.Authenticated() {
		return auth.ErrUnauthenticated
	}
	var body struct {
		Name      string            `json:"name"`
		Projects  map[string]string `json:"projects"` // project → role
		ExpiresIn string            `json:"expiresIn"`
	}
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	dialect.Subject(r).Target = body.Name
	var ttl time.Duration
	if body.ExpiresIn != "" {
		d, err := time.ParseDuration(body.ExpiresIn)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: expiresIn %q is not a positive duration", auth.ErrInvalid, body.ExpiresIn)
		}
		ttl = d
	}
	c, err := a.Auth.CreateAppCredential(r.Context(), p, body.Name, body.Projects, ttl)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusCreated, map[string]string{"name": c.Name, "accessKey": c.AccessKey, "secret": c.Secret})
	return nil
}
