package ccr

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/ext/dialect"
	"github.com/berth-registry/berth/registry/domain"
	"github.com/berth-registry/berth/storage/metadata"
	"github.com/berth-registry/berth/storage/metadata/metadatatest"
)

const (
	testAdminPw = "Admin-pass-123"
	testUserPw  = "Alice-pass-123"
)

// fakeCharts is a ChartStore over a fixed list.
type fakeCharts struct {
	charts  []ChartSummary
	ids     map[string]int64 // project name → id
	files   map[string]string
	lastF   ChartFilter
	deleted []string
}

func (f *fakeCharts) ListCharts(_ context.Context, flt ChartFilter, page domain.Page) ([]ChartSummary, int64, error) {
	f.lastF = flt
	var all []ChartSummary
	for _, c := range f.charts {
		if flt.ProjectIDs != nil && !slices.Contains(flt.ProjectIDs, f.ids[c.Project]) {
			continue
		}
		if strings.Contains(c.Name, flt.NameHas) {
			all = append(all, c)
		}
	}
	out := all[min(page.Offset, len(all)):]
	if page.Limit > 0 {
		out = out[:min(page.Limit, len(out))]
	}
	return out, int64(len(all)), nil
}

func (f *fakeCharts) DeleteChart(_ context.Context, project, name string) error {
	for i, c := range f.charts {
		if c.Project == project && c.Name == name {
			f.charts = slices.Delete(f.charts, i, i+1)
			f.deleted = append(f.deleted, project+"/"+name)
			return nil
		}
	}
	return &domain.Error{Kind: domain.ErrNotFound, Msg: "chart not found"}
}

func (f *fakeCharts) OpenChart(_ context.Context, project, name, version string) (io.ReadCloser, int64, error) {
	body, found := f.files[project+"/"+name+"-"+version]
	if !found {
		return nil, 0, fmt.Errorf("open: %w", domain.ErrNotFound)
	}
	return io.NopCloser(strings.NewReader(body)), int64(len(body)), nil
}

