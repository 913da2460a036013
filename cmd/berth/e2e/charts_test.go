package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// One copy, two protocols: a chart pushed with `helm push oci://` is
// installable through `helm repo add`, and one uploaded through the chart
// API is pullable with `helm pull oci://`, byte for byte.
func TestChartRepoBothWays(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	h := newHelm(t)
	admin, pw := "admin", b.AdminPassword
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "helmrepo"}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "helmref"}, http.StatusCreated)

	// OCI push → classic repo.
	v1 := h.packageChart("0.1.0")
	h.run("push", v1, "oci://"+b.Addr+"/helmrepo", "--plain-http")
	repoURL := b.URL("/chartrepo/helmrepo")
	h.run("repo", "add", "berth", repoURL, "--username", admin, "--password", pw)
	h.run("repo", "update")
	mustContain(t, "helm search repo", h.run("search", "repo", "berth/berthdemo", "--versions"), "berth/berthdemo", "0.1.0", "1.16.0")
	out := t.TempDir()
	h.run("pull", "berth/berthdemo", "--version", "0.1.0", "-d", out)
	if !bytes.Equal(readFile(t, filepath.Join(out, "berthdemo-0.1.0.tgz")), readFile(t, v1)) {
		t.Error("helm pull through the classic repo gave different bytes than helm push stored")
	}
	mustContain(t, "helm template", h.run("template", "rel", "berth/berthdemo", "--version", "0.1.0"),
		"kind: ConfigMap", "rel-berthdemo", `greeting: "hello from berth"`)

	code, idx, hdr := getAs(t, b, "/chartrepo/helmrepo/index.yaml", admin, pw)
	if code != http.StatusOK || !strings.Contains(hdr.Get("Content-Type"), "yaml") {
		t.Fatalf("index.yaml: %d %s", code, hdr.Get("Content-Type"))
	}
	var index struct {
		APIVersion string `yaml:"apiVersion"`
		Generated  string `yaml:"generated"`
		Entries    map[string][]struct {
			Version string   `yaml:"version"`
			Digest  string   `yaml:"digest"`
			Created string   `yaml:"created"`
			URLs    []string `yaml:"urls"`
		} `yaml:"entries"`
	}
	if err := yaml.Unmarshal(idx, &index); err != nil {
		t.Fatalf("index.yaml: %v\n%s", err, idx)
	}
	e := index.Entries["berthdemo"]
	if index.APIVersion != "v1" || index.Generated == "" || len(e) != 1 || e[0].Version != "0.1.0" || e[0].Created == "" ||
		e[0].Digest != strings.TrimPrefix(fileDigest(t, v1), "sha256:") ||
		len(e[0].URLs) != 1 || e[0].URLs[0] != "http://"+b.Addr+"/chartrepo/helmrepo/charts/berthdemo-0.1.0.tgz" {
		t.Errorf("index.yaml: %+v\n%s", index, idx)
	}

	// API upload → OCI pull; the config is what helm push writes.
	v2 := h.packageChart("0.2.0+build.7")
	if code, body := uploadChart(t, b, "helmrepo", readFile(t, v2), nil, "", admin, pw); code != http.StatusCreated || !strings.Contains(body, `"saved":true`) {
		t.Fatalf("upload: %d %s", code, body)
	}
	out2 := t.TempDir()
	h.run("pull", "oci://"+b.Addr+"/helmrepo/berthdemo", "--version", "0.2.0+build.7", "--plain-http", "-d", out2)
	if !bytes.Equal(readFile(t, filepath.Join(out2, "berthdemo-0.2.0+build.7.tgz")), readFile(t, v2)) {
		t.Error("helm pull oci:// of an uploaded chart gave different bytes")
	}
	h.run("push", v2, "oci://"+b.Addr+"/helmref", "--plain-http")
	if got, want := configDigest(t, b, "helmref/berthdemo", "0.2.0_build.7"), configDigest(t, b, "helmrepo/berthdemo", "0.2.0_build.7"); got != want {
		t.Errorf("uploaded chart's config %s differs from helm push's %s", want, got)
	}

	// Re-upload: 409 unless forced.
	if code, body := uploadChart(t, b, "helmrepo", readFile(t, v2), nil, "", admin, pw); code != http.StatusConflict || !strings.Contains(body, `"CONFLICT"`) {
		t.Errorf("re-upload: %d %s, want 409 CONFLICT", code, body)
	}
	if code, body := uploadChart(t, b, "helmrepo", readFile(t, v2), nil, "?force=true", admin, pw); code != http.StatusCreated {
		t.Errorf("forced re-upload: %d %s", code, body)
	}

	// The chart API.
	var list []map[string]any
	_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodGet, "/api/chartrepo/helmrepo/charts", nil, http.StatusOK)), &list)
	if len(list) != 1 || list[0]["name"] != "berthdemo" || list[0]["total_versions"] != 2.0 || list[0]["latest_version"] != "0.2.0+build.7" {
		t.Errorf("chart list: %v", list)
	}
	var versions []map[string]any
	_ = json.Unmarshal([]byte(mustAPI(t, b, http.MethodGet, "/api/chartrepo/helmrepo/charts/berthdemo", nil, http.StatusOK)), &versions)
	if len(versions) != 2 || versions[0]["version"] != "0.2.0+build.7" || versions[1]["digest"] != strings.TrimPrefix(fileDigest(t, v1), "sha256:") {
		t.Errorf("versions: %v", versions)
	}
	detail := mustAPI(t, b, http.MethodGet, "/api/chartrepo/helmrepo/charts/berthdemo/0.1.0", nil, http.StatusOK)
	mustContain(t, "version detail", detail, `"signed":false`, `"appVersion":"1.16.0"`)
	mustContain(t, "missing chart", mustAPI(t, b, http.MethodGet, "/api/chartrepo/helmrepo/charts/nochart", nil, http.StatusNotFound), `"code":"NOT_FOUND"`)

	// Delete one version, then the chart: gone from index.yaml and OCI.
	mustAPI(t, b, http.MethodDelete, "/api/chartrepo/helmrepo/charts/berthdemo/0.1.0", nil, http.StatusOK)
	_, idx, _ = getAs(t, b, "/chartrepo/helmrepo/index.yaml", admin, pw)
	if strings.Contains(string(idx), "berthdemo-0.1.0.tgz") || !strings.Contains(string(idx), "0.2.0+build.7") {
		t.Errorf("index.yaml after deleting 0.1.0:\n%s", idx)
	}
	if o, err := h.runErr("pull", "oci://"+b.Addr+"/helmrepo/berthdemo", "--version", "0.1.0", "--plain-http", "-d", t.TempDir()); err == nil {
		t.Errorf("helm pull oci:// of a deleted version worked:\n%s", o)
	}
	mustAPI(t, b, http.MethodDelete, "/api/chartrepo/helmrepo/charts/berthdemo", nil, http.StatusOK)
	mustAPI(t, b, http.MethodDelete, "/api/chartrepo/helmrepo/charts/berthdemo", nil, http.StatusNotFound)
	_, idx, _ = getAs(t, b, "/chartrepo/helmrepo/index.yaml", admin, pw)
	if strings.Contains(string(idx), "berthdemo") {
		t.Errorf("index.yaml after deleting the chart:\n%s", idx)
	}
	if code, _, _ := getAs(t, b, "/chartrepo/helmrepo/charts/berthdemo-0.2.0+build.7.tgz", admin, pw); code != http.StatusNotFound {
		t.Errorf("download of a deleted chart: %d", code)
	}
}

