package berthv1_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestMain makes plain HTTP requests act as the admin of the berth they
// address (berthtest.Main); anonymous ones use berthtest.AnonymousClient.
func TestMain(m *testing.M) { berthtest.Main(m) }

const pw = "Member-pass-1"

// TestManagementAPI drives /api/berth/v1 on a whole berth in this
// process: projects, members, users, robots, its error envelope, and one
// audit line per change.
func TestManagementAPI(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	must := func(method, path string, body any, want int) string {
		t.Helper()
		return berthtest.MustAPI(t, b, method, path, body, want)
	}
	must("POST", "/api/berth/v1/users", map[string]any{"username": "alice", "password": pw}, 201)
	must("POST", "/api/berth/v1/projects", map[string]any{"name": "team", "public": false}, 201)
	must("PUT", "/api/berth/v1/projects/team/members/alice", map[string]string{"role": "developer"}, 200)
	if out := must("GET", "/api/berth/v1/projects/team/members", nil, 200); !strings.Contains(out, `{"role":"developer","user":"alice"}`) {
		t.Errorf("members: %s", out)
	}
	out := must("POST", "/api/berth/v1/robots", map[string]any{"name": "ci", "projects": map[string]string{"team": "guest"}}, 201)
	if !strings.Contains(out, `"accessKey":"berth-ak-`) {
		t.Errorf("robot: %s", out)
	}
	if out := must("GET", "/api/berth/v1/projects?name=tea", nil, 200); !strings.Contains(out, `"total":1`) {
		t.Errorf("filtered list: %s", out)
	}

	type envelope struct {
		Error struct{ Code, Message string }
	}
	cases := []struct {
		name, method, path, user string
		body                     any
		status                   int
		code                     string
	}{
		{"missing project", "GET", "/api/berth/v1/projects/nosuch", "admin", nil, 404, "NOT_FOUND"},
		{"unknown route", "GET", "/api/berth/v1/nothing", "admin", nil, 404, "NOT_FOUND"},
		{"wrong method", "PATCH", "/api/berth/v1/projects", "admin", nil, 405, "METHOD_NOT_ALLOWED"},
		{"bad body", "POST", "/api/berth/v1/projects", "admin", "not json", 400, "INVALID"},
		{"bad name", "POST", "/api/berth/v1/projects", "admin", map[string]any{"name": "Bad Name"}, 400, "INVALID"},
		{"duplicate", "POST", "/api/berth/v1/projects", "admin", map[string]any{"name": "team"}, 409, "ALREADY_EXISTS"},
		{"not the project's admin", "DELETE", "/api/berth/v1/projects/library", "alice", nil, 403, "DENIED"},
		{"anonymous user list", "GET", "/api/berth/v1/users", "", nil, 401, "UNAUTHORIZED"},
		{"users need an admin", "GET", "/api/berth/v1/users", "alice", nil, 403, "DENIED"},
		{"unknown member", "PUT", "/api/berth/v1/projects/team/members/nobody", "admin", map[string]string{"role": "guest"}, 404, "NOT_FOUND"},
		{"bad role", "PUT", "/api/berth/v1/projects/team/members/alice", "admin", map[string]string{"role": "owner"}, 400, "INVALID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := pw
			if c.user == "admin" {
				p = b.AdminPassword
			}
			code, body := berthtest.APICall(t, b, c.method, c.path, c.user, p, c.body)
			var e envelope
			if err := json.Unmarshal([]byte(body), &e); err != nil || code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
				t.Errorf("%d %s, want %d %s", code, body, c.status, c.code)
			}
		})
	}
	// A private project and a missing one read the same to a stranger.
	must("POST", "/api/berth/v1/users", map[string]any{"username": "bob", "password": pw}, 201)
	c1, b1 := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects/team", "bob", pw, nil)
	c2, b2 := berthtest.APICall(t, b, "GET", "/api/berth/v1/projects/nosuch", "bob", pw, nil)
	if c1 != 404 || c1 != c2 || b1 != b2 {
		t.Errorf("private vs missing: %d %s / %d %s", c1, b1, c2, b2)
	}

	// Every change wrote one audit line, refused ones too, with who did
	// it and the request id that access log line carries.
	want := map[string]int{"user.create": 2, "project.create": 4, "member.set": 3, "robot.create": 1, "project.delete": 1}
	got := map[string]int{}
	berthtest.WaitFor(t, "the audit lines", func() bool {
		got = map[string]int{}
		for _, line := range strings.Split(b.Logs(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "audit" {
				continue
			}
			actor, _ := m["actor"].(map[string]any)
			if m["request_id"] == nil || actor["name"] == nil || m["dialect"] != "berthv1" {
				t.Errorf("audit line: %s", line)
			}
			got[m["action"].(string)]++
		}
		for k, n := range want {
			if got[k] != n {
				return false
			}
		}
		return true
	})
}
