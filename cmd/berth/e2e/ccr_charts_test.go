package e2e

import (
	"bytes"
	"net/http"
	"testing"
)

const ccrSeedCharts = `{"code":"CCR.Success","message":"调用成功","requestId":"","pageNo":1,"pageSize":10,"total":1,
	"charts":[{"name":"postgresql","total_versions":1,"latest_version":"12.2.7","project_name":"library",
	"created":"2023-09-20 10:06:51","updated":"0001-01-01 00:00:00"}]}`

// TestCCRCharts lists, downloads and deletes charts pushed with the real
// helm binary (OCI) and uploaded through the chart API, through the CCR
// chart endpoints; the chart repository and OCI agree afterwards.
func TestCCRCharts(t *testing.T) {
	b := startCCR(t)
	h := newHelm(t)
	v1, v2 := h.packageChart("0.1.0"), h.packageChart("0.2.0")
	h.run("push", v1, "oci://"+b.Addr+"/team", "--plain-http")
	if code, body := uploadChart(t, b, "team", readFile(t, v2), nil, "", "admin", b.AdminPassword); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "pubcharts", "isPublic": true})
	h.run("push", v1, "oci://"+b.Addr+"/pubcharts", "--plain-http")

	// The list: the seed's shape, one record per project and chart.
	res := ccr(t, b, http.MethodGet, ccrBase+"/projects/charts?pageNo=1&pageSize=10", nil)
	wantKeys(t, "chart list", res.body, seedJSON(t, ccrSeedCharts))
	seedChart := seedJSON(t, ccrSeedCharts).(map[string]any)["charts"].([]any)[0]
	list := ccrList(t, res, "charts")
	if res.body["total"] != 2.0 || len(list) != 2 {
		t.Fatalf("chart list: %s", res)
	}
	want := map[string]struct {
		versions float64
		latest   string
	}{"team": {2, "0.2.0"}, "pubcharts": {1, "0.1.0"}}
	for _, c := range list {
		wantKeys(t, "chart", c, seedChart)
		w, ok := want[c["project_name"].(string)]
		if !ok || c["name"] != "berthdemo" || c["total_versions"] != w.versions || c["latest_version"] != w.latest {
			t.Errorf("chart record %v", c)
		}
	}
	// Paging and the name filter.
	if res := ccr(t, b, http.MethodGet, ccrBase+"/projects/charts?pageNo=2&pageSize=1", nil); len(ccrList(t, res, "charts")) != 1 || res.body["total"] != 2.0 {
		t.Errorf("page 2: %s", res)
	}
	if res := ccr(t, b, http.MethodGet, ccrBase+"/projects/charts?nameHas=nomatch", nil); len(ccrList(t, res, "charts")) != 0 || res.body["total"] != 0.0 {
		t.Errorf("nameHas=nomatch: %s", res)
	}
	// alice sees only the public project's chart; dev (member of team) both.
	if res := ccrAs(t, b, "alice", ccrUserPw, http.MethodGet, ccrBase+"/projects/charts", nil); res.status != 200 || res.body["total"] != 1.0 {
		t.Errorf("alice's chart list: %s", res)
	}
	if res := ccrAs(t, b, "dev", ccrUserPw, http.MethodGet, ccrBase+"/projects/charts", nil); res.status != 200 || res.body["total"] != 2.0 {
		t.Errorf("dev's chart list: %s", res)
	}

	// Download: the exact archive, as application/gzip.
	for _, c := range []struct{ user, pw, version, file string }{
		{"admin", b.AdminPassword, "0.1.0", v1},
		{"dev", ccrUserPw, "0.2.0", v2},
	} {
		code, body, hdr := getAs(t, b, ccrBase+"/projects/team/charts/berthdemo-"+c.version+".tgz/download", c.user, c.pw)
		if code != http.StatusOK || hdr.Get("Content-Type") != "application/gzip" || !bytes.Equal(body, readFile(t, c.file)) {
			t.Errorf("download %s as %s: %d %s (%d bytes)", c.version, c.user, code, hdr.Get("Content-Type"), len(body))
		}
	}

	// Negative cases, in the CCR error table.
	for _, c := range []struct {
		name, user, method, path string
		status                   int
		code                     string
	}{
		{"anonymous list", "", "GET", ccrBase + "/projects/charts", 401, "CCR.RespAuthFailed"},
		{"page size over 100", "admin", "GET", ccrBase + "/projects/charts?pageSize=101", 400, "CCR.CodeParamError"},
		{"page size not a number", "admin", "GET", ccrBase + "/projects/charts?pageSize=x", 400, "CCR.CodeParamError"},
		{"unknown version", "admin", "GET", ccrBase + "/projects/team/charts/berthdemo-9.9.9.tgz/download", 404, "CCR.CodeErrNotExists"},
		{"not a version", "admin", "GET", ccrBase + "/projects/team/charts/berthdemo.tgz/download", 400, "CCR.CodeParamError"},
		{"unknown project", "admin", "GET", ccrBase + "/projects/nope/charts/berthdemo-0.1.0.tgz/download", 404, "CCR.CodeErrNotExists"},
		{"private project, no rights", "alice", "GET", ccrBase + "/projects/team/charts/berthdemo-0.1.0.tgz/download", 404, "CCR.CodeErrNotExists"},
		{"anonymous download", "", "GET", ccrBase + "/projects/pubcharts/charts/berthdemo-0.1.0.tgz/download", 401, "CCR.RespAuthFailed"},
		{"delete hidden", "alice", "DELETE", ccrBase + "/projects/team/charts/berthdemo/delete", 404, "CCR.CodeErrNotExists"},
		{"delete without rights", "alice", "DELETE", ccrBase + "/projects/pubcharts/charts/berthdemo/delete", 403, "CCR.RespPermissionDenied"},
		{"delete unknown chart", "admin", "DELETE", ccrBase + "/projects/team/charts/nochart/delete", 404, "CCR.CodeErrNotExists"},
	} {
		pw := ccrUserPw
		if c.user == "admin" {
			pw = ""
		}
		wantCCRError(t, c.name, ccrAs(t, b, c.user, pw, c.method, c.path, nil), c.status, c.code)
	}

	// Delete removes every version: from the CCR list, the classic repo
	// and OCI; the other project's copy stays.
	ccr(t, b, http.MethodDelete, ccrBase+"/projects/team/charts/berthdemo/delete", nil)
	if res := ccr(t, b, http.MethodGet, ccrBase+"/projects/charts", nil); res.body["total"] != 1.0 {
		t.Errorf("after delete: %s", res)
	}
	if code, body, _ := getAs(t, b, "/chartrepo/team/index.yaml", "admin", b.AdminPassword); code != 200 || bytes.Contains(body, []byte("berthdemo")) {
		t.Errorf("index.yaml after delete: %d %s", code, body)
	}
	if out, err := h.runErr("pull", "oci://"+b.Addr+"/team/berthdemo", "--version", "0.1.0", "--plain-http", "-d", t.TempDir()); err == nil {
		t.Errorf("helm pull oci:// after delete succeeded: %s", out)
	}
	if code, _, _ := getAs(t, b, ccrBase+"/projects/pubcharts/charts/berthdemo-0.1.0.tgz/download", "admin", b.AdminPassword); code != 200 {
		t.Errorf("the public project's chart went too: %d", code)
	}
}
