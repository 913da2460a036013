package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// Identify works out who sent r from its credentials: HTTP Basic (a user or
// an app credential), a berth token (Authorization: Bearer, or X-Auth-Token),
// or Authorization: Platform base64(accessKey:secretKey) with an optional
// X-BKREPO-UID naming the user an app credential acts for. No credentials is
// Anonymous; credentials that do not verify are ErrUnauthenticated. Tokens
// also return their claims.
func (s *Service) Identify(r *http.Request) (Principal, *Claims, error) {
	p, c, err := s.identify(r)
	if err != nil && !errors.Is(err, ErrUnauthenticated) {
		// The credentials could not be checked: never a wrong password.
		err = domain.Classify(err)
		var de *domain.Error
		if !errors.As(err, &de) {
			err = domain.Errorf(domain.ErrUnavailable, "credentials cannot be checked now: %v", err)
		}
	}
	return p, c, err
}

func (s *Service) identify(r *http.Request) (Principal, *Claims, error) {
	ctx := r.Context()
	authz := r.Header.Get("Authorization")
	scheme, value, _ := strings.Cut(authz, " ")
	value = strings.TrimSpace(value)
	switch {
	case authz == "" && r.Header.Get("X-Auth-Token") != "":
		return s.fromToken(ctx, r.Header.Get("X-Auth-Token"))
	case authz == "":
		return Anonymous, nil, nil
	case strings.EqualFold(scheme, "Basic"):
		user, pw, ok := r.BasicAuth()
		if !ok {
			return Anonymous, nil, ErrUnauthenticated
		}
		p, err := s.Login(ctx, user, pw, clientAddr(r))
		return p, nil, err
	case strings.EqualFold(scheme, "Bearer"):
		return s.fromToken(ctx, value)
	case strings.EqualFold(scheme, "Platform"):
		raw, err := base64.StdEncoding.DecodeString(value)
		ak, sk, ok := strings.Cut(string(raw), ":")
		if err != nil || !ok || !strings.HasPrefix(ak, AccessKeyPrefix) {
			return Anonymous, nil, ErrUnauthenticated
		}
		p, err := s.Login(ctx, ak, sk, clientAddr(r))
		if err != nil {
			return Anonymous, nil, err
		}
		p.ActingUser = r.Header.Get("X-BKREPO-UID")
		return p, nil, nil
	}
	return Anonymous, nil, ErrUnauthenticated
}

// fromToken verifies a berth token and loads its subject.
func (s *Service) fromToken(ctx context.Context, token string) (Principal, *Claims, error) {
	now := time.Now()
	c, err := s.signer.verify(token, now)
	if err != nil {
		return Anonymous, nil, ErrUnauthenticated
	}
	if c.Kind == KindAnonymous {
		return Anonymous, &c, nil
	}
	if p, ok := s.principals.get(token, now); ok {
		return p, &c, nil
	}
	p, err := s.tokenSubject(ctx, c)
	if err != nil {
		return Anonymous, nil, err
	}
	s.principals.put(token, p, now)
	return p, &c, nil
}

// tokenSubject reads the user or app credential a token names; a missing
// or disabled one is ErrUnauthenticated.
func (s *Service) tokenSubject(ctx context.Context, c Claims) (Principal, error) {
	switch c.Kind {
	case KindApp:
		ac, err := s.db.GetAppCredential(ctx, c.Subject)
		if errors.Is(err, metadata.ErrNotFound) || (err == nil && ac.Disabled) {
			return Anonymous, ErrUnauthenticated
		}
		if err != nil {
			return Anonymous, err
		}
		return Principal{Kind: KindApp, Name: ac.AccessKey, AppID: ac.ID, Scopes: ac.Scopes, ViaToken: true}, nil
	default:
		u, err := s.db.GetUser(ctx, c.Subject)
		if errors.Is(err, metadata.ErrNotFound) || (err == nil && u.Disabled) {
			return Anonymous, ErrUnauthenticated
		}
		if err != nil {
			return Anonymous, err
		}
		return Principal{Kind: KindUser, Name: u.Username, UserID: u.ID, Admin: u.Admin, ViaToken: true}, nil
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Middleware identifies the caller of every management request and stores
// the principal (and any credential error) in the request context for
// FromContext; routes then call Check with the project and action.
func (s *Service) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _, err := s.Identify(r)
		ctx := WithPrincipal(r.Context(), p)
		if err != nil {
			ctx = context.WithValue(ctx, authErrKey{}, err)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