// A provenance file uploaded with the chart is served beside it, and
// `helm pull --verify` checks it through the classic repository.
func TestChartProvenanceVerify(t *testing.T) {
	key, secring, pubring := gpgKeyring(t)
	b := berthtest.Start(t, berthtest.Options{})
	h := newHelm(t)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "signed", "public": true}, http.StatusCreated)
	tgz := h.packageChart("1.0.0", key, secring)
	prov := readFile(t, tgz+".prov")
	if code, body := uploadChart(t, b, "signed", readFile(t, tgz), []byte("not a signature"), "", "admin", b.AdminPassword); code != http.StatusBadRequest {
		t.Errorf("upload with a bogus provenance file: %d %s", code, body)
	}
	if code, body := uploadChart(t, b, "signed", readFile(t, tgz), prov, "", "admin", b.AdminPassword); code != http.StatusCreated {
		t.Fatalf("signed upload: %d %s", code, body)
	}
	mustContain(t, "detail", mustAPI(t, b, http.MethodGet, "/api/chartrepo/signed/charts/berthdemo/1.0.0", nil, http.StatusOK), `"signed":true`, ".tgz.prov")
	h.run("repo", "add", "signed", b.URL("/chartrepo/signed"))
	out := t.TempDir()
	mustContain(t, "helm pull --verify", h.run("pull", "signed/berthdemo", "--version", "1.0.0", "--verify", "--keyring", pubring, "-d", out), "Signed by")
	if !bytes.Equal(readFile(t, filepath.Join(out, "berthdemo-1.0.0.tgz.prov")), prov) {
		t.Error("the provenance file changed on the way")
	}
	// The same file reaches OCI clients as helm's provenance layer.
	out2 := t.TempDir()
	h.run("pull", "oci://"+b.Addr+"/signed/berthdemo", "--version", "1.0.0", "--plain-http", "--prov", "-d", out2)
	if _, err := os.Stat(filepath.Join(out2, "berthdemo-1.0.0.tgz.prov")); err != nil {
		t.Errorf("helm pull oci:// --prov: %v", err)
	}
}

