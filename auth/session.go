package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

// Session is a web console login (ext/console): the token its cookie
// holds, the CSRF token its forms carry, and the user it names, read again
// on every request (an admin flag taken away, a disabled account or a
// changed password take effect at once, on every replica).
type Session struct {
	Token     string
	CSRF      string
	Principal Principal
	ExpiresAt time.Time
}

// Session lifetimes: idle sessions end after sessionIdle, every session
// after sessionMax.
const (
	sessionIdle = 30 * time.Minute
	sessionMax  = 12 * time.Hour
	// touchEvery bounds the writes a browsing user makes to the database.
	touchEvery = time.Minute
)

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// StartSession opens a session for a user who has just proved their
// password (Login): application credentials get none.
func (s *Service) StartSession(ctx context.Context, p Principal) (Session, error) {
	if p.Kind != KindUser || p.ViaToken {
		return Session{}, fmt.Errorf("%w: a console session needs a user's password", ErrDenied)
	}
	u, err := s.db.GetUser(ctx, p.Name)
	if err != nil || u.ID != p.UserID || u.Disabled {
		return Session{}, errors.Join(ErrUnauthenticated, err)
	}
	now := time.Now()
	ses := Session{Token: RandomSecret(32), CSRF: RandomSecret(32), Principal: p, ExpiresAt: now.Add(sessionIdle)}
	err = s.db.CreateSession(ctx, metadata.Session{TokenHash: tokenHash(ses.Token), UserID: u.ID, CredentialVersion: u.CredentialVersion,
		CSRF: ses.CSRF, CreatedAt: now, SeenAt: now, ExpiresAt: ses.ExpiresAt})
	return ses, err
}

// LookupSession returns the live session of a token: ErrUnauthenticated
// when there is none, it expired, or its user is gone, disabled or changed
// password since.
func (s *Service) LookupSession(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 128 {
		return Session{}, ErrUnauthenticated
	}
	h := tokenHash(token)
	row, err := s.db.GetSession(ctx, h)
	if errors.Is(err, metadata.ErrNotFound) {
		return Session{}, ErrUnauthenticated
	}
	if err != nil {
		return Session{}, err
	}
	now := time.Now()
	if now.After(row.ExpiresAt) || now.After(row.CreatedAt.Add(sessionMax)) || row.User.Disabled || row.User.CredentialVersion != row.CredentialVersion {
		_ = s.db.DeleteSession(ctx, h)
		return Session{}, ErrUnauthenticated
	}
	if now.Sub(row.SeenAt) >= touchEvery {
		row.ExpiresAt = now.Add(sessionIdle)
		if err := s.db.TouchSession(ctx, h, now, row.ExpiresAt); err != nil {
			return Session{}, err
		}
	}
	u := row.User
	return Session{Token: token, CSRF: row.CSRF, ExpiresAt: row.ExpiresAt,
		Principal: Principal{Kind: KindUser, Name: u.Username, UserID: u.ID, Admin: u.Admin}}, nil
}

// EndSession ends a session (logout); an unknown token is no error.
func (s *Service) EndSession(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return s.db.DeleteSession(ctx, tokenHash(token))
}
