package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
	"github.com/berth-registry/berth/storage/metadata"
)

// TestImageBuildErrors reaches every code of the image market's table.
// Every answer is HTTP 200 with the code in the envelope, as the seed's
// system answers, except 10401 (401 with the Basic challenge) and the
// "try again later" of TestImageBuildLifecycle (503).
func TestImageBuildErrors(t *testing.T) {
	// Loopback is opened for the download that must fail by connection
	// refused; the cloud metadata address stays refused by the policy (no
	// proxy from the environment, which would be dialled instead).
	e := startIBEnv(t, berthtest.Options{Env: []string{"BERTH_IMAGEBUILD_FETCH_ALLOW=127.0.0.1", "HTTP_PROXY=", "http_proxy="}})
	b := e.b
	ib(t, b, http.MethodPost, "/api/project/new", map[string]any{"projectName": "exists", "Cluster": "apps"})
	ib(t, b, http.MethodPost, "/api/project/new", map[string]any{"projectName": "nohistory", "Cluster": "apps"})
	refused := "http://" + closedAddr(t) + "/Dockerfile"
	cases := []struct {
		name, method, path, authz string
		body                      any
		hdr                       map[string]string
		status, code              int
		msg                       string
	}{
		{"duplicate new", "POST", "/api/project/new", "admin", map[string]any{"projectName": "exists", "Cluster": "apps"}, nil, 200, 10006, "already exists"},
		{"save add of an existing project", "POST", "/api/project/save", "admin", url.Values{"project": {"exists"}, "DefineDockerFileType": {"tool"}, "addOrUpdate": {"add"}}, nil, 200, 10006, "already exist"},
		{"clone source missing", "POST", "/api/project/clone", "admin", map[string]any{"srcProjectName": "nope", "dstProjectName": "x"}, nil, 200, 10002, "not found"},
		{"delete missing", "POST", "/api/project/delete", "admin", map[string]any{"projectName": "nope"}, nil, 200, 10003, "not found"},
		{"plugin method missing", "POST", "/api/plugin/extension/interface", "admin", map[string]any{"plugin": "base_image_choose_from_harbor", "method": "Nope"}, nil, 200, 10004, "no method"},
		{"plugin parameter bad", "GET", "/api/plugin/extension/interface?plugin=base_image_choose_from_harbor&method=BaseImageList&limit=x", "admin", nil, nil, 200, 10004, "limit"},
		{"plugin parameter unknown", "POST", "/api/plugin/extension/interface", "admin", url.Values{"plugin": {"base_image_choose_from_harbor"}, "method": {"BaseImageList"}, "color": {"red"}}, nil, 200, 10004, "color"},
		{"save with a bad plugin attribute", "POST", "/api/project/save", "admin", url.Values{"project": {"exists"}, "DefineDockerFileType": {"tool"}, "$$plugin": {"base_image"}, "base_image.img": {"x"}}, nil, 200, 10004, "no attribute"},
		{"plugin call fails", "POST", "/api/plugin/extension/interface", "admin", map[string]any{"plugin": "download_dockerfile", "method": "Preview", "url": refused}, nil, 200, 10005, "connection refused"},
		{"download from a non-public address", "POST", "/api/plugin/extension/interface", "admin", map[string]any{"plugin": "download_dockerfile", "method": "Preview", "url": "http://169.254.169.254/latest/meta-data/"}, nil, 200, 10005, "169.254.169.254 is not a public address (allow it with imagebuild.fetchAllow)"},
		{"bad project name", "POST", "/api/project/new", "admin", map[string]any{"projectName": "my*web"}, nil, 200, 10006, "projectName contains special char: *"},
		{"bad project name in save", "POST", "/api/project/save", "admin", url.Values{"project": {"my*web"}, "DefineDockerFileType": {"tool"}}, nil, 200, 10001, "projectName contains special char: *"},
		{"bad project name in buildHistory", "GET", "/api/project/buildHistory?projectName=my*web", "admin", nil, nil, 200, 10001, "projectName contains special char: *"},
		{"duplicate clone target", "POST", "/api/project/clone", "admin", map[string]any{"srcProjectName": "exists", "dstProjectName": "nohistory"}, nil, 200, 10006, "already exists"},
		{"bad type", "POST", "/api/project/save", "admin", url.Values{"project": {"exists"}, "DefineDockerFileType": {"dockerfile"}}, nil, 200, 10001, "edit, tool, download or define"},
		{"unknown Cluster", "POST", "/api/project/new", "admin", map[string]any{"projectName": "a", "Cluster": "nocluster"}, nil, 200, 10006, "not found"},
		{"bad tag", "POST", "/api/project/build", "admin", map[string]any{"projectName": "exists", "tag": "-bad"}, nil, 200, 10006, "tag"},
		{"build before save", "POST", "/api/project/build", "admin", map[string]any{"projectName": "exists", "tag": "v1"}, nil, 200, 10006, "save one first"},
		{"bad JSON", "POST", "/api/project/new", "admin", map[string]any{"projectName": map[string]any{"x": 1}}, nil, 200, 10006, "not an object"},
		{"GET on a change", "GET", "/api/project/new?projectName=x", "admin", nil, nil, 200, 10006, "method not allowed"},
		{"build missing", "POST", "/api/project/build", "admin", map[string]any{"projectName": "nope", "tag": "v1"}, nil, 200, 10007, "not found"},
		{"history of a missing project", "GET", "/api/project/buildHistory?projectName=nope", "admin", nil, nil, 200, 10007, "not found"},
		{"info missing", "GET", "/api/project/info?projectName=nope", "admin", nil, nil, 200, 10008, "not found"},
		{"page missing", "GET", "/view/config/independent?projectName=nope", "admin", nil, nil, 200, 10008, "not found"},
		{"plugin missing", "POST", "/api/plugin/extension/interface", "admin", map[string]any{"plugin": "nope", "method": "X"}, nil, 200, 10009, "does not exist"},
		{"save with an unknown plugin", "POST", "/api/project/save", "admin", url.Values{"project": {"exists"}, "DefineDockerFileType": {"tool"}, "$$plugin": {"nope"}}, nil, 200, 10009, "does not exist"},
		{"anonymous", "GET", "/api/project/list", "", nil, nil, 401, 10401, "authentication required"},
		{"bad password", "GET", "/api/project/info?projectName=exists", basicAuth("dev", "wrong-Password-1"), nil, nil, 401, 10401, "authentication required"},
		{"guest cannot build", "POST", "/api/project/build", basicAuth("viewer", e.pw), map[string]any{"projectName": "exists", "tag": "v1"}, nil, 200, 10403, "permission denied"},
		{"stranger cannot see", "GET", "/api/project/info?projectName=exists", basicAuth("stranger", e.pw), nil, nil, 200, 10008, "not found"},
		{"cross-site post", "POST", "/api/project/delete", "admin", url.Values{"projectName": {"exists"}}, map[string]string{"Origin": "https://evil.example"}, 200, 10403, "cross-origin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := ibCallHdr(t, b, tc.method, tc.path, tc.authz, tc.body, tc.hdr)
			if res.status != tc.status || res.code != tc.code || !strings.Contains(ibDetail(res), tc.msg) {
				t.Fatalf("%d %s, want %d code %d with %q", res.status, res.body, tc.status, tc.code, tc.msg)
			}
			assertShape(t, tc.name, res.raw, seedJSON(t, `{"code":10006,"errMsg":"parameter invalid"}`))
			if _, ok := res.raw["content"]; !ok {
				t.Errorf("no content: %s", res.body)
			}
		})
	}
	if res := ib(t, b, http.MethodGet, "/api/project/info?projectName=exists", nil); res.code != 10000 {
		t.Fatalf("the cross-site delete went through: %s", res.body)
	}
}

