package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

const (
	credDev1     = "dev1"
	credDev1Pass = "dev1-Passw0rd"
)

// credAPI sends a JSON request to the management API as user (the admin
// when user is empty) and returns the status and decoded body.
func credAPI(t *testing.T, b *berthtest.Berth, method, path, user, pw string, body any) (int, map[string]any) {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, b.URL("/api/berth/v1"+path), rd)
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := readAll(t, resp)
	out := map[string]any{}
	_ = json.Unmarshal([]byte(raw), &out)
	return resp.StatusCode, out
}

// credMustAPI is credAPI as the admin that fails the test unless want comes back.
func credMustAPI(t *testing.T, b *berthtest.Berth, method, path string, body any, want int) map[string]any {
	t.Helper()
	code, out := credAPI(t, b, method, path, "", "", body)
	if code != want {
		t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

// credGet GETs url with Basic credentials (none when user is empty: sent
// through the anonymous client).
func credGet(t *testing.T, url, user, pw string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	client := berthtest.AnonymousClient
	if user != "" {
		req.SetBasicAuth(user, pw)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// credTokenResponse is the token service's answer.
type credTokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

type credClaims struct {
	Iss, Sub, Aud, Kind string
	Access              []struct {
		Type, Name string
		Actions    []string
	}
}

// credJWT decodes (without verifying) the claims of a JWT.
func credJWT(t *testing.T, token string) credClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c credClaims
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil {
		t.Fatalf("token payload: %v (%s)", err, raw)
	}
	return c
}

// credHome is the environment of a client tool with an empty HOME and
// docker config, so it holds no credentials but its own login's.
func credHome(t *testing.T) []string {
	dir := t.TempDir()
	return []string{"HOME=" + dir, "DOCKER_CONFIG=" + filepath.Join(dir, ".docker"), "XDG_CONFIG_HOME=" + filepath.Join(dir, ".config"),
		"XDG_RUNTIME_DIR=" + dir, "REGISTRY_AUTH_FILE=" + filepath.Join(dir, "auth.json")}
}

var credDigestRE = regexp.MustCompile(`@(sha256:[0-9a-f]{64})`)

// credSetupTeam creates dev1, the private project team with dev1 as developer,
// the private project other without dev1, and team/base:v1 (pushed as admin).
func credSetupTeam(t *testing.T) *berthtest.Berth {
	b := berthtest.Start(t, berthtest.Options{StrictProjects: true})
	credMustAPI(t, b, "POST", "/users", map[string]any{"username": credDev1, "password": credDev1Pass}, http.StatusCreated)
	credMustAPI(t, b, "POST", "/projects", map[string]any{"name": "team", "public": false}, http.StatusCreated)
	credMustAPI(t, b, "POST", "/projects", map[string]any{"name": "other", "public": false}, http.StatusCreated)
	credMustAPI(t, b, "PUT", "/projects/team/members/"+credDev1, map[string]any{"role": "developer"}, http.StatusOK)
	pushRawImage(t, b, "team/base", "v1", "amd64", layerBytes(7))
	return b
}

// credAnonPullFails checks that crane without credentials cannot read ref.
func credAnonPullFails(t *testing.T, ref string) {
	t.Helper()
	crane := berthtest.Tool(t, "crane")
	if out, err := berthtest.RunEnvErr(t, credHome(t), crane, "manifest", ref, "--insecure"); err == nil {
		t.Errorf("anonymous crane manifest %s of a private project succeeded:\n%s", ref, out)
	}
}

// TestAuthClientsLogInAsDeveloper logs in as a project developer with each
// client's own login command, then pushes and pulls through the token flow.
func TestAuthClientsLogInAsDeveloper(t *testing.T) {
	b := credSetupTeam(t)
	dir := t.TempDir()
	layer := filepath.Join(dir, "layer.tar")
	writeTar(t, layer, map[string][]byte{"etc/who": []byte("dev1 was here\n")})

	t.Run("crane", func(t *testing.T) {
		crane := berthtest.Tool(t, "crane")
		env := credHome(t)
		berthtest.RunEnv(t, env, crane, "auth", "login", b.Addr, "-u", credDev1, "-p", credDev1Pass)
		cfg := string(readFile(t, filepath.Join(strings.TrimPrefix(env[1], "DOCKER_CONFIG="), "config.json")))
		if want := base64.StdEncoding.EncodeToString([]byte(credDev1 + ":" + credDev1Pass)); !strings.Contains(cfg, b.Addr) || !strings.Contains(cfg, want) {
			t.Fatalf("crane auth login wrote no dev1 entry for %s:\n%s", b.Addr, cfg)
		}
		ref := b.Addr + "/team/crane:v1"
		out := berthtest.RunEnv(t, env, crane, "append", "-t", ref, "-f", layer, "--insecure")
		m := credDigestRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("crane append printed no digest:\n%s", out)
		}
		pushed := m[1]
		if got := strings.TrimSpace(berthtest.RunEnv(t, env, crane, "digest", ref, "--insecure")); got != pushed {
			t.Errorf("crane digest as dev1 = %q, want %s", got, pushed)
		}
		berthtest.RunEnv(t, env, crane, "pull", ref, filepath.Join(t.TempDir(), "img.tar"), "--insecure")
		// dev1 has no role in other: pushing there is refused.
		if out, err := berthtest.RunEnvErr(t, env, crane, "append", "-t", b.Addr+"/other/x:v1", "-f", layer, "--insecure"); err == nil {
			t.Errorf("dev1 pushed into a project without a role:\n%s", out)
		}
		credAnonPullFails(t, ref)
	})

	t.Run("oras", func(t *testing.T) {
		oras := berthtest.Tool(t, "oras")
		env := credHome(t)
		if out := berthtest.RunEnv(t, env, oras, "login", "--plain-http", "-u", credDev1, "-p", credDev1Pass, b.Addr); !strings.Contains(out, "Login Succeeded") {
			t.Fatalf("oras login: %s", out)
		}
		if out, err := berthtest.RunEnvErr(t, credHome(t), oras, "login", "--plain-http", "-u", credDev1, "-p", "wrong-Passw0rd", b.Addr); err == nil {
			t.Errorf("oras login with a wrong password succeeded:\n%s", out)
		}
		src, dst := t.TempDir(), t.TempDir()
		text := []byte("an artifact pushed by dev1\n")
		writeFile(t, filepath.Join(src, "note.txt"), text)
		ref := b.Addr + "/team/artifact:v1"
		berthtest.RunIn(t, src, env, oras, "push", "--plain-http", ref, "note.txt:text/plain")
		berthtest.RunEnv(t, env, oras, "pull", "--plain-http", ref, "-o", dst)
		if got := readFile(t, filepath.Join(dst, "note.txt")); !bytes.Equal(got, text) {
			t.Errorf("oras pulled note.txt = %q, want %q", got, text)
		}
		credAnonPullFails(t, ref)
	})

	t.Run("helm", func(t *testing.T) {
		helm := berthtest.Tool(t, "helm")
		h := t.TempDir()
		env := append(credHome(t),
			"HELM_CACHE_HOME="+filepath.Join(h, "cache"), "HELM_CONFIG_HOME="+filepath.Join(h, "config"),
			"HELM_DATA_HOME="+filepath.Join(h, "data"), "HELM_REGISTRY_CONFIG="+filepath.Join(h, "registry.json"))
		out := berthtest.RunEnv(t, env, helm, "registry", "login", b.Addr, "--plain-http", "-u", credDev1, "-p", credDev1Pass)
		if !strings.Contains(out, "Login Succeeded") {
			t.Fatalf("helm registry login: %s", out)
		}
		if _, err := os.Stat(filepath.Join(h, "registry.json")); err != nil {
			t.Errorf("helm registry login did not write HELM_REGISTRY_CONFIG: %v", err)
		}
		cdir := t.TempDir()
		berthtest.RunEnv(t, env, helm, "create", filepath.Join(cdir, "devchart"))
		berthtest.RunEnv(t, env, helm, "package", filepath.Join(cdir, "devchart"), "-d", filepath.Join(cdir, "pkg"))
		tgz := filepath.Join(cdir, "pkg", "devchart-0.1.0.tgz")
		berthtest.RunEnv(t, env, helm, "push", tgz, "oci://"+b.Addr+"/team", "--plain-http")
		outDir := filepath.Join(cdir, "out")
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			t.Fatal(err)
		}
		berthtest.RunEnv(t, env, helm, "pull", "oci://"+b.Addr+"/team/devchart", "--version", "0.1.0", "--plain-http", "-d", outDir)
		if !bytes.Equal(readFile(t, filepath.Join(outDir, "devchart-0.1.0.tgz")), readFile(t, tgz)) {
			t.Error("helm pulled a different chart than it pushed")
		}
		credAnonPullFails(t, b.Addr+"/team/devchart:0.1.0")
	})

	t.Run("skopeo", func(t *testing.T) {
		skopeo := berthtest.Tool(t, "skopeo")
		env := credHome(t)
		d := t.TempDir()
		policy, authfile := filepath.Join(d, "policy.json"), filepath.Join(d, "auth.json")
		writeFile(t, policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`))
		if out := berthtest.RunEnv(t, env, skopeo, "login", "--tls-verify=false", "--authfile", authfile, "-u", credDev1, "-p", credDev1Pass, b.Addr); !strings.Contains(out, "Login Succeeded") {
			t.Fatalf("skopeo login: %s", out)
		}
		ref := b.Addr + "/team/skopeo:v1"
		// --preserve-digests, as in TestSkopeoOCILayoutRoundTrip: without it skopeo may
		// rewrite a manifest it copies, substituting layers its blob-info
		// cache (shared by every test run as root, on loopback addresses that
		// repeat) records as variants of them; twice seen as a different
		// digest in the layout than the registry's.
		berthtest.RunEnv(t, env, skopeo, "--policy", policy, "copy", "--preserve-digests", "--authfile", authfile,
			"--src-tls-verify=false", "--dest-tls-verify=false", "docker://"+b.Addr+"/team/base:v1", "docker://"+ref)
		layout := filepath.Join(d, "layout")
		berthtest.RunEnv(t, env, skopeo, "--policy", policy, "copy", "--preserve-digests", "--authfile", authfile, "--src-tls-verify=false",
			"docker://"+ref, "oci:"+layout+":v1")
		want := craneDigest(t, ref) // as the admin
		if got := layoutDigest(t, layout, "v1"); got != want {
			t.Errorf("skopeo pulled %s, registry has %s", got, want)
		}
		credAnonPullFails(t, ref)
	})
}

// TestAuthTokenService checks the challenge on /v2/ and what the token
// service grants anonymous callers, a developer, and on a foreign project.
func TestAuthTokenService(t *testing.T) {
	b := credSetupTeam(t)

	resp, _ := credGet(t, b.URL("/v2/"), "", "")
	want := `Bearer realm="http://` + b.Addr + `/service/token",service="berth"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("anonymous GET /v2/ = %d, WWW-Authenticate %q; want 401, %q", resp.StatusCode, resp.Header.Values("WWW-Authenticate"), want)
	}

	token := func(user, pw, scope string) (credClaims, string) {
		t.Helper()
		resp, body := credGet(t, b.URL("/service/token?service=berth&scope="+scope), user, pw)
		var tr credTokenResponse
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &tr) != nil || tr.Token == "" {
			t.Fatalf("token as %q for %s = %d %s", user, scope, resp.StatusCode, body)
		}
		if tr.AccessToken != tr.Token || tr.ExpiresIn <= 0 {
			t.Errorf("token and access_token differ or expires_in %d: %s", tr.ExpiresIn, body)
		}
		c := credJWT(t, tr.Token)
		if c.Iss != "berth" || c.Aud != "berth" {
			t.Errorf("token iss %q aud %q, want berth berth", c.Iss, c.Aud)
		}
		return c, tr.Token
	}
	bearerTags := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", b.URL("/v2/team/base/tags/list"), nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, r)
		return r.StatusCode
	}

	anon, anonTok := token("", "", "repository:team/x:pull,push")
	if anon.Access == nil || len(anon.Access) != 0 || anon.Sub != "anonymous" || anon.Kind != "anonymous" {
		t.Errorf("anonymous token = %+v, want sub anonymous and empty (not missing) access", anon)
	}
	dev, devTok := token(credDev1, credDev1Pass, "repository:team/x:pull,push")
	if dev.Sub != credDev1 || dev.Kind != "user" || len(dev.Access) != 1 || dev.Access[0].Type != "repository" ||
		dev.Access[0].Name != "team/x" || strings.Join(dev.Access[0].Actions, ",") != "pull,push" {
		t.Errorf("dev1 token = %+v, want repository team/x pull,push", dev)
	}
	// A token is a bearer for exactly what it grants.
	if _, baseTok := token(credDev1, credDev1Pass, "repository:team/base:pull"); bearerTags(baseTok) != http.StatusOK {
		t.Error("dev1's token for team/base:pull cannot list team/base tags")
	}
	for name, tok := range map[string]string{"anonymous": anonTok, "dev1 team/x": devTok} {
		if code := bearerTags(tok); code != http.StatusUnauthorized {
			t.Errorf("%s token lists team/base tags: %d, want 401", name, code)
		}
	}
	// A token is no credential for another token: it would widen its own
	// scope (pull of team/base into push anywhere dev1 may) and, renewed,
	// outlive a password reset.
	_, narrow := token(credDev1, credDev1Pass, "repository:team/base:pull")
	for _, h := range []string{"Authorization", "X-Auth-Token"} {
		req, _ := http.NewRequest("GET", b.URL("/service/token?service=berth&scope=repository:team/y:pull,push,delete"), nil)
		v := narrow
		if h == "Authorization" {
			v = "Bearer " + narrow
		}
		req.Header.Set(h, v)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, r); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("token service with dev1's token in %s = %d %s, want 401", h, r.StatusCode, body)
		}
	}
	if foreign, _ := token(credDev1, credDev1Pass, "repository:other/x:pull,push"); len(foreign.Access) != 0 {
		t.Errorf("dev1 token for other/x = %+v, want nothing granted", foreign.Access)
	}
	if foreign, _ := token("", "", "repository:other/x:pull"); len(foreign.Access) != 0 {
		t.Errorf("anonymous token for other/x = %+v, want nothing granted", foreign.Access)
	}
	if resp, body := credGet(t, b.URL("/service/token?service=berth&scope=repository:team/x:pull"), credDev1, "wrong-Passw0rd"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token with a wrong password = %d %s, want 401", resp.StatusCode, body)
	}
	if resp, body := credGet(t, b.URL("/service/token?service=elsewhere&scope=repository:team/x:pull"), credDev1, credDev1Pass); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("token for another service = %d %s, want 400", resp.StatusCode, body)
	}
}
