package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// auditRecord is a record of GET /api/berth/v1/audit.
type auditRecord struct {
	Action     string         `json:"action"`
	RequestID  string         `json:"requestId"`
	Project    string         `json:"project"`
	Repository string         `json:"repository"`
	Tag        string         `json:"tag"`
	Digest     string         `json:"digest"`
	Result     string         `json:"result"`
	Size       int64          `json:"size"`
	Actor      map[string]any `json:"actor"`
	Details    map[string]any `json:"details"`
}

// auditLog reads the whole audit log (every page).
func auditLog(t *testing.T, b *berthtest.Berth) []auditRecord {
	t.Helper()
	var all []auditRecord
	for page := 1; ; page++ {
		var p struct {
			Total  int           `json:"total"`
			Events []auditRecord `json:"events"`
		}
		out := mustAPI(t, b, http.MethodGet, fmt.Sprintf("/api/berth/v1/audit?page=%d&pageSize=200", page), nil, http.StatusOK)
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Events...)
		if len(p.Events) == 0 || len(all) >= p.Total {
			return all
		}
	}
}

// requestLine is one line of berth's request log.
type requestLine struct {
	ID, Method, Path, User string
	Status                 int
}

func requestLines(t *testing.T, logs string) []requestLine {
	t.Helper()
	var out []requestLine
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Msg, Method, Path, User string
			RequestID               string `json:"request_id"`
			Status                  int
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "request" {
			out = append(out, requestLine{ID: l.RequestID, Method: l.Method, Path: l.Path, User: l.User, Status: l.Status})
		}
	}
	return out
}

var (
	uploadStep = regexp.MustCompile(`^/v2/.+/blobs/uploads/`)
	uploadPost = regexp.MustCompile(`^/v2/.+/blobs/uploads/$`)
)

// wantRecords is how many audit records a request must have written: one
// for each write (a /v2 manifest or blob change, a committed upload or a
// mount, any change of a management API), refused and failed ones too;
// none for a read, a login, a step of an upload that succeeded (its
// commit writes the one record), or the challenge answering a caller who
// sent no credentials.
func wantRecords(l requestLine) int {
	switch {
	case l.Method == http.MethodGet || l.Method == http.MethodHead || l.Method == http.MethodOptions:
		return 0
	case l.Path == "/service/token": // a login (a POST of OAuth2's password grant)
		if l.Status == http.StatusUnauthorized {
			return 1 // login.failed
		}
		return 0
	case l.Status == http.StatusUnauthorized && l.User == "":
		return 0
	case uploadStep.MatchString(l.Path) && (l.Status == http.StatusAccepted || l.Status == http.StatusNoContent):
		return 0 // a start, a chunk, a mount that became an upload, a cancel
	case uploadPost.MatchString(l.Path) && l.Status == http.StatusCreated:
		return 1 // a monolithic upload or a mount
	}
	return 1
}

// oneRecordPerWrite checks every request in b's log against the audit log
// (wantRecords), expecting at least least writes, and returns the log.
func oneRecordPerWrite(t *testing.T, b *berthtest.Berth, least int) []auditRecord {
	t.Helper()
	records := auditLog(t, b)
	byRequest := map[string][]auditRecord{}
	for _, r := range records {
		byRequest[r.RequestID] = append(byRequest[r.RequestID], r)
	}
	writes := 0
	for _, l := range requestLines(t, b.Logs()) {
		want := wantRecords(l)
		writes += want
		if got := byRequest[l.ID]; len(got) != want {
			t.Errorf("%s %s (%d, user %q): %d audit records %+v, want %d", l.Method, l.Path, l.Status, l.User, len(got), got, want)
		}
	}
	if writes < least {
		t.Errorf("only %d write requests seen in the log", writes)
	}
	return records
}

