package berthv1_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-registry/berth/cmd/berth/app/apptest"
	"github.com/berth-registry/berth/cmd/berth/berthtest"
)

// eventsEnv lets webhooks post to loopback receivers and retries fast.
var eventsEnv = []string{"BERTH_EVENTS_WEBHOOK_ALLOW=127.0.0.1", "BERTH_EVENTS_POLL=50ms", "BERTH_EVENTS_BACKOFF=50ms",
	"BERTH_EVENTS_MAX_BACKOFF=200ms", "BERTH_EVENTS_MAX_ATTEMPTS=3"}

// TestWebhooks: a project's webhook gets that project's events, signed,
// as CloudEvents naming the actor; the secret is never shown; the
// delivery log records each attempt; bad input is 400 in the API's
// envelope.
func TestWebhooks(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true, Env: eventsEnv})
	must := func(method, path string, body any, want int) string {
		t.Helper()
		return berthtest.MustAPI(t, b, method, path, body, want)
	}
	rc := berthtest.StartReceiver(t, "s3cret")
	must("POST", "/api/berth/v1/projects", map[string]any{"name": "team"}, 201)
	out := must("POST", "/api/berth/v1/projects/team/webhooks", map[string]any{"name": "ci", "url": rc.URL, "secret": "s3cret",
		"types": []string{"io.berth.artifact.push", "tag.delete", "artifact.delete"}}, 201)
	if strings.Contains(out, "s3cret") || !strings.Contains(out, `"hasSecret":true`) {
		t.Fatalf("created webhook shows its secret or not that it has one: %s", out)
	}
	var hook struct{ ID int64 }
	_ = json.Unmarshal([]byte(out), &hook)
	for _, path := range []string{fmt.Sprintf("/api/berth/v1/projects/team/webhooks/%d", hook.ID), "/api/berth/v1/projects/team/webhooks"} {
		if out := must("GET", path, nil, 200); strings.Contains(out, "s3cret") {
			t.Errorf("GET %s shows the secret: %s", path, out)
		}
	}

	img := berthtest.PushRawImage(t, b, "team/app", "v1", "amd64", berthtest.LayerBytes(1))
	berthtest.PushRawImage(t, b, "library/other", "v1", "amd64", berthtest.LayerBytes(2)) // another project's
	if code := berthtest.DeleteManifest(t, b, "team/app", "v1"); code != 202 {
		t.Fatalf("delete tag: %d", code)
	}
	berthtest.WaitFor(t, "push and tag delete events", func() bool { return len(rc.Of("tag.delete")) == 1 })
	pushes := rc.Of("artifact.push")
	if len(pushes) != 1 {
		t.Fatalf("pushes received: %+v", rc.Events())
	}
	p := pushes[0]
	if p.Type != "io.berth.artifact.push" || p.Data.Repository != "team/app" || p.Data.Tag != "v1" || p.Data.Digest != img.Digest ||
		p.Data.Project != "team" || p.Data.Actor.Name != "admin" || p.Data.Actor.Kind != "user" || p.Data.Actor.ID == 0 ||
		p.Data.ClientAddr != "127.0.0.1" || p.Data.RequestID == "" || p.Data.UserAgent == "" ||
		p.Data.MediaType != "application/vnd.oci.image.manifest.v1+json" || p.Data.Size != img.Size || p.Subject != "team/app:v1" {
		t.Errorf("push event: %+v", p)
	}
	for _, e := range rc.Events() {
		if e.Data.Project != "team" {
			t.Errorf("a project webhook got another project's event: %+v", e)
		}
	}
	if bad := rc.Bad(); len(bad) > 0 {
		t.Errorf("refused posts: %q", bad)
	}

	// Send test event; the delivery log has it with its attempt.
	out = must("POST", fmt.Sprintf("/api/berth/v1/projects/team/webhooks/%d/test", hook.ID), nil, 202)
	if !strings.Contains(out, `"delivery":`) {
		t.Errorf("test event: %s", out)
	}
	berthtest.WaitFor(t, "test event", func() bool { return len(rc.Of("webhook.test")) == 1 })
	if e := rc.Of("webhook.test")[0]; e.Data.Target != "ci" || e.Data.Project != "team" || e.Data.Actor.Name != "admin" {
		t.Errorf("test event: %+v", e)
	}
	log := must("GET", fmt.Sprintf("/api/berth/v1/projects/team/webhooks/%d/deliveries", hook.ID), nil, 200)
	for _, want := range []string{`"eventType":"io.berth.webhook.test"`, `"status":"delivered"`, `"statusCode":204`, `"eventType":"io.berth.tag.delete"`} {
		if !strings.Contains(log, want) {
			t.Errorf("delivery log lacks %s: %s", want, log)
		}
	}

	// Metrics: every route by its template, the events' gauges.
	metrics := berthtest.MustAPI(t, b, "GET", "/metrics", nil, 200)
	for _, want := range []string{
		`berth_http_requests_total{code="2xx",method="POST",route="berthv1 /api/berth/v1/projects/{project}/webhooks"} 1`,
		`berth_http_requests_total{code="2xx",method="PUT",route="/v2/{name}/manifests/{reference}"}`,
		`berth_http_request_duration_seconds_bucket{method="GET",route="berthv1 /api/berth/v1/projects/{project}/webhooks/{id}",le="`,
		"berth_http_pushed_bytes_total ", "berth_events_outbox_backlog ", `berth_events_webhook_deliveries{status="pending"}`,
		`berth_events_webhook_attempts_total{outcome="delivered"}`, "berth_events_webhook_delivery_latency_seconds_count ",
		`berth_events_recorded_total{type="artifact.push"}`, "berth_manifest_cache_misses_total ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, `route="/api/berth/v1/projects/team`) {
		t.Error("/metrics labels a route with a raw path")
	}

	type envelope struct {
		Error struct{ Code, Message string }
	}
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"not a URL", "POST", "/api/berth/v1/webhooks", map[string]any{"name": "x", "url": "ftp://x"}, 400, "INVALID"},
		{"credentials in the URL", "POST", "/api/berth/v1/webhooks", map[string]any{"name": "x", "url": "http://u:p@127.0.0.1/"}, 400, "INVALID"},
		{"unknown type", "POST", "/api/berth/v1/webhooks", map[string]any{"name": "x", "url": rc.URL, "types": []string{"nope"}}, 400, "INVALID"},
		{"no name", "POST", "/api/berth/v1/webhooks", map[string]any{"url": rc.URL}, 400, "INVALID"},
		{"another scope's webhook", "GET", fmt.Sprintf("/api/berth/v1/webhooks/%d", hook.ID), nil, 404, "NOT_FOUND"},
		{"bad id", "GET", "/api/berth/v1/webhooks/x", nil, 404, "NOT_FOUND"},
		{"bad limit", "GET", fmt.Sprintf("/api/berth/v1/projects/team/webhooks/%d/deliveries?limit=-1", hook.ID), nil, 400, "INVALID"},
	}
	for _, tc := range cases {
		code, body := berthtest.APICall(t, b, tc.method, tc.path, "admin", b.AdminPassword, tc.body)
		var env envelope
		if code != tc.status || json.Unmarshal([]byte(body), &env) != nil || env.Error.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, code, body, tc.status, tc.code)
		}
	}
}

// TestWebhookAddressPolicy: without events.webhookAllow a webhook to
// 127.0.0.1 is refused when dialled, and the delivery log says why.
func TestWebhookAddressPolicy(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{Env: []string{"BERTH_EVENTS_POLL=50ms", "BERTH_EVENTS_BACKOFF=50ms",
		"BERTH_EVENTS_MAX_BACKOFF=100ms", "BERTH_EVENTS_MAX_ATTEMPTS=2"}})
	rc := berthtest.StartReceiver(t, "")
	out := berthtest.MustAPI(t, b, "POST", "/api/berth/v1/webhooks", map[string]any{"name": "local", "url": rc.URL}, 201)
	var hook struct{ ID int64 }
	_ = json.Unmarshal([]byte(out), &hook)
	berthtest.MustAPI(t, b, "POST", fmt.Sprintf("/api/berth/v1/webhooks/%d/test", hook.ID), nil, 202)
	path := fmt.Sprintf("/api/berth/v1/webhooks/%d/deliveries", hook.ID)
	berthtest.WaitFor(t, "the delivery given up", func() bool {
		return strings.Contains(berthtest.MustAPI(t, b, "GET", path, nil, 200), `"status":"failed"`)
	})
	if log := berthtest.MustAPI(t, b, "GET", path, nil, 200); !strings.Contains(log, "not a public address") || !strings.Contains(log, "events.webhookAllow") {
		t.Errorf("delivery log does not say the address was refused: %s", log)
	}
	if n := len(rc.Events()); n != 0 {
		t.Errorf("the receiver got %d events past the address policy", n)
	}
}

// TestAuditLog: every management action and /v2 write leaves one record,
// refused ones included; filters and paging; bad paging is 400.
func TestAuditLog(t *testing.T) {
	b := apptest.Start(t, berthtest.Options{StrictProjects: true, Env: eventsEnv})
	must := func(method, path string, body any, want int) string {
		t.Helper()
		return berthtest.MustAPI(t, b, method, path, body, want)
	}
	must("POST", "/api/berth/v1/users", map[string]any{"username": "alice", "password": pw}, 201)
	must("POST", "/api/berth/v1/projects", map[string]any{"name": "team"}, 201)
	must("PUT", "/api/berth/v1/projects/team/members/alice", map[string]string{"role": "admin"}, 200)
	must("POST", "/api/berth/v1/projects", map[string]any{"name": "team"}, 409) // refused: recorded as such
	berthtest.PushRawImage(t, b, "team/app", "v1", "amd64", berthtest.LayerBytes(3))

	type page struct {
		Total  int
		Events []struct {
			Type, Action, Result, Project, Repository, Target string
			Actor                                             struct{ Kind, Name string }
		}
	}
	get := func(user, query string, want int) page {
		t.Helper()
		code, body := berthtest.APICall(t, b, "GET", "/api/berth/v1/audit"+query, user, map[string]string{"admin": b.AdminPassword, "alice": pw}[user], nil)
		if code != want {
			t.Fatalf("GET /audit%s as %s: %d %s", query, user, code, body)
		}
		var p page
		_ = json.Unmarshal([]byte(body), &p)
		return p
	}
	all := get("admin", "?project=team", 200)
	count := map[string]int{}
	for _, e := range all.Events {
		count[e.Action+"/"+e.Result]++
	}
	for _, want := range []string{"project.create/ok", "project.create/refused", "member.set/ok", "artifact.push/ok"} {
		if count[want] != 1 {
			t.Errorf("audit records %s: %d, want 1 (%v)", want, count[want], count)
		}
	}
	if p := get("admin", "?project=team&type=member.set", 200); p.Total != 1 || p.Events[0].Target != "alice" || p.Events[0].Actor.Name != "admin" {
		t.Errorf("member.set record: %+v", p)
	}
	if p := get("admin", "?actor=nobody", 200); p.Total != 0 {
		t.Errorf("actor filter: %+v", p)
	}
	if p := get("admin", "?project=team&pageSize=1&page=2", 200); len(p.Events) != 1 || p.Total != all.Total {
		t.Errorf("page 2 of size 1: %+v (of %d)", p, all.Total)
	}
	if p := get("alice", "?project=team", 200); p.Total != all.Total {
		t.Errorf("the project's admin sees %d records, want %d", p.Total, all.Total)
	}
	get("alice", "", 403) // only system admins read everything
	get("alice", "?project=library", 403)
	for _, q := range []string{"?page=-1", "?page=0", "?page=99999999999", "?pageSize=0", "?pageSize=100000", "?from=yesterday"} {
		code, body := berthtest.APICall(t, b, "GET", "/api/berth/v1/audit"+q, "admin", b.AdminPassword, nil)
		if code != 400 || !strings.Contains(body, `"code":"INVALID"`) {
			t.Errorf("GET /audit%s: %d %s, want 400 INVALID", q, code, body)
		}
	}
}
