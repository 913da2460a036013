package charts

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/registry/domain"
)

// The rendered index is YAML with helm's shape: apiVersion v1, entries per
// name, versions newest SemVer first, urls, digest (bare hex), created.
func TestRenderIndex(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cv := func(name, version, meta string) domain.ChartVersion {
		return domain.ChartVersion{Name: name, Version: version, Created: at, ChartDigest: "sha256:ab" + version, Metadata: []byte(meta)}
	}
	vs := []domain.ChartVersion{
		cv("a", "1.2.0", `{"name":"a","version":"1.2.0","description":"x: \"y\" <z> & \n","apiVersion":"v2"}`),
		cv("a", "1.10.0", `{"name":"a","version":"1.10.0","apiVersion":"v2","dependencies":[{"name":"d","repository":"","import-values":[{"child":"x","parent":"y"}]}]}`),
		cv("a", "1.10.0-rc.1", `{"name":"a","version":"1.10.0-rc.1","apiVersion":"v2"}`),
		cv("b-c", "0.1.0+build.1", `{"name":"b-c","version":"0.1.0+build.1","apiVersion":"v2","annotations":{"k":"v"}}`),
	}
	out, err := renderIndex(vs, "proj", "https://h", at)
	if err != nil {
		t.Fatal(err)
	}
	var idx struct {
		APIVersion string                      `yaml:"apiVersion"`
		Generated  time.Time                   `yaml:"generated"`
		Entries    map[string][]map[string]any `yaml:"entries"`
	}
	if err := yaml.Unmarshal(out, &idx); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if idx.APIVersion != "v1" || !idx.Generated.Equal(at) || len(idx.Entries) != 2 {
		t.Fatalf("index: %+v\n%s", idx, out)
	}
	var order []string
	for _, e := range idx.Entries["a"] {
		order = append(order, e["version"].(string))
	}
	if want := []string{"1.10.0", "1.10.0-rc.1", "1.2.0"}; len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("version order %v, want %v", order, want)
	}
	e := idx.Entries["b-c"][0]
	if e["digest"] != "ab0.1.0+build.1" || e["created"] != "2026-01-02T03:04:05Z" {
		t.Errorf("entry %v", e)
	}
	if urls := e["urls"].([]any); len(urls) != 1 || urls[0] != "https://h/chartrepo/proj/charts/b-c-0.1.0+build.1.tgz" {
		t.Errorf("urls %v", urls)
	}
	if idx.Entries["a"][2]["description"] != "x: \"y\" <z> & \n" {
		t.Errorf("description %q", idx.Entries["a"][2]["description"])
	}
	empty, _ := renderIndex(nil, "proj", "https://h", at)
	var none struct {
		Entries map[string]any `yaml:"entries"`
	}
	if err := yaml.Unmarshal(empty, &none); err != nil || len(none.Entries) != 0 {
		t.Errorf("empty index: %v\n%s", err, empty)
	}
}
