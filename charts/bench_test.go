package charts

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/registry/index"
	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

// benchVersions is the size of the benchmarked chart repository:
// benchCharts charts × benchPerChart versions.
const (
	benchCharts   = 100
	benchPerChart = 100
)

// seedCharts fills a SQLite index with a project of 10,000 chart versions,
// written the way the index middleware writes them.
func seedCharts(b *testing.B) (*Service, *metadata.DB, metadata.Project) {
	b.Helper()
	ctx := context.Background()
	db := metadatatest.Open(b, "")
	p, err := db.EnsureProject(ctx, "bench", "bench", 0)
	if err != nil {
		b.Fatal(err)
	}
	for c := range benchCharts {
		name := fmt.Sprintf("chart-%03d", c)
		repo := "bench/" + name
		for v := range benchPerChart {
			version := fmt.Sprintf("1.%d.%d", v/10, v%10)
			dgst := fmt.Sprintf("sha256:%064x", c*benchPerChart+v+1)
			a, err := db.PutArtifact(ctx, p.ID, repo, metadata.Artifact{Digest: dgst, MediaType: "application/vnd.oci.image.manifest.v1+json",
				ConfigMediaType: index.HelmConfigMediaType, ManifestSize: 500})
			if err != nil {
				b.Fatal(err)
			}
			if err := db.PutTag(ctx, a.RepositoryID, version, dgst, time.Now()); err != nil {
				b.Fatal(err)
			}
			meta := fmt.Sprintf(`{"name":%q,"home":"https://example.com/%s","version":%q,"description":"A benchmark chart with a description of ordinary length.","keywords":["bench","charts"],"maintainers":[{"name":"Bench","email":"bench@example.com"}],"apiVersion":"v2","appVersion":"2.0.%d","type":"application"}`, name, name, version, v)
			if err := db.PutChartVersion(ctx, metadata.ChartVersion{ArtifactID: a.ID, RepositoryID: a.RepositoryID, ProjectID: p.ID,
				Name: name, Version: version, Tag: version, AppVersion: fmt.Sprintf("2.0.%d", v), Created: time.Now(),
				ChartDigest: fmt.Sprintf("sha256:%064x", 1<<40+c*benchPerChart+v), ChartSize: 4096, Metadata: []byte(meta)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	ix := index.New(db, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
	return New(domain.New(ix, nil), Limits{}, slog.New(slog.NewTextHandler(io.Discard, nil))), db, p
}

func p99(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)*99/100]
}

// BenchmarkIndexYAML serves a 10,000-version index.yaml from the cache
// (one generation read per request) and regenerates it after a change.
func BenchmarkIndexYAML(b *testing.B) {
	svc, db, p := seedCharts(b)
	ctx := context.Background()
	const base = "https://charts.example.com"
	first, err := svc.indexFile(ctx, p.ID, p.Name, base)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("index.yaml: %d versions, %d bytes", benchCharts*benchPerChart, len(first.body))

	b.Run("cached", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			start := time.Now()
			if _, err := svc.indexFile(ctx, p.ID, p.Name, base); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		b.ReportMetric(float64(p99(ds).Microseconds())/1000, "p99-ms")
	})
	b.Run("regenerate", func(b *testing.B) {
		var ds []time.Duration
		for b.Loop() {
			if err := db.TouchCharts(ctx, p.Name); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			if _, err := svc.indexFile(ctx, p.ID, p.Name, base); err != nil {
				b.Fatal(err)
			}
			ds = append(ds, time.Since(start))
		}
		b.ReportMetric(float64(p99(ds).Microseconds())/1000, "p99-ms")
	})
}
