package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Helpers of the fault suite (faults_*_test.go): what each view of berth
// says a tag points at, and berth's own tools on a server's data.

// views is what every view of berth says one tag points at ("" when the
// view does not have the tag).
type views map[string]string

// agree reports whether every view names the same digest (or none does).
func (v views) agree() bool {
	first, set := "", false
	for _, d := range v {
		if !set {
			first, set = d, true
		} else if d != first {
			return false
		}
	}
	return true
}

// tagViews reads what the OCI API, tags/list, storage (filesystem only),
// and the SWR, Harbor v1, CCR and bk-repo dialects say repo:tag is. repo
// has three components (<project>/<repoName>/<name>, as bk-repo needs).
func tagViews(t *testing.T, b *berthtest.Berth, repo, tag string, fsStorage bool) views {
	t.Helper()
	parts := strings.SplitN(repo, "/", 3)
	v := views{}
	req, _ := http.NewRequest(http.MethodHead, b.URL("/v2/"+repo+"/manifests/"+tag), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		v["oci"] = resp.Header.Get("Docker-Content-Digest")
	case http.StatusNotFound:
		v["oci"] = ""
	default:
		t.Fatalf("HEAD %s:%s: %d", repo, tag, resp.StatusCode)
	}
	var list struct{ Tags []string }
	getJSON(t, b.URL("/v2/"+repo+"/tags/list"), &list, http.StatusOK, http.StatusNotFound)
	v["tags/list"] = ""
	for _, name := range list.Tags {
		if name == tag {
			v["tags/list"] = v["oci"] // listed: it names what the API serves
		}
	}
	if fsStorage {
		link, err := os.ReadFile(filepath.Join(b.DataDir, "registry/docker/registry/v2/repositories", repo, "_manifests/tags", tag, "current/link"))
		switch {
		case err == nil:
			v["storage"] = strings.TrimSpace(string(link))
		case errors.Is(err, os.ErrNotExist):
			v["storage"] = ""
		default:
			t.Fatal(err)
		}
	}
	var swr []struct {
		Tag    string `json:"Tag"`
		Digest string `json:"digest"`
	}
	getJSON(t, b.URL("/v2/manage/namespaces/"+parts[0]+"/repos/"+parts[1]+"$"+parts[2]+"/tags?offset=0&limit=1000"), &swr, http.StatusOK, http.StatusNotFound)
	v["swr"] = ""
	for _, r := range swr {
		if r.Tag == tag {
			v["swr"] = r.Digest
		}
	}
	var harbor []struct{ Name, Digest string }
	getJSON(t, b.URL("/api/repositories/tags?repo_name="+repo), &harbor, http.StatusOK, http.StatusNotFound)
	v["harbor"] = ""
	for _, r := range harbor {
		if r.Name == tag {
			v["harbor"] = r.Digest
		}
	}
	var ccr struct {
		Artifacts []struct {
			Digest string
			Tags   []struct{ Name string }
		}
	}
	getJSON(t, b.URL("/api/ccr/v1.0/instances/ccr-manager/projects/"+parts[0]+"/repositories/"+parts[1]+"/"+parts[2]+"/artifacts?noPaging=true"), &ccr, http.StatusOK, http.StatusNotFound)
	v["ccr"] = ""
	for _, a := range ccr.Artifacts {
		for _, tg := range a.Tags {
			if tg.Name == tag {
				v["ccr"] = a.Digest
			}
		}
	}
	var bk struct {
		Data struct {
			Metadata map[string]any `json:"metadata"`
		} `json:"data"`
	}
	getJSON(t, b.URL("/docker/ext/version/detail/"+parts[0]+"/"+parts[1]+"?packageKey=docker://"+parts[2]+"&version="+tag), &bk, http.StatusOK, http.StatusNotFound)
	v["bkrepo"], _ = bk.Data.Metadata["docker.manifest.digest"].(string)
	return v
}

// getJSON GETs url as admin into v; a status in ok other than 200 leaves v
// as it is. Any other status fails the test.
func getJSON(t *testing.T, url string, v any, ok ...int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, code := range ok {
		if resp.StatusCode != code {
			continue
		}
		if code == http.StatusOK {
			if err := json.Unmarshal(body, v); err != nil {
				t.Fatalf("GET %s: %v in %.300s", url, err, body)
			}
		}
		return
	}
	t.Fatalf("GET %s: %d %.300s", url, resp.StatusCode, body)
}

// berthTool runs a berth command (check, reindex) on b's data and returns
// its exit code and output.
func berthTool(t *testing.T, b *berthtest.Berth, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(berthtest.Binary(t), append(args, "--data-dir", b.DataDir)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, b.Env()...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// waitClean runs `berth check` until it reports no drift, for at most
// within: the reconciler of a restarted server repairs what a crash left,
// and a live server writes the storage copies still pending.
func waitClean(t *testing.T, b *berthtest.Berth, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for try := 0; ; try++ {
		code, out := berthTool(t, b, "check")
		if code == 0 {
			return
		}
		if try == 0 {
			t.Logf("berth check, first try (repaired or written meanwhile):\n%s", out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth check not clean after %s: exit %d\n%s", within, code, out)
		}
		time.Sleep(2 * time.Second)
	}
}

// noServerPaths fails when an answer shows a path of the server's disk.
func noServerPaths(t *testing.T, what, body string, dataDir string) {
	t.Helper()
	for _, leak := range []string{"/docker/registry/v2", dataDir, "/tmp/", ".go:"} {
		if leak != "" && strings.Contains(body, leak) {
			t.Errorf("%s: the answer shows a server path (%q): %.400s", what, leak, body)
		}
	}
}
