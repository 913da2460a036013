package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// ibResult is one image market answer.
type ibResult struct {
	status  int
	code    int
	errMsg  string
	content any
	raw     map[string]any
	body    string
}

// ibCall sends a request as authz ("admin", "" for anonymous, or a
// header value); body is url.Values (form), a map (JSON) or nil.
func ibCall(t *testing.T, b *berthtest.Berth, method, path, authz string, body any) ibResult {
	t.Helper()
	return ibCallHdr(t, b, method, path, authz, body, nil)
}

// ibCallHdr is ibCall with extra request headers.
func ibCallHdr(t *testing.T, b *berthtest.Berth, method, path, authz string, body any, hdr map[string]string) ibResult {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch v := body.(type) {
	case url.Values:
		rd, ct = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	case nil:
	default:
		js, _ := json.Marshal(v)
		rd, ct = bytes.NewReader(js), "application/json"
	}
	req, err := http.NewRequest(method, b.URL(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	switch authz {
	case "":
	case "admin":
		req.SetBasicAuth("admin", b.AdminPassword)
	default:
		req.Header.Set("Authorization", authz)
	}
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
	return res
}

// ib calls as the admin and wants code 10000.
func ib(t *testing.T, b *berthtest.Berth, method, path string, body any) ibResult {
	t.Helper()
	res := ibCall(t, b, method, path, "admin", body)
	if res.status != http.StatusOK || res.code != 10000 {
		t.Fatalf("%s %s: %d %s", method, path, res.status, res.body)
	}
	return res
}

// ibBuild starts a build of project's tag as the admin and returns its
// id: content is the seed's object {"idStr": ...}.
func ibBuild(t *testing.T, b *berthtest.Berth, project, tag string) string {
	t.Helper()
	res := ib(t, b, http.MethodPost, "/api/project/build", map[string]any{"projectName": project, "tag": tag})
	c, _ := res.content.(map[string]any)
	id, _ := c["idStr"].(string)
	if id == "" || c["id"] != nil && fmt.Sprint(c["id"]) != id {
		t.Fatalf("build %s:%s: content %s, want {\"idStr\": ...}", project, tag, res.body)
	}
	return id
}

// ibDetail is what an error answer says: errMsg and, where the seed puts
// the detail, content.
func ibDetail(res ibResult) string {
	return res.errMsg + " " + fmt.Sprint(res.content)
}

// ibUpload uploads files to a project's build context.
func ibUpload(t *testing.T, b *berthtest.Berth, authz, project string, files map[string][]byte) ibResult {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("projectName", project)
	for name, data := range files {
		_ = mw.WriteField("name", name)
		fw, _ := mw.CreateFormFile("file", filepath.Base(name))
		_, _ = fw.Write(data)
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.URL("/api/project/file"), &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if authz == "admin" {
		req.SetBasicAuth("admin", b.AdminPassword)
	} else if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res := ibResult{status: resp.StatusCode, body: readAll(t, resp)}
	if json.Unmarshal([]byte(res.body), &res.raw) == nil {
		if c, ok := res.raw["code"].(float64); ok {
			res.code = int(c)
		}
		res.content = res.raw["content"]
	}
	return res
}

// waitBuild polls buildHistory until build id leaves state 0 and returns it.
func waitBuild(t *testing.T, b *berthtest.Berth, project, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		res := ib(t, b, http.MethodGet, "/api/project/buildHistory?projectName="+project, nil)
		for _, e := range res.content.([]any) {
			build := e.(map[string]any)
			if build["idStr"] == id && build["state"].(float64) != 0 {
				return build
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("build %s of %s still running after 90s", id, project)
	return nil
}

// craneConfig returns the image config of ref.
func craneConfig(t *testing.T, ref string) map[string]any {
	t.Helper()
	out := berthtest.Output(t, berthtest.Tool(t, "crane"), "config", "--insecure", ref)
	var cfg map[string]any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("crane config %s: %v\n%s", ref, err, out)
	}
	return cfg
}
