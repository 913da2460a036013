package e2e

import (
	"encoding/json"
	"math"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestCCRQuota sets a project's quota through the CCR API: a crane push
// that would exceed it fails with DENIED "quota exceeded" and leaves
// nothing counted or listed; a quota below usage blocks pushes, not pulls.
func TestCCRQuota(t *testing.T) {
	b := startCCR(t)
	crane := berthtest.Tool(t, "crane")
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "quota", "quota": 1 << 20})
	first := pushRawImage(t, b, "quota/app", "v1", "amd64", layerBytes(1))
	// Usage in bytes is berth's API's; the CCR record has it in MiB,
	// rounded up, as the seed's field table says.
	used := func() float64 {
		t.Helper()
		var p map[string]any
		if err := json.Unmarshal([]byte(mustAPI(t, b, http.MethodGet, "/api/berth/v1/projects/quota", nil, http.StatusOK)), &p); err != nil {
			t.Fatal(err)
		}
		bytes := p["storageUsed"].(float64)
		if mib := ccrProject(t, b, "quota")["storageUsed"]; mib != math.Ceil(bytes/(1<<20)) {
			t.Errorf("CCR storageUsed %v MiB for %v bytes", mib, bytes)
		}
		return bytes
	}
	if got := used(); got != float64(first.Size) {
		t.Fatalf("storage used %v after one push of %d bytes", got, first.Size)
	}
	state := func() string {
		t.Helper()
		repos := ccr(t, b, http.MethodGet, ccrBase+"/projects/quota/repositories?noPaging=true", nil)
		arts := ccr(t, b, http.MethodGet, ccrBase+"/projects/quota/repositories/app/artifacts", nil)
		var out []string
		for _, r := range ccrList(t, repos, "data") {
			out = append(out, r["repositoryName"].(string))
		}
		for _, a := range ccrList(t, arts, "artifacts") {
			for _, tg := range a["tags"].([]any) {
				out = append(out, "app:"+tg.(map[string]any)["name"].(string))
			}
		}
		return strings.Join(out, ",")
	}
	if got := state(); got != "app,app:v1" {
		t.Fatalf("state: %s", got)
	}

	// Room for less than one more image.
	ccr(t, b, http.MethodPut, ccrBase+"/projects/quota", map[string]any{"quota": first.Size + 10})
	layer := filepath.Join(t.TempDir(), "big.tar")
	writeTar(t, layer, map[string][]byte{"big.bin": randomBytes(t, 8192)})
	for _, ref := range []string{"quota/app:v2", "quota/other:v1"} {
		out, err := berthtest.RunErr(t, crane, "append", "--insecure", "-f", layer, "-t", b.Addr+"/"+ref)
		if err == nil || !strings.Contains(out, "DENIED") || !strings.Contains(out, "quota exceeded") {
			t.Fatalf("crane push of %s over the quota: %v\n%s", ref, err, out)
		}
	}
	if got := used(); got != float64(first.Size) {
		t.Errorf("refused pushes were counted: storage used %v, want %d", got, first.Size)
	}
	if got := state(); got != "app,app:v1" {
		t.Errorf("refused pushes left something behind: %s", got)
	}

	// Below usage: pushes refused, pulls served.
	ccr(t, b, http.MethodPut, ccrBase+"/projects/quota", map[string]any{"quota": 10})
	if p := ccrProject(t, b, "quota"); p["quota"] != 10.0 || p["storageUsed"] != 1.0 || used() != float64(first.Size) {
		t.Errorf("over quota: %v", p)
	}
	small := filepath.Join(t.TempDir(), "small.tar")
	writeTar(t, small, map[string][]byte{"s": []byte("s")})
	if out, err := berthtest.RunErr(t, crane, "append", "--insecure", "-f", small, "-t", b.Addr+"/quota/app:v3"); err == nil || !strings.Contains(out, "quota exceeded") {
		t.Errorf("push while over quota: %v\n%s", err, out)
	}
	berthtest.Run(t, crane, "pull", "--insecure", b.Addr+"/quota/app:v1", filepath.Join(t.TempDir(), "img.tar"))

	// Unlimited again: the push goes through and is counted.
	ccr(t, b, http.MethodPut, ccrBase+"/projects/quota", map[string]any{"quota": -1})
	craneAppend(t, b.Addr+"/quota/app:v2", nil, layer)
	if got := used(); got <= float64(first.Size)+8192 {
		t.Errorf("storage used %v after a push of 8 KiB more", got)
	}
	if got := state(); got != "app,app:v2,app:v1" { // newest first
		t.Errorf("state after the push: %s", got)
	}
}