// Private chart repositories need credentials (Basic, as helm repo add
// sends them); strangers get 404; public ones are open to anonymous reads.
func TestChartRepoAccess(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	h := newHelm(t)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "private1"}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "public1", "public": true}, http.StatusCreated)
	const stranger, strangerPW = "stranger", "Stranger-pass-123"
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": stranger, "password": strangerPW}, http.StatusCreated)
	tgz := readFile(t, h.packageChart("0.1.0"))
	for _, p := range []string{"private1", "public1"} {
		if code, body := uploadChart(t, b, p, tgz, nil, "", "admin", b.AdminPassword); code != http.StatusCreated {
			t.Fatalf("upload to %s: %d %s", p, code, body)
		}
	}

	code, _, hdr := getAs(t, b, "/chartrepo/private1/index.yaml", "", "")
	if code != http.StatusUnauthorized || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic realm=") {
		t.Errorf("anonymous index.yaml of a private project: %d %q", code, hdr.Get("WWW-Authenticate"))
	}
	for _, path := range []string{"/chartrepo/private1/index.yaml", "/chartrepo/private1/charts/berthdemo-0.1.0.tgz", "/api/chartrepo/private1/charts"} {
		if code, body, _ := getAs(t, b, path, stranger, strangerPW); code != http.StatusNotFound {
			t.Errorf("stranger GET %s: %d %s, want 404", path, code, body)
		}
	}
	if code, body := uploadChart(t, b, "public1", tgz, nil, "?force=true", stranger, strangerPW); code != http.StatusForbidden {
		t.Errorf("stranger upload to a public project: %d %s, want 403", code, body)
	}
	if code, body := uploadChart(t, b, "public1", tgz, nil, "?force=true", "", ""); code != http.StatusUnauthorized {
		t.Errorf("anonymous upload: %d %s, want 401", code, body)
	}
	if o, err := h.runErr("repo", "add", "priv-anon", b.URL("/chartrepo/private1")); err == nil {
		t.Errorf("helm repo add of a private repo without credentials worked:\n%s", o)
	}
	h.run("repo", "add", "priv", b.URL("/chartrepo/private1"), "--username", "admin", "--password", b.AdminPassword)
	h.run("repo", "add", "pub", b.URL("/chartrepo/public1"))
	h.run("pull", "pub/berthdemo", "--version", "0.1.0", "-d", t.TempDir())
	h.run("pull", "priv/berthdemo", "--version", "0.1.0", "-d", t.TempDir())
	code, body, hdr := getAs(t, b, "/chartrepo/public1/charts/berthdemo-0.1.0.tgz", "", "")
	if code != http.StatusOK || hdr.Get("Content-Type") != "application/gzip" || !bytes.Equal(body, tgz) {
		t.Errorf("anonymous download from a public project: %d %s (%d bytes)", code, hdr.Get("Content-Type"), len(body))
	}
}
