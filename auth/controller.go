package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/storage"
	distauth "github.com/distribution/distribution/v3/registry/auth"
)

// ControllerName is the distribution access controller berth registers; its
// options carry the *Service under "service" and a realm function under "realm".
const ControllerName = "berth"

func init() {
	// Registration is distribution's own hook; it fails only on a duplicate name.
	_ = distauth.Register(ControllerName, func(opts map[string]any) (distauth.AccessController, error) {
		s, ok := opts["service"].(*Service)
		realm, ok2 := opts["realm"].(func(*http.Request) string)
		if !ok || !ok2 {
			return nil, errors.New("auth: access controller needs service and realm options")
		}
		return &controller{s: s, realm: realm}, nil
	})
}

// controller authorizes every /v2 request for distribution: berth tokens,
// HTTP Basic (users and app credentials, cached), or anonymous pulls of
// public projects.
type controller struct {
	s     *Service
	realm func(*http.Request) string
}

func (c *controller) Authorized(r *http.Request, access ...distauth.Access) (*distauth.Grant, error) {
	p, claims, err := c.s.Identify(r)
	if err != nil && !errors.Is(err, ErrUnauthenticated) {
		// Unverifiable now, not wrong: the HTTP layer answers 503.
		storage.MarkDatabase(r.Context(), storage.Unavailable)
		return nil, err
	}
	if err != nil {
		ch := c.challenge(r, access, "invalid_token").(*challenge)
		ch.retryAfter = RetryAfter(err) // a lockout: not a wrong password
		return nil, ch
	}
	if len(access) == 0 && !p.Authenticated() && claims == nil {
		// The base route: clients learn here how to authenticate.
		return nil, c.challenge(r, nil, "")
	}
	ctx := r.Context()
	var granted []distauth.Resource
	for _, a := range access {
		ok := false
		switch {
		case a.Type == "registry" && a.Name == "catalog":
			ok = true // filtered by visibility when listed
		case claims != nil:
			// What the token granted, and only while its subject still
			// may: membership, the project's visibility and the
			// subject's state are read again (rights, at most 1 s old).
			ok = claims.Allows(a.Type, a.Name, a.Action)
			if ok && a.Type == "repository" {
				if ok, err = c.s.stillAllowed(ctx, p, a.Name, a.Action); err != nil {
					storage.MarkDatabase(ctx, storage.Unavailable)
					return nil, err
				}
			}
		case a.Type == "repository":
			acts, err := c.s.repoActions(ctx, p, a.Name, []string{a.Action})
			if err != nil {
				storage.MarkDatabase(ctx, storage.Unavailable)
				return nil, err
			}
			ok = len(acts) == 1
		}
		if !ok {
			reason := ""
			if p.Authenticated() || claims != nil {
				reason = "insufficient_scope"
			}
			return nil, c.challenge(r, access, reason)
		}
		granted = append(granted, a.Resource)
	}
	name := p.DisplayName()
	if !p.Authenticated() {
		name = ""
	}
	return &distauth.Grant{User: distauth.UserInfo{Name: name}, Resources: granted}, nil
}

func (c *controller) challenge(r *http.Request, access []distauth.Access, reason string) error {
	return &challenge{realm: c.realm(r), service: c.s.cfg.Service, access: access, reason: reason}
}

// challenge asks the client to fetch a token.
type challenge struct {
	realm, service, reason string
	access                 []distauth.Access
	retryAfter             int // seconds: the login is locked out
}

func (ch *challenge) Error() string {
	if ch.retryAfter > 0 {
		return fmt.Sprintf("too many failed logins for this user from this address: try again in %d s", ch.retryAfter)
	}
	if ch.reason != "" {
		return "authorization failed: " + ch.reason
	}
	return "authentication required"
}

// SetHeaders writes the WWW-Authenticate header docker clients follow.
func (ch *challenge) SetHeaders(_ *http.Request, w http.ResponseWriter) {
	h := fmt.Sprintf(`Bearer realm=%q,service=%q`, ch.realm, ch.service)
	if scope := scopeOf(ch.access); scope != "" {
		h += fmt.Sprintf(`,scope=%q`, scope)
	}
	if ch.reason != "" {
		h += fmt.Sprintf(`,error=%q`, ch.reason)
	}
	w.Header().Add("WWW-Authenticate", h)
	if ch.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ch.retryAfter))
	}
}

// scopeOf renders the requested access as token scopes, one per resource.
func scopeOf(access []distauth.Access) string {
	var order []string
	actions := map[string][]string{}
	for _, a := range access {
		key := a.Type + ":" + a.Name
		if _, ok := actions[key]; !ok {
			order = append(order, key)
		}
		actions[key] = append(actions[key], a.Action)
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, k+":"+strings.Join(actions[k], ","))
	}
	return strings.Join(parts, " ")
}

// AccessController names berth's distribution access controller and its
// options (the core configures distribution with them).
func (s *Service) AccessController(realm func(*http.Request) string) (string, map[string]any) {
	return ControllerName, map[string]any{"service": s, "realm": realm}
}

// VisibleProjectsFor lists the projects the caller of r may see (nil: all),
// for the catalog.
func (s *Service) VisibleProjectsFor(r *http.Request) ([]int64, error) {
	p, _, err := s.Identify(r)
	if err != nil {
		return nil, err
	}
	return s.VisibleProjects(r.Context(), p)
}