// TestAuditOneRecordPerWrite: real clients and the management APIs make
// changes, refused ones included; every write request leaves exactly one
// audit record carrying its request id, and no read or upload step leaves
// one. A repository deleted through a dialect is one record naming every
// tag and manifest it took, not one per tag.
func TestAuditOneRecordPerWrite(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: eventsEnv})
	crane := berthtest.Tool(t, "crane")
	dir := t.TempDir()
	writeTar(t, filepath.Join(dir, "a.tar"), map[string][]byte{"etc/audit.txt": []byte("one record per write\n")})

	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "aud"}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": "gus", "password": "Gus-pass-123"}, http.StatusCreated)
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/aud/members/gus", map[string]string{"role": "guest"}, http.StatusOK)
	pushed := craneAppend(t, b.Addr+"/aud/app:v1", nil, filepath.Join(dir, "a.tar"))
	berthtest.Run(t, crane, "tag", b.Addr+"/aud/app:v1", "v2", "--insecure")
	berthtest.Run(t, crane, "copy", b.Addr+"/aud/app:v1", b.Addr+"/aud/copy:c1", "--insecure") // mounts
	berthtest.Run(t, crane, "tag", b.Addr+"/aud/copy:c1", "c2", "--insecure")
	// Refused: an immutable tag moved, a manifest that is not one.
	guest := credHome(t)
	berthtest.RunEnv(t, guest, crane, "auth", "login", b.Addr, "-u", "gus", "-p", "Gus-pass-123")
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/aud/immutability", map[string]string{"repositories": "app", "tags": "v1"}, http.StatusCreated)
	other := berthtest.PushRawImage(t, b, "aud/app", "", "arm64", berthtest.LayerBytes(31))
	if code, body := berthtest.PutManifest(t, b, "aud/app", "v1", "application/vnd.oci.image.manifest.v1+json", other.Manifest); code != http.StatusForbidden {
		t.Fatalf("moving an immutable tag: %d %s", code, body)
	}
	if code, _ := berthtest.PutManifest(t, b, "aud/app", "broken", "application/vnd.oci.image.manifest.v1+json", []byte("{not json")); code != http.StatusBadRequest {
		t.Fatalf("a broken manifest: %d", code)
	}
	// A blob delete through /v2, and a repository deleted through CCR.
	layer := berthtest.PushBlob(t, b, "aud/loose", berthtest.LayerBytes(32))
	req, _ := http.NewRequest(http.MethodDelete, b.URL("/v2/aud/loose/blobs/"+layer), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ccr(t, b, http.MethodDelete, ccrBase+"/projects/aud/repositories/copy", nil)
	// Harbor v1, bk-repo and the image market change things too.
	berthtest.PushRawImage(t, b, "aud/docker-local/img", "v1", "amd64", berthtest.LayerBytes(33))
	for _, c := range []struct{ method, path string }{
		{http.MethodDelete, "/api/repositories?repo_name=aud/app&tag=v2"},
		{http.MethodDelete, "/docker/ext/version/delete/aud/docker-local?packageKey=docker://img&version=v1"},
	} {
		if resp, body := httpDo(t, c.method, b.URL(c.path), nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
	if res := ibCall(t, b, http.MethodPost, "/api/project/new", "admin", map[string]any{"projectName": "audb", "operator": "admin", "Cluster": "aud"}); res.code != 10000 {
		t.Fatalf("image market project: %s", res.body)
	}

	// A project deleted with everything in it: one record, as the last step
	// of a request that first deletes its repositories.
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "gone"}, http.StatusCreated)
	berthtest.PushRawImage(t, b, "gone/a", "v1", "amd64", berthtest.LayerBytes(34))
	berthtest.PushRawImage(t, b, "gone/b", "v1", "amd64", berthtest.LayerBytes(35))
	mustAPI(t, b, http.MethodDelete, "/api/berth/v1/projects/gone?force=true", nil, http.StatusNoContent)

	// Guest: pulls are fine, a push is refused (and recorded).
	if _, err := berthtest.RunEnvErr(t, guest, crane, "append", "-t", b.Addr+"/aud/app:byguest", "-f", filepath.Join(dir, "a.tar"), "--insecure"); err == nil {
		t.Fatal("a guest pushed")
	}

	records := oneRecordPerWrite(t, b, 20)

	find := func(match func(auditRecord) bool) auditRecord {
		t.Helper()
		for _, r := range records {
			if match(r) {
				return r
			}
		}
		t.Fatalf("no such audit record in %+v", records)
		return auditRecord{}
	}
	if r := find(func(r auditRecord) bool {
		return r.Action == "blob.push" && r.Repository == "aud/app" && r.Result == "ok"
	}); r.Size == 0 || r.Digest == "" {
		t.Errorf("a blob upload's record: %+v", r)
	}
	find(func(r auditRecord) bool {
		return r.Action == "blob.mount" && r.Repository == "aud/copy" && r.Result == "ok"
	})
	find(func(r auditRecord) bool { return r.Action == "blob.delete" && r.Digest == layer })
	find(func(r auditRecord) bool {
		return r.Action == "artifact.push" && r.Tag == "v1" && r.Result == "refused" && r.Actor["name"] == "admin"
	})
	find(func(r auditRecord) bool {
		return r.Action == "artifact.push" && r.Tag == "broken" && r.Result == "refused"
	})
	find(func(r auditRecord) bool {
		return r.Repository == "aud/app" && r.Result == "refused" && r.Actor["name"] == "gus"
	})
	find(func(r auditRecord) bool {
		return r.Action == "artifact.push" && r.Tag == "v1" && r.Digest == pushed && r.Result == "ok"
	})
	del := find(func(r auditRecord) bool { return r.Action == "repository.delete" && r.Repository == "aud/copy" })
	if tags, _ := del.Details["tags"].([]any); len(tags) != 2 || del.Result != "ok" {
		t.Errorf("the repository delete names both tags it took: %+v", del)
	}
	gone := find(func(r auditRecord) bool { return r.Action == "project.delete" && r.Project == "gone" })
	if digests, _ := gone.Details["digests"].([]any); len(digests) != 2 || gone.Result != "ok" {
		t.Errorf("the project delete names both manifests its repositories held: %+v", gone)
	}
	for _, r := range records {
		part := (r.Repository == "aud/copy" && r.Action != "repository.delete") || (r.Project == "gone" && r.Action != "project.delete")
		if part && strings.HasSuffix(r.Action, ".delete") {
			t.Errorf("a part of a repository or project delete has a record of its own: %+v", r)
		}
	}
}

