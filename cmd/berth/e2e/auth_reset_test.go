package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestCredentialResetAcrossReplicas runs two berth replicas on one
// PostgreSQL database and one storage root: a password reset on one
// replica takes effect at once on the other, even for a credential the
// other has already verified and cached.
func TestCredentialResetAcrossReplicas(t *testing.T) {
	shared := []string{
		"BERTH_DATABASE_URL=" + berthtest.SharedPostgres(t).NewDatabase(t),
		"BERTH_STORAGE_FILESYSTEM_ROOT_DIRECTORY=" + t.TempDir(),
	}
	a := berthtest.Start(t, berthtest.Options{Env: shared})
	b := berthtest.Start(t, berthtest.Options{Env: shared})
	if a.DataDir == b.DataDir {
		t.Fatal("replicas share a data dir")
	}

	const pw1, pw2, pw3 = "u1-Passw0rd-one", "u1-Passw0rd-two", "u1-Passw0rd-three"
	// status of GET /v2/ and of the token service on r with Basic user:pw.
	login := func(r *berthtest.Berth, user, pw string) (v2, token int) {
		t.Helper()
		resp, _ := credGet(t, r.URL("/v2/"), user, pw)
		tresp, _ := credGet(t, r.URL("/service/token?service=berth&scope=repository:library/x:pull"), user, pw)
		return resp.StatusCode, tresp.StatusCode
	}
	expect := func(what string, r *berthtest.Berth, user, pw string, want int) {
		t.Helper()
		if v2, tok := login(r, user, pw); v2 != want || tok != want {
			t.Errorf("%s: GET /v2/ = %d, /service/token = %d; want %d", what, v2, tok, want)
		}
	}
	reset := func(r *berthtest.Berth, actor, actorPw, user, pw string) (int, map[string]any) {
		t.Helper()
		return credAPI(t, r, "PUT", "/users/"+user+"/password", actor, actorPw, map[string]any{"password": pw})
	}

	credMustAPI(t, a, "POST", "/users", map[string]any{"username": "u1", "password": pw1}, http.StatusCreated)
	// B verifies u1 (and caches the verified credential).
	expect("u1 on B before the reset", b, "u1", pw1, http.StatusOK)
	expect("u1 on B again (cached)", b, "u1", pw1, http.StatusOK)

	// The admin resets u1's password on A; B refuses the old one at once.
	if code, out := reset(a, "admin", a.AdminPassword, "u1", pw2); code != http.StatusOK || out["created"] != false || out["username"] != "u1" {
		t.Fatalf("admin reset of u1 on A = %d %v, want 200 created:false", code, out)
	}
	expect("old password on B after the reset", b, "u1", pw1, http.StatusUnauthorized)
	expect("new password on B", b, "u1", pw2, http.StatusOK)
	expect("old password on A", a, "u1", pw1, http.StatusUnauthorized)
	if code, _ := credAPI(t, b, "GET", "/projects", "u1", pw1, nil); code != http.StatusUnauthorized {
		t.Errorf("management API on B with the old password = %d, want 401", code)
	}

	// A non-admin may not reset someone else's password, nor create users.
	for _, target := range []string{"admin", "nosuchuser"} {
		if code, out := reset(a, "u1", pw2, target, "Someone-else-1"); code != http.StatusForbidden {
			t.Errorf("u1 resetting %s = %d %v, want 403", target, code, out)
		}
	}
	expect("admin after u1's refused reset", a, "admin", a.AdminPassword, http.StatusOK)
	expect("no user created by u1", a, "nosuchuser", "Someone-else-1", http.StatusUnauthorized)
	if code := anonymousReset(t, a, "u1"); code != http.StatusUnauthorized {
		t.Errorf("anonymous reset = %d, want 401", code)
	}

	// u1 resets its own password, this time on B; A (which has u1's pw2
	// cached from the requests above) refuses pw2 at once.
	if code, out := reset(b, "u1", pw2, "u1", pw3); code != http.StatusOK || out["created"] != false {
		t.Fatalf("u1 resetting its own password on B = %d %v, want 200 created:false", code, out)
	}
	expect("pw2 on A after u1's own reset", a, "u1", pw2, http.StatusUnauthorized)
	expect("pw3 on A", a, "u1", pw3, http.StatusOK)
	expect("pw3 on B", b, "u1", pw3, http.StatusOK)

	// An admin resetting a missing user creates it.
	if code, out := reset(a, "admin", a.AdminPassword, "u2", "u2-Passw0rd"); code != http.StatusOK || out["created"] != true {
		t.Errorf("admin reset of missing u2 = %d %v, want 200 created:true", code, out)
	}
	expect("created u2 on B", b, "u2", "u2-Passw0rd", http.StatusOK)

	// Weak passwords are refused and change nothing.
	for _, weak := range []string{"short1", "lettersonly", "1234567890"} {
		if code, out := reset(a, "admin", a.AdminPassword, "u1", weak); code != http.StatusBadRequest {
			t.Errorf("admin reset of u1 to %q = %d %v, want 400", weak, code, out)
		}
		if code, out := reset(b, "u1", pw3, "u1", weak); code != http.StatusBadRequest {
			t.Errorf("u1 resetting itself to %q = %d %v, want 400", weak, code, out)
		}
	}
	if code, out := reset(a, "admin", a.AdminPassword, "Bad Name", "Fine-Passw0rd"); code != http.StatusBadRequest {
		t.Errorf("admin reset of an invalid username = %d %v, want 400", code, out)
	}
	expect("pw3 on B after the refused weak resets", b, "u1", pw3, http.StatusOK)
}

// anonymousReset PUTs a password reset without any credentials.
func anonymousReset(t *testing.T, b *berthtest.Berth, user string) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", b.URL("/api/berth/v1/users/"+user+"/password"), strings.NewReader(`{"password":"Anonymous-pw-1"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := berthtest.AnonymousClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, resp)
	return resp.StatusCode
}
