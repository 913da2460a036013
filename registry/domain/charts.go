package domain

import (
	"context"

	"github.com/berth-registry/berth/registry/index"
)

// Helm's OCI media types: a chart's config, its .tgz and its provenance
// file, as the index recognizes a chart by them.
const (
	HelmConfigMediaType     = index.HelmConfigMediaType
	HelmChartMediaType      = index.HelmChartMediaType
	HelmProvenanceMediaType = index.HelmProvenanceMediaType
)

// ChartTag is the OCI tag of a chart version: SemVer build metadata's +
// is not allowed in tags, helm writes it as _.
func ChartTag(version string) string { return index.ChartTag(version) }

// ChartVersions lists the live Helm chart versions the index holds (a chart
// manifest in <project>/<name> tagged with its version), by project and
// name. withMeta fills each version's Chart.yaml JSON.
func (s *Service) ChartVersions(ctx context.Context, f ChartFilter, withMeta bool) ([]ChartVersion, error) {
	vs, err := s.db.ChartVersions(ctx, f.row(), withMeta)
	return convert(vs, chartVersionOf), err
}

// ChartGeneration is a project's chart change counter: it moves on every
// change that may alter the project's chart repository, on any replica.
func (s *Service) ChartGeneration(ctx context.Context, projectID int64) (int64, error) {
	return s.db.ChartGeneration(ctx, projectID)
}
