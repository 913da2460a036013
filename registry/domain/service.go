package domain

import (
	"context"
	"errors"
	"log/slog"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/reference"

	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/registry/observe"
	"github.com/berth-registry/berth/storage/metadata"
)

// DefaultProject exists from the first start, public, like Harbor's.
const DefaultProject = "library"

// Service is the domain API. It reads from the metadata index and changes
// storage through distribution's own namespace, so every change is indexed
// exactly as a client's push or delete would be.
type Service struct {
	db        *metadata.DB
	ix        *index.Indexer
	log       *slog.Logger
	downloads Downloads // nil: downloads are not counted
}

// Downloads counts manifest downloads without waiting for the database
// (index.Pulls, which counts /v2 pulls too).
type Downloads interface {
	Record(repo, digest, tag string)
}

// CountDownloads makes Repo.RecordDownload count into d; set it before
// serving.
func (s *Service) CountDownloads(d Downloads) { s.downloads = d }

// New returns the service over an indexer: distribution's app sets its
// namespace when it starts, and index.Standalone makes one without the
// app (tools, tests).
func New(ix *index.Indexer, log *slog.Logger) *Service {
	return &Service{db: ix.DB(), ix: ix, log: observe.Logger(log).With("component", "domain")}
}

// Bootstrap creates the default project when it does not exist.
func (s *Service) Bootstrap(ctx context.Context) error {
	_, err := s.db.GetProject(ctx, DefaultProject)
	if errors.Is(err, metadata.ErrNotFound) {
		_, err = s.db.CreateProject(ctx, metadata.Project{Name: DefaultProject, Public: true, QuotaBytes: -1, Creator: "berth"})
		if errors.Is(err, metadata.ErrExists) {
			err = nil
		}
	}
	return err
}

// ProjectSpec creates or updates a project.
type ProjectSpec struct {
	Name       string
	Public     bool
	QuotaBytes int64 // -1: unlimited
	Creator    string
	Attrs      map[string]string
}

// CreateProject creates a project.
func (s *Service) CreateProject(ctx context.Context, spec ProjectSpec) (Project, error) {
	if err := ValidateProjectName(spec.Name); err != nil {
		return Project{}, err
	}
	if spec.QuotaBytes < -1 {
		return Project{}, errorf(ErrInvalid, "quota must be -1 (unlimited) or a number of bytes, not %d", spec.QuotaBytes)
	}
	if spec.QuotaBytes == 0 {
		spec.QuotaBytes = -1
	}
	p, err := s.db.CreateProject(ctx, metadata.Project{Name: spec.Name, Public: spec.Public, QuotaBytes: spec.QuotaBytes, Creator: spec.Creator, Attrs: spec.Attrs})
	return ProjectOf(p), translate(err, "project "+spec.Name)
}

// GetProject returns a project by name.
func (s *Service) GetProject(ctx context.Context, name string) (Project, error) {
	p, err := s.db.GetProject(ctx, name)
	return ProjectOf(p), translate(err, "project "+name)
}

// GetProjectByID returns a project by id.
func (s *Service) GetProjectByID(ctx context.Context, id int64) (Project, error) {
	p, err := s.db.GetProjectByID(ctx, id)
	return ProjectOf(p), translate(err, "project")
}

// ListProjects lists projects sorted by name (or creation time), with
// their repository counts.
func (s *Service) ListProjects(ctx context.Context, f ProjectFilter, q Query) ([]Project, int64, error) {
	ps, total, err := s.db.ListProjects(ctx, f.row(), q.options())
	return convert(ps, ProjectOf), total, err
}

// UpdateProject changes visibility, quota and attributes.
func (s *Service) UpdateProject(ctx context.Context, p Project) error {
	if p.QuotaBytes < -1 {
		return errorf(ErrInvalid, "quota must be -1 (unlimited) or a number of bytes, not %d", p.QuotaBytes)
	}
	return translate(s.db.UpdateProject(ctx, p.row()), "project "+p.Name)
}

// DeleteProject deletes a project. A project holding repositories is refused
// unless force is set, in which case every repository is deleted first.
func (s *Service) DeleteProject(ctx context.Context, name string, force bool) error {
	p, err := s.GetProject(ctx, name)
	if err != nil {
		return err
	}
	if force {
		// One record: the project's delete, naming what its repositories held.
		var end func()
		ctx, end = observe.WithUmbrella(ctx, observe.ProjectDelete)
		defer end()
		for {
			repos, _, err := s.db.ListRepositories(ctx, metadata.RepoFilter{ProjectID: p.ID}, metadata.ListOptions{Limit: 100})
			if err != nil {
				return err
			}
			if len(repos) == 0 {
				break
			}
			for _, r := range repos {
				if err := s.Repo(repositoryOf(r)).Delete(ctx); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
		}
	}
	return translate(s.db.DeleteProject(ctx, p.ID, force), "project "+name)
}

// repository opens a repository in distribution's namespace.
func (s *Service) repository(ctx context.Context, name string) (distribution.Repository, error) {
	if err := ValidateRepositoryName(name); err != nil {
		return nil, err
	}
	ns := s.ix.Namespace()
	if ns == nil {
		return nil, errors.New("domain: registry not started")
	}
	named, err := reference.WithName(name)
	if err != nil {
		return nil, errorf(ErrInvalid, "repository name %q: %v", name, err)
	}
	return ns.Repository(ctx, named)
}
