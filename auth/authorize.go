package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// projectName is the first path component of a repository name.
func projectName(repo string) string {
	p, _, _ := strings.Cut(repo, "/")
	return p
}

// role is p's role in proj ("" for none).
func (s *Service) role(ctx context.Context, p Principal, proj domain.Project) (string, error) {
	switch p.Kind {
	case KindApp:
		return p.Scopes[proj.ID], nil
	case KindUser:
		roles, err := s.db.Roles(ctx, p.UserID)
		if err != nil {
			return "", err
		}
		if r := roles[proj.ID]; r != "" {
			return r, nil
		}
		if proj.CreatorID != 0 && proj.CreatorID == p.UserID {
			// Whoever created a project administers it: that user, not
			// a user created later under the same name.
			return RoleAdmin, nil
		}
	}
	return "", nil
}

// Can reports whether p may do action in proj.
func (s *Service) Can(ctx context.Context, p Principal, proj domain.Project, action string) (bool, error) {
	if p.Admin {
		return true, nil
	}
	if action == ActionPull && proj.Public {
		return true, nil
	}
	r, err := s.role(ctx, p, proj)
	return RoleAllows(r, action), err
}

// visible reports whether p may know proj exists.
func (s *Service) visible(ctx context.Context, p Principal, proj domain.Project) (bool, error) {
	if p.Admin || proj.Public {
		return true, nil
	}
	r, err := s.role(ctx, p, proj)
	return r != "", err
}

// VisibleProjects returns the ids of the projects p may see, or nil when p
// sees everything (a system admin).
func (s *Service) VisibleProjects(ctx context.Context, p Principal) ([]int64, error) {
	if p.Admin {
		return nil, nil
	}
	ids, err := s.db.PublicProjectIDs(ctx)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		ids = []int64{}
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	add := func(id int64) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	switch p.Kind {
	case KindApp:
		for id := range p.Scopes {
			add(id)
		}
	case KindUser:
		roles, err := s.db.Roles(ctx, p.UserID)
		if err != nil || p.UserID == 0 {
			return ids, err
		}
		for id := range roles {
			add(id)
		}
		created, _, err := s.db.ListProjects(ctx, metadata.ProjectFilter{CreatorID: p.UserID}, metadata.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, pr := range created {
			add(pr.ID)
		}
	}
	return ids, nil
}

// Check is the one authorization check every management route calls: may p
// do action in the named project? A project p may not see is reported as
// ErrNotFound, exactly like one that does not exist; an anonymous caller is
// told to authenticate instead. It returns the project, so callers need
// not look it up again.
func (s *Service) Check(ctx context.Context, p Principal, project, action string) (domain.Project, error) {
	row, err := s.db.GetProject(ctx, project)
	proj := domain.ProjectOf(row)
	if err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			if !p.Authenticated() {
				return proj, ErrUnauthenticated
			}
			// The same work as for a project p may not see (below), so
			// that neither the answer nor its time tells them apart.
			if _, err := s.Can(ctx, p, proj, action); err != nil {
				return proj, err
			}
			if _, err := s.visible(ctx, p, proj); err != nil {
				return proj, err
			}
			return proj, ErrNotFound
		}
		return proj, err
	}
	ok, err := s.Can(ctx, p, proj, action)
	if err != nil || ok {
		return proj, err
	}
	if !p.Authenticated() {
		return proj, ErrUnauthenticated
	}
	if vis, err := s.visible(ctx, p, proj); err != nil {
		return proj, err
	} else if !vis {
		return proj, ErrNotFound
	}
	return proj, ErrDenied
}

// CheckAdmin allows system administrators only.
func (s *Service) CheckAdmin(p Principal) error {
	switch {
	case !p.Authenticated():
		return ErrUnauthenticated
	case !p.Admin:
		return ErrDenied
	}
	return nil
}

// repoActions returns which of the requested actions p may do on a
// repository ("*" stands for all three).
func (s *Service) repoActions(ctx context.Context, p Principal, repo string, requested []string) ([]string, error) {
	want := map[string]bool{}
	for _, a := range requested {
		if a == "*" {
			want[ActionPull], want[ActionPush], want[ActionDelete] = true, true, true
		} else {
			want[a] = true
		}
	}
	row, err := s.db.LookupProject(ctx, projectName(repo))
	proj := domain.ProjectOf(row)
	if errors.Is(err, metadata.ErrNotFound) {
		// A push may create the project when configured, for users only. A
		// system admin is let through to learn that the project is missing.
		if p.Admin || (s.cfg.AutoCreateProjects && p.Kind == KindUser && strings.Contains(repo, "/")) {
			var out []string
			for _, a := range []string{ActionPull, ActionPush, ActionDelete} {
				if want[a] {
					out = append(out, a)
				}
			}
			return out, nil
		}
		// Refused like a private project: after the same role lookup.
		for _, a := range []string{ActionPull, ActionPush, ActionDelete} {
			if want[a] {
				if _, err := s.Can(ctx, p, proj, a); err != nil {
					return nil, err
				}
			}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range []string{ActionPull, ActionPush, ActionDelete} {
		if !want[a] {
			continue
		}
		ok, err := s.Can(ctx, p, proj, a)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, a)
		}
	}
	return out, nil
}
