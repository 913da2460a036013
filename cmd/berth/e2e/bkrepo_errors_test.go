package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// testBkRepoErrors checks every failure of the docker ext dialect: the
// seed's envelope (code != 0, message, data null, traceId) with the bk-repo
// code and the matching HTTP status.
func testBkRepoErrors(t *testing.T, e *bkEnv) {
	b := e.b
	admin := "admin"
	reader := basicAuth("reader", e.pw)
	stranger := basicAuth("stranger", e.pw)
	ro := platformAuth(e.robotRO.AccessKey, e.robotRO.Secret)
	rw := platformAuth(e.robotRW.AccessKey, e.robotRW.Secret)
	const (
		detail = "/docker/ext/version/detail/bk/docker-local?packageKey=docker://many&version=t01"
		tags   = "/docker/ext/tag/bk/docker-local/many"
	)
	cases := []struct {
		name, method, path, authz string
		status, code              int
	}{
		// who
		{"anonymous addr", "GET", "/docker/ext/addr", "", 401, 250114},
		{"anonymous list", "GET", "/docker/ext/repo/bk/docker-local", "", 401, 250114},
		{"anonymous public project", "GET", "/docker/ext/repo/bkpub/docker-local", "", 401, 250114},
		{"anonymous layer", "GET", "/docker/ext/layer/bk/docker-local/many/sha256:" + strings.Repeat("0", 64), "", 401, 250114},
		{"wrong password", "GET", tags, basicAuth("admin", "nope"), 401, 250114},
		{"bad platform credential", "GET", tags, platformAuth("berth-ak-nope", "x"), 401, 250114},
		{"stranger sees no private project", "GET", tags, stranger, 404, 250108},
		{"stranger reads a public project", "GET", "/docker/ext/repo/bkpub/docker-local", stranger, 200, 0},
		{"stranger deletes in a public project", "DELETE", "/docker/ext/version/delete/bkpub/docker-local?packageKey=open&version=1", stranger, 403, 250113},
		{"guest reads", "GET", detail, reader, 200, 0},
		{"guest deletes", "DELETE", "/docker/ext/version/delete/bk/docker-local?packageKey=docker://many&version=t01", reader, 403, 250113},
		{"guest deletes a package", "DELETE", "/docker/ext/package/delete/bk/docker-local?packageKey=docker://many", reader, 403, 250113},
		{"guest sets a stage", "POST", "/docker/ext/version/stage/bk/docker-local?packageKey=many&version=t01&tag=@release", reader, 403, 250113},
		{"read-only app reads", "GET", tags, ro, 200, 0},
		{"read-only app deletes", "DELETE", "/docker/ext/version/delete/bk/docker-local?packageKey=many&version=t01", ro, 403, 250113},
		{"developer app sets a stage", "PUT", "/docker/ext/version/stage/bk/docker-local?packageKey=many&version=t02&tag=@prerelease", rw, 200, 0},
		// what
		{"unknown project", "GET", "/docker/ext/repo/nosuch/docker-local", admin, 404, 250108},
		{"unknown repo", "GET", "/docker/ext/repo/bk/nosuch", admin, 404, 250108},
		{"unknown image tags", "GET", "/docker/ext/tag/bk/docker-local/nosuch", admin, 404, 250108},
		{"unknown image manifest", "GET", "/docker/ext/manifest/bk/docker-local/nosuch/v1", admin, 404, 250108},
		{"unknown tag", "GET", "/docker/ext/manifest/bk/docker-local/many/nosuch", admin, 404, 250108},
		{"unknown version", "GET", "/docker/ext/version/detail/bk/docker-local?packageKey=many&version=nosuch", admin, 404, 250108},
		{"unknown package", "DELETE", "/docker/ext/package/delete/bk/docker-local?packageKey=docker://nosuch", admin, 404, 250108},
		{"unknown digest", "GET", "/docker/ext/layer/bk/docker-local/many/sha256:" + strings.Repeat("0", 64), admin, 404, 250108},
		{"bad digest", "GET", "/docker/ext/layer/bk/docker-local/many/sha256:xyz", admin, 400, 250105},
		{"unknown route", "GET", "/docker/ext/nosuch", admin, 404, 250108},
		{"too few segments", "GET", "/docker/ext/manifest/bk/docker-local/v1", admin, 404, 250108},
		{"wrong method", "POST", "/docker/ext/repo/bk/docker-local", admin, 405, 250105},
		// input
		{"page not a number", "GET", "/docker/ext/repo/bk/docker-local?pageNumber=abc", admin, 400, 250105},
		{"page size not a number", "GET", tags + "?pageSize=1e3", admin, 400, 250105},
		{"huge page", "GET", tags + "?pageNumber=99999999999999999999", admin, 400, 250105},
		{"page beyond any list", "GET", tags + "?pageNumber=9223372036854775807&pageSize=1000", admin, 400, 250105},
		{"negative page is page 1", "GET", tags + "?pageNumber=-7&pageSize=-7", admin, 200, 0},
		{"missing packageKey", "GET", "/docker/ext/version/detail/bk/docker-local?version=v1", admin, 400, 250103},
		{"empty packageKey", "DELETE", "/docker/ext/package/delete/bk/docker-local?packageKey=", admin, 400, 250103},
		{"missing version", "DELETE", "/docker/ext/version/delete/bk/docker-local?packageKey=many", admin, 400, 250103},
		{"other package type", "GET", "/docker/ext/version/detail/bk/docker-local?packageKey=maven://many&version=t01", admin, 400, 250105},
		{"bad version", "GET", "/docker/ext/version/detail/bk/docker-local?packageKey=many&version=..", admin, 400, 250105},
		{"encoded slash", "GET", "/docker/ext/tag/bk/docker-local/a%2Fb", admin, 400, 250105},
		{"dot dot", "GET", "/docker/ext/tag/bk/docker-local/../../etc", admin, 400, 250105},
		{"encoded dot dot", "GET", "/docker/ext/manifest/bk/docker-local/%2e%2e/v1", admin, 400, 250105},
		{"NUL", "GET", "/docker/ext/tag/bk/docker-local/a%00b", admin, 400, 250105},
		{"uppercase name", "GET", "/docker/ext/tag/bk/docker-local/Many", admin, 400, 250105},
		{"packageKey dot dot", "DELETE", "/docker/ext/package/delete/bk/docker-local?packageKey=docker://../x", admin, 400, 250105},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := extAs(t, b, c.method, c.path, c.authz)
			if res.status != c.status || res.code != c.code {
				t.Fatalf("%s %s: %d %s, want %d code %d", c.method, c.path, res.status, res.body, c.status, c.code)
			}
			var trace string
			_ = json.Unmarshal(res.raw["traceId"], &trace)
			if trace == "" || trace != res.header.Get("X-Request-Id") || len(res.raw) != 4 {
				t.Errorf("envelope: %s (X-Request-Id %q)", res.body, res.header.Get("X-Request-Id"))
			}
			if c.code != 0 {
				var msg string
				if json.Unmarshal(res.raw["message"], &msg) != nil || msg == "" || string(res.raw["data"]) != "null" {
					t.Errorf("error envelope: %s", res.body)
				}
			}
		})
	}
	// A private project and a missing one look the same to a non-member.
	a := extAs(t, b, "GET", "/docker/ext/repo/bk/docker-local", stranger)
	z := extAs(t, b, "GET", "/docker/ext/repo/nosuch/docker-local", stranger)
	if a.status != z.status || string(a.raw["message"]) != string(z.raw["message"]) {
		t.Errorf("private vs missing: %s / %s", a.body, z.body)
	}
	// X-BKREPO-UID names the user an app credential acts for.
	res := extAs(t, b, "PUT", "/docker/ext/version/stage/bk/docker-local?packageKey=many&version=t02&tag=@release", rw, "X-BKREPO-UID", "alice")
	var trace string
	_ = json.Unmarshal(res.raw["traceId"], &trace)
	if res.code != 0 {
		t.Fatalf("acting app: %s", res.body)
	}
	waitFor(t, "the acting user in the log", func() bool {
		for _, l := range strings.Split(b.Logs(), "\n") {
			if strings.Contains(l, trace) && strings.Contains(l, "alice") {
				return true
			}
		}
		return false
	})
}
