package console_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestManage drives the forms: a project created, its quota and
// visibility, a member, a robot whose secret is shown once and works, a
// user made by the admin, a tag and an artifact deleted after their
// confirmation (a wrong one refused), the project deleted; each change
// writes the kit's audit line.
func TestManage(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	br := newBrowser(t, b)
	br.login("admin", b.AdminPassword)

	br.get("/console/users")
	if code, loc, body := br.post("/console/users", url.Values{"username": {"carol"}, "password": {pw}}); code != 303 || loc != "/console/users" {
		t.Fatalf("create user: %d %s", code, body)
	}
	if code, _, body := br.post("/console/users", url.Values{"username": {"carol"}, "password": {pw}}); code != 409 || !strings.Contains(body, "Already exists") {
		t.Errorf("duplicate user: %d", code)
	}
	if code, _, body := br.post("/console/users", url.Values{"username": {"dave"}, "password": {"short"}}); code != 400 || !strings.Contains(body, "weak password") {
		t.Errorf("weak password: %d", code)
	}

	br.get("/console/")
	if code, loc, _ := br.post("/console/projects", url.Values{"name": {"ops"}, "quota": {"2"}}); code != 303 || loc != "/console/projects/ops" {
		t.Fatalf("create project: %d %q", code, loc)
	}
	if code, _, body := br.post("/console/projects", url.Values{"name": {"Bad Name"}}); code != 400 || !strings.Contains(body, "Invalid") {
		t.Errorf("bad project name: %d", code)
	}
	var proj struct {
		Public bool
		Quota  int64
	}
	_ = json.Unmarshal([]byte(berthtest.MustAPI(t, b, "GET", "/api/berth/v1/projects/ops", nil, 200)), &proj)
	if proj.Quota != 2<<30 || proj.Public {
		t.Errorf("project as created: %+v", proj)
	}
	br.get("/console/projects/ops/settings")
	if code, _, _ := br.post("/console/projects/ops/settings", url.Values{"public": {"on"}, "quota": {""}}); code != 303 {
		t.Errorf("settings: %d", code)
	}
	_ = json.Unmarshal([]byte(berthtest.MustAPI(t, b, "GET", "/api/berth/v1/projects/ops", nil, 200)), &proj)
	if proj.Quota != -1 || !proj.Public {
		t.Errorf("project after settings: %+v", proj)
	}
	if code, _, _ := br.post("/console/projects/ops/members", url.Values{"user": {"carol"}, "role": {"developer"}}); code != 303 {
		t.Errorf("member: %d", code)
	}
	if _, _, body := br.get("/console/projects/ops/settings"); !strings.Contains(body, "<th scope=\"row\">carol</th><td>developer</td>") {
		t.Errorf("members table lacks carol")
	}

	// A robot: its secret is on the answer and nowhere after.
	br.get("/console/robots")
	code, _, body := br.post("/console/robots", url.Values{"name": {"ci"}, "project": {"ops"}, "role": {"developer"}})
	key := regexp.MustCompile(`id="access-key">([^<]+)<`).FindStringSubmatch(body)
	secret := regexp.MustCompile(`id="secret">([^<]+)<`).FindStringSubmatch(body)
	if code != 201 || key == nil || secret == nil {
		t.Fatalf("robot: %d %s", code, body)
	}
	if _, _, again := br.get("/console/robots"); strings.Contains(again, secret[1]) {
		t.Errorf("the secret is shown a second time")
	}
	berthtest.RememberCredentials(t, b.Addr, key[1], secret[1])
	if code, _ := berthtest.APICall(t, b, "GET", "/v2/", key[1], secret[1], nil); code != 200 {
		t.Errorf("robot login: %d", code)
	}
	berthtest.RememberCredentials(t, b.Addr, "admin", b.AdminPassword)
	robot := newBrowser(t, b)
	robot.get("/console/login")
	if code, _, _ := robot.post("/console/login", url.Values{"username": {key[1]}, "password": {secret[1]}}); code != http.StatusUnauthorized {
		t.Errorf("a robot logging in to the console: %d", code)
	}

	// Deleting a tag, then an artifact, each after its confirmation.
	img := berthtest.PushRawImage(t, b, "ops/tool", "v1", "amd64", berthtest.LayerBytes(1))
	berthtest.PushRawImage(t, b, "ops/tool", "v2", "amd64", berthtest.LayerBytes(2))
	br.get("/console/repositories/ops/tool/-/tags/v1/delete")
	if code, _, _ := br.post("/console/repositories/ops/tool/-/tags/v1/delete", url.Values{"confirm": {"v2"}}); code != 400 {
		t.Errorf("a wrong confirmation: %d", code)
	}
	if code, loc, _ := br.post("/console/repositories/ops/tool/-/tags/v1/delete", url.Values{"confirm": {"v1"}}); code != 303 || loc != "/console/repositories/ops/tool" {
		t.Errorf("delete tag: %d %q", code, loc)
	}
	if _, _, body := br.get("/console/repositories/ops/tool"); strings.Contains(body, ">v1<") || !strings.Contains(body, ">v2<") {
		t.Errorf("tags after deleting v1")
	}
	if code, _, _ := br.get("/console/repositories/ops/tool/-/artifacts/" + url.PathEscape(img.Digest)); code != 200 {
		t.Errorf("the artifact of a deleted tag stays: %d", code)
	}
	short := img.Digest[:19]
	br.get("/console/repositories/ops/tool/-/artifacts/" + img.Digest + "/delete")
	if code, _, body := br.post("/console/repositories/ops/tool/-/artifacts/"+img.Digest+"/delete", url.Values{"confirm": {short}}); code != 303 {
		t.Errorf("delete artifact: %d %s", code, body)
	}
	if code, _, _ := br.get("/console/repositories/ops/tool/-/artifacts/" + url.PathEscape(img.Digest)); code != 404 {
		t.Errorf("deleted artifact: %d", code)
	}

	// A project with repositories is not deleted; an empty one is.
	br.get("/console/projects/ops/delete")
	if code, _, body := br.post("/console/projects/ops/delete", url.Values{"confirm": {"ops"}}); code != 409 || !strings.Contains(body, "Not empty") {
		t.Errorf("delete a project holding repositories: %d", code)
	}
	br.post("/console/projects", url.Values{"name": {"empty"}})
	br.get("/console/projects/empty/delete")
	if code, loc, _ := br.post("/console/projects/empty/delete", url.Values{"confirm": {"empty"}}); code != 303 || loc != "/console/" {
		t.Errorf("delete project: %d %q", code, loc)
	}

	want := map[string]int{"user.create": 3, "project.create": 3, "project.update": 1, "member.set": 1, "robot.create": 1, "tag.delete": 2,
		"artifact.delete": 1, "project.delete": 2}
	berthtest.WaitFor(t, "the console's audit lines", func() bool {
		got := map[string]int{}
		for _, line := range strings.Split(b.Logs(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "audit" || m["dialect"] != "console" {
				continue
			}
			if actor, _ := m["actor"].(map[string]any); actor["name"] != "admin" {
				t.Errorf("audit line: %s", line)
			}
			got[m["action"].(string)]++
		}
		for k, n := range want {
			if got[k] != n {
				t.Logf("%s: %d, want %d", k, got[k], n)
				return false
			}
		}
		return true
	})
}

// TestChangePassword: the current password is needed; the change ends
// the user's other sessions and keeps this one.
func TestChangePassword(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	berthtest.MustAPI(t, b, "POST", "/api/berth/v1/users", map[string]any{"username": "erin", "password": pw}, 201)
	here, there := newBrowser(t, b), newBrowser(t, b)
	here.login("erin", pw)
	there.login("erin", pw)
	here.get("/console/account")
	if code, _, _ := here.post("/console/account", url.Values{"current": {"Wrong-pass-1"}, "password": {"New-pass-123"}, "confirm": {"New-pass-123"}}); code != 403 {
		t.Errorf("wrong current password: %d", code)
	}
	if code, _, _ := here.post("/console/account", url.Values{"current": {pw}, "password": {"New-pass-123"}, "confirm": {"Other-pass-1"}}); code != 400 {
		t.Errorf("confirmation differs: %d", code)
	}
	if code, _, body := here.post("/console/account", url.Values{"current": {pw}, "password": {"New-pass-123"}, "confirm": {"New-pass-123"}}); code != 200 || !strings.Contains(body, "Password changed") {
		t.Fatalf("change: %d %s", code, body)
	}
	if code, _, _ := here.get("/console/account"); code != 200 {
		t.Errorf("this session after the change: %d", code)
	}
	if code, loc, _ := there.get("/console/account"); code != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/login") {
		t.Errorf("the other session after the change: %d %q", code, loc)
	}
	if code, _ := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects", "erin", "New-pass-123", nil); code != 200 {
		t.Errorf("the new password on the API: %d", code)
	}
}
