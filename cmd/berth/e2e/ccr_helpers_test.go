package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// ccrBase is the CCR prefix of the default instance.
const ccrBase = "/api/ccr/v1.0/instances/ccr-manager"

// ccrResult is one CCR answer: status, headers, decoded object, raw body.
type ccrResult struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r ccrResult) String() string { return fmt.Sprintf("%d %.600s", r.status, r.raw) }

// ccrAs calls the CCR API as user ("" anonymous; "admin" the admin) with a
// JSON body (a string is sent as is).
func ccrAs(t *testing.T, b *berthtest.Berth, user, pw, method, path string, body any) ccrResult {
	t.Helper()
	var data []byte
	switch v := body.(type) {
	case nil:
	case string:
		data = []byte(v)
	default:
		data, _ = json.Marshal(v)
	}
	req, err := http.NewRequest(method, b.URL(path), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user == "admin" && pw == "" {
		pw = b.AdminPassword
	}
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res := ccrResult{status: resp.StatusCode, header: resp.Header, raw: readAll(t, resp)}
	_ = json.Unmarshal([]byte(res.raw), &res.body)
	return res
}

// ccr calls as the admin and wants 200 CCR.Success.
func ccr(t *testing.T, b *berthtest.Berth, method, path string, body any) ccrResult {
	t.Helper()
	res := ccrAs(t, b, "admin", "", method, path, body)
	if res.status != http.StatusOK || res.body["code"] != "CCR.Success" {
		t.Fatalf("%s %s: %s", method, path, res)
	}
	ccrEnvelope(t, method+" "+path, res)
	return res
}

// ccrEnvelope checks the envelope every answer has: a string code and
// message, and a real request id equal to the X-Request-Id header.
func ccrEnvelope(t *testing.T, what string, res ccrResult) {
	t.Helper()
	id, _ := res.body["requestId"].(string)
	_, codeOK := res.body["code"].(string)
	_, msgOK := res.body["message"].(string)
	if !codeOK || !msgOK || len(id) < 16 || res.header.Get("X-Request-Id") != id {
		t.Errorf("%s: envelope code/message/requestId %q (X-Request-Id %q): %s", what, id, res.header.Get("X-Request-Id"), res)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
}

// wantCCRError checks an error answer's status and code.
func wantCCRError(t *testing.T, what string, res ccrResult, status int, code string) {
	t.Helper()
	if res.status != status || res.body["code"] != code {
		t.Errorf("%s: %s; want %d %s", what, res, status, code)
		return
	}
	ccrEnvelope(t, what, res)
	if msg, _ := res.body["message"].(string); msg == "" {
		t.Errorf("%s: empty message", what)
	}
}

// keysOf returns the sorted keys of an object.
func keysOf(v any) []string {
	m, _ := v.(map[string]any)
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// wantKeys checks that an object has exactly the keys of the seed's example.
func wantKeys(t *testing.T, what string, got, seed any) {
	t.Helper()
	if g, w := strings.Join(keysOf(got), ","), strings.Join(keysOf(seed), ","); g != w {
		t.Errorf("%s keys:\n got %s\nwant %s", what, g, w)
	}
	assertShape(t, what, got, seed)
}

// ccrList returns an array field of an answer as objects.
func ccrList(t *testing.T, res ccrResult, field string) []map[string]any {
	t.Helper()
	arr, ok := res.body[field].([]any)
	if !ok {
		t.Fatalf("%s is not an array: %s", field, res)
	}
	out := make([]map[string]any, 0, len(arr))
	for _, x := range arr {
		m, ok := x.(map[string]any)
		if !ok {
			t.Fatalf("%s holds a %T: %s", field, x, res)
		}
		out = append(out, m)
	}
	return out
}

// ccrProject finds a project record by name in the list (noPaging).
func ccrProject(t *testing.T, b *berthtest.Berth, name string) map[string]any {
	t.Helper()
	res := ccr(t, b, http.MethodGet, ccrBase+"/projects?noPaging=true&nameHas="+name, nil)
	for _, p := range ccrList(t, res, "projects") {
		if p["projectName"] == name {
			return p
		}
	}
	t.Fatalf("project %s not listed: %s", name, res)
	return nil
}

// The seed's examples, completed where the seed splits them over pages.
const (
	ccrSeedProjects = `{"code":"CCR.Success","message":"调用成功","page":1,"pageSize":10,"projects":[{"createdAt":"2023-09-19 14:18:52",
		"id":1,"instanceId":"ccr-manager","isPublic":true,"projectId":1,"projectName":"library","quota":-1,"storageUsed":5,
		"syncFields":"","syncStatus":0,"syncType":0,"tenantId":"1744911969862835907","updatedAt":"2023-09-19 14:40:37"}],
		"requestId":"","total":1}`
	ccrSeedRepos = `{"code":"CCR.Success","data":[{"instanceId":"ccr-manager","projectName":"test01","repositoryName":"test",
		"public":true,"imageTagCount":1,"createdAt":"2023-09-19 14:19:46","detail":""}],"message":"调用成功","requestId":"","totalCount":1}`
	ccrSeedRepo = `{"code":"CCR.Success","data":{"createdAt":"2023-09-19 14:19:46","detail":"","imageTagCount":1,
		"instanceId":"ccr-manager","projectName":"test01","public":true,"repositoryName":"test","summary":""},
		"message":"调用成功","requestId":""}`
	ccrSeedArtifacts = `{"code":"CCR.Success","message":"调用成功","requestId":"","page":1,"pageSize":10,"total":1,"artifacts":[{
		"digest":"sha256:a2c6","extra_attrs":{"architecture":"","author":"","created":"0001-01-01T00:00:00Z","os":""},
		"icon":"sha256:0048","id":4,"labels":"","manifest_media_type":"application/vnd.oci.image.index.v1+json",
		"media_type":"application/vnd.oci.image.index.v1+json","project_id":1,"pull_time":"0001-01-01 00:00:00",
		"push_time":"2023-09-26 19:52:34","references":[{"child_digest":"sha256:5c09","child_id":2,"parent_id":4,
		"platform":{"architecture":"arm64","os":"linux"}}],"repository_id":2,"size":547620,"tags":[{"artifact_id":4,"id":1,
		"immutable":false,"name":"v1","pull_time":"0001-01-01T00:00:00Z","push_time":"2023-09-26T11:52:35.091Z",
		"repository_id":2,"signed":false}],"type":"IMAGE"}]}`
	ccrSeedEmpty  = `{"code":"CCR.Success","message":"调用成功","requestId":""}`
	ccrSeedCreate = `{"code":"CCR.Success","message":"调用成功","projectId":6,"requestId":""}`
)