// testServer is the dialect on a real auth service (SQLite) with projects
// "pub" (public), "priv" (private, the admin's) and "alices" (alice's), and
// users admin and alice.
func testServer(t *testing.T, store ChartStore) (*httptest.Server, map[string]int64) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db := metadatatest.Open(t, filepath.Join(dir, "berth.db"))
	a, err := auth.New(ctx, auth.Defaults(), db, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Bootstrap(ctx, testAdminPw, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, "alice", testUserPw, false); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int64{}
	for _, p := range []metadata.Project{{Name: "pub", Public: true, Creator: "admin"}, {Name: "priv", Creator: "admin"}, {Name: "alices", Creator: "alice"}} {
		p.QuotaBytes = -1
		created, err := db.CreateProject(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ids[p.Name] = created.ID
	}
	r := mux.NewRouter()
	r.UseEncodedPath()
	r.SkipClean(true)
	if err := Mount(r, dialect.Core{Auth: a, Log: slog.Default()}, Config{Instances: "ccr-manager, other-1"}, store); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv, ids
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t *testing.T, srv *httptest.Server, method, path, user, pw string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// wantEnvelope checks the status, the code and a request id in body and header.
func wantEnvelope(t *testing.T, what string, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.body["code"] != code {
		t.Errorf("%s: %d %s; want %d %s", what, a.status, a.raw, status, code)
		return
	}
	id, _ := a.body["requestId"].(string)
	if _, isStr := a.body["message"].(string); !isStr || id == "" || a.header.Get("X-Request-Id") != id {
		t.Errorf("%s: message/requestId %q vs header %q in %s", what, id, a.header.Get("X-Request-Id"), a.raw)
	}
}

func TestCharts(t *testing.T) {
	day := time.Date(2023, 9, 20, 10, 6, 51, 0, time.UTC)
	store := &fakeCharts{
		charts: []ChartSummary{
			{Project: "pub", Name: "postgresql", LatestVersion: "12.2.7", TotalVersions: 2, Created: day, Updated: day},
			{Project: "priv", Name: "redis", LatestVersion: "1.0.0", TotalVersions: 1, Created: day},
			{Project: "pub", Name: "nginx", LatestVersion: "0.1.0", TotalVersions: 1, Created: day, Updated: day},
		},
		files: map[string]string{"pub/postgresql-12.2.7": "\x1f\x8bchart", "priv/redis-1.0.0": "\x1f\x8bredis"},
	}
	srv, ids := testServer(t, store)
	store.ids = ids
	base := "/api/ccr/v1.0/instances/ccr-manager/projects"

	// The admin sees every chart, with the seed's shape.
	a := call(t, srv, http.MethodGet, base+"/charts?pageNo=1&pageSize=10", "admin", testAdminPw)
	wantEnvelope(t, "admin list", a, http.StatusOK, CodeSuccess)
	if a.body["total"] != 3.0 || a.body["pageNo"] != 1.0 || a.body["pageSize"] != 10.0 || store.lastF.ProjectIDs != nil {
		t.Errorf("admin list: %s (filter %+v)", a.raw, store.lastF)
	}
	charts, _ := a.body["charts"].([]any)
	if len(charts) != 3 {
		t.Fatalf("admin list: %s", a.raw)
	}
	first := charts[0].(map[string]any)
	want := map[string]any{"name": "postgresql", "total_versions": 2.0, "latest_version": "12.2.7", "project_name": "pub",
		"created": day.Local().Format(timeLayout), "updated": day.Local().Format(timeLayout)}
	if len(first) != len(want) {
		t.Errorf("chart keys: %v", first)
	}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("chart %s = %v, want %v", k, first[k], v)
		}
	}
	if charts[1].(map[string]any)["updated"] != zeroTime {
		t.Errorf("never-updated chart: %v", charts[1])
	}

	// alice sees public projects and her own: not priv.
	a = call(t, srv, http.MethodGet, base+"/charts?nameHas=E&pageSize=1&pageNo=2", "alice", testUserPw)
	wantEnvelope(t, "alice list", a, http.StatusOK, CodeSuccess)
	if a.body["total"] != 1.0 || slices.Contains(store.lastF.ProjectIDs, ids["priv"]) || store.lastF.NameHas != "e" {
		t.Errorf("alice list: %s (filter %+v)", a.raw, store.lastF)
	}
	a = call(t, srv, http.MethodGet, base+"/charts?noPaging=true", "alice", testUserPw)
	if a.body["total"] != 2.0 || a.body["pageNo"] != 0.0 || a.body["pageSize"] != 0.0 {
		t.Errorf("alice noPaging: %s", a.raw)
	}

	// Download: the archive, streamed; errors in the envelope.
	a = call(t, srv, http.MethodGet, base+"/pub/charts/postgresql-12.2.7.tgz/download", "alice", testUserPw)
	if a.status != 200 || a.raw != "\x1f\x8bchart" || a.header.Get("Content-Type") != "application/gzip" ||
		a.header.Get("Content-Length") != "7" || !strings.Contains(a.header.Get("Content-Disposition"), "postgresql-12.2.7.tgz") {
		t.Errorf("download: %d %v %q", a.status, a.header, a.raw)
	}

	// Errors: each with its status and code.
	errs := []struct {
		what, method, path, user string
		status                   int
		code                     string
	}{
		{"anonymous list", "GET", base + "/charts", "", 401, CodeAuthFailed},
		{"bad password", "GET", base + "/charts", "alice:wrong", 401, CodeAuthFailed},
		{"bad page size", "GET", base + "/charts?pageSize=1000", "admin", 400, CodeParam},
		{"unknown instance", "GET", "/api/ccr/v1.0/instances/nope/projects/charts", "admin", 404, CodeNotExists},
		{"second instance", "GET", "/api/ccr/v1.0/instances/other-1/projects/charts", "admin", 200, CodeSuccess},
		{"hidden project download", "GET", base + "/priv/charts/redis-1.0.0.tgz/download", "alice", 404, CodeNotExists},
		{"missing version", "GET", base + "/pub/charts/postgresql-9.9.9.tgz/download", "alice", 404, CodeNotExists},
		{"unknown project", "GET", base + "/nosuch/charts/x-1.0.0.tgz/download", "alice", 404, CodeNotExists},
		{"not a chart file", "GET", base + "/pub/charts/postgresql.zip/download", "alice", 400, CodeParam},
		{"delete by a guest", "DELETE", base + "/pub/charts/postgresql/delete", "alice", 403, CodeDenied},
		{"delete hidden", "DELETE", base + "/priv/charts/redis/delete", "alice", 404, CodeNotExists},
		{"delete missing", "DELETE", base + "/pub/charts/nosuch/delete", "admin", 404, CodeNotExists},
		{"delete bad name", "DELETE", base + "/pub/charts/Bad%20Name/delete", "admin", 400, CodeParam},
		{"wrong method", "POST", base + "/pub/charts/postgresql/delete", "admin", 405, CodeForbid},
		{"no such route", "GET", base + "/pub/charts/postgresql", "admin", 404, CodeNotExists},
	}
	for _, e := range errs {
		user, pw := e.user, testUserPw
		switch {
		case user == "admin":
			pw = testAdminPw
		case strings.Contains(user, ":"):
			user, pw, _ = strings.Cut(user, ":")
		}
		a := call(t, srv, e.method, e.path, user, pw)
		wantEnvelope(t, e.what, a, e.status, e.code)
	}

	// Delete: every version goes, then it is missing.
	a = call(t, srv, http.MethodDelete, base+"/pub/charts/postgresql/delete", "admin", testAdminPw)
	wantEnvelope(t, "delete", a, http.StatusOK, CodeSuccess)
	if len(a.body) != 3 || !slices.Equal(store.deleted, []string{"pub/postgresql"}) {
		t.Errorf("delete: %s %v", a.raw, store.deleted)
	}
	a = call(t, srv, http.MethodDelete, base+"/pub/charts/postgresql/delete", "admin", testAdminPw)
	wantEnvelope(t, "delete again", a, http.StatusNotFound, CodeNotExists)
}

// Without a chart store, the chart routes say so in the envelope.
func TestChartsNotWired(t *testing.T) {
	srv, _ := testServer(t, nil)
	base := "/api/ccr/v1.0/instances/ccr-manager/projects"
	for _, c := range []struct{ method, path string }{
		{"GET", base + "/charts"}, {"DELETE", base + "/pub/charts/x/delete"}, {"GET", base + "/pub/charts/x-1.0.0.tgz/download"},
	} {
		a := call(t, srv, c.method, c.path, "admin", testAdminPw)
		wantEnvelope(t, c.path, a, http.StatusNotImplemented, CodeInternal)
	}
}
