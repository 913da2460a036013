package auth

import (
	"context"
	"errors"
)

// Errors of identity and access; dialects map them to their own codes.
var (
	ErrUnauthenticated = errors.New("authentication required")
	ErrDenied          = errors.New("permission denied")
	ErrNotFound        = errors.New("not found")
)

// Kind of principal.
const (
	KindAnonymous = "anonymous"
	KindUser      = "user"
	KindApp       = "app"
)

// Principal is who is asking.
type Principal struct {
	Kind   string
	Name   string // username, or the access key of an app credential
	UserID int64
	AppID  int64
	Admin  bool             // system admin
	Scopes map[int64]string // app credentials: project id → role
	// ActingUser is the user an app credential says it acts for
	// (bk-repo's X-BKREPO-UID): asserted by the caller, never verified,
	// so it is recorded beside the credential (the audit event's
	// actor.asserted), never instead of it.
	ActingUser string
	// CredentialVersion is the user's or app credential's version when
	// the credentials were verified; a token carries it, and stops
	// working once a password reset (or an update) has moved it on.
	CredentialVersion int64
	// ViaToken marks a principal proven by a short-lived token rather than
	// its password: enough to use the registry, not to change credentials.
	ViaToken bool
}

// subjectID is the id a token names its subject by.
func (p Principal) subjectID() int64 {
	if p.Kind == KindApp {
		return p.AppID
	}
	return p.UserID
}

// Anonymous is the principal of a request without credentials.
var Anonymous = Principal{Kind: KindAnonymous}

// Authenticated reports whether credentials were presented and verified.
func (p Principal) Authenticated() bool { return p.Kind != KindAnonymous && p.Kind != "" }

// DisplayName is who did something, for "pushed by" and logs: the
// authenticated identity (a username, or an app credential's access key),
// never a user the caller only names (ActingUser).
func (p Principal) DisplayName() string { return p.Name }

type principalKey struct{}

// WithPrincipal stores the request's principal in ctx, once identified.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's principal: Anonymous when none was
// stored.
func FromContext(ctx context.Context) Principal {
	if p, ok := ctx.Value(principalKey{}).(Principal); ok {
		return p
	}
	return Anonymous
}