// TestImageBuildLifecycle: a full queue is refused (10100), a build in
// flight at shutdown is marked failed, and so is a build a dead process
// left "building".
func TestImageBuildLifecycle(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	dir := t.TempDir()
	opts := berthtest.Options{DataDir: dir, Env: []string{"BERTH_IMAGEBUILD_WORKERS=1", "BERTH_IMAGEBUILD_QUEUE_SIZE=0", "BERTH_SHUTDOWN_TIMEOUT=2s", "BERTH_IMAGEBUILD_FETCH_ALLOW=127.0.0.1"}}
	e := startIBEnv(t, opts)
	b := e.b
	ib(t, b, http.MethodPost, "/api/project/save", url.Values{"project": {"slow"}, "Cluster": {"apps"}, "DefineDockerFileType": {"download"},
		"$$plugin": {"download_dockerfile"}, "download_dockerfile.url": {hang.URL + "/Dockerfile"}})
	id := ibBuild(t, b, "slow", "v1")
	res := ibCall(t, b, http.MethodPost, "/api/project/build", "admin", map[string]any{"projectName": "slow", "tag": "v2"})
	if res.status != 503 || res.code != 10100 || !strings.Contains(res.errMsg, "imagebuild.queueSize") {
		t.Fatalf("second build with a full pool: %d %s", res.status, res.body)
	}
	if err := b.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// A row a dead process left behind, seeded straight into the database.
	db, err := metadata.Open(context.Background(), filepath.Join(dir, "berth.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := db.GetBuildProject(context.Background(), "slow")
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := db.CreateBuild(context.Background(), metadata.Build{ProjectID: p.ID, Tag: "v3", State: metadata.BuildRunning})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	b = berthtest.Start(t, berthtest.Options{DataDir: dir, StrictProjects: true})
	states := map[string]map[string]any{}
	for _, e := range ib(t, b, http.MethodGet, "/api/project/buildHistory?projectName=slow", nil).content.([]any) {
		states[e.(map[string]any)["idStr"].(string)] = e.(map[string]any)
	}
	if s := states[id]; s["state"] != float64(2) || !strings.Contains(s["logs"].(string), "interrupted by shutdown") || s["finishTime"] == "" {
		t.Errorf("build in flight at shutdown: %v", s)
	}
	if s := states[itoa(seeded.ID)]; s["state"] != float64(2) || !strings.Contains(s["logs"].(string), "interrupted by restart") {
		t.Errorf("seeded building row: %v", s)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	time.Sleep(10 * time.Millisecond)
	return addr
}
