package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// Owners and members are users, not names: alice creates a project (so
// administers it), pushes one into being and is a member of another; she
// is deleted and a new alice is created. The new alice owns and belongs to
// nothing of the old one's, on every route family.
func TestRecreatedUserInheritsNothing(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{})
	const pw = "alice-Passw0rd"
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/users", map[string]any{"username": "alice", "password": pw}, 201)
	if code, out := berthtest.APICall(t, b, "POST", "/api/berth/v1/projects", "alice", pw, map[string]any{"name": "owned"}); code != 201 {
		t.Fatalf("alice creates a project: %d %s", code, out)
	}
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/projects", map[string]any{"name": "team"}, 201)
	berthtest.MustAPI(t, b, "PUT", "/api/berth/v1/projects/team/members/alice", map[string]any{"role": "developer"}, 200)
	pushRawImage(t, b, "team/app", "v1", "amd64", layerBytes(1))
	check := func(b *berthtest.Berth, want int) {
		t.Helper()
		for _, p := range []string{"/api/berth/v1/projects/owned", "/api/berth/v1/projects/team", "/api/berth/v1/projects/owned/members"} {
			if code, out := berthtest.APICall(t, b, "GET", p, "alice", pw, nil); code != want {
				t.Errorf("alice GET %s = %d %s, want %d", p, code, out, want)
			}
		}
		if code, out := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects", "alice", pw, nil); (want == 200) != (strings.Contains(out, `"owned"`) && strings.Contains(out, `"team"`)) {
			t.Errorf("alice's project list = %d %s", code, out)
		}
		req, _ := http.NewRequest("GET", b.URL("/v2/team/app/manifests/v1"), nil)
		req.Header.Set("Accept", acceptAllManifests)
		pull := http.StatusOK
		if want != 200 {
			pull = http.StatusUnauthorized
		}
		if code, _ := berthtest.SendAs(t, req, "alice", pw); code != pull {
			t.Errorf("alice pulls team/app:v1 = %d, want %d", code, pull)
		}
	}
	check(b, http.StatusOK)
	oldToken := registryToken(t, b, "alice", pw, "repository:team/app:pull")
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BERTH_") {
			env = append(env, kv)
		}
	}
	for _, args := range [][]string{{"delete", "alice"}, {"add", "alice"}} {
		cmd := exec.Command(berthtest.Binary(t), append(append([]string{"user"}, args...), "--data-dir", b.DataDir)...)
		cmd.Env, cmd.Stdin = append(env, b.Env()...), strings.NewReader(pw+"\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("berth user %v: %v %s", args, err, out)
		}
	}
	b = berthtest.Start(t, berthtest.Options{DataDir: b.DataDir})
	check(b, http.StatusNotFound)
	// The old alice's unexpired token is no token of the new alice.
	if code := withToken(t, b, "/v2/team/app/manifests/v1", "Authorization", oldToken); code != http.StatusUnauthorized {
		t.Errorf("the old alice's token after she was re-created: %d, want 401", code)
	}
	if code := withToken(t, b, "/api/berth/v1/projects", "X-Auth-Token", oldToken); code != http.StatusUnauthorized {
		t.Errorf("the old alice's X-Auth-Token after she was re-created: %d, want 401", code)
	}
	// The old alice's project still says who created it.
	if out := berthtest.MustAPI(t, b, "GET", "/api/berth/v1/projects/owned", nil, 200); !strings.Contains(out, `"creator":"alice"`) {
		t.Errorf("project owned after alice was re-created: %s", out)
	}
}
