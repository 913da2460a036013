// Package charts is berth's classic Helm chart repository: index.yaml per
// project, .tgz (and .prov) download, upload and delete, and the Harbor /
// ChartMuseum chart API. There is one copy of every chart: the OCI
// artifact <project>/<name>:<version> that `helm push oci://` stores (+ in
// a version is _ in the tag). The index middleware records each chart
// manifest; this package renders the classic views from that record and
// stores uploads through the registry itself, as helm push would.
package charts

import (
	"context"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Masterminds/semver/v3"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/observe"
)

// Service is the chart repository over the domain service.
type Service struct {
	dom    *domain.Service
	limits Limits
	log    *slog.Logger

	mu    sync.Mutex
	cache map[cacheKey]*cachedIndex
	group singleflight.Group

	uploads keyLock // one upload per chart version at a time (see Upload)
}

// New returns the chart repository over dom with upload limits lim.
func New(dom *domain.Service, lim Limits, log *slog.Logger) *Service {
	return &Service{dom: dom, limits: lim.WithDefaults(), log: observe.Logger(log).With("component", "charts"), cache: map[cacheKey]*cachedIndex{}}
}

// Summary is one chart of a project, over its versions.
type Summary struct {
	Project, Name, LatestVersion string
	TotalVersions                int64
	Created, Updated             time.Time
}

// Filter selects charts.
type Filter struct {
	ProjectIDs []int64 // nil: all projects
	NameHas    string
}

// ListCharts lists charts (one summary per project and name) sorted by
// project then name, one page of them, with the total.
func (s *Service) ListCharts(ctx context.Context, f Filter, page domain.Page) ([]Summary, int64, error) {
	vs, err := s.dom.ChartVersions(ctx, domain.ChartFilter{ProjectIDs: f.ProjectIDs, NameHas: f.NameHas}, false)
	if err != nil {
		return nil, 0, err
	}
	all := summarize(vs)
	total := int64(len(all))
	out := make([]Summary, 0)
	for i := page.Offset; i < len(all) && (page.Limit == 0 || len(out) < page.Limit); i++ {
		out = append(out, all[i].Summary)
	}
	return out, total, nil
}

// chartGroup is a chart's summary with its newest version's record.
type chartGroup struct {
	Summary
	latest domain.ChartVersion
}

// summarize groups versions (ordered by project and name) into charts.
func summarize(vs []domain.ChartVersion) []chartGroup {
	var out []chartGroup
	for i := 0; i < len(vs); {
		j := i
		for j < len(vs) && vs[j].Project == vs[i].Project && vs[j].Name == vs[i].Name {
			j++
		}
		group := append([]domain.ChartVersion(nil), vs[i:j]...)
		sortVersions(group)
		g := chartGroup{Summary: Summary{Project: vs[i].Project, Name: vs[i].Name, LatestVersion: group[0].Version,
			TotalVersions: int64(len(group)), Created: group[0].Created, Updated: group[0].Created}, latest: group[0]}
		for _, v := range group {
			if v.Created.Before(g.Created) {
				g.Created = v.Created
			}
			if v.Created.After(g.Updated) {
				g.Updated = v.Created
			}
		}
		out = append(out, g)
		i = j
	}
	return out
}

// sortVersions orders versions newest SemVer first, as helm does; versions
// that are not SemVer go last, by name.
func sortVersions(vs []domain.ChartVersion) {
	parsed := make(map[string]*semver.Version, len(vs))
	for _, v := range vs {
		if sv, err := semver.NewVersion(v.Version); err == nil {
			parsed[v.Version] = sv
		}
	}
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := parsed[vs[i].Version], parsed[vs[j].Version]
		switch {
		case a != nil && b != nil:
			if c := a.Compare(b); c != 0 {
				return c > 0
			}
			return vs[i].Version > vs[j].Version
		case a != nil || b != nil:
			return a != nil
		}
		return vs[i].Version > vs[j].Version
	})
}

// versions returns a project's live versions of a chart, newest first
// (all charts when name is ""), with Chart.yaml when withMeta.
func (s *Service) versions(ctx context.Context, projectID int64, name, version string, withMeta bool) ([]domain.ChartVersion, error) {
	vs, err := s.dom.ChartVersions(ctx, domain.ChartFilter{ProjectID: projectID, Name: name, Version: version}, withMeta)
	if err != nil {
		return nil, err
	}
	sortVersions(vs)
	return vs, nil
}

