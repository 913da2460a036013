// Package builder is the image market's core: build definitions (projects
// of instruction plugins, a hand-written Dockerfile or a downloaded one),
// their build-context files, and a daemonless image builder that applies a
// Dockerfile's instructions to a base image from berth's own store with
// go-containerregistry and pushes the result back into berth over its own
// HTTP endpoint, as the user who asked for the build. Builds run
// asynchronously on a bounded worker pool and are recorded in the metadata
// database.
package builder

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
)

// File types of a definition. TypeDefine (the seed's save example) names
// none: the plugins saved decide at build time (see buildType).
const (
	TypeEdit     = "edit"
	TypeTool     = "tool"
	TypeDownload = "download"
	TypeDefine   = "define"
)

// Credentials mints the short-lived registry token a build pushes with. It
// is implemented above the core by the auth service: the token carries the
// rights of the user who started the build, intersected with the scopes
// asked for, and nothing else.
type Credentials interface {
	RegistryToken(ctx context.Context, op Operator, pull, push []string) (string, error)
}

// Operator is who asks for a change or a build: a display name and the
// caller's identity, opaque to the builder and handed back to Credentials.
type Operator struct {
	Name     string
	Identity any
}

// Service holds build definitions and runs builds.
type Service struct {
	cfg   Config
	db    *metadata.DB
	dom   *domain.Service
	creds Credentials
	log   *slog.Logger
	fetch *fetcher // downloads URLs definitions name (see fetch.go)

	mu        sync.Mutex
	addr      string // berth's own listen address, for loopback pulls and pushes
	hosts     []string
	public    string
	closing   bool
	sem       chan struct{}
	running   map[int64]context.CancelFunc
	wg        sync.WaitGroup
	stopSweep context.CancelFunc
}

// New returns the builder service. Start it once berth listens.
func New(cfg Config, db *metadata.DB, dom *domain.Service, creds Credentials, log *slog.Logger) *Service {
	allow, _ := ParseFetchAllow(cfg.FetchAllow) // checked by Validate
	return &Service{
		cfg: cfg, db: db, dom: dom, creds: creds, log: log.With("component", "imagebuild"), fetch: newFetcher(allow),
		sem: make(chan struct{}, cfg.Workers), running: map[int64]context.CancelFunc{},
	}
}

// Config returns the builder's settings.
func (s *Service) Config() Config { return s.cfg }

// ValidateName lower-cases a build project name and checks it is a valid
// repository path component (the image is <Cluster>/<name>).
func ValidateName(name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return "", errorf(ErrInvalid, "projectName is empty")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "", errorf(ErrInvalid, "projectName contains special char: %c", r)
		}
	}
	if err := domain.ValidateRepositoryName("x/" + name); err != nil || len(name) > 128 {
		return "", errorf(ErrInvalid, "projectName %q must be letters and digits separated by single '.', '_' or '-', at most 128 characters", name)
	}
	return name, nil
}

// Definition is what CreateProject and SaveProject store.
type Definition struct {
	Name     string
	Cluster  string
	FileType string
	Plugins  []Plugin
}

// CreateProject creates an empty (or given) definition.
func (s *Service) CreateProject(ctx context.Context, d Definition, op Operator) (Project, error) {
	if d.Cluster == "" {
		d.Cluster = s.cfg.DefaultCluster
	}
	if err := s.check(&d); err != nil {
		return Project{}, err
	}
	p, err := s.db.CreateBuildProject(ctx, Project{
		Name: d.Name, Cluster: d.Cluster, FileType: d.FileType, Creator: op.Name, LastOperator: op.Name, Plugins: d.Plugins,
	}.row())
	return projectOf(p), translate(err, "project "+d.Name)
}

// SaveProject replaces a definition's type and plugins (add: create it,
// which fails when it exists).
func (s *Service) SaveProject(ctx context.Context, d Definition, add bool, op Operator) error {
	if err := s.check(&d); err != nil {
		return err
	}
	if add {
		_, err := s.CreateProject(ctx, d, op)
		return err
	}
	p, err := s.GetProject(ctx, d.Name)
	if err != nil {
		return err
	}
	p.Cluster, p.FileType, p.Plugins, p.LastOperator = d.Cluster, d.FileType, d.Plugins, op.Name
	return translate(s.db.UpdateBuildProject(ctx, p.row()), "project "+d.Name)
}

// check validates a definition and its plugins.
func (s *Service) check(d *Definition) error {
	name, err := ValidateName(d.Name)
	if err != nil {
		return err
	}
	d.Name = name
	if err := domain.ValidateProjectName(d.Cluster); err != nil {
		return errorf(ErrInvalid, "Cluster: %v", err)
	}
	switch d.FileType {
	case "", TypeEdit, TypeTool, TypeDownload, TypeDefine:
	default:
		return errorf(ErrInvalid, "DefineDockerFileType must be edit, tool, download or define, not %q", d.FileType)
	}
	return checkPlugins(d.FileType, d.Plugins)
}

// GetProject returns a definition with its plugins.
func (s *Service) GetProject(ctx context.Context, name string) (Project, error) {
	p, err := s.db.GetBuildProject(ctx, strings.ToLower(name))
	return projectOf(p), translate(err, "project "+name)
}

// ListProjects lists definitions whose name contains filter, in the given
// clusters (nil: all).
func (s *Service) ListProjects(ctx context.Context, clusters []string, filter string, page domain.Page) ([]Project, int64, error) {
	ps, total, err := s.db.ListBuildProjects(ctx, metadata.BuildProjectFilter{Clusters: clusters},
		metadata.ListOptions{Filter: strings.ToLower(filter), Offset: page.Offset, Limit: page.Limit})
	return convert(ps, projectOf), total, err
}

// DeleteProject deletes a definition, its files and its history. Images
// it built stay in the registry.
func (s *Service) DeleteProject(ctx context.Context, name string) error {
	return translate(s.db.DeleteBuildProject(ctx, strings.ToLower(name)), "project "+name)
}

// CloneProject copies a definition and its files (not its history) to a
// new name.
func (s *Service) CloneProject(ctx context.Context, src Project, dst string, op Operator) (Project, error) {
	p, err := s.CreateProject(ctx, Definition{Name: dst, Cluster: src.Cluster, FileType: src.FileType, Plugins: src.Plugins}, op)
	if err != nil {
		return p, err
	}
	if err := s.db.CopyBuildFiles(ctx, src.ID, p.ID); err != nil {
		_ = s.db.DeleteBuildProject(context.WithoutCancel(ctx), p.Name)
		return p, err
	}
	return p, nil
}

// History lists a project's builds, newest first (none for a project
// never built).
func (s *Service) History(ctx context.Context, p Project, page domain.Page) ([]Build, int64, error) {
	bs, total, err := s.db.ListBuilds(ctx, p.ID, metadata.ListOptions{Offset: page.Offset, Limit: page.Limit})
	return convert(bs, buildOf), total, err
}

// isKind reports whether err is one of the builder's client errors.
func isKind(err error) bool {
	var e *domain.Error
	return errors.As(err, &e)
}
