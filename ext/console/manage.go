package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// GET /projects/{project}/settings: visibility and quota, members, and the
// project's retention policy and immutability rules (read-only: they are
// set through /api/berth/v1). Project admins.
func (c *console) settings(w http.ResponseWriter, r *http.Request) error {
	pr, err := c.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	members, err := c.Auth.Members(r.Context(), pr.ID)
	if err != nil {
		return err
	}
	data := map[string]any{"Project": pr, "Members": members, "Roles": []string{auth.RoleGuest, auth.RoleDeveloper, auth.RoleAdmin}}
	if pr.QuotaBytes >= 0 {
		data["QuotaGiB"] = fmt.Sprintf("%g", float64(pr.QuotaBytes)/(1<<30))
	}
	if c.retention != nil {
		pol, err := c.retention.Policy(r.Context(), pr.ID)
		switch {
		case err == nil:
			data["Policy"], data["Rules"] = pol, indent(pol.Rules)
		case !errors.Is(err, domain.ErrNotFound):
			return err
		}
		if data["Immutable"], err = c.retention.ImmutableRules(r.Context(), pr.ID); err != nil {
			return err
		}
		if data["Runs"], err = c.retention.Runs(r.Context(), pr.ID, 10); err != nil {
			return err
		}
	}
	c.render(w, r, http.StatusOK, "settings", pageData{Title: "Settings of " + pr.Name,
		Crumbs: []crumb{{"Projects", Prefix + "/"}, {pr.Name, Prefix + "/projects/" + url.PathEscape(pr.Name)}}, Data: data})
	return nil
}

// POST /projects/{project}/settings: public, quota (GiB; empty: unlimited).
func (c *console) updateProject(w http.ResponseWriter, r *http.Request) error {
	pr, err := c.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if pr.QuotaBytes, err = quotaBytes(r.PostForm.Get("quota")); err != nil {
		return err
	}
	pr.Public = r.PostForm.Get("public") == "on"
	if err := c.Dom.UpdateProject(r.Context(), pr); err != nil {
		return err
	}
	return redirect(w, r, "/projects/"+url.PathEscape(pr.Name)+"/settings")
}

// POST /projects/{project}/members: user, role.
func (c *console) setMember(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimSpace(r.PostForm.Get("user"))
	dialect.Subject(r).Target = name
	pr, err := c.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := c.Auth.SetMember(r.Context(), pr.Name, name, r.PostForm.Get("role")); err != nil {
		return err
	}
	return redirect(w, r, "/projects/"+url.PathEscape(pr.Name)+"/settings")
}

// POST /projects/{project}/members/{user}/delete
func (c *console) removeMember(w http.ResponseWriter, r *http.Request) error {
	name := dialect.Var(r, "user")
	dialect.Subject(r).Target = name
	pr, err := c.project(r, auth.ActionManage)
	if err != nil {
		return err
	}
	if err := c.Auth.RemoveMember(r.Context(), pr.ID, name); err != nil {
		return err
	}
	return redirect(w, r, "/projects/"+url.PathEscape(pr.Name)+"/settings")
}

// GET /robots: the form for a robot account (an application credential
// with a role in projects the caller administers).
func (c *console) robotsPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := user(r); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "robots", pageData{Title: "Robot accounts",
		Data: map[string]any{"Roles": []string{auth.RoleGuest, auth.RoleDeveloper, auth.RoleAdmin}}})
	return nil
}

// POST /robots: name, project, role, expires (a duration; empty: never).
// The answer shows the secret, once: it is not kept anywhere but as a
// hash, and the page is not cached.
func (c *console) createRobot(w http.ResponseWriter, r *http.Request) error {
	p, err := user(r)
	if err != nil {
		return err
	}
	f := r.PostForm
	name := strings.TrimSpace(f.Get("name"))
	dialect.Subject(r).Target, dialect.Subject(r).Project = name, f.Get("project")
	var ttl time.Duration
	if v := strings.TrimSpace(f.Get("expires")); v != "" {
		if ttl, err = time.ParseDuration(v); err != nil || ttl <= 0 {
			return dialect.Invalidf("expires must be a positive duration such as 720h, not %q", dialect.Clip(v))
		}
	}
	cred, err := c.Auth.CreateAppCredential(r.Context(), p, name, map[string]string{f.Get("project"): f.Get("role")}, ttl)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusCreated, "robots", pageData{Title: "Robot accounts", Notice: "Robot account " + cred.Name + " created.",
		Data: map[string]any{"Roles": []string{auth.RoleGuest, auth.RoleDeveloper, auth.RoleAdmin}, "Created": cred}})
	return nil
}

// GET /users: every account (system admins).
func (c *console) usersPage(w http.ResponseWriter, r *http.Request) error {
	if err := c.Auth.CheckAdmin(dialect.Caller(r)); err != nil {
		return err
	}
	us, err := c.Auth.Users(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "users", pageData{Title: "Users", Data: map[string]any{"Users": us}})
	return nil
}

// POST /users: username, password, admin (system admins).
func (c *console) createUser(w http.ResponseWriter, r *http.Request) error {
	if err := c.Auth.CheckAdmin(dialect.Caller(r)); err != nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("username"))
	dialect.Subject(r).Target = name
	if _, err := c.Auth.AddUser(r.Context(), name, r.PostForm.Get("password"), r.PostForm.Get("admin") == "on"); err != nil {
		return err
	}
	return redirect(w, r, "/users")
}

// GET /account: changing one's own password.
func (c *console) accountPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := user(r); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "account", pageData{Title: "Your account"})
	return nil
}

// POST /account: current, password, confirm. The current password is
// checked by auth.Login (throttled like any login); the change ends every
// session of the user (the credential version moves), so this one is
// replaced by a new one.
func (c *console) changePassword(w http.ResponseWriter, r *http.Request) error {
	p, err := user(r)
	if err != nil {
		return err
	}
	dialect.Subject(r).Target = p.Name
	f := r.PostForm
	if f.Get("password") != f.Get("confirm") {
		return dialect.Invalidf("the new password and its confirmation differ")
	}
	proven, err := c.Auth.Login(r.Context(), p.Name, f.Get("current"), clientAddr(r))
	if errors.Is(err, auth.ErrUnauthenticated) {
		return fmt.Errorf("%w: the current password is wrong", auth.ErrDenied)
	}
	if err != nil {
		return err
	}
	if _, err := c.Auth.ResetCredential(r.Context(), proven, p.Name, f.Get("password")); err != nil {
		return err
	}
	if old, ok := sessionOf(r); ok {
		_ = c.Auth.EndSession(r.Context(), old.Token)
	}
	ses, err := c.Auth.StartSession(r.Context(), proven)
	if err != nil {
		return err
	}
	c.setCookie(w, r, sessionCookie, ses.Token, 0)
	c.render(w, r, http.StatusOK, "account", pageData{Title: "Your account", CSRF: ses.CSRF, Notice: "Password changed."})
	return nil
}

// GET /system: garbage collection's recent passes (system admins).
func (c *console) system(w http.ResponseWriter, r *http.Request) error {
	if err := c.Auth.CheckAdmin(dialect.Caller(r)); err != nil {
		return err
	}
	data := map[string]any{}
	if c.gc != nil {
		runs, err := c.gc.Runs(r.Context(), 20)
		if err != nil {
			return err
		}
		data["GC"] = runs
	}
	c.render(w, r, http.StatusOK, "system", pageData{Title: "System", Data: data})
	return nil
}
