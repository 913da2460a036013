package index

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/storage/metadata"
)

// Helm's OCI media types.
const (
	HelmConfigMediaType     = "application/vnd.cncf.helm.config.v1+json"
	HelmChartMediaType      = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	HelmProvenanceMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"
)

// MaxChartConfigBytes bounds a helm config blob (Chart.yaml as JSON) read
// to index a chart.
const MaxChartConfigBytes = 1 << 20

// ChartTag is the OCI tag of a chart version: SemVer build metadata's +
// is not allowed in tags, helm writes it as _.
func ChartTag(version string) string { return strings.ReplaceAll(version, "+", "_") }

// chartConfig is the part of helm's config (Chart.yaml) the index keeps in
// columns; the whole JSON is kept too.
type chartConfig struct {
	Name        string              `json:"name"`
	Version     string              `json:"version"`
	AppVersion  string              `json:"appVersion"`
	Description string              `json:"description"`
	Home        string              `json:"home"`
	Icon        string              `json:"icon"`
	Keywords    []string            `json:"keywords"`
	Maintainers []map[string]string `json:"maintainers"`
	Deprecated  bool                `json:"deprecated"`
}

// DescribeChart reads the chart an artifact holds: its helm config blob
// (bounded) and its chart and provenance layers. ok is false when the
// artifact is not a Helm chart.
func DescribeChart(ctx context.Context, a metadata.Artifact, blobs distribution.BlobProvider) (cv metadata.ChartVersion, ok bool, err error) {
	if a.ConfigMediaType != HelmConfigMediaType || blobs == nil {
		return cv, false, nil
	}
	for _, b := range a.Blobs {
		switch b.MediaType {
		case HelmChartMediaType:
			cv.ChartDigest, cv.ChartSize = b.Digest, b.Size
		case HelmProvenanceMediaType:
			cv.ProvDigest, cv.ProvSize = b.Digest, b.Size
		}
	}
	if cv.ChartDigest == "" {
		return cv, false, fmt.Errorf("index: chart manifest %s has no %s layer", a.Digest, HelmChartMediaType)
	}
	raw, err := readSmallBlob(ctx, blobs, digest.Digest(a.ConfigDigest), MaxChartConfigBytes)
	if err != nil {
		return cv, false, fmt.Errorf("index: chart config %s: %w", a.ConfigDigest, err)
	}
	var cfg chartConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return cv, false, fmt.Errorf("index: chart config %s: %w", a.ConfigDigest, err)
	}
	if cfg.Name == "" || cfg.Version == "" {
		return cv, false, fmt.Errorf("index: chart config %s lacks a name or version", a.ConfigDigest)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return cv, false, err
	}
	cv.Name, cv.Version, cv.Tag = cfg.Name, cfg.Version, ChartTag(cfg.Version)
	cv.AppVersion, cv.Description, cv.Home, cv.Icon = cfg.AppVersion, cfg.Description, cfg.Home, cfg.Icon
	cv.Keywords, cv.Maintainers, cv.Deprecated = cfg.Keywords, cfg.Maintainers, cfg.Deprecated
	cv.Metadata = compact.Bytes()
	cv.Created = a.PushTime
	if t, err := time.Parse(time.RFC3339Nano, a.Annotations[v1.AnnotationCreated]); err == nil {
		cv.Created = t
	}
	if cv.Created.IsZero() {
		cv.Created = timeNow()
	}
	return cv, true, nil
}

// recordChart indexes the chart a just-recorded artifact holds, if any. A
// chart whose config cannot be read is logged and left out of the chart
// repository; the push itself stands, as it would on any OCI registry.
func (ix *Indexer) recordChart(ctx context.Context, projectID int64, a metadata.Artifact, blobs distribution.BlobProvider) error {
	cv, ok, err := DescribeChart(ctx, a, blobs)
	if err != nil {
		ix.log.WarnContext(ctx, "index: chart not indexed", "repository", a.Repository, "digest", a.Digest, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	cv.ArtifactID, cv.RepositoryID, cv.ProjectID = a.ID, a.RepositoryID, projectID
	return ix.db.PutChartVersion(ctx, cv)
}

// touchCharts tells every replica's chart repository cache that a project
// changed. Failing to do so would serve a stale index, so it is an error.
func (ix *Indexer) touchCharts(ctx context.Context, repo string) error {
	if err := ix.db.TouchCharts(ctx, ProjectName(repo)); err != nil {
		return fmt.Errorf("index: chart generation of %s: %w", repo, err)
	}
	return nil
}
