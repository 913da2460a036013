package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// registryToken asks the token service for scope as user ("" anonymous).
func registryToken(t *testing.T, b *berthtest.Berth, user, pw, scope string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", b.URL("/service/token?service=berth&scope="+scope), nil)
	code, out := berthtest.SendAs(t, req, user, pw)
	var tok struct {
		Token string `json:"token"`
	}
	if code != 200 || json.Unmarshal([]byte(out), &tok) != nil || tok.Token == "" {
		t.Fatalf("token for %q (%s): %d %s", user, scope, code, out)
	}
	return tok.Token
}

// withToken sends a GET with a token in header ("Authorization" as a
// Bearer token, or "X-Auth-Token") and returns the status.
func withToken(t *testing.T, b *berthtest.Berth, path, header, token string) int {
	t.Helper()
	v := token
	if header == "Authorization" {
		v = "Bearer " + token
	}
	resp, _ := httpDo(t, "GET", b.URL(path), map[string]string{header: v, "Accept": acceptAllManifests})
	return resp.StatusCode
}

// within polls until cond holds, failing after limit: a revocation must
// take effect within the rights cache's second (with room for a busy
// machine), never at the token's expiry minutes later.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("%s: still not the case after %s", what, limit)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Revocation: a token (and SWR's X-Auth-Token) keeps only the rights its
// subject still has. Removed from the project, after a password reset,
// once the project is private, once the robot expired: the next use
// within about a second is refused, long before the token's 5 minutes.
func TestTokensAreRevoked(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	for _, u := range []string{"alice", "bob"} {
		berthtest.MustAPI(t, b, "POST", "/api/berth/v1/users", map[string]any{"username": u, "password": u + "-Passw0rd"}, 201)
	}
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects", map[string]any{"name": "rev"}, 201)
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects", map[string]any{"name": "pub", "public": true}, 201)
	for _, u := range []string{"alice", "bob"} {
		berthtest.MustAPI(t, b, "PUT", "/api/berth/v1/projects/rev/members/"+u, map[string]any{"role": "developer"}, 200)
	}
	pushRawImage(t, b, "rev/app", "v1", "amd64", layerBytes(1))
	pushRawImage(t, b, "pub/app", "v1", "amd64", layerBytes(2))
	robot := berthtest.MustAPI(t, b, "POST", "/api/berth/v1/robots", map[string]any{"name": "ci", "projects": map[string]string{"rev": "guest"}, "expiresIn": "4s"}, 201)
	var rb struct{ AccessKey, Secret string }
	if err := json.Unmarshal([]byte(robot), &rb); err != nil {
		t.Fatal(err)
	}
	const revApp, pubApp = "/v2/rev/app/manifests/v1", "/v2/pub/app/manifests/v1"

	alice := registryToken(t, b, "alice", "alice-Passw0rd", "repository:rev/app:pull")
	bob := registryToken(t, b, "bob", "bob-Passw0rd", "repository:rev/app:pull")
	anon := registryToken(t, b, "", "", "repository:pub/app:pull")
	ci := registryToken(t, b, rb.AccessKey, rb.Secret, "repository:rev/app:pull")
	for name, c := range map[string]int{
		"alice's token":              withToken(t, b, revApp, "Authorization", alice),
		"bob's token":                withToken(t, b, revApp, "Authorization", bob),
		"bob's X-Auth-Token on /v2":  withToken(t, b, revApp, "X-Auth-Token", bob),
		"bob's X-Auth-Token on mgmt": withToken(t, b, "/api/berth/v1/projects/rev", "X-Auth-Token", bob),
		"the anonymous token":        withToken(t, b, pubApp, "Authorization", anon),
		"the robot's token":          withToken(t, b, revApp, "Authorization", ci),
	} {
		if c != 200 {
			t.Fatalf("%s before any change: %d", name, c)
		}
	}
	issued := time.Now()

	// alice leaves the project.
	berthtest.MustAPI(t, b, "DELETE", "/api/berth/v1/projects/rev/members/alice", nil, 204)
	within(t, 3*time.Second, "alice's token after she left the project", func() bool {
		return withToken(t, b, revApp, "Authorization", alice) == http.StatusUnauthorized
	})
	// bob's password is reset: his tokens stop, on /v2 and on the
	// management API (X-Auth-Token).
	berthtest.MustAPI(t, b, "PUT", "/api/berth/v1/users/bob/password", map[string]any{"password": "bob-N3wPassword"}, 200)
	within(t, 3*time.Second, "bob's token after a password reset", func() bool {
		return withToken(t, b, revApp, "Authorization", bob) == http.StatusUnauthorized &&
			withToken(t, b, revApp, "X-Auth-Token", bob) == http.StatusUnauthorized &&
			withToken(t, b, "/api/berth/v1/projects/rev", "X-Auth-Token", bob) == http.StatusUnauthorized
	})
	// The public project goes private.
	berthtest.MustAPI(t, b, "PUT", "/api/berth/v1/projects/pub", map[string]any{"public": false}, 200)
	within(t, 3*time.Second, "the anonymous token after the project went private", func() bool {
		return withToken(t, b, pubApp, "Authorization", anon) == http.StatusUnauthorized
	})
	// The robot expires (4 s after it was made).
	within(t, 8*time.Second, "the robot's token after the robot expired", func() bool {
		return withToken(t, b, revApp, "Authorization", ci) == http.StatusUnauthorized
	})
	if time.Since(issued) > 4*time.Minute {
		t.Fatal("the tokens may have expired on their own: the test proves nothing")
	}
	// Nothing else was revoked: bob's new password works, alice still
	// reads the public... now private project no more, the admin does.
	if tok := registryToken(t, b, "bob", "bob-N3wPassword", "repository:rev/app:pull"); withToken(t, b, revApp, "Authorization", tok) != 200 {
		t.Error("a token after bob's reset does not work")
	}
}
