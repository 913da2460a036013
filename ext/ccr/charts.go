package ccr

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/charts"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
)

// ChartSummary is one chart (all versions of a name in a project).
type ChartSummary = charts.Summary

// ChartFilter narrows ListCharts.
type ChartFilter = charts.Filter

// ChartStore is what the chart routes need from berth's chart repository;
// *charts.Service implements it (tests use a fake).
type ChartStore interface {
	// ListCharts returns one page of charts, by project and name, and the
	// total number of matches.
	ListCharts(ctx context.Context, f ChartFilter, page domain.Page) ([]ChartSummary, int64, error)
	// DeleteChart deletes every version of a chart; domain.ErrNotFound
	// when there is none.
	DeleteChart(ctx context.Context, project, name string) error
	// OpenChart opens one version's .tgz for streaming, with its size;
	// domain.ErrNotFound when missing.
	OpenChart(ctx context.Context, project, name, version string) (io.ReadCloser, int64, error)
}

// chartJSON is the seed's chart record (1.11.6).
type chartJSON struct {
	Name          string `json:"name"`
	TotalVersions int64  `json:"total_versions"`
	LatestVersion string `json:"latest_version"`
	ProjectName   string `json:"project_name"`
	Created       string `json:"created"`
	Updated       string `json:"updated"`
}

// chartStore returns the store, or a 501 when none is wired.
func (h *handler) chartStore() (ChartStore, error) {
	if h.charts == nil {
		return nil, domain.Errorf(errNoCharts, "the chart repository is not enabled on this server")
	}
	return h.charts, nil
}

// GET .../projects/charts?pageNo&pageSize&nameHas&noPaging: the charts of
// every project the caller may see.
func (h *handler) listCharts(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	lp, err := parseList(r.URL.Query())
	if err != nil {
		return err
	}
	store, err := h.chartStore()
	if err != nil {
		return err
	}
	ids, err := h.VisibleProjects(r)
	if err != nil {
		return err
	}
	var list []ChartSummary
	var total int64
	if ids == nil || len(ids) > 0 { // an empty list of visible projects sees nothing
		if list, total, err = store.ListCharts(ctx, ChartFilter{ProjectIDs: ids, NameHas: lp.NameHas}, lp.Page); err != nil {
			return err
		}
	}
	out := make([]chartJSON, 0, len(list))
	for _, c := range list {
		out = append(out, chartJSON{Name: c.Name, TotalVersions: c.TotalVersions, LatestVersion: c.LatestVersion,
			ProjectName: c.Project, Created: formatTime(c.Created), Updated: formatTime(c.Updated)})
	}
	return h.ok(w, r, map[string]any{"pageNo": lp.PageNo, "pageSize": lp.PageSize, "total": total, "charts": out})
}

// Chart names as Helm allows them: lowercase letters, digits, '-', '_',
// '.', starting with a letter or digit.
var chartNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,127}$`)

// chartVersionRE is a SemVer 2 version (Helm's rule), with an optional v.
var chartVersionRE = regexp.MustCompile(`^v?(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*)){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func validateChartName(name string) error {
	if !chartNameRE.MatchString(name) {
		return dialect.Invalidf("chartName %q is not a chart name (lowercase letters, digits, '-', '_', '.')", dialect.Clip(name))
	}
	return nil
}

// splitChartFile splits "{name}-{version}.tgz" at the first '-' after which
// a SemVer version follows: "my-app-1.2.3-rc.1.tgz" is my-app 1.2.3-rc.1.
func splitChartFile(file string) (name, version string, err error) {
	base, found := strings.CutSuffix(file, ".tgz")
	if !found {
		return "", "", dialect.Invalidf("fileName %q must be {name}-{version}.tgz", dialect.Clip(file))
	}
	for i := 0; i < len(base); i++ {
		if base[i] != '-' {
			continue
		}
		if chartVersionRE.MatchString(base[i+1:]) && validateChartName(base[:i]) == nil {
			return base[:i], base[i+1:], nil
		}
	}
	return "", "", dialect.Invalidf("fileName %q must be {name}-{version}.tgz with a SemVer version", dialect.Clip(file))
}

// DELETE .../projects/{projectName}/charts/{chartName}/delete: every
// version of the chart.
func (h *handler) deleteChart(w http.ResponseWriter, r *http.Request) error {
	chart := dialect.Var(r, "chart")
	dialect.Subject(r).Target = chart
	proj, err := h.project(r, auth.ActionDelete)
	if err != nil {
		return err
	}
	if err := validateChartName(chart); err != nil {
		return err
	}
	store, err := h.chartStore()
	if err != nil {
		return err
	}
	if err := store.DeleteChart(r.Context(), proj.Name, chart); err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return dialect.NotFoundf("chart %s/%s not found", proj.Name, chart)
		}
		return err
	}
	return h.ok(w, r, nil)
}

// GET .../projects/{projectName}/charts/{name}-{version}.tgz/download:
// the chart archive, streamed as application/gzip.
func (h *handler) downloadChart(w http.ResponseWriter, r *http.Request) error {
	proj, err := h.project(r, auth.ActionPull)
	if err != nil {
		return err
	}
	name, version, err := splitChartFile(dialect.Var(r, "chart"))
	if err != nil {
		return err
	}
	store, err := h.chartStore()
	if err != nil {
		return err
	}
	rc, size, err := store.OpenChart(r.Context(), proj.Name, name, version)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return dialect.NotFoundf("chart %s/%s version %s not found", proj.Name, name, version)
		}
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/gzip")
	if size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+"-"+version+`.tgz"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		if _, err := io.Copy(w, rc); err != nil {
			// The status is sent: log, the client sees a short body.
			h.Log.WarnContext(r.Context(), "chart download interrupted", "project", proj.Name, "chart", name, "version", version, "err", err)
		}
	}
	return nil
}
