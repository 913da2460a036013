package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// replicaHelm pushes a chart with helm over OCI through the front, pulls
// it from every replica, installs it through the classic repository, and
// deletes it through the chart API: every replica's index.yaml follows.
func replicaHelm(t *testing.T, rs *replicaSet) {
	h := newHelm(t)
	tgz := h.packageChart("0.3.0")
	want := readFile(t, tgz)
	h.run("push", tgz, "oci://"+rs.front.Addr+"/library", "--plain-http")
	for _, tg := range rs.targets() {
		out := t.TempDir()
		h.run("pull", "oci://"+tg.b.Addr+"/library/berthdemo", "--version", "0.3.0", "--plain-http", "-d", out)
		if !bytes.Equal(readFile(t, filepath.Join(out, "berthdemo-0.3.0.tgz")), want) {
			t.Errorf("helm pull oci:// from %s: different bytes than pushed", tg.name)
		}
	}
	h.run("repo", "add", "front", rs.front.URL("/chartrepo/library"), "--username", "admin", "--password", rs.front.AdminPassword)
	out := t.TempDir()
	h.run("pull", "front/berthdemo", "--version", "0.3.0", "-d", out)
	if !bytes.Equal(readFile(t, filepath.Join(out, "berthdemo-0.3.0.tgz")), want) {
		t.Error("helm pull through the chart repository: different bytes than pushed")
	}

	digest := strings.TrimPrefix(digestOf(want), "sha256:")
	chartURL := rs.front.URL("/chartrepo/library/charts/berthdemo-0.3.0.tgz")
	type entry struct {
		Version string   `yaml:"version"`
		Digest  string   `yaml:"digest"`
		URLs    []string `yaml:"urls"`
	}
	index := func(b *berthtest.Berth) (map[string][]entry, error) {
		resp, body := httpDo(t, http.MethodGet, b.URL("/chartrepo/library/index.yaml"), nil)
		var idx struct {
			Entries map[string][]entry `yaml:"entries"`
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("index.yaml = %d %s", resp.StatusCode, body)
		}
		if err := yaml.Unmarshal(body, &idx); err != nil {
			return nil, fmt.Errorf("index.yaml: %v\n%s", err, body)
		}
		return idx.Entries, nil
	}
	sameEverywhere(t, rs, "index.yaml after helm push", func(b *berthtest.Berth) error {
		entries, err := index(b)
		if err != nil {
			return err
		}
		if e := entries["berthdemo"]; len(e) != 1 || e[0].Version != "0.3.0" || e[0].Digest != digest || len(e[0].URLs) != 1 || e[0].URLs[0] != chartURL {
			return fmt.Errorf("index.yaml entries %+v, want version 0.3.0, digest %s and URL %s", entries, digest, chartURL)
		}
		return nil
	})

	mustAPI(t, rs.front, http.MethodDelete, "/api/chartrepo/library/charts/berthdemo/0.3.0", nil, http.StatusOK)
	sameEverywhere(t, rs, "after deleting the chart", func(b *berthtest.Berth) error {
		entries, err := index(b)
		if err != nil {
			return err
		}
		if _, ok := entries["berthdemo"]; ok {
			return fmt.Errorf("index.yaml still lists the deleted chart: %+v", entries)
		}
		return wantNoManifest(t, "library/berthdemo", "0.3.0")(b)
	})
}

// replicaCredentials resets a user's password through the front, once with
// berth's API (by the admin) and once with CCR account/reset (by the user):
// each time the old password fails on every replica at once (each had
// verified and cached it just before) and the new one works everywhere,
// for plain HTTP, the token service and crane.
func replicaCredentials(t *testing.T, rs *replicaSet) {
	const user, pw1, pw2, pw3 = "rover", "Rover-passw0rd-1", "Rover-passw0rd-2", "Rover-passw0rd-3"
	credMustAPI(t, rs.front, http.MethodPost, "/users", map[string]any{"username": user, "password": pw1}, http.StatusCreated)
	credMustAPI(t, rs.front, http.MethodPost, "/projects", map[string]any{"name": "crew", "public": false}, http.StatusCreated)
	credMustAPI(t, rs.front, http.MethodPut, "/projects/crew/members/"+user, map[string]any{"role": "developer"}, http.StatusOK)

	crane := berthtest.Tool(t, "crane")
	layer := filepath.Join(t.TempDir(), "layer.tar")
	writeTar(t, layer, map[string][]byte{"crew.txt": []byte("crew")})
	// login stores pw as crane's credential for the front.
	login := func(pw string) []string {
		env := credHome(t)
		berthtest.RunEnv(t, env, crane, "auth", "login", rs.front.Addr, "-u", user, "-p", pw)
		return env
	}
	push := func(env []string, tag string) error {
		_, err := berthtest.RunEnvErr(t, env, crane, "append", "--insecure", "-f", layer, "-t", rs.front.Addr+"/crew/app:"+tag)
		return err
	}
	logins := func(pw string, want int) func(b *berthtest.Berth) error {
		return func(b *berthtest.Berth) error {
			resp, _ := credGet(t, b.URL("/v2/"), user, pw)
			tok, _ := credGet(t, b.URL("/service/token?service=berth&scope=repository:crew/app:pull"), user, pw)
			if resp.StatusCode != want || tok.StatusCode != want {
				return fmt.Errorf("GET /v2/ = %d, /service/token = %d, want %d", resp.StatusCode, tok.StatusCode, want)
			}
			return nil
		}
	}

	sameEverywhere(t, rs, "the first password", logins(pw1, http.StatusOK))
	first := login(pw1)
	if err := push(first, "v1"); err != nil {
		t.Fatalf("crane push as %s: %v", user, err)
	}

	code, res := credAPI(t, rs.front, http.MethodPut, "/users/"+user+"/password", "admin", rs.front.AdminPassword, map[string]any{"password": pw2})
	if code != http.StatusOK || res["created"] != false {
		t.Fatalf("admin reset through the front = %d %v", code, res)
	}
	sameEverywhere(t, rs, "the old password after the admin's reset", logins(pw1, http.StatusUnauthorized))
	sameEverywhere(t, rs, "the new password after the admin's reset", logins(pw2, http.StatusOK))
	if err := push(first, "v2"); err == nil {
		t.Error("crane pushed with the old password after the reset")
	}

	ccrRes := ccrAs(t, rs.front, user, pw2, http.MethodPost, ccrBase+"/account/reset", map[string]any{"username": user, "new_password": pw3})
	if ccrRes.status != http.StatusOK || ccrRes.body["code"] != "CCR.Success" {
		t.Fatalf("CCR account/reset by the user through the front: %s", ccrRes)
	}
	sameEverywhere(t, rs, "the second password after CCR account/reset", logins(pw2, http.StatusUnauthorized))
	sameEverywhere(t, rs, "the third password after CCR account/reset", logins(pw3, http.StatusOK))
	if err := push(login(pw3), "v3"); err != nil {
		t.Errorf("crane push with the new password: %v", err)
	}
}
