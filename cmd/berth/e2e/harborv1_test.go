package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// The seed's examples (seed 001, part 2).
const (
	hbSeedProjects = `[{"Togglable":true,"creation_time":"2017-07-26T08:37:13Z","creation_time_str":"","current_user_role_id":1,
		"deleted":0,"name":"base","owner_id":1,"owner_name":"","project_id":3,"public":1,"repo_count":0,"update_time":"2017-07-26T08:37:13Z"}]`
	hbSeedRepos     = `[{"name":"default_cluster/myweb"}]`
	hbSeedTags      = `[{"name":"1.0"},{"name":"1.2"}]`
	hbSeedManifests = `{"config":"{...}","manifest":{}}`
	hbSeedDelete    = `{"code":0,"msg":""}`
)

var hbProjectKeys = []string{"Togglable", "creation_time", "creation_time_str", "current_user_role_id", "deleted",
	"name", "owner_id", "owner_name", "project_id", "public", "repo_count", "update_time"}

// TestHarborV1 drives every Harbor v1 route against a live berth filled by crane.
func TestHarborV1(t *testing.T) {
	e := startHbEnv(t)
	b := e.b

	t.Run("projects: shape, both paths, filter", func(t *testing.T) {
		var bodies []string
		for _, prefix := range []string{"/api", ""} {
			res := hbOK(t, e, http.MethodGet, prefix+"/projects?page=1&page_size=10&project_name=hbpub", "admin")
			assertShape(t, prefix+"/projects", res.json, seedJSON(t, hbSeedProjects))
			arr := res.json.([]any)
			if len(arr) != 1 || res.header.Get("X-Total-Count") != "1" || res.header.Get("Link") != "" {
				t.Fatalf("%s: %s %v", prefix, res.body, res.header)
			}
			p := arr[0].(map[string]any)
			if !reflect.DeepEqual(hbKeys(p), hbProjectKeys) {
				t.Errorf("keys %v, want %v", hbKeys(p), hbProjectKeys)
			}
			if p["project_id"] != float64(e.pubID) || p["public"] != float64(1) || p["repo_count"] != float64(4) ||
				p["current_user_role_id"] != float64(1) || p["Togglable"] != true || p["owner_name"] != "admin" ||
				p["owner_id"].(float64) < 1 || p["deleted"] != float64(0) {
				t.Errorf("hbpub: %v", p)
			}
			if !strings.HasSuffix(p["creation_time"].(string), "Z") {
				t.Errorf("creation_time %v", p["creation_time"])
			}
			bodies = append(bodies, res.body)
		}
		if bodies[0] != bodies[1] {
			t.Errorf("/api/projects and /projects differ:\n%s\n%s", bodies[0], bodies[1])
		}
		// The seed's own example: an empty project_name lists everything.
		res := hbOK(t, e, http.MethodGet, "/projects?page=1&page_size=100&project_name=", "admin")
		if got := hbNames(t, res.json); !reflect.DeepEqual(got, []string{"hbpage-1", "hbpage-2", "hbpage-3", "hbpage-4", "hbpage-5", "hbpriv", "hbpub", "library"}) {
			t.Errorf("all projects: %v", got)
		}
		if got := hbNames(t, hbOK(t, e, http.MethodGet, "/api/projects?is_public=0", "admin").json); !reflect.DeepEqual(got, []string{"hbpriv"}) {
			t.Errorf("is_public=0: %v", got)
		}
		if got := hbNames(t, hbOK(t, e, http.MethodGet, "/api/projects?is_public=1&project_name=hb&page_size=3", "admin").json); !reflect.DeepEqual(got, []string{"hbpage-1", "hbpage-2", "hbpage-3"}) {
			t.Errorf("is_public=1: %v", got)
		}
	})

	t.Run("projects: visibility and roles", func(t *testing.T) {
		for _, c := range []struct {
			user    string
			seePriv bool
			role    float64
		}{{"", false, 0}, {"hbstranger", false, 0}, {"hbguest", true, 3}, {"hbdev", true, 2}, {"admin", true, 1}} {
			res := hbOK(t, e, http.MethodGet, "/api/projects?project_name=hbpriv", c.user)
			arr := res.json.([]any)
			if c.seePriv != (len(arr) == 1) {
				t.Errorf("%q sees hbpriv: %s", c.user, res.body)
				continue
			}
			if len(arr) == 1 {
				p := arr[0].(map[string]any)
				if p["current_user_role_id"] != c.role || p["Togglable"] != (c.role == 1) || p["public"] != float64(0) {
					t.Errorf("%q: %v", c.user, p)
				}
			}
			pub := hbOK(t, e, http.MethodGet, "/api/projects?project_name=hbpub", c.user).json.([]any)
			if len(pub) != 1 || pub[0].(map[string]any)["current_user_role_id"] != map[bool]float64{true: 1, false: 0}[c.user == "admin"] {
				t.Errorf("%q: hbpub %v", c.user, pub)
			}
		}
	})

	t.Run("projects: pagination headers", func(t *testing.T) {
		var got []string
		path := "/api/projects?project_name=hbpage&page=1&page_size=2"
		for page := 1; path != ""; page++ {
			res := hbOK(t, e, http.MethodGet, path, "")
			links := hbLinks(res.header)
			if res.header.Get("X-Total-Count") != "5" {
				t.Errorf("page %d: X-Total-Count %q", page, res.header.Get("X-Total-Count"))
			}
			if _, hasPrev := links["prev"]; hasPrev != (page > 1) {
				t.Errorf("page %d: Link %q", page, res.header.Get("Link"))
			}
			got = append(got, hbNames(t, res.json)...)
			path = links["next"]
			if path != "" && (!strings.HasPrefix(path, "/api/projects?") || !strings.Contains(path, "project_name=hbpage")) {
				t.Fatalf("next link %q", path)
			}
			if page > 3 {
				t.Fatal("too many pages")
			}
		}
		if !reflect.DeepEqual(got, e.pageNames) {
			t.Errorf("walked %v", got)
		}
		res := hbOK(t, e, http.MethodGet, "/projects?project_name=hbpage&page=3&page_size=2", "")
		if links := hbLinks(res.header); links["prev"] != "/projects?page=2&page_size=2&project_name=hbpage" || links["next"] != "" {
			t.Errorf("bare path links: %q", res.header.Get("Link"))
		}
		if res := hbOK(t, e, http.MethodGet, "/projects?project_name=hbpage&page=9", ""); len(res.json.([]any)) != 0 || res.body != "[]\n" {
			t.Errorf("past the end: %s", res.body)
		}
	})

	t.Run("repositories", func(t *testing.T) {
		path := fmt.Sprintf("/repositories?page=1&page_size=10&project_id=%d&q=", e.pubID)
		res := hbOK(t, e, http.MethodGet, path, "")
		assertShape(t, "repositories", res.json, seedJSON(t, hbSeedRepos))
		want := []string{"hbpub/api", "hbpub/myweb", "hbpub/tools/cli", "hbpub/web"}
		if got := hbNames(t, res.json); !reflect.DeepEqual(got, want) || res.header.Get("X-Total-Count") != "4" {
			t.Errorf("%s: %v %v", path, got, res.header)
		}
		web := res.json.([]any)[3].(map[string]any)
		if web["tags_count"] != float64(3) || web["project_id"] != float64(e.pubID) {
			t.Errorf("web: %v", web)
		}
		if got := hbNames(t, hbOK(t, e, http.MethodGet, fmt.Sprintf("/api/repositories?project_id=%d&q=WEB", e.pubID), "").json); !reflect.DeepEqual(got, []string{"hbpub/myweb", "hbpub/web"}) {
			t.Errorf("q=web: %v", got)
		}
		res = hbOK(t, e, http.MethodGet, fmt.Sprintf("/api/repositories?project_id=%d&page=2&page_size=3", e.pubID), "")
		if got := hbNames(t, res.json); !reflect.DeepEqual(got, []string{"hbpub/web"}) || hbLinks(res.header)["prev"] == "" {
			t.Errorf("page 2: %v %v", got, res.header)
		}
		priv := fmt.Sprintf("/api/repositories?project_id=%d", e.privID)
		if got := hbNames(t, hbOK(t, e, http.MethodGet, priv, "hbguest").json); !reflect.DeepEqual(got, []string{"hbpriv/secret"}) {
			t.Errorf("guest: %v", got)
		}
		hbWantError(t, "anonymous private", hbCall(t, e, http.MethodGet, priv, "", ""), http.StatusUnauthorized)
		hbWantError(t, "stranger private", hbCall(t, e, http.MethodGet, priv, "hbstranger", ""), http.StatusNotFound)
		hbWantError(t, "unknown project", hbCall(t, e, http.MethodGet, "/api/repositories?project_id=987654", "hbstranger", ""), http.StatusNotFound)
		// Without project_id: every visible project.
		for user, wantPriv := range map[string]bool{"": false, "hbstranger": false, "hbdev": true} {
			names := hbNames(t, hbOK(t, e, http.MethodGet, "/repositories?q=secret", user).json)
			if (len(names) == 1) != wantPriv {
				t.Errorf("%q without project_id: %v", user, names)
			}
		}
	})

	t.Run("tags", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/api/repositories/tags?repo_name=hbpub/web"},
			{http.MethodGet, "/repositories/tags?repo_name=hbpub%2Fweb"},
			{http.MethodPost, fmt.Sprintf("/repositories/tags?page=1&page_size=10&project_id=%d&repo_name=hbpub/web", e.pubID)},
		} {
			res := hbOK(t, e, c.method, c.path, "")
			assertShape(t, "tags", res.json, seedJSON(t, hbSeedTags))
			if got := hbNames(t, res.json); !reflect.DeepEqual(got, []string{"1.0", "1.2", "latest"}) {
				t.Errorf("%s %s: %v", c.method, c.path, got)
			}
			if d := res.json.([]any)[0].(map[string]any)["digest"]; d != e.web10 {
				t.Errorf("1.0 digest %v, want %s", d, e.web10)
			}
		}
		res := hbOK(t, e, http.MethodGet, "/api/repositories/tags?repo_name=hbpub/web&page=2&page_size=2", "")
		if got := hbNames(t, res.json); !reflect.DeepEqual(got, []string{"latest"}) || res.header.Get("X-Total-Count") != "3" || hbLinks(res.header)["prev"] == "" {
			t.Errorf("page 2: %v %v", got, res.header)
		}
		if got := hbNames(t, hbOK(t, e, http.MethodGet, "/api/repositories/tags?repo_name=hbpriv/secret", "hbguest").json); !reflect.DeepEqual(got, []string{"v1", "v2"}) {
			t.Errorf("private as guest: %v", got)
		}
		hbWantError(t, "private anonymous", hbCall(t, e, http.MethodGet, "/api/repositories/tags?repo_name=hbpriv/secret", "", ""), http.StatusUnauthorized)
		hbWantError(t, "private stranger", hbCall(t, e, http.MethodGet, "/api/repositories/tags?repo_name=hbpriv/secret", "hbstranger", ""), http.StatusNotFound)
		// A bare image name is the one visible <project>/<name>.
		if got := hbNames(t, hbOK(t, e, http.MethodGet, "/repositories/tags?repo_name=myweb", "").json); !reflect.DeepEqual(got, []string{"1.1", "1.2"}) {
			t.Errorf("bare name: %v", got)
		}
	})

	t.Run("manifests", func(t *testing.T) {
		crane := berthtest.Tool(t, "crane")
		wantMan := berthtest.Run(t, crane, "manifest", "--insecure", b.Addr+"/hbpub/web:1.0")
		wantCfg := berthtest.Run(t, crane, "config", "--insecure", b.Addr+"/hbpub/web:1.0")
		for _, c := range []struct{ method, path, user string }{
			{http.MethodGet, "/api/repositories/manifests?repo_name=hbpub/web&tag=1.0", ""},
			{http.MethodPost, "/repositories/manifests?repo_name=hbpub/web&tag=1.0", ""},
			{http.MethodGet, "/repositories/manifests?repo_name=hbpub/web&tag=" + e.web10, "hbstranger"},
		} {
			res := hbOK(t, e, c.method, c.path, c.user)
			assertShape(t, "manifests", res.json, seedJSON(t, hbSeedManifests))
			if !reflect.DeepEqual(hbKeys(res.json), []string{"config", "manifest"}) {
				t.Errorf("keys %v", hbKeys(res.json))
			}
			var got, want any
			_ = json.Unmarshal([]byte(wantMan), &want)
			got = res.json.(map[string]any)["manifest"]
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: manifest %v, want %v", c.path, got, want)
			}
			if cfg := res.json.(map[string]any)["config"]; cfg != strings.TrimSpace(wantCfg) {
				t.Errorf("%s: config %.100v, want %.100s", c.path, cfg, wantCfg)
			}
		}
		if res := hbOK(t, e, http.MethodGet, "/repositories/manifests?repo_name=hbpriv/secret&tag=v1", "hbguest"); !strings.Contains(res.body, `"rootfs`) {
			t.Errorf("private as guest: %s", res.body)
		}
		hbWantError(t, "private anonymous", hbCall(t, e, http.MethodGet, "/repositories/manifests?repo_name=hbpriv/secret&tag=v1", "", ""), http.StatusUnauthorized)
		hbWantError(t, "unknown tag", hbCall(t, e, http.MethodGet, "/repositories/manifests?repo_name=hbpub/web&tag=nope", "", ""), http.StatusNotFound)
	})

	t.Run("errors", func(t *testing.T) { testHarborV1Errors(t, e) })
	t.Run("delete", func(t *testing.T) { testHarborV1Delete(t, e) })
}
