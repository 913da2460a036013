package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// eventsEnv lets webhooks reach loopback receivers, and retries fast.
var eventsEnv = []string{"BERTH_EVENTS_WEBHOOK_ALLOW=127.0.0.1", "BERTH_EVENTS_POLL=100ms", "BERTH_EVENTS_BACKOFF=100ms",
	"BERTH_EVENTS_MAX_BACKOFF=300ms", "BERTH_EVENTS_MAX_ATTEMPTS=100"}

// addWebhook creates a global webhook for every event type to rc.
func addWebhook(t *testing.T, b *berthtest.Berth, rc *berthtest.Receiver, secret string) int64 {
	t.Helper()
	out := mustAPI(t, b, http.MethodPost, "/api/berth/v1/webhooks", map[string]any{"name": "all", "url": rc.URL, "secret": secret}, http.StatusCreated)
	var w struct{ ID int64 }
	if err := json.Unmarshal([]byte(out), &w); err != nil || w.ID == 0 {
		t.Fatalf("webhook: %s", out)
	}
	return w.ID
}

// TestEventsRealClients: real clients (crane, helm) and the management
// API make every kind of change; a loopback receiver gets one signed
// CloudEvent for each, naming the actor and what changed.
func TestEventsRealClients(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: eventsEnv})
	rc := berthtest.StartReceiver(t, "hook-secret")
	addWebhook(t, b, rc, "hook-secret")
	crane := berthtest.Tool(t, "crane")
	dir := t.TempDir()
	writeTar(t, filepath.Join(dir, "a.tar"), map[string][]byte{"etc/hello.txt": []byte("hello events\n")})

	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "evt"}, http.StatusCreated)
	pushed := craneAppend(t, b.Addr+"/evt/app:v1", nil, filepath.Join(dir, "a.tar"))
	berthtest.Output(t, crane, "manifest", b.Addr+"/evt/app:v1", "--insecure") // a pull
	// Pulls are counted in memory and flushed in batches (200ms here): the
	// event follows the flush, before the delete below.
	berthtest.WaitFor(t, "the pull event", func() bool { return len(rc.Of("artifact.pull")) > 0 })
	berthtest.Run(t, crane, "tag", b.Addr+"/evt/app:v1", "v2", "--insecure")
	berthtest.Run(t, crane, "delete", b.Addr+"/evt/app@"+pushed, "--insecure")

	h := newHelm(t)
	h.run("registry", "login", b.Addr, "--plain-http", "-u", "admin", "-p", b.AdminPassword)
	h.run("push", h.packageChart("0.1.0"), "oci://"+b.Addr+"/evt", "--plain-http")
	mustAPI(t, b, http.MethodDelete, "/api/chartrepo/evt/charts/berthdemo/0.1.0", nil, http.StatusOK)

	mustAPI(t, b, http.MethodPost, "/api/berth/v1/users", map[string]any{"username": "eve", "password": "Eve-pass-123"}, http.StatusCreated)
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/projects/evt/members/eve", map[string]string{"role": "developer"}, http.StatusOK)
	mustAPI(t, b, http.MethodDelete, "/api/berth/v1/projects/evt/members/eve", nil, http.StatusNoContent)
	mustAPI(t, b, http.MethodPut, "/api/berth/v1/users/eve/password", map[string]string{"password": "Eve-pass-456"}, http.StatusOK)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/robots", map[string]any{"name": "ci", "projects": map[string]string{"evt": "guest"}}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/gc", nil, http.StatusOK)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "tiny", "quota": 10}, http.StatusCreated)
	if _, err := berthtest.RunErr(t, crane, "append", "-t", b.Addr+"/tiny/app:v1", "-f", filepath.Join(dir, "a.tar"), "--insecure"); err == nil {
		t.Fatal("a push over the quota succeeded")
	}
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "gone"}, http.StatusCreated)
	mustAPI(t, b, http.MethodDelete, "/api/berth/v1/projects/gone", nil, http.StatusNoContent)
	// Another dialect: SWR creates a repository, deletes a tag and the repository.
	tok := swrToken(t, b, "admin", b.AdminPassword)
	mustSWR(t, b, tok, http.MethodPost, "/v2/manage/namespaces/evt/repos", map[string]any{"repository": "tools/cli"}, http.StatusCreated)
	berthtest.PushRawImage(t, b, "evt/tools/cli", "v1", "amd64", berthtest.LayerBytes(7))
	mustSWR(t, b, tok, http.MethodDelete, "/v2/manage/namespaces/evt/repos/tools$cli/tags/v1", nil, http.StatusNoContent)
	mustSWR(t, b, tok, http.MethodDelete, "/v2/manage/namespaces/evt/repos/tools$cli", nil, http.StatusNoContent)

	want := []string{"project.create", "artifact.push", "artifact.pull", "artifact.delete", "chart.upload", "chart.delete",
		"repository.create", "tag.delete", "repository.delete",
		"user.create", "member.set", "member.remove", "user.credential.reset", "robot.create", "gc.run", "quota.exceeded", "project.delete"}
	berthtest.WaitFor(t, "an event of every type", func() bool {
		for _, typ := range want {
			if len(rc.Of(typ)) == 0 {
				return false
			}
		}
		return true
	})
	if bad := rc.Bad(); len(bad) > 0 {
		t.Errorf("posts that were not signed CloudEvents: %q", bad)
	}
	one := func(typ string, match func(e berthtest.CloudEvent) bool) berthtest.CloudEvent {
		t.Helper()
		for _, e := range rc.Of(typ) {
			if match(e) {
				return e
			}
		}
		t.Fatalf("no %s event matches; got %+v", typ, rc.Of(typ))
		return berthtest.CloudEvent{}
	}
	push := one("artifact.push", func(e berthtest.CloudEvent) bool { return e.Data.Tag == "v1" && e.Data.Repository == "evt/app" })
	if push.Data.Digest != pushed || push.Data.Actor.Name != "admin" || push.Data.Actor.Kind != "user" ||
		!strings.Contains(push.Data.UserAgent, "go-containerregistry") || push.Data.ClientAddr != "127.0.0.1" ||
		push.Data.Size == 0 || push.Data.MediaType == "" || push.Type != "io.berth.artifact.push" || push.Time == "" {
		t.Errorf("crane push event: %+v", push)
	}
	one("artifact.push", func(e berthtest.CloudEvent) bool { return e.Data.Tag == "v2" && e.Data.Digest == pushed }) // crane tag
	del := one("artifact.delete", func(e berthtest.CloudEvent) bool { return e.Data.Digest == pushed })
	if tags, _ := del.Data.Details["tags"].([]any); len(tags) != 2 {
		t.Errorf("the delete names the tags it took: %+v", del.Data.Details)
	}
	pull := one("artifact.pull", func(e berthtest.CloudEvent) bool { return e.Data.Repository == "evt/app" })
	if pull.Data.Details["count"] == nil {
		t.Errorf("pull event without its count: %+v", pull)
	}
	chart := one("chart.upload", func(e berthtest.CloudEvent) bool { return e.Data.Repository == "evt/berthdemo" })
	if chart.Data.Tag != "0.1.0" || chart.Data.Target != "berthdemo" || !strings.Contains(chart.Data.UserAgent, "Helm") {
		t.Errorf("helm push event: %+v", chart)
	}
	if e := one("chart.delete", func(e berthtest.CloudEvent) bool { return true }); e.Data.Target != "berthdemo" || e.Data.Tag != "0.1.0" {
		t.Errorf("chart delete event: %+v", e)
	}
	if e := one("member.set", func(e berthtest.CloudEvent) bool { return true }); e.Data.Target != "eve" || e.Data.Project != "evt" {
		t.Errorf("member event: %+v", e)
	}
	if e := one("quota.exceeded", func(e berthtest.CloudEvent) bool { return true }); e.Data.Project != "tiny" || e.Data.Result != "refused" {
		t.Errorf("quota event: %+v", e)
	}
	if e := one("tag.delete", func(e berthtest.CloudEvent) bool { return e.Data.Repository == "evt/tools/cli" }); e.Data.Tag != "v1" ||
		e.Data.Digest == "" || e.Data.Actor.Name != "admin" {
		t.Errorf("SWR tag delete event: %+v", e)
	}
	one("repository.create", func(e berthtest.CloudEvent) bool { return e.Data.Repository == "evt/tools/cli" })
	one("repository.delete", func(e berthtest.CloudEvent) bool { return e.Data.Repository == "evt/tools/cli" })
	oneRecordPerWrite(t, b, 25) // every dialect's writes, one audit record each
	seen := map[string]bool{}
	for _, e := range rc.Events() {
		if seen[e.ID] {
			t.Errorf("event id %s twice", e.ID)
		}
		seen[e.ID] = true
	}
}