// version returns one live chart version of a project.
func (s *Service) version(ctx context.Context, project, name, version string, withMeta bool) (domain.ChartVersion, error) {
	p, err := s.dom.GetProject(ctx, project)
	if err != nil {
		return domain.ChartVersion{}, err
	}
	vs, err := s.versions(ctx, p.ID, name, version, withMeta)
	if err != nil {
		return domain.ChartVersion{}, err
	}
	if len(vs) == 0 {
		return domain.ChartVersion{}, dialect.NotFoundf("chart %s version %s not found in project %s", name, version, project)
	}
	return vs[0], nil
}

// DeleteChart deletes every version of a chart (domain.ErrNotFound when
// there is none).
func (s *Service) DeleteChart(ctx context.Context, project, name string) error {
	p, err := s.dom.GetProject(ctx, project)
	if err != nil {
		return err
	}
	vs, err := s.versions(ctx, p.ID, name, "", false)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return dialect.NotFoundf("chart %s not found in project %s", name, project)
	}
	ctx, end := observe.WithUmbrella(ctx, observe.ChartDelete) // one record for the chart
	defer end()
	for _, v := range vs {
		if err := s.deleteVersion(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// DeleteChartVersion deletes one version of a chart.
func (s *Service) DeleteChartVersion(ctx context.Context, project, name, version string) error {
	v, err := s.version(ctx, project, name, version, false)
	if err != nil {
		return err
	}
	return s.deleteVersion(ctx, v)
}

func (s *Service) deleteVersion(ctx context.Context, v domain.ChartVersion) error {
	repo, err := s.dom.Repository(ctx, v.Project+"/"+v.Name)
	if err == nil {
		err = repo.DeleteArtifact(ctx, v.Digest)
	}
	if err == nil {
		s.log.InfoContext(ctx, "chart version deleted", "project", v.Project, "chart", v.Name, "version", v.Version, "digest", v.Digest)
	}
	return err
}

// OpenChart opens a chart version's .tgz for streaming (domain.ErrNotFound
// when absent). The reader also seeks (an io.ReadSeekCloser).
func (s *Service) OpenChart(ctx context.Context, project, name, version string) (io.ReadCloser, int64, error) {
	v, err := s.version(ctx, project, name, version, false)
	if err != nil {
		return nil, 0, err
	}
	b, err := s.openBlob(ctx, v, v.ChartDigest)
	if err != nil {
		return nil, 0, err
	}
	return b, b.Size, nil
}

// openProv opens a chart version's provenance file.
func (s *Service) openProv(ctx context.Context, project, name, version string) (*domain.Blob, error) {
	v, err := s.version(ctx, project, name, version, false)
	if err != nil {
		return nil, err
	}
	if v.ProvDigest == "" {
		return nil, dialect.NotFoundf("chart %s version %s has no provenance file", name, version)
	}
	return s.openBlob(ctx, v, v.ProvDigest)
}

// openBlob opens a blob of a chart version's repository.
func (s *Service) openBlob(ctx context.Context, v domain.ChartVersion, d string) (*domain.Blob, error) {
	repo, err := s.dom.Repository(ctx, v.Project+"/"+v.Name)
	if err != nil {
		return nil, err
	}
	return repo.OpenBlob(ctx, d)
}

// splitFileName finds the chart and version a download names: file is
// <name>-<version>; the version is the first suffix after a dash that is
// SemVer and names a version the project holds.
func (s *Service) splitFileName(ctx context.Context, projectID int64, file string) (name, version string, err error) {
	for i := strings.IndexByte(file, '-'); i > 0; {
		n, v := file[:i], file[i+1:]
		if _, perr := semver.NewVersion(v); perr == nil {
			vs, err := s.versions(ctx, projectID, n, v, false)
			if err != nil {
				return "", "", err
			}
			if len(vs) > 0 {
				return n, v, nil
			}
		}
		next := strings.IndexByte(file[i+1:], '-')
		if next < 0 {
			break
		}
		i += next + 1
	}
	return "", "", dialect.NotFoundf("no chart version %q", file)
}
