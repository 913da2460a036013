package auth

import (
	"context"
	"errors"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// RoleIn is p's role in proj ("" for none) for dialects that report it; a
// system admin administers every project.
func (s *Service) RoleIn(ctx context.Context, p Principal, proj domain.Project) (string, error) {
	if p.Admin {
		return RoleAdmin, nil
	}
	return s.role(ctx, p, proj)
}

// UserID returns the id of the named user, 0 when there is no such user
// (a project created by berth itself, or a user since deleted).
func (s *Service) UserID(ctx context.Context, username string) (int64, error) {
	if username == "" {
		return 0, nil
	}
	u, err := s.db.GetUser(ctx, username)
	if errors.Is(err, metadata.ErrNotFound) {
		return 0, nil
	}
	return u.ID, err
}
