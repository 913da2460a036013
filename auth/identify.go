package auth

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// Identify works out who sent r from its credentials: HTTP Basic (a user or
// an app credential) or a berth token (Authorization: Bearer), which every
// route accepts, or a scheme a dialect added (AddScheme). No credentials
// is Anonymous; credentials that do not verify are ErrUnauthenticated.
// Tokens also return their claims. A caller identified is named in the
// request's log lines (observe.SetUser).
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
	if err == nil && p.Authenticated() {
		a := observe.Actor{Kind: p.Kind, Name: p.DisplayName(), Asserted: p.ActingUser}
		switch p.Kind {
		case KindUser:
			a.ID = p.UserID
		case KindApp:
			a.ID = p.AppID
		}
		observe.SetActor(r.Context(), a)
	}
	return p, c, err
}

// Credentials are what a request presents: a berth token, or a username
// (or an application credential's access key) and its password (secret).
type Credentials struct {
	Token              string
	Username, Password string
	// ActingUser is the user an application credential says it acts for
	// (bk-repo's X-BKREPO-UID): kept as Principal.ActingUser, beside the
	// credential that is who made a change.
	ActingUser string
}

// Scheme is a way of presenting credentials that a dialect defines,
// beside HTTP Basic and Bearer tokens.
type Scheme struct {
	// Authorization is the scheme word of an Authorization header the
	// scheme reads ("Platform"), compared without case.
	Authorization string
	// Header is another request header that carries the credentials
	// ("X-Auth-Token"); it is read only when the request has no
	// Authorization header.
	Header string
	// Read turns the header's value (for Authorization, what follows the
	// scheme word) into credentials; a malformed value is
	// ErrUnauthenticated.
	Read func(r *http.Request, value string) (Credentials, error)
}

// AddScheme accepts sc on every route, the OCI API's and the token
// service's included, as clients of that dialect expect. Call it while
// the server is assembled, before it serves.
func (s *Service) AddScheme(sc Scheme) { s.schemes = append(s.schemes, sc) }

func (s *Service) identify(r *http.Request) (Principal, *Claims, error) {
	ctx := r.Context()
	authz := r.Header.Get("Authorization")
	if authz == "" {
		for _, sc := range s.schemes {
			if v := r.Header.Get(sc.Header); sc.Header != "" && v != "" {
				return s.present(r, sc, v)
			}
		}
		return Anonymous, nil, nil
	}
	scheme, value, _ := strings.Cut(authz, " ")
	value = strings.TrimSpace(value)
	switch {
	case strings.EqualFold(scheme, "Basic"):
		user, pw, ok := r.BasicAuth()
		if !ok {
			return Anonymous, nil, ErrUnauthenticated
		}
		p, err := s.Login(ctx, user, pw, clientAddr(r))
		return p, nil, err
	case strings.EqualFold(scheme, "Bearer"):
		return s.fromToken(ctx, value)
	}
	for _, sc := range s.schemes {
		if sc.Authorization != "" && strings.EqualFold(scheme, sc.Authorization) {
			return s.present(r, sc, value)
		}
	}
	return Anonymous, nil, ErrUnauthenticated
}

// present verifies the credentials sc reads from value.
func (s *Service) present(r *http.Request, sc Scheme, value string) (Principal, *Claims, error) {
	c, err := sc.Read(r, value)
	if err != nil {
		return Anonymous, nil, ErrUnauthenticated
	}
	if c.Token != "" {
		return s.fromToken(r.Context(), c.Token)
	}
	p, err := s.Login(r.Context(), c.Username, c.Password, clientAddr(r))
	if err != nil {
		return Anonymous, nil, err
	}
	p.ActingUser = c.ActingUser
	return p, nil, nil
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

// tokenSubject reads the user or app credential a token names, as it is
// now: a missing, disabled or expired one, or one whose credentials were
// reset since the token was issued (another credential version), is
// ErrUnauthenticated.
func (s *Service) tokenSubject(ctx context.Context, c Claims) (Principal, error) {
	switch c.Kind {
	case KindApp:
		ac, err := s.db.GetAppCredential(ctx, c.Subject)
		if errors.Is(err, metadata.ErrNotFound) || (err == nil && (ac.Disabled || ac.CredentialVersion != c.Version || ac.ID != c.SubjectID ||
			(!ac.ExpiresAt.IsZero() && !time.Now().Before(ac.ExpiresAt)))) {
			return Anonymous, ErrUnauthenticated
		}
		if err != nil {
			return Anonymous, err
		}
		return Principal{Kind: KindApp, Name: ac.AccessKey, AppID: ac.ID, Scopes: ac.Scopes, CredentialVersion: ac.CredentialVersion, ViaToken: true}, nil
	default:
		u, err := s.db.GetUser(ctx, c.Subject)
		if errors.Is(err, metadata.ErrNotFound) || (err == nil && (u.Disabled || u.CredentialVersion != c.Version || u.ID != c.SubjectID)) {
			return Anonymous, ErrUnauthenticated
		}
		if err != nil {
			return Anonymous, err
		}
		return Principal{Kind: KindUser, Name: u.Username, UserID: u.ID, Admin: u.Admin, CredentialVersion: u.CredentialVersion, ViaToken: true}, nil
	}
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
