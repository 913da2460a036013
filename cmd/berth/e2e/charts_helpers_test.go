package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// helmCLI runs the pinned helm with private cache, config and data
// directories, so nothing leaks between tests or from the developer.
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

func (h *helmCLI) runErr(args ...string) (string, error) {
	h.t.Helper()
	return berthtest.RunEnvErr(h.t, h.env, h.bin, args...)
}

// packageChart packages testdata/charts/berthdemo at version (signed with
// the key when keyring is set) and returns the .tgz path.
func (h *helmCLI) packageChart(version string, sign ...string) string {
	h.t.Helper()
	dir := h.t.TempDir()
	args := []string{"package", filepath.Join("testdata", "charts", "berthdemo"), "--version", version, "-d", dir}
	if len(sign) == 2 {
		args = append(args, "--sign", "--key", sign[0], "--keyring", sign[1])
	}
	abs, _ := filepath.Abs(".")
	berthtest.RunIn(h.t, abs, h.env, h.bin, args...)
	return filepath.Join(dir, "berthdemo-"+version+".tgz")
}

// configDigest is the config digest of an OCI manifest in berth.
func configDigest(t *testing.T, b *berthtest.Berth, repo, tag string) string {
	t.Helper()
	resp, raw := getManifest(t, b, http.MethodGet, repo, tag)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("manifest %s:%s: %d %s", repo, tag, resp.StatusCode, raw)
	}
	var m struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m.Config.Digest
}

// gpgKeyring makes a throwaway signing key with gpg and returns the key
// name and the secret and public keyrings helm reads; it skips the test
// when gpg is missing outside CI (CI installs Debian's gnupg).
func gpgKeyring(t *testing.T) (name, secring, pubring string) {
	t.Helper()
	gpg, err := exec.LookPath("gpg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("gpg is not installed (.ci/tools.sh installs gnupg)")
		}
		t.Skip("gpg not installed: provenance not tested")
	}
	home := t.TempDir()
	if err := os.Chmod(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	name = "Berth Chart Tests"
	berthtest.RunEnv(t, env, gpg, "--batch", "--pinentry-mode", "loopback", "--passphrase", "",
		"--quick-gen-key", name+" <charts@example.com>", "rsa2048", "sign", "never")
	secring, pubring = filepath.Join(home, "secring.gpg"), filepath.Join(home, "pubring.export.gpg")
	writeFile(t, secring, []byte(berthtest.Output(t, "env", append(env, gpg, "--batch", "--export-secret-keys", name)...)))
	writeFile(t, pubring, []byte(berthtest.Output(t, "env", append(env, gpg, "--batch", "--export", name)...)))
	return name, secring, pubring
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}
