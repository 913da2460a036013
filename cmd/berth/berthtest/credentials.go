package berthtest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// AdminPassword is the admin password of every berth a test starts (unless
// the test sets BERTH_ADMIN_PASSWORD itself).
const AdminPassword = "berth-Test-admin-pw1"

var (
	credMu sync.Mutex
	creds  = map[string][2]string{} // host:port → user, password
)

// remember records the admin credentials of a berth for AuthTransport and
// writes them where docker clients (crane, oras, regctl, skopeo) look: the
// private HOME's .docker/config.json.
func remember(t testing.TB, addr, user, pw string) {
	t.Helper()
	credMu.Lock()
	defer credMu.Unlock()
	creds[addr] = [2]string{user, pw}
	writeDockerConfig(t)
}

// forget drops the credentials of a berth that stopped: a server started
// later on its port (MinIO, a stock registry) must not be sent them.
func forget(t testing.TB, addr string) {
	t.Helper()
	credMu.Lock()
	defer credMu.Unlock()
	delete(creds, addr)
	writeDockerConfig(t)
}

// writeDockerConfig writes creds to the clients' .docker/config.json
// (credMu held).
func writeDockerConfig(t testing.TB) {
	t.Helper()
	cfg := map[string]any{"auths": map[string]any{}}
	auths := cfg["auths"].(map[string]any)
	for a, c := range creds {
		auths[a] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(c[0] + ":" + c[1]))}
	}
	dir := filepath.Join(homeDir(t), ".docker")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// RememberCredentials records user's credentials for a registry this
// package did not start (a container, a proxy in front of replicas): plain
// HTTP requests through AuthTransport and the client tools (their
// .docker/config.json in Home) then act as that user there.
func RememberCredentials(t testing.TB, addr, user, pw string) {
	t.Helper()
	remember(t, addr, user, pw)
}

// Home is the private HOME client tools run with (its .docker/config.json
// holds the admin credentials of every berth started so far).
func Home(t testing.TB) string { return homeDir(t) }

// AuthTransport adds the admin's Basic credentials to requests for a berth
// started by this package, unless the request carries its own
// Authorization header. Tests install it as http.DefaultTransport so plain
// HTTP calls act as the admin; AnonymousClient bypasses it.
type AuthTransport struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (a *AuthTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" && r.Header.Get("X-Auth-Token") == "" && r.Header.Get("X-Berth-Anonymous") == "" {
		credMu.Lock()
		c, ok := creds[r.URL.Host]
		credMu.Unlock()
		if ok {
			r = r.Clone(r.Context())
			r.SetBasicAuth(c[0], c[1])
		}
	}
	r.Header.Del("X-Berth-Anonymous")
	return a.Base.RoundTrip(r)
}

// AnonymousClient sends requests without credentials.
var AnonymousClient = &http.Client{Transport: http.DefaultTransport}

// InstallAuthTransport makes http.DefaultTransport authenticate as the
// admin of every berth this package started; call it from TestMain.
func InstallAuthTransport() {
	AnonymousClient = &http.Client{Transport: http.DefaultTransport}
	http.DefaultTransport = &AuthTransport{Base: http.DefaultTransport}
}

// Main runs a test binary whose plain HTTP requests act as the admin of
// every berth this package started (InstallAuthTransport): call it from
// TestMain. Tests of anonymous access use AnonymousClient. Afterwards the
// shared servers stop and their directories go (see StopShared).
func Main(m *testing.M) {
	InstallAuthTransport()
	code := m.Run()
	StopShared()
	os.Exit(code)
}
