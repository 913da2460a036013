package e2e

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// helmCLI runs the pinned helm with private cache, config and data
// directories.
type helmCLI struct {
	t   *testing.T
	bin string
	env []string
}

func newHelm(t *testing.T) *helmCLI {
	t.Helper()
	h := t.TempDir()
	return &helmCLI{t: t, bin: berthtest.Tool(t, "helm"), env: []string{
		"HELM_CACHE_HOME=" + filepath.Join(h, "cache"), "HELM_CONFIG_HOME=" + filepath.Join(h, "config"),
		"HELM_DATA_HOME=" + filepath.Join(h, "data"), "HELM_REPOSITORY_CONFIG=" + filepath.Join(h, "repositories.yaml"),
		"HELM_REPOSITORY_CACHE=" + filepath.Join(h, "repocache"),
	}}
}

func (h *helmCLI) run(args ...string) string {
	h.t.Helper()
	return berthtest.RunEnv(h.t, h.env, h.bin, args...)
}

// chartDir is deploy/helm/berth.
func chartDir(t *testing.T) string {
	return filepath.Join(berthtest.Root(t), "deploy", "helm", "berth")
}

// template renders the chart as release "reg" in namespace "registry" with
// values (YAML), returning stdout only (helm writes warnings to stderr).
func (h *helmCLI) template(values string) (string, error) {
	h.t.Helper()
	file := filepath.Join(h.t.TempDir(), "values.yaml")
	if err := os.WriteFile(file, []byte(values), 0o644); err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(h.bin, "template", "reg", chartDir(h.t), "--namespace", "registry", "--values", file)
	cmd.Env = append(os.Environ(), h.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

var (
	kubecheckOnce sync.Once
	kubecheckPath string
	kubecheckErr  error
)

// kubecheck builds deploy/kubecheck (a module of its own, so berth's go.mod
// stays free of client-go) once per test binary.
func kubecheck(t *testing.T) string {
	t.Helper()
	kubecheckOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-kubecheck-")
		if err != nil {
			kubecheckErr = err
			return
		}
		kubecheckPath = filepath.Join(dir, "kubecheck")
		cmd := exec.Command("go", "build", "-o", kubecheckPath, ".")
		cmd.Dir = filepath.Join(berthtest.Root(t), "deploy", "kubecheck")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			kubecheckErr = fmt.Errorf("building deploy/kubecheck: %v\n%s", err, out)
		}
	})
	if kubecheckErr != nil {
		t.Fatal(kubecheckErr)
	}
	return kubecheckPath
}

// object is one rendered manifest.
type object map[string]any

func (o object) kind() string { s, _ := o["kind"].(string); return s }

// get walks nested maps and lists ("spec", "template", 0, ...).
func (o object) get(path ...any) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil
			}
			cur = m[k]
		case int:
			l, ok := cur.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			cur = l[k]
		}
	}
	return cur
}

// parseManifests splits helm template's output into objects.
func parseManifests(t *testing.T, out string) []object {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(out))
	var objs []object
	for {
		// Plain maps: decoding into object would make every nested map one.
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, out)
		}
		if o != nil {
			objs = append(objs, object(o))
		}
	}
	return objs
}

// find returns the one object of kind (nil when absent).
func find(t *testing.T, objs []object, kind string) object {
	t.Helper()
	var found object
	for _, o := range objs {
		if o.kind() == kind {
			if found != nil {
				t.Fatalf("two %s objects", kind)
			}
			found = o
		}
	}
	return found
}

// berthConfig runs `berth config` the way the chart runs `berth serve`: the
// ConfigMap's config.yaml as BERTH_CONFIG and the container's environment,
// with secret references resolved from the rendered Secret (or external,
// for an existingSecret). berth refuses unknown keys, unknown BERTH_*
// variables and bad values, so a zero exit means it accepts the chart's
// configuration. It returns the printed settings.
func berthConfig(t *testing.T, objs []object, external map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, _ := find(t, objs, "ConfigMap").get("data", "config.yaml").(string)
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := map[string]string{}
	for k, v := range external {
		secret[k] = v
	}
	if s := find(t, objs, "Secret"); s != nil {
		data, _ := s.get("data").(map[string]any)
		for k, v := range data {
			b, err := base64.StdEncoding.DecodeString(fmt.Sprint(v))
			if err != nil {
				t.Fatalf("Secret key %s: %v", k, err)
			}
			secret[k] = string(b)
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	envList, _ := find(t, objs, "Deployment").get("spec", "template", "spec", "containers", 0, "env").([]any)
	for _, item := range envList {
		e := object(item.(map[string]any))
		name, _ := e["name"].(string)
		switch {
		case name == "BERTH_CONFIG":
			env = append(env, name+"="+cfgFile)
		case name == "BERTH_DATA_DIR":
			env = append(env, name+"="+filepath.Join(dir, "data"))
		case e.get("valueFrom", "secretKeyRef") != nil:
			key, _ := e.get("valueFrom", "secretKeyRef", "key").(string)
			v, ok := secret[key]
			if !ok {
				if opt, _ := e.get("valueFrom", "secretKeyRef", "optional").(bool); !opt {
					t.Fatalf("env %s: the Secret has no key %s and the reference is not optional", name, key)
				}
				continue
			}
			env = append(env, name+"="+v)
		default:
			env = append(env, fmt.Sprintf("%s=%v", name, e["value"]))
		}
	}
	cmd := exec.Command(berthtest.Binary(t), "config")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("berth refuses the chart's configuration: %v\n%s\nconfig.yaml:\n%s\nenvironment: %q", err, out, cfg, env)
	}
	return string(out)
}
