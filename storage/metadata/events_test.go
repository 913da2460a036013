package metadata

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The outbox: a change's event is written by its transaction, stamped by
// the hooks, and exists only when the change committed.
func TestEventOutbox(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		committed := 0
		db.SetEventHooks(EventHooks{
			Stamp:     func(_ context.Context, e *Event) { e.ActorKind, e.ActorName = "user", "alice" },
			Committed: func(context.Context) { committed++ },
		})
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		_, _, err := db.PushManifest(ctx, p.ID, "p/app", Artifact{Digest: "sha256:m1", MediaType: "application/vnd.oci.image.manifest.v1+json",
			ManifestSize: 100, Size: 100, Blobs: []Blob{{Digest: "sha256:m1", Size: 100}}}, "v1", "test")
		if err != nil {
			t.Fatal(err)
		}
		// A tag move a guard refuses rolls back: no event for it.
		pushImage(t, db, p.ID, "p/app", "sha256:m2", "")
		guarded := WithTagGuard(ctx, func(repo, tag string) error { return errors.New("immutable") })
		if _, err := db.MoveTag(guarded, "p/app", "v1", "sha256:m2", "test", time.Now()); err == nil {
			t.Fatal("the guard did not refuse the move")
		}
		if _, err := db.RemoveTag(ctx, "p/app", "v1", "test"); err != nil {
			t.Fatal(err)
		}
		evs, total, err := db.Events(ctx, EventFilter{Project: "p"}, ListOptions{})
		if err != nil || total != 3 || len(evs) != 3 {
			t.Fatalf("events: %d %+v %v", total, evs, err)
		}
		// Newest first.
		if evs[0].Type != EventTagDelete || evs[0].Digest != "sha256:m1" || evs[1].Type != EventArtifactPush || evs[1].Tag != "v1" ||
			evs[1].Size != 100 || evs[1].ActorName != "alice" || evs[2].Type != EventProjectCreate || !evs[1].Deliver || evs[1].ID == "" {
			t.Errorf("events: %+v", evs)
		}
		if committed != 3 {
			t.Errorf("Committed ran %d times, want 3", committed)
		}
		for _, tc := range []struct {
			f    EventFilter
			want int64
		}{
			{EventFilter{Type: "artifact."}, 1},
			{EventFilter{Type: "tag.delete"}, 1},
			{EventFilter{Actor: "bob"}, 0},
			{EventFilter{Projects: []string{"q"}}, 0},
			{EventFilter{Projects: []string{}}, 0},
			{EventFilter{From: time.Now().Add(time.Hour)}, 0},
			{EventFilter{To: time.Now().Add(time.Hour), Repository: "p/app"}, 2},
		} {
			if _, n, err := db.Events(ctx, tc.f, ListOptions{}); err != nil || n != tc.want {
				t.Errorf("filter %+v: %d (%v), want %d", tc.f, n, err, tc.want)
			}
		}
	})
}

