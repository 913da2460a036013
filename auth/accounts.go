package auth

import (
	"context"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// User is an account as management shows it (never its password).
type User struct {
	ID        int64
	Username  string
	Admin     bool
	Disabled  bool
	CreatedAt time.Time
}

func userOf(u metadata.User) User {
	return User{ID: u.ID, Username: u.Username, Admin: u.Admin, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

// Users lists every account by name.
func (s *Service) Users(ctx context.Context) ([]User, error) {
	us, err := s.db.ListUsers(ctx)
	out := make([]User, 0, len(us))
	for _, u := range us {
		out = append(out, userOf(u))
	}
	return out, err
}

// DeleteUser deletes an account (operators, on the CLI).
func (s *Service) DeleteUser(ctx context.Context, username string) error {
	return domain.Translate(s.db.DeleteUser(ctx, username), "user "+username)
}

// Member is a user's role in a project.
type Member struct {
	Username string
	Role     string
}

// Members lists a project's members by name.
func (s *Service) Members(ctx context.Context, projectID int64) ([]Member, error) {
	ms, err := s.db.ListMembers(ctx, projectID)
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, Member{Username: m.Username, Role: m.Role})
	}
	return out, err
}

// RemoveMember takes a user's role in a project away. A name no user has
// is answered like a user who is not a member: not found, either way.
func (s *Service) RemoveMember(ctx context.Context, projectID int64, username string) error {
	u, err := s.db.GetUser(ctx, username)
	if err != nil {
		return domain.Translate(err, "member "+username)
	}
	return domain.Translate(s.db.RemoveMember(ctx, projectID, u.ID), "member "+username)
}
