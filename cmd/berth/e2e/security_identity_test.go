package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// sendWith sends a request with exactly these headers (no admin
// credentials added) and returns the status, body and request id.
func sendWith(t *testing.T, method, url string, body []byte, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp), resp.Header.Get("X-Request-Id")
}

// Asserted identity: a robot (bk-repo's Platform credentials) naming
// X-BKREPO-UID: admin is recorded and logged as itself, its access key;
// the user it names is kept apart, as the audit event's actor.asserted.
func TestAssertedIdentityIsKeptApart(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects", map[string]any{"name": "idp"}, 201)
	out := berthtest.MustAPI(t, b, "POST", "/api/berth/v1/robots", map[string]any{"name": "ci", "projects": map[string]string{"idp": "developer"}}, 201)
	var rb struct{ AccessKey, Secret string }
	if err := json.Unmarshal([]byte(out), &rb); err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Authorization": "Platform " + base64.StdEncoding.EncodeToString([]byte(rb.AccessKey+":"+rb.Secret)), "X-BKREPO-UID": "admin"}

	// The robot pushes idp/docker-local/app:v1 through /v2 and stages it
	// through bk-repo, naming the admin each time.
	const repo = "idp/docker-local/app"
	layer := layerBytes(7)
	config, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "rootfs": map[string]any{"type": "layers", "diff_ids": []string{berthtest.Sha(layer)}}})
	for _, blob := range [][]byte{layer, config} {
		req, _ := http.NewRequest("POST", b.URL("/v2/"+repo+"/blobs/uploads/"), nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := berthtest.AnonymousClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("robot starts an upload: %d %s", resp.StatusCode, body)
		}
		loc := resp.Header.Get("Location")
		if strings.HasPrefix(loc, "/") {
			loc = b.URL(loc)
		}
		if code, body, _ := sendWith(t, "PUT", berthtest.WithDigest(loc, berthtest.Sha(blob)), blob, hdr); code != http.StatusCreated {
			t.Fatalf("robot blob upload: %d %s", code, body)
		}
	}
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": berthtest.Sha(config), "size": len(config)},
		"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": berthtest.Sha(layer), "size": len(layer)}}})
	h := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	for k, v := range hdr {
		h[k] = v
	}
	code, body, pushID := sendWith(t, "PUT", b.URL("/v2/"+repo+"/manifests/v1"), man, h)
	if code != http.StatusCreated {
		t.Fatalf("robot manifest push: %d %s", code, body)
	}
	code, body, stageID := sendWith(t, "PUT", b.URL("/docker/ext/version/stage/idp/docker-local?packageKey=app&version=v1&tag=@release"), nil, hdr)
	if code != http.StatusOK || !strings.Contains(body, `"code":0`) {
		t.Fatalf("robot stage: %d %s", code, body)
	}

	// Recorded as the robot.
	res := ext(t, b, http.MethodGet, "/docker/ext/version/detail/idp/docker-local?packageKey=app&version=v1")
	basic, _ := res.data.(map[string]any)["basic"].(map[string]any)
	if basic["createdBy"] != rb.AccessKey || basic["lastModifiedBy"] != rb.AccessKey {
		t.Errorf("the robot's push is recorded as created by %v, modified by %v; want %s", basic["createdBy"], basic["lastModifiedBy"], rb.AccessKey)
	}
	// Logged as the robot, the asserted user apart.
	var audit bool
	for _, l := range strings.Split(b.Logs(), "\n") {
		if !strings.Contains(l, pushID) && !strings.Contains(l, stageID) {
			continue
		}
		if strings.Contains(l, `"user":"admin"`) || strings.Contains(l, `"name":"admin"`) {
			t.Errorf("a line of the robot's request names admin as its user: %s", l)
		}
		if strings.Contains(l, `"msg":"audit"`) {
			audit = true
			if !strings.Contains(l, `"name":"`+rb.AccessKey+`"`) || !strings.Contains(l, `"asserted":"admin"`) {
				t.Errorf("audit line of the robot's stage: %s, want actor name %s and asserted admin", l, rb.AccessKey)
			}
		}
	}
	if !audit {
		t.Error("no audit line for the robot's stage")
	}
	if !strings.Contains(b.Logs(), `"user":"`+rb.AccessKey+`"`) {
		t.Error("no log line names the robot as the user")
	}
}