// Deliveries: events go to the webhooks that want them; a webhook's
// deliveries of one repository go one at a time in order; a claimed one
// is held by its lease; old ones are pruned.
func TestWebhookDeliveries(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[Project](t)(db.CreateProject(ctx, Project{Name: "p"}))
		q := must[Project](t)(db.CreateProject(ctx, Project{Name: "q"}))
		all := must[Webhook](t)(db.CreateWebhook(ctx, Webhook{Name: "all", URL: "http://h/", Enabled: true}))
		pushes := must[Webhook](t)(db.CreateWebhook(ctx, Webhook{ProjectID: p.ID, Name: "p", URL: "http://h/p", Types: []string{"artifact."}, Enabled: true}))
		qs := must[Webhook](t)(db.CreateWebhook(ctx, Webhook{ProjectID: q.ID, Name: "q", URL: "http://h/q", Enabled: true}))
		must[Webhook](t)(db.CreateWebhook(ctx, Webhook{Name: "off", URL: "http://h/off", Enabled: false}))
		for _, tag := range []string{"a", "b"} {
			must[Event](t)(db.RecordEvent(ctx, Event{Type: EventArtifactPush, Repository: "p/app", Tag: tag, Deliver: true}))
		}
		must[Event](t)(db.RecordEvent(ctx, Event{Type: "project.update", Project: "p", Result: "refused"})) // audit only
		if n, _ := db.EventBacklog(ctx); n != 4 {
			t.Errorf("backlog %d before dispatching, want 4", n)
		}
		if pending, err := db.EventsPending(ctx); !pending || err != nil {
			t.Errorf("EventsPending = %v, %v before dispatching", pending, err)
		}
		evs, err := db.DispatchEvents(ctx, 3, func(e Event) (string, error) { return e.Type + ":" + e.Tag, nil })
		if err != nil || len(evs) != 3 {
			t.Fatalf("dispatched %d (%v), want the 3 asked for", len(evs), err)
		}
		if n, _ := db.EventBacklog(ctx); n != 1 {
			t.Errorf("backlog %d after dispatching 3 of 4", n)
		}
		more, err := db.DispatchEvents(ctx, 100, func(e Event) (string, error) { return e.Type + ":" + e.Tag, nil })
		// The two project.create events, then the two pushes.
		if evs = append(evs, more...); err != nil || len(evs) != 4 {
			t.Fatalf("dispatched %d (%v)", len(evs), err)
		}
		if n, _ := db.EventBacklog(ctx); n != 0 {
			t.Errorf("backlog %d after dispatching", n)
		}
		if pending, err := db.EventsPending(ctx); pending || err != nil {
			t.Errorf("EventsPending = %v, %v after dispatching", pending, err)
		}
		ds := must[[]Delivery](t)(db.ClaimDeliveries(ctx, "w1", time.Minute, 100))
		got := map[int64][]string{}
		for _, d := range ds {
			got[d.WebhookID] = append(got[d.WebhookID], d.Payload)
		}
		// Global: project.create p and q (keys p, q), push a (key p/app; b waits).
		// p's: push a only. q's: its own project.create, nothing of p's.
		if len(got[all.ID]) != 3 || len(got[pushes.ID]) != 1 || got[pushes.ID][0] != "artifact.push:a" || len(got[qs.ID]) != 1 ||
			got[qs.ID][0] != "project.create:" || len(ds) != 5 {
			t.Fatalf("claimed %v", got)
		}
		if again := must[[]Delivery](t)(db.ClaimDeliveries(ctx, "w2", time.Minute, 100)); len(again) != 0 {
			t.Fatalf("a second worker claimed leased or blocked deliveries: %+v", again)
		}
		var first Delivery
		for _, d := range ds {
			if d.WebhookID == pushes.ID {
				first = d
			}
		}
		must0(t, db.FinishAttempt(ctx, first, Attempt{Attempt: 1, At: time.Now(), Error: "refused"}, DeliveryPending, time.Now().Add(time.Hour)))
		if again := must[[]Delivery](t)(db.ClaimDeliveries(ctx, "w2", time.Minute, 100)); len(again) != 0 {
			t.Fatalf("b went out before a was delivered: %+v", again)
		}
		must0(t, db.FinishAttempt(ctx, first, Attempt{Attempt: 2, At: time.Now(), StatusCode: 204}, DeliveryDelivered, time.Now()))
		next := must[[]Delivery](t)(db.ClaimDeliveries(ctx, "w2", time.Minute, 100))
		if len(next) != 1 || next[0].Payload != "artifact.push:b" || next[0].URL != "http://h/p" {
			t.Fatalf("after a: %+v", next)
		}
		log := must[[]Delivery](t)(db.DeliveryLog(ctx, pushes.ID, 0, 10))
		if len(log) != 2 || log[1].Status != DeliveryDelivered || len(log[1].Log) != 2 || log[1].Log[1].StatusCode != 204 {
			t.Errorf("delivery log: %+v", log)
		}
		if n := must[int64](t)(db.PruneDeliveries(ctx, time.Now().Add(time.Minute), 100)); n != 1 {
			t.Errorf("pruned %d deliveries, want the delivered one", n)
		}
		if n := must[int64](t)(db.PruneEvents(ctx, time.Now().Add(time.Minute), 100)); n != 5 {
			t.Errorf("pruned %d events, want 5", n)
		}
		must0(t, db.DeleteWebhook(ctx, pushes.ID))
		if _, err := db.GetWebhook(ctx, pushes.ID); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted webhook: %v", err)
		}
	})
}

// A build that finishes is an event naming the image it pushed and who
// started it; its earlier updates are not.
func TestBuildFinishEvent(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := context.Background()
		p := must[BuildProject](t)(db.CreateBuildProject(ctx, BuildProject{Name: "web", Cluster: "library"}))
		b := must[Build](t)(db.CreateBuild(ctx, Build{ProjectID: p.ID, Tag: "v1", Operator: "bob", Image: "library/web:v1"}))
		b.StartedAt = time.Now()
		must0(t, db.UpdateBuild(ctx, b))
		b.FinishedAt, b.State, b.Digest = time.Now(), 2, "sha256:d"
		must0(t, db.UpdateBuild(ctx, b))
		evs, total, err := db.Events(ctx, EventFilter{Type: EventBuildFinish}, ListOptions{})
		if err != nil || total != 1 || evs[0].Repository != "library/web" || evs[0].Tag != "v1" || evs[0].Digest != "sha256:d" ||
			evs[0].ActorName != "bob" || evs[0].Project != "library" {
			t.Fatalf("build events: %d %+v %v", total, evs, err)
		}
	})
}

// The outbox's queries read its partial index (migration 021), not every
// event: on SQLite by its plan (PostgreSQL's depends on its statistics;
// the retention benchmark measures it).
func TestOutboxReadsItsIndex(t *testing.T) {
	db := openTestDB(t, "sqlite")
	for _, tc := range []struct {
		name, query string
		args        []any
	}{
		{"first pending", outboxFirst, nil},
		{"page to hand out", outboxPage, []any{100}},
		{"backlog", `SELECT count(*) FROM events WHERE pending`, nil},
	} {
		if plan := explain(t, db, tc.query, tc.args...); len(plan) != 1 || !strings.Contains(plan[0], "USING") || !strings.Contains(plan[0], "INDEX events_outbox") {
			t.Errorf("%s: plan %q, want a read of events_outbox alone", tc.name, plan)
		}
	}
}
