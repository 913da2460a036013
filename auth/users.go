package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// ErrInvalid marks bad input to user and credential management.
var ErrInvalid = errors.New("invalid")

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ValidateUsername accepts 1-64 lowercase letters, digits, '.', '_' and
// '-', starting with a letter or digit, not with the access key prefix.
func ValidateUsername(name string) error {
	if !usernameRE.MatchString(name) || strings.HasPrefix(name, "berth-") {
		return fmt.Errorf("%w: username %q must be 1-64 of a-z 0-9 . _ - starting with a letter or digit (and not berth-)", ErrInvalid, name)
	}
	return nil
}

// AddUser creates a user with a password that meets the policy; a name
// taken is domain.ErrAlreadyExists.
func (s *Service) AddUser(ctx context.Context, name, password string, admin bool) (User, error) {
	if err := ValidateUsername(name); err != nil {
		return User{}, err
	}
	if err := CheckPolicy(password); err != nil {
		return User{}, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return User{}, err
	}
	u, err := s.db.CreateUser(ctx, metadata.User{Username: name, PasswordHash: hash, Admin: admin})
	return userOf(u), domain.Translate(err, "user "+name)
}

// SetPassword replaces a user's password (operators, on the CLI).
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := CheckPolicy(password); err != nil {
		return err
	}
	u, err := s.db.GetUser(ctx, name)
	if err != nil {
		return domain.Translate(err, "user "+name)
	}
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	return s.db.SetPassword(ctx, u.ID, hash)
}

// ResetCredential sets or resets a user's registry password on behalf of
// actor: users may reset their own, system admins anyone's; only admins may
// create the user when it does not exist. The old password (and every
// cached copy of it, on every replica) stops working at once.
func (s *Service) ResetCredential(ctx context.Context, actor Principal, name, password string) (created bool, err error) {
	if !actor.Authenticated() {
		return false, ErrUnauthenticated
	}
	if actor.ViaToken {
		// A leaked pull token must not be enough to take over an account.
		return false, fmt.Errorf("%w: changing a password needs the caller's password (HTTP Basic), not a token", ErrDenied)
	}
	self := actor.Kind == KindUser && actor.Name == name
	if !actor.Admin && !self {
		return false, ErrDenied
	}
	if err := ValidateUsername(name); err != nil {
		return false, err
	}
	if err := CheckPolicy(password); err != nil {
		return false, err
	}
	u, err := s.db.GetUser(ctx, name)
	if errors.Is(err, metadata.ErrNotFound) {
		if !actor.Admin {
			return false, ErrDenied
		}
		_, err = s.AddUser(ctx, name, password, false)
		return err == nil, err
	}
	if err != nil {
		return false, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return false, err
	}
	return false, s.db.SetPassword(ctx, u.ID, hash)
}

// SetMember gives a user a role in a project.
func (s *Service) SetMember(ctx context.Context, project, username, role string) error {
	return s.SetMemberAs(ctx, Principal{Admin: true}, project, username, role)
}

// SetMemberAs gives a user a role in a project on behalf of actor, who
// manages the project. Only a system administrator (who may list the
// users anyway) is told that no user has the name: to anyone else an
// unknown name is answered exactly like a user made a member, and
// nothing is stored, so adding members does not enumerate the users of
// berth. (The project's member list shows who is a member.)
func (s *Service) SetMemberAs(ctx context.Context, actor Principal, project, username, role string) error {
	if !ValidRole(role) {
		return fmt.Errorf("%w: role %q must be guest, developer or admin", ErrInvalid, role)
	}
	proj, err := s.db.GetProject(ctx, project)
	if err != nil {
		return domain.Translate(err, "project "+project)
	}
	u, err := s.db.GetUser(ctx, username)
	if errors.Is(err, metadata.ErrNotFound) && !actor.Admin {
		s.log.InfoContext(ctx, "membership of an unknown user not stored (the caller is not told)", "project", project, "target", clip(username))
		return nil
	}
	if err != nil {
		return domain.Translate(err, "user "+username)
	}
	return s.db.SetMember(ctx, proj.ID, u.ID, role)
}

// clip bounds a caller's string in a log line.
func clip(s string) string {
	if len(s) > maxThrottleKey {
		return s[:maxThrottleKey] + "..."
	}
	return s
}

// AppCredential is a newly created credential; Secret is shown once.
type AppCredential struct {
	AccessKey string
	Secret    string
	Name      string
}

// CreateAppCredential creates a robot account with a role per project.
func (s *Service) CreateAppCredential(ctx context.Context, creator Principal, name string, roles map[string]string, ttl time.Duration) (AppCredential, error) {
	if name == "" || len(name) > 128 {
		return AppCredential{}, fmt.Errorf("%w: credential name must be 1-128 characters", ErrInvalid)
	}
	if creator.ViaToken {
		return AppCredential{}, fmt.Errorf("%w: creating credentials needs the caller's password (HTTP Basic), not a token", ErrDenied)
	}
	scopes := map[int64]string{}
	for project, role := range roles {
		if !ValidRole(role) {
			return AppCredential{}, fmt.Errorf("%w: role %q must be guest, developer or admin", ErrInvalid, role)
		}
		if creator.Authenticated() { // the CLI acts as the operator
			if _, err := s.Check(ctx, creator, project, ActionManage); err != nil {
				return AppCredential{}, err
			}
		}
		proj, err := s.db.GetProject(ctx, project)
		if err != nil {
			return AppCredential{}, domain.Translate(err, "project "+project)
		}
		scopes[proj.ID] = role
	}
	key := make([]byte, 12)
	_, _ = rand.Read(key)
	secret := RandomSecret(24)
	hash, err := HashPassword(secret)
	if err != nil {
		return AppCredential{}, err
	}
	c := metadata.AppCredential{AccessKey: AccessKeyPrefix + hex.EncodeToString(key), SecretHash: hash, Name: name, Creator: creator.Name, Scopes: scopes}
	if ttl > 0 {
		c.ExpiresAt = time.Now().Add(ttl)
	}
	if _, err := s.db.CreateAppCredential(ctx, c); err != nil {
		return AppCredential{}, err
	}
	return AppCredential{AccessKey: c.AccessKey, Secret: secret, Name: name}, nil
}
