package domain

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/distribution/v3"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// Repo is a repository the domain resolved: its record, read once when
// Repository resolved the name, and the operations on what it holds, as
// distribution's Namespace.Repository hands out a repository. Handlers
// resolve a name once and use the handle for everything after. A Repo
// serves one request: it is not for concurrent use.
type Repo struct {
	Repository
	s  *Service
	dr distribution.Repository // opened on the first storage operation
}

// Repository resolves a repository by its full name: ErrInvalid for a
// name that is not <project>/<path>, ErrNotFound when the index holds no
// such repository.
func (s *Service) Repository(ctx context.Context, name string) (*Repo, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return nil, err
	}
	r, err := s.db.GetRepository(ctx, name)
	if err != nil {
		return nil, translate(err, "repository "+name)
	}
	return &Repo{Repository: repositoryOf(r), s: s}, nil
}

// Repo is the handle of a repository already read, from a list: no
// second lookup.
func (s *Service) Repo(r Repository) *Repo { return &Repo{Repository: r, s: s} }

// CreateRepository creates an empty repository in an existing project.
func (s *Service) CreateRepository(ctx context.Context, name, summary, detail string) (*Repo, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return nil, err
	}
	p, err := s.GetProject(ctx, index.ProjectName(name))
	if err != nil {
		return nil, err
	}
	r, err := s.db.CreateRepository(ctx, metadata.Repository{ProjectID: p.ID, Name: name, Summary: summary, Detail: detail})
	if err != nil {
		return nil, translate(err, "repository "+name)
	}
	return &Repo{Repository: repositoryOf(r), s: s}, nil
}

// ListRepositories lists repositories, with their tag and artifact counts.
func (s *Service) ListRepositories(ctx context.Context, f RepoFilter, q Query) ([]Repository, int64, error) {
	rs, total, err := s.db.ListRepositories(ctx, f.row(), q.options())
	return convert(rs, repositoryOf), total, err
}

// Update writes the record's summary, detail and attributes.
func (r *Repo) Update(ctx context.Context) error {
	return translate(r.s.db.UpdateRepository(ctx, r.row()), "repository "+r.Name)
}

// Delete deletes every artifact and tag of the repository (each from the
// index, then storage), then the repository itself: one audit record and
// event (repository.delete) names them all.
func (r *Repo) Delete(ctx context.Context) error {
	ctx, end := observe.WithUmbrella(ctx, observe.RepositoryDelete) // one record, naming every tag and manifest
	defer end()
	dr, err := r.storage(ctx)
	if err != nil {
		return err
	}
	rr, ok := r.s.ix.Namespace().(distribution.RepositoryRemover)
	if !ok {
		return errors.New("domain: the registry cannot remove repositories")
	}
	if err := rr.Remove(ctx, dr.Named()); err != nil && !isUnknown(err) {
		return fmt.Errorf("domain: remove %s: %w", r.Name, err)
	}
	return nil
}

// storage is the repository in distribution's namespace, through which
// every change is indexed exactly as a client's would be.
func (r *Repo) storage(ctx context.Context) (distribution.Repository, error) {
	if r.dr == nil {
		dr, err := r.s.repository(ctx, r.Name)
		if err != nil {
			return nil, err
		}
		r.dr = dr
	}
	return r.dr, nil
}

func isUnknown(err error) bool {
	var (
		ut distribution.ErrTagUnknown
		ur distribution.ErrRepositoryUnknown
		um distribution.ErrManifestUnknownRevision
		mu distribution.ErrManifestUnknown
	)
	return errors.As(err, &ut) || errors.As(err, &ur) || errors.As(err, &um) || errors.As(err, &mu) || index.IsPathNotFound(err)
}