// TestEventsLoginsRetentionBuilds: the events no client's change makes by
// itself reach a webhook, signed: a finished build, a retention run, and
// failed logins with the lockout they cause (naming the user tried and
// the address, never a password).
func TestEventsLoginsRetentionBuilds(t *testing.T) {
	e := startIBEnv(t, berthtest.Options{Env: append([]string{"BERTH_AUTH_MAX_FAILURES=3", "BERTH_AUTH_LOCKOUT_PERIOD=10m"}, eventsEnv...)})
	b := e.b
	rc := berthtest.StartReceiver(t, "sys-secret")
	addWebhook(t, b, rc, "sys-secret")

	// A build of the image market, started by dev.
	devAuth := basicAuth("dev", e.pw)
	if res := ibCall(t, b, http.MethodPost, "/api/project/new", devAuth, map[string]any{"projectName": "evb", "operator": "dev", "Cluster": "apps"}); res.code != 10000 {
		t.Fatalf("new: %s", res.body)
	}
	form := url.Values{"project": {"evb"}, "Cluster": {"apps"}, "DefineDockerFileType": {"tool"}, "addOrUpdate": {"update"},
		"$$plugin": {"base_image"}, "base_image.image": {b.Addr + "/base/tiny:1"}}
	if res := ibCall(t, b, http.MethodPost, "/api/project/save", devAuth, form); res.code != 10000 {
		t.Fatalf("save: %s", res.body)
	}
	res := ibCall(t, b, http.MethodPost, "/api/project/build", devAuth, map[string]any{"projectName": "evb", "operator": "dev", "tag": "b1"})
	id, _ := res.content.(map[string]any)["idStr"].(string)
	if build := waitBuild(t, b, "evb", id); build["state"] != float64(1) {
		t.Fatalf("build: %v", build)
	}

	// A retention run that removes one tag of two.
	berthtest.PushRawImage(t, b, "apps/kept", "old", "amd64", berthtest.LayerBytes(41))
	berthtest.PushRawImage(t, b, "apps/kept", "new", "amd64", berthtest.LayerBytes(42))
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/apps/retention",
		map[string]any{"rules": []map[string]any{{"keep": "latestPushed", "count": 1, "repositories": "kept"}}}, http.StatusOK)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/apps/retention/runs", nil, http.StatusOK)

	// Three wrong passwords for viewer: three failed logins, then a lock.
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, b.URL("/v2/"), nil)
		req.SetBasicAuth("viewer", "not-the-password")
		resp, err := berthtest.AnonymousClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}

	berthtest.WaitFor(t, "build, retention and login events", func() bool {
		return len(rc.Of("build.finish")) > 0 && len(rc.Of("retention.run")) > 0 && len(rc.Of("login.failed")) >= 3 && len(rc.Of("user.lockout")) > 0
	})
	if bad := rc.Bad(); len(bad) > 0 {
		t.Errorf("posts that were not signed CloudEvents: %q", bad)
	}
	if ev := rc.Of("build.finish")[0]; ev.Data.Repository != "apps/evb" || ev.Data.Tag != "b1" || !strings.HasPrefix(ev.Data.Digest, "sha256:") ||
		ev.Data.Result != "ok" {
		t.Errorf("build event: %+v", ev)
	}
	if ev := rc.Of("retention.run")[0]; ev.Data.Project != "apps" || ev.Data.Details == nil {
		t.Errorf("retention event: %+v", ev)
	}
	for _, ev := range append(rc.Of("login.failed"), rc.Of("user.lockout")...) {
		if ev.Data.Target != "viewer" || ev.Data.ClientAddr != "127.0.0.1" || ev.Data.Result != "refused" || ev.Data.Actor.Kind != "anonymous" {
			t.Errorf("%s event: %+v", ev.Type, ev)
		}
	}
	if n := len(rc.Of("user.lockout")); n != 1 {
		t.Errorf("%d lockout events, want 1", n)
	}
	if strings.Contains(b.Logs(), "not-the-password") {
		t.Error("a password was logged")
	}
}