// TestEventsRolledBackWrite: a push an immutability rule refuses rolls its
// transaction back, and with it its event: no webhook, no audit record and
// no JSON line on standard output (events.stdout) claims the tag moved.
// The attempt has its record, result "refused".
func TestEventsRolledBackWrite(t *testing.T) {
	b := berthtest.Start(t, berthtest.Options{Env: append([]string{"BERTH_EVENTS_STDOUT=true"}, eventsEnv...)})
	rc := berthtest.StartReceiver(t, "")
	addWebhook(t, b, rc, "")
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "imm"}, http.StatusCreated)
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects/imm/immutability", map[string]string{"repositories": "**", "tags": "v*"}, http.StatusCreated)
	first := berthtest.PushRawImage(t, b, "imm/app", "v1", "amd64", berthtest.LayerBytes(11))
	second := berthtest.PushRawImage(t, b, "imm/app", "", "amd64", berthtest.LayerBytes(12)) // by digest: allowed
	if code, body := berthtest.PutManifest(t, b, "imm/app", "v1", "application/vnd.oci.image.manifest.v1+json", second.Manifest); code != http.StatusForbidden {
		t.Fatalf("moving an immutable tag: %d %s", code, body)
	}
	mustAPI(t, b, http.MethodPost, "/api/berth/v1/projects", map[string]any{"name": "marker"}, http.StatusCreated)
	berthtest.WaitFor(t, "the marker event", func() bool { return len(rc.Of("project.create")) == 2 })
	var tagged []string
	for _, e := range rc.Of("artifact.push") {
		if e.Data.Tag == "v1" {
			tagged = append(tagged, e.Data.Digest)
		}
	}
	if len(tagged) != 1 || tagged[0] != first.Digest {
		t.Errorf("push events for imm/app:v1 name %v, want only %s (the refused move rolled back)", tagged, first.Digest)
	}
	// The audit log has the push and the refused attempt, told apart.
	out := mustAPI(t, b, http.MethodGet, "/api/berth/v1/audit?repository=imm/app&type=artifact.push", nil, http.StatusOK)
	if strings.Count(out, `"tag":"v1"`) != 2 || strings.Count(out, `"result":"refused"`) != 1 {
		t.Errorf("audit log of the pushes: %s", out)
	}
	var lines []string
	for _, l := range strings.Split(b.Logs(), "\n") {
		if strings.HasPrefix(l, `{"specversion":"1.0"`) && strings.Contains(l, `"type":"io.berth.artifact.push"`) &&
			strings.Contains(l, `"subject":"imm/app:v1"`) && strings.Contains(l, `"result":"ok"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], first.Digest) {
		t.Errorf("standard output's JSON lines of pushes of imm/app:v1 that took place: %q", lines)
	}
}

// TestEventsKill9AndReceiverDown: berth is killed (SIGKILL) while clients
// push and while its receiver is down. Restarted, it delivers an event
// for every push it acknowledged, none for a push that did not commit,
// and each repository's events in the order they were committed. A
// delivery the killed process had in flight stays leased to it for
// 2 × events.timeout + 5 s (no replica can tell a dead owner from a slow
// one), and the later events of its repository wait behind it: with a 1 s
// timeout that is 7 s after the kill.
func TestEventsKill9AndReceiverDown(t *testing.T) {
	env := append([]string{"BERTH_EVENTS_TIMEOUT=1s"}, eventsEnv...)
	b := berthtest.Start(t, berthtest.Options{Env: env})
	rc := berthtest.StartReceiver(t, "k")
	addWebhook(t, b, rc, "k")
	rc.SetDown(true)
	var order []string // tags of crash/seq in push order
	for i := range 5 {
		tag := fmt.Sprintf("s%d", i)
		berthtest.PushRawImage(t, b, "crash/seq", tag, "amd64", berthtest.LayerBytes(100+i))
		order = append(order, tag)
	}
	acked := pushUntilKilled(t, b, 6, 10)
	b = berthtest.Start(t, berthtest.Options{Env: env, DataDir: b.DataDir})
	time.Sleep(500 * time.Millisecond) // a few failed attempts first
	rc.SetDown(false)
	berthtest.WaitWithin(t, 30*time.Second, "every acknowledged push delivered", func() bool {
		got := map[string]bool{}
		for _, e := range rc.Of("artifact.push") {
			got[e.Data.Repository+":"+e.Data.Tag] = true
		}
		for ref := range acked {
			if !got[ref] {
				return false
			}
		}
		return len(rc.Of("artifact.push")) >= len(acked)+len(order)
	})
	var seq []string
	for _, e := range rc.Of("artifact.push") {
		if e.Data.Repository == "crash/seq" {
			seq = append(seq, e.Data.Tag)
		}
		// Every event is of a push that committed: its tag is there.
		req, _ := http.NewRequest(http.MethodHead, b.URL("/v2/"+e.Data.Repository+"/manifests/"+e.Data.Tag), nil)
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != e.Data.Digest {
			t.Errorf("event for %s:%s@%s, which is not in the registry (%d %s)", e.Data.Repository, e.Data.Tag, e.Data.Digest,
				resp.StatusCode, resp.Header.Get("Docker-Content-Digest"))
		}
	}
	if !slices.Equal(seq, order) {
		t.Errorf("crash/seq events arrived as %v, pushed as %v", seq, order)
	}
	if bad := rc.Bad(); len(bad) > 0 {
		t.Errorf("refused posts: %q", bad)
	}
}

// TestEventsReplicasPostgres: two replicas on one PostgreSQL database and
// one MinIO bucket, each running the delivery worker; one is killed
// mid-way. Every event committed reaches the receiver at least once, and
// the receiver de-duplicates on the CloudEvents id.
func TestEventsReplicasPostgres(t *testing.T) {
	if os.Getenv("BERTH_SKIP_POSTGRES") != "" {
		t.Skip("BERTH_SKIP_POSTGRES")
	}
	// A killed replica's deliveries in flight go out again once their lease
	// (2 × events.timeout + 5s) runs out.
	env := append(append(berthtest.StartMinIO(t).Env("events"), "BERTH_DATABASE_URL="+berthtest.SharedPostgres(t).NewDatabase(t),
		"BERTH_EVENTS_TIMEOUT=1s"), eventsEnv...)
	r1 := berthtest.Start(t, berthtest.Options{Env: env})
	r2 := berthtest.Start(t, berthtest.Options{Env: env})
	rc := berthtest.StartReceiver(t, "rep")
	rc.SetDelay(200 * time.Millisecond) // deliveries are in flight when r1 dies
	addWebhook(t, r1, rc, "rep")
	want := map[string]bool{}
	for i := range 8 {
		r := []*berthtest.Berth{r1, r2}[i%2]
		berthtest.PushRawImage(t, r, fmt.Sprintf("library/r%d", i%3), fmt.Sprintf("t%d", i), "amd64", berthtest.LayerBytes(200+i))
		want[fmt.Sprintf("library/r%d:t%d", i%3, i)] = true
	}
	r1.Kill()
	for i := 8; i < 12; i++ {
		berthtest.PushRawImage(t, r2, fmt.Sprintf("library/r%d", i%3), fmt.Sprintf("t%d", i), "amd64", berthtest.LayerBytes(200+i))
		want[fmt.Sprintf("library/r%d:t%d", i%3, i)] = true
	}
	berthtest.WaitWithin(t, 30*time.Second, "every push delivered", func() bool {
		got := 0
		for _, e := range rc.Of("artifact.push") {
			if want[e.Data.Repository+":"+e.Data.Tag] {
				got++
			}
		}
		return got == len(want)
	})
	t.Logf("%d deliveries repeated an event already received (de-duplicated on the id)", rc.Duplicates())
	out := mustAPI(t, r2, http.MethodGet, "/api/berth/v1/audit?type=artifact.push&pageSize=200", nil, http.StatusOK)
	var page struct{ Total int }
	_ = json.Unmarshal([]byte(out), &page)
	if page.Total != len(want) {
		t.Errorf("audit log: %d pushes, want %d", page.Total, len(want))
	}
}