// TestCCRAccountReset sets and resets registry credentials through
// account/reset; crane logs in with the new password at once and never
// again with the old one.
func TestCCRAccountReset(t *testing.T) {
	b := startCCR(t)
	crane := berthtest.Tool(t, "crane")
	ccr(t, b, http.MethodPost, ccrBase+"/projects", map[string]any{"name": "priv"})
	craneAppend(t, b.Addr+"/priv/app:v1", nil, pushLayer(t))
	const pw1, pw2 = "Reset-pass-111", "Reset-pass-222"

	// The admin sets up a new user's credential (created), and makes it a guest.
	res := ccr(t, b, http.MethodPost, ccrBase+"/account/reset", map[string]any{"username": "ccruser", "new_password": pw1})
	wantKeys(t, "reset", res.body, seedJSON(t, ccrSeedEmpty))
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/priv/members/ccruser", map[string]string{"role": "guest"}, http.StatusOK)
	pull := func(env []string) error {
		_, err := berthtest.RunEnvErr(t, env, crane, "pull", "--insecure", b.Addr+"/priv/app:v1", filepath.Join(t.TempDir(), "i.tar"))
		return err
	}
	// login stores the credential as crane does (crane verifies it on use).
	login := func(pw string) ([]string, error) {
		env := credHome(t)
		_, err := berthtest.RunEnvErr(t, env, crane, "auth", "login", b.Addr, "-u", "ccruser", "-p", pw)
		return env, err
	}
	old, err := login(pw1)
	if err != nil || pull(old) != nil {
		t.Fatalf("crane login/pull with the first password: %v", err)
	}

	// The user resets its own password: the old one stops working at once.
	res = ccrAs(t, b, "ccruser", pw1, http.MethodPost, ccrBase+"/account/reset", map[string]any{"username": "ccruser", "new_password": pw2})
	wantCCRError(t, "own reset", res, http.StatusOK, "CCR.Success")
	if err := pull(old); err == nil {
		t.Error("crane pulled with the old password after the reset")
	}
	if env, err := login(pw1); err != nil || pull(env) == nil {
		t.Errorf("crane with a fresh login of the old password: %v", err)
	}
	env, err := login(pw2)
	if err != nil || pull(env) != nil {
		t.Errorf("crane login/pull with the new password: %v", err)
	}
	wantCCRError(t, "old password on CCR", ccrAs(t, b, "ccruser", pw1, http.MethodGet, ccrBase+"/projects", nil), 401, "CCR.RespAuthFailed")

	// A token is not enough to change a password.
	tok := swrToken(t, b, "ccruser", pw2)
	req, _ := http.NewRequest(http.MethodPost, b.URL(ccrBase+"/account/reset"), strings.NewReader(`{"username":"ccruser","new_password":"Token-pass-333"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	code, out := sendAs(t, req, "", "")
	if code != http.StatusForbidden || !strings.Contains(out, "CCR.RespPermissionDenied") {
		t.Errorf("reset with a token: %d %s", code, out)
	}

	errs := []struct {
		what, user, pw string
		body           any
		status         int
		code           string
	}{
		{"weak password", "admin", "", map[string]any{"username": "ccruser", "new_password": "short1"}, 400, "CCR.CodeParamError"},
		{"letters only", "ccruser", pw2, map[string]any{"username": "ccruser", "new_password": "onlyletters"}, 400, "CCR.CodeParamError"},
		{"missing password", "admin", "", map[string]any{"username": "ccruser"}, 400, "CCR.CodeParamError"},
		{"missing username", "admin", "", map[string]any{"new_password": pw1}, 400, "CCR.CodeParamError"},
		{"invalid username", "admin", "", map[string]any{"username": "Bad Name", "new_password": pw1}, 400, "CCR.CodeParamError"},
		{"unknown field", "admin", "", map[string]any{"username": "ccruser", "new_password": pw1, "old_password": "x"}, 400, "CCR.CodeParamError"},
		{"malformed", "admin", "", `{"username":`, 400, "CCR.CodeParamError"},
		{"someone else's", "ccruser", pw2, map[string]any{"username": "admin", "new_password": pw1}, 403, "CCR.RespPermissionDenied"},
		{"create as non-admin", "ccruser", pw2, map[string]any{"username": "newbie", "new_password": pw1}, 403, "CCR.RespPermissionDenied"},
		{"anonymous", "", "", map[string]any{"username": "ccruser", "new_password": pw1}, 401, "CCR.RespAuthFailed"},
	}
	for _, e := range errs {
		wantCCRError(t, e.what, ccrAs(t, b, e.user, e.pw, http.MethodPost, ccrBase+"/account/reset", e.body), e.status, e.code)
	}
	if env, err := login(pw2); err != nil || pull(env) != nil {
		t.Errorf("refused resets changed the password: %v", err)
	}
	if env, err := login(pw1); err != nil || pull(env) == nil {
		t.Errorf("refused resets restored the old password: %v", err)
	}
	wantCCRError(t, "wrong method", ccrAs(t, b, "admin", "", http.MethodGet, ccrBase+"/account/reset", nil), 405, "CCR.CodeForbidOperate")
}

// pushLayer writes a small layer tarball for crane append.
func pushLayer(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "layer.tar")
	writeTar(t, p, map[string][]byte{"hello": []byte("hello from ccr\n")})
	return p
}
