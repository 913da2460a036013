package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// ibRaw sends body byte for byte with the given Content-Type, as the
// seed's curl lines do, as the admin.
func ibRaw(t *testing.T, b *berthtest.Berth, method, path, contentType, body string, hdr map[string]string) (ibResult, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, b.URL(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.SetBasicAuth("admin", b.AdminPassword)
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res := ibResult{status: resp.StatusCode, body: readAll(t, resp)}
	if json.Unmarshal([]byte(res.body), &res.raw) == nil {
		if c, ok := res.raw["code"].(float64); ok {
			res.code = int(c)
		}
		res.errMsg, _ = res.raw["errMsg"].(string)
		res.content = res.raw["content"]
	}
	return res, resp.Header
}

// TestImageBuildSeedExamples sends seed 001's own requests and compares
// the answers with its examples: codes per endpoint table, shapes, the
// literal (not quite JSON) bodies, and the defaults it documents.
func TestImageBuildSeedExamples(t *testing.T) {
	e := startIBEnv(t, berthtest.Options{})
	b := e.b
	// The seed's examples use the Cluster "default".
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "default"}, http.StatusCreated)
	const jsonCT = "application/json"

	t.Run("save's literal example: bare keys, define, $$plugin [{}]", func(t *testing.T) {
		body := "{\n  project:\"aa\"\n  Cluster:\"default\"\n  DefineDockerFileType:\"define\"\n  addOrUpdate:\"add\"\n  $$plugin:[{\n  }]\n}"
		res, _ := ibRaw(t, b, http.MethodPost, "/api/project/save", jsonCT, body, nil)
		assertShape(t, "save", res.raw, seedJSON(t, `{"code":10000,"errMsg":"success","content":""}`))
		if res.status != 200 || res.code != 10000 {
			t.Fatalf("save: %d %s", res.status, res.body)
		}
		info := ib(t, b, http.MethodGet, "/api/project/info?projectName=aa&operator=admin", nil).content.(map[string]any)
		if info["Cluster"] != "default" || info["DefineDockerFileType"] != "define" {
			t.Errorf("info after the literal save: %v", info)
		}
		// The same example after a shell ran the curl line: quotes gone, $$ expanded.
		shelled := "{\n  project:ab\n  Cluster:default\n  DefineDockerFileType:define\n  addOrUpdate:add\n  4242plugin:[{\n  }]\n}"
		if res, _ := ibRaw(t, b, http.MethodPost, "/api/project/save", jsonCT, shelled, nil); res.code != 10000 {
			t.Fatalf("shell-expanded save: %d %s", res.status, res.body)
		}
		// The seed's example again: aa exists now.
		res, _ = ibRaw(t, b, http.MethodPost, "/api/project/save", jsonCT, body, nil)
		assertShape(t, "save exists", res.raw, seedJSON(t, `{"code":10006,"errMsg":"project already exist","content":"project: aaa already exist "}`))
		if res.status != 200 || res.code != 10006 || res.errMsg != "project already exist" || !strings.Contains(res.content.(string), "aa already exist") {
			t.Errorf("save of an existing project: %d %s", res.status, res.body)
		}
		// A JSON body with the seed's values, and a form sent as JSON.
		js := `{"project":"ac","Cluster":"default","DefineDockerFileType":"define","addOrUpdate":"add","$$plugin":[{}]}`
		if res, _ := ibRaw(t, b, http.MethodPost, "/api/project/save", jsonCT, js, nil); res.code != 10000 {
			t.Errorf("JSON save: %s", res.body)
		}
		form := "project=ad&Cluster=default&DefineDockerFileType=define&addOrUpdate=add"
		if res, _ := ibRaw(t, b, http.MethodPost, "/api/project/save", jsonCT, form, nil); res.code != 10000 {
			t.Errorf("form sent as JSON: %s", res.body)
		}
		// A define definition with nothing to build says so.
		res = ibCall(t, b, http.MethodPost, "/api/project/build", "admin", map[string]any{"projectName": "aa", "tag": "v1"})
		if res.status != 200 || res.code != 10006 || !strings.Contains(ibDetail(res), "save one first") {
			t.Errorf("build of an empty define definition: %d %s", res.status, res.body)
		}
	})

	t.Run("error codes per endpoint table, all HTTP 200", func(t *testing.T) {
		cases := []struct {
			name, path string
			body       any
			code       int
			errMsg     string
			content    string
		}{
			// new: 10006 for a bad parameter and for a name that exists.
			{"new special char", "/api/project/new", map[string]any{"projectName": "my*web", "operator": "root"}, 10006, "parameter invalid", "projectName contains special char: *"},
			{"new exists", "/api/project/new", map[string]any{"projectName": "aa", "operator": "root", "Cluster": "default"}, 10006, "project already exist", "project aa already exists"},
			// save: 10001 is its "parameter invalid" example, 10006 "项目已存在不能添加".
			{"save special char", "/api/project/save", map[string]any{"project": "aa*", "Cluster": "default", "DefineDockerFileType": "define"}, 10001, "parameter invalid", "projectName contains special char: *"},
			{"save add exists", "/api/project/save", map[string]any{"project": "aa", "Cluster": "default", "DefineDockerFileType": "define", "addOrUpdate": "add"}, 10006, "project already exist", "project: aa already exist"},
			// clone: 10006 for an existing target, 10002 for a missing source.
			{"clone target exists", "/api/project/clone", map[string]any{"srcProjectName": "aa", "dstProjectName": "ab", "operator": "root"}, 10006, "project already exist", "already exists"},
			{"clone source missing", "/api/project/clone", map[string]any{"srcProjectName": "source", "dstProjectName": "target", "operator": "root"}, 10002, "", "-1"},
			// buildHistory: its special-character example is 10001 too.
			{"buildHistory special char", "/api/project/buildHistory?projectName=a*&operator=admin", nil, 10001, "parameter invalid", "projectName contains special char: *"},
			{"delete missing", "/api/project/delete", map[string]any{"projectName": "myweb", "operator": "root"}, 10003, "", "-1"},
		}
		for _, tc := range cases {
			res := ibCall(t, b, http.MethodPost, tc.path, "admin", tc.body)
			if res.status != 200 || res.code != tc.code || (tc.errMsg != "" && res.errMsg != tc.errMsg) || !strings.Contains(fmt.Sprint(res.content), tc.content) {
				t.Errorf("%s: %d %s, want 200 code %d errMsg %q content with %q", tc.name, res.status, res.body, tc.code, tc.errMsg, tc.content)
			}
		}
	})

	t.Run("build content is an object with idStr; a project never built has an empty history", func(t *testing.T) {
		res := ib(t, b, http.MethodGet, "/api/project/buildHistory?projectName=ab&operator=admin", nil)
		if h, ok := res.content.([]any); !ok || len(h) != 0 {
			t.Errorf("history of a project never built: %s", res.body)
		}
		ib(t, b, http.MethodPost, "/api/project/save", url.Values{"project": {"ab"}, "Cluster": {"default"}, "DefineDockerFileType": {"define"},
			"$$plugin": {"base_image"}, "base_image.image": {"base/tiny:1"}})
		res = ib(t, b, http.MethodPost, "/api/project/build", map[string]any{"projectName": "ab", "operator": "root", "tag": "v1"})
		assertShape(t, "build", res.raw, seedJSON(t, `{"code":10000,"errMsg":"ok","content":{"idStr":"0"}}`))
		id := res.content.(map[string]any)["idStr"].(string)
		if build := waitBuild(t, b, "ab", id); build["state"] != float64(1) {
			t.Errorf("define definition with a base image built as tool: %v", build)
		}
	})

	t.Run("list's page_size defaults to 10", func(t *testing.T) {
		for i := range 12 {
			ib(t, b, http.MethodPost, "/api/project/new", map[string]any{"projectName": fmt.Sprintf("many%02d", i), "Cluster": "default"})
		}
		res, _ := ibRaw(t, b, http.MethodPost, "/api/project/list", jsonCT, "", nil)
		if res.code != 10000 || len(res.content.([]any)) != 10 || res.raw["page_size"] != float64(10) || res.raw["page"] != float64(1) || res.raw["total_count"].(float64) < 12 {
			t.Errorf("list without paging: %d entries, %s", len(res.content.([]any)), res.body[:min(len(res.body), 200)])
		}
	})

	t.Run("the plugin call's literal example", func(t *testing.T) {
		// curl -H "Content-type: application/json" -d 'plugin="aa"' -d 'method="download file"' -d '{ }'
		res, _ := ibRaw(t, b, http.MethodPost, "/api/plugin/extension/interface", jsonCT, "plugin=\"aa\"&method=\"download file\"&{  \n}", nil)
		if res.status != 200 || res.code != 10009 || !strings.Contains(res.errMsg, `"aa"`) {
			t.Errorf("the seed's plugin call: %d %s, want 10009 (no plugin aa)", res.status, res.body)
		}
		res, _ = ibRaw(t, b, http.MethodPost, "/api/plugin/extension/interface", jsonCT, "plugin=\"base_image_choose_from_harbor\"&method=\"BaseImageList\"&{  \n}", nil)
		if res.code != 10000 || fmt.Sprint(res.content) != "["+b.Addr+"/base/tiny:1]" {
			t.Errorf("a known plugin called the seed's way: %s", res.body)
		}
	})

	t.Run("the configuration page as JSON", func(t *testing.T) {
		for name, hdr := range map[string]map[string]string{
			"Accept":             {"Accept": "application/json"},
			"the seed's request": {"Content-Type": "application/json"},
		} {
			res, h := ibRaw(t, b, http.MethodGet, "/view/config/independent?projectName=aa", "", "", hdr)
			assertShape(t, name, res.raw, seedJSON(t, `{"code":10000,"data":"<html>....</html>"}`))
			if data, _ := res.raw["data"].(string); res.status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") ||
				!strings.Contains(data, "<html") || !strings.Contains(data, `value="aa"`) {
				t.Errorf("%s: %d %s %.200s", name, res.status, h.Get("Content-Type"), res.body)
			}
		}
		browser := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
		res, h := ibRaw(t, b, http.MethodGet, "/view/config/independent?projectName=aa", "", "", browser)
		if res.status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.HasPrefix(res.body, "<!DOCTYPE html>") {
			t.Errorf("a browser: %d %s", res.status, h.Get("Content-Type"))
		}
	})
}
