package auth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/storage"
)

// TokenHandler is the Docker token service (/service/token): it exchanges
// Basic credentials, or none for anonymous pulls, for a short-lived signed
// token whose access is the requested scope intersected with the caller's
// rights. A scope the caller lacks is simply not granted.
func (s *Service) TokenHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			writeTokenError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "use GET or POST")
			return
		}
		q := r.URL.Query()
		var p Principal
		var claims *Claims
		var err error
		if r.Method == http.MethodPost && crossSite(r) {
			// Another site's page posting guesses from a visitor's
			// browser would lock the user out from the visitor's address.
			writeTokenError(w, http.StatusForbidden, "DENIED", "cross-origin request refused")
			return
		}
		if r.Method == http.MethodPost {
			// OAuth2 password grant, as containerd and others send it.
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if perr := r.ParseForm(); perr != nil {
				writeTokenError(w, http.StatusBadRequest, "INVALID_REQUEST", "malformed form body")
				return
			}
			q = r.PostForm
			if q.Get("grant_type") == "password" {
				p, err = s.Login(r.Context(), q.Get("username"), q.Get("password"), clientAddr(r))
			} else {
				p, claims, err = s.Identify(r)
			}
		} else {
			p, claims, err = s.Identify(r)
		}
		if err == nil && claims != nil && p.Authenticated() {
			// A token is no credential for another token: it would widen
			// its own scope and, renewed, outlive a password reset.
			err = ErrUnauthenticated
		}
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			s.log.ErrorContext(r.Context(), "token: credentials cannot be checked", "err", err)
			storage.MarkDatabase(r.Context(), storage.Unavailable)
			writeTokenError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "credentials cannot be checked now (the metadata database did not answer), try again later")
			return
		}
		if secs := RetryAfter(err); secs > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeTokenError(w, http.StatusTooManyRequests, "TOO_MANY_REQUESTS", err.Error())
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			writeTokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required: wrong username or password")
			return
		}
		if svc := q.Get("service"); svc != "" && svc != s.cfg.Service {
			writeTokenError(w, http.StatusBadRequest, "INVALID_REQUEST", "unknown service "+svc)
			return
		}
		var access []ResourceActions
		for _, scope := range q["scope"] {
			for _, ra := range parseScopes(scope) {
				granted, err := s.grant(r, p, ra)
				if err != nil {
					s.log.ErrorContext(r.Context(), "token: authorizing scope", "err", err)
					storage.MarkDatabase(r.Context(), storage.Unavailable)
					writeTokenError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "try again later")
					return
				}
				if len(granted) > 0 {
					access = append(access, ResourceActions{Type: ra.Type, Name: ra.Name, Actions: granted})
				}
			}
		}
		if access == nil {
			access = []ResourceActions{}
		}
		now := time.Now()
		kind := p.Kind
		sub := p.Name
		if !p.Authenticated() {
			kind, sub = KindAnonymous, "anonymous"
		}
		token, err := s.signer.sign(Claims{
			Issuer: tokenIssuer, Subject: sub, Audience: s.cfg.Service, Kind: kind, Version: p.CredentialVersion, SubjectID: p.subjectID(),
			IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(s.cfg.TokenTTL).Unix(),
			ID: RandomSecret(12), Access: access,
		})
		if err != nil {
			writeTokenError(w, http.StatusInternalServerError, "UNKNOWN", "cannot sign token")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"token": token, "access_token": token,
			"expires_in": int(s.cfg.TokenTTL.Seconds()), "issued_at": now.UTC().Format(time.RFC3339),
		})
	})
}

// grant intersects one requested scope with p's rights.
func (s *Service) grant(r *http.Request, p Principal, ra ResourceActions) ([]string, error) {
	switch ra.Type {
	case "registry":
		if ra.Name == "catalog" {
			return []string{"*"}, nil // the catalog lists only what p may see
		}
		return nil, nil
	case "repository":
		return s.repoActions(r.Context(), p, ra.Name, ra.Actions)
	}
	return nil, nil
}

// parseScopes reads "repository:name:pull,push" (several separated by
// spaces). Names may contain ':' only before a port, which repositories
// never have, so the last colon splits the actions.
func parseScopes(s string) []ResourceActions {
	var out []ResourceActions
	for _, one := range strings.Fields(s) {
		typ, rest, ok := strings.Cut(one, ":")
		i := strings.LastIndex(rest, ":")
		if !ok || i <= 0 {
			continue
		}
		name, actions := rest[:i], rest[i+1:]
		if strings.Contains(typ, "(") { // repository(plugin):name
			typ = typ[:strings.Index(typ, "(")]
		}
		out = append(out, ResourceActions{Type: typ, Name: name, Actions: strings.Split(actions, ",")})
	}
	return out
}

func writeTokenError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

// crossSite reports whether a browser sent r from another site: the
// management APIs' rule (ext/dialect's guard) for the token service's
// form POST. Clients that are not browsers send neither header.
func crossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		return true
	}
	o, ok := r.Header["Origin"]
	if !ok {
		return false
	}
	if len(o) != 1 {
		return true
	}
	u, err := url.Parse(o[0])
	return err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host)
}
