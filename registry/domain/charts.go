package domain

import "context"

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
