package berthv1

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/proxy"
)

// Proxy projects: a project bound to an upstream registry (the
// pull-through cache). System admins only: the upstream is any address
// berth can reach, so binding one is an administrator's decision.

type proxyJSON struct {
	proxy.Binding
	TTL string `json:"ttl"`
}

func toProxyJSON(b proxy.Binding) proxyJSON {
	ttl := b.TTL
	if ttl == 0 {
		ttl = proxy.DefaultTTL
	}
	return proxyJSON{Binding: b, TTL: ttl.String()}
}

// proxyBody is what POST and PUT accept; absent fields stay as they are.
type proxyBody struct {
	Project   string  `json:"project"`
	Public    *bool   `json:"public"`
	URL       *string `json:"url"`
	Username  *string `json:"username"`
	Password  *string `json:"password"`
	Namespace *string `json:"namespace"`
	TTL       *string `json:"ttl"`
	CapBytes  *int64  `json:"capBytes"`
}

func (b proxyBody) spec() (proxy.Spec, error) {
	s := proxy.Spec{URL: b.URL, Username: b.Username, Secret: b.Password, Namespace: b.Namespace, CapBytes: b.CapBytes}
	if b.TTL != nil {
		d, err := time.ParseDuration(*b.TTL)
		if err != nil {
			return s, dialect.Invalidf("ttl %q is not a duration such as 10m", *b.TTL)
		}
		s.TTL = &d
	}
	return s, nil
}

func (a *api) proxies(r *http.Request) error {
	if a.proxy == nil {
		return domain.Errorf(domain.ErrNotFound, "proxy projects are not available")
	}
	return a.Auth.CheckAdmin(dialect.Caller(r))
}

// GET /proxies
func (a *api) listProxies(w http.ResponseWriter, r *http.Request) error {
	if err := a.proxies(r); err != nil {
		return err
	}
	list, err := a.proxy.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]proxyJSON, 0, len(list))
	for _, b := range list {
		out = append(out, toProxyJSON(b))
	}
	a.JSON(w, http.StatusOK, map[string]any{"proxies": out})
	return nil
}

// POST /proxies {"project","url","username","password","namespace","ttl","capBytes","public"}:
// binds the project (created when absent) to its upstream.
func (a *api) createProxy(w http.ResponseWriter, r *http.Request) error {
	if err := a.proxies(r); err != nil {
		return err
	}
	var body proxyBody
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	dialect.Subject(r).Project = body.Project
	spec, err := body.spec()
	if err != nil {
		return err
	}
	if body.URL == nil {
		return dialect.Invalidf("url is required")
	}
	if err := proxy.CheckNew(spec); err != nil {
		return err
	}
	if err := domain.ValidateProjectName(body.Project); err != nil {
		return err
	}
	ctx := r.Context()
	pr, err := a.Dom.GetProject(ctx, body.Project)
	if errors.Is(err, domain.ErrNotFound) {
		public := body.Public != nil && *body.Public
		pr, err = a.Dom.CreateProject(ctx, domain.ProjectSpec{Name: body.Project, Public: public, QuotaBytes: -1, Creator: dialect.Caller(r).Name})
	}
	if err != nil {
		return err
	}
	b, err := a.proxy.Put(ctx, pr.ID, pr.Name, spec, true, dialect.Caller(r).Name)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusCreated, toProxyJSON(b))
	return nil
}

// GET /proxies/{project}
func (a *api) getProxy(w http.ResponseWriter, r *http.Request) error {
	if err := a.proxies(r); err != nil {
		return err
	}
	b, err := a.proxy.Get(r.Context(), dialect.Var(r, "project"))
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, toProxyJSON(b))
	return nil
}

// PUT /proxies/{project}: changes the binding ("password": "" clears it).
func (a *api) updateProxy(w http.ResponseWriter, r *http.Request) error {
	if err := a.proxies(r); err != nil {
		return err
	}
	name := dialect.Var(r, "project")
	dialect.Subject(r).Project = name
	var body proxyBody
	if err := a.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	spec, err := body.spec()
	if err != nil {
		return err
	}
	pr, err := a.Dom.GetProject(r.Context(), name)
	if err != nil {
		return err
	}
	b, err := a.proxy.Put(r.Context(), pr.ID, pr.Name, spec, false, dialect.Caller(r).Name)
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, toProxyJSON(b))
	return nil
}

// DELETE /proxies/{project}: the project stays, with what it cached, as an
// ordinary project.
func (a *api) deleteProxy(w http.ResponseWriter, r *http.Request) error {
	if err := a.proxies(r); err != nil {
		return err
	}
	name := dialect.Var(r, "project")
	dialect.Subject(r).Project = name
	pr, err := a.Dom.GetProject(r.Context(), name)
	if err != nil {
		return err
	}
	if err := a.proxy.Delete(r.Context(), pr.ID, pr.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /proxies/{project}/ping: does the upstream answer, with the
// configured credentials? 200 {"ok":true} or {"ok":false,"error"}.
func (a *api) pingProxy(w http.ResponseWriter, r *http.Request) error {
	if err := a.proxies(r); err != nil {
		return err
	}
	name := dialect.Var(r, "project")
	if _, err := a.proxy.Get(r.Context(), name); err != nil {
		return err
	}
	if err := a.proxy.Test(r.Context(), name); err != nil {
		a.JSON(w, http.StatusOK, map[string]any{"ok": false, "error": err.Error()})
		return nil
	}
	a.JSON(w, http.StatusOK, map[string]any{"ok": true})
	return nil
}

// POST /proxies/{project}/evict: an eviction run now (after the one in
// progress, if any): when the project's usage is over 90 % of its cap, the
// least recently pulled artifacts are removed until it is under. The
// answer is the run; garbage collection frees the bytes later.
func (a *api) evictProxy(w http.ResponseWriter, r *http.Request) error {
	if err := a.proxies(r); err != nil {
		return err
	}
	name := dialect.Var(r, "project")
	dialect.Subject(r).Project = name
	// A client that stops waiting does not stop the run.
	run, err := a.proxy.Evict(context.WithoutCancel(r.Context()), name, dialect.Caller(r).DisplayName())
	if err != nil {
		return err
	}
	a.JSON(w, http.StatusOK, run)
	return nil
}
