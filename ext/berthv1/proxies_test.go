package berthv1_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// TestProxiesAPI: binding a project to an upstream through /proxies, its
// validation in the API's envelope, and that the secret is never answered.
func TestProxiesAPI(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true})
	must := func(method, path string, body any, want int) string {
		t.Helper()
		return berthtest.MustAPI(t, b, method, path, body, want)
	}
	must("POST", "/api/berth/v1/users", map[string]any{"username": "alice", "password": pw}, 201)
	out := must("POST", "/api/berth/v1/proxies", map[string]any{"project": "hub", "url": "http://127.0.0.1:9/", "username": "u",
		"password": "s3cret-value", "namespace": "library/", "ttl": "10m"}, 201)
	if strings.Contains(out, "s3cret-value") || !strings.Contains(out, `"hasSecret":true`) || !strings.Contains(out, `"url":"http://127.0.0.1:9"`) ||
		!strings.Contains(out, `"namespace":"library/"`) || !strings.Contains(out, `"ttl":"10m0s"`) {
		t.Fatalf("created: %s", out)
	}
	must("GET", "/api/berth/v1/projects/hub", nil, 200) // the project was created with it
	out = must("PUT", "/api/berth/v1/proxies/hub", map[string]any{"password": ""}, 200)
	if !strings.Contains(out, `"hasSecret":false`) || !strings.Contains(out, `"namespace":"library/"`) {
		t.Fatalf("updated: %s", out)
	}
	for _, path := range []string{"/api/berth/v1/proxies", "/api/berth/v1/proxies/hub"} {
		if out := must("GET", path, nil, 200); strings.Contains(out, "s3cret-value") || !strings.Contains(out, `"project":"hub"`) {
			t.Fatalf("GET %s: %s", path, out)
		}
	}
	// A size cap: shown with the project's usage; an eviction run of a
	// project under its cap removes nothing.
	out = must("PUT", "/api/berth/v1/proxies/hub", map[string]any{"capBytes": 10 << 20}, 200)
	if !strings.Contains(out, `"capBytes":10485760`) || !strings.Contains(out, `"usedBytes":0`) {
		t.Fatalf("cap set: %s", out)
	}
	if out := must("GET", "/api/berth/v1/proxies/hub", nil, 200); !strings.Contains(out, `"capBytes":10485760`) || !strings.Contains(out, `"usedBytes":0`) {
		t.Fatalf("GET with a cap: %s", out)
	}
	if out := must("POST", "/api/berth/v1/proxies/hub/evict", nil, 200); !strings.Contains(out, `"artifactsEvicted":0`) || !strings.Contains(out, `"capBytes":10485760`) {
		t.Fatalf("evict under the cap: %s", out)
	}
	// The upstream is down: the test says so, in a 200.
	if out := must("POST", "/api/berth/v1/proxies/hub/ping", nil, 200); !strings.Contains(out, `"ok":false`) {
		t.Fatalf("ping: %s", out)
	}
	cases := []struct {
		name, method, path, user string
		body                     any
		status                   int
		code                     string
	}{
		{"no url", "POST", "/api/berth/v1/proxies", "admin", map[string]any{"project": "p1"}, 400, "INVALID"},
		{"bad url", "POST", "/api/berth/v1/proxies", "admin", map[string]any{"project": "p2", "url": "ftp://x"}, 400, "INVALID"},
		{"url with a path", "POST", "/api/berth/v1/proxies", "admin", map[string]any{"project": "p3", "url": "http://h/v2"}, 400, "INVALID"},
		{"bad ttl", "POST", "/api/berth/v1/proxies", "admin", map[string]any{"project": "p4", "url": "http://h", "ttl": "soon"}, 400, "INVALID"},
		{"negative ttl", "PUT", "/api/berth/v1/proxies/hub", "admin", map[string]any{"ttl": "-1s"}, 400, "INVALID"},
		{"bad namespace", "PUT", "/api/berth/v1/proxies/hub", "admin", map[string]any{"namespace": "Bad NS"}, 400, "INVALID"},
		{"secret without user", "PUT", "/api/berth/v1/proxies/hub", "admin", map[string]any{"username": "", "password": "x"}, 400, "INVALID"},
		{"negative cap", "PUT", "/api/berth/v1/proxies/hub", "admin", map[string]any{"capBytes": -1}, 400, "INVALID"},
		{"absurd cap", "PUT", "/api/berth/v1/proxies/hub", "admin", map[string]any{"capBytes": int64(1) << 60}, 400, "INVALID"},
		{"cap beyond int64", "PUT", "/api/berth/v1/proxies/hub", "admin", map[string]any{"capBytes": 1e30}, 400, "INVALID"},
		{"cap not a number", "PUT", "/api/berth/v1/proxies/hub", "admin", map[string]any{"capBytes": "10G"}, 400, "INVALID"},
		{"negative cap on create", "POST", "/api/berth/v1/proxies", "admin", map[string]any{"project": "p6", "url": "http://h", "capBytes": -5}, 400, "INVALID"},
		{"evict not a proxy", "POST", "/api/berth/v1/proxies/library/evict", "admin", nil, 404, "NOT_FOUND"},
		{"evict admins only", "POST", "/api/berth/v1/proxies/hub/evict", "alice", nil, 403, "DENIED"},
		{"bad project name", "POST", "/api/berth/v1/proxies", "admin", map[string]any{"project": "Bad", "url": "http://h"}, 400, "INVALID"},
		{"already a proxy", "POST", "/api/berth/v1/proxies", "admin", map[string]any{"project": "hub", "url": "http://h"}, 409, "ALREADY_EXISTS"},
		{"not a proxy", "GET", "/api/berth/v1/proxies/library", "admin", nil, 404, "NOT_FOUND"},
		{"update not a proxy", "PUT", "/api/berth/v1/proxies/library", "admin", map[string]any{"url": "http://h"}, 404, "NOT_FOUND"},
		{"missing project", "DELETE", "/api/berth/v1/proxies/nosuch", "admin", nil, 404, "NOT_FOUND"},
		{"admins only", "GET", "/api/berth/v1/proxies", "alice", nil, 403, "DENIED"},
		{"anonymous", "POST", "/api/berth/v1/proxies", "", map[string]any{"project": "p5", "url": "http://h"}, 401, "UNAUTHORIZED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := pw
			if c.user == "admin" {
				p = b.AdminPassword
			}
			code, body := berthtest.APICall(t, b, c.method, c.path, c.user, p, c.body)
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || code != c.status || e.Error.Code != c.code || e.Error.Message == "" {
				t.Errorf("%d %s, want %d %s", code, body, c.status, c.code)
			}
		})
	}
	// Nothing half-written: the refused creations made no project.
	for _, p := range []string{"p1", "p2", "p3", "p4", "p6"} {
		must("GET", "/api/berth/v1/projects/"+p, nil, 404)
	}
	if out := must("GET", "/api/berth/v1/proxies/hub", nil, 200); !strings.Contains(out, `"capBytes":10485760`) {
		t.Fatalf("refused updates changed the cap: %s", out)
	}
	must("DELETE", "/api/berth/v1/proxies/hub", nil, 204)
	must("GET", "/api/berth/v1/proxies/hub", nil, 404)
	must("GET", "/api/berth/v1/projects/hub", nil, 200) // the project stays
}
