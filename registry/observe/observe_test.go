package observe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestNewRequestID(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9a-f]{24}$`)
	seen := map[string]bool{}
	for range 100000 {
		id := NewRequestID()
		if !shape.MatchString(id) {
			t.Fatalf("request id %q: want 24 hex digits", id)
		}
		if seen[id] {
			t.Fatalf("request id %q twice", id)
		}
		seen[id] = true
	}
}

func BenchmarkNewRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewRequestID()
	}
}

// lines decodes JSON log lines.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(buf)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&buf, nil))).With("dialect", "x")
	if Logger(log) != log {
		t.Error("Logger wrapped a logger twice")
	}
	ctx := WithRequest(context.Background(), "id-1")
	log.InfoContext(context.Background(), "outside")
	log.InfoContext(ctx, "before")
	SetUser(ctx, "alice")
	log.InfoContext(ctx, "after", "k", "v")
	SetUser(context.Background(), "nobody") // no request: nothing to name
	before := buf.Len()
	log.LogAttrs(ctx, slog.LevelInfo, "named", slog.String(KeyRequestID, "id-1"), slog.String(KeyUser, "alice"))
	if line := buf.String()[before:]; strings.Count(line, `"request_id"`) != 1 || strings.Count(line, `"user"`) != 1 {
		t.Errorf("a line naming both got them again: %s", line)
	}
	buf.Truncate(before)
	got := lines(t, &buf)
	want := []map[string]any{
		{"msg": "outside", "dialect": "x"},
		{"msg": "before", "dialect": "x", "request_id": "id-1"},
		{"msg": "after", "dialect": "x", "request_id": "id-1", "user": "alice", "k": "v"},
	}
	if len(got) != len(want) {
		t.Fatalf("lines: %v", got)
	}
	for i, w := range want {
		for k, v := range w {
			if got[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, got[i][k], v, got[i])
			}
		}
		for _, k := range []string{"request_id", "user"} {
			if _, ok := w[k]; !ok && got[i][k] != nil {
				t.Errorf("line %d has %s: %v", i, k, got[i])
			}
		}
	}
	if RequestID(ctx) != "id-1" || User(ctx) != "alice" || RequestID(context.Background()) != "" || User(context.Background()) != "" {
		t.Error("RequestID/User")
	}
}

func TestAudit(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	ctx := WithRequest(context.Background(), "id-2")
	SetUser(ctx, "alice")
	Audit(ctx, log, Event{Action: TagDelete, Actor: Actor{Kind: "app", ID: 7, Name: "alice"},
		Project: "p", Repository: "p/r", Tag: "v1", Result: ResultOK, RequestID: "id-2"})
	if n := bytes.Count(buf.Bytes(), []byte(`"request_id"`)); n != 1 {
		t.Errorf("request_id %d times: %s", n, buf.String())
	}
	got := lines(t, &buf)
	if len(got) != 1 {
		t.Fatalf("lines: %v", got)
	}
	l := got[0]
	actor, _ := l["actor"].(map[string]any)
	if l["msg"] != "audit" || l["action"] != "tag.delete" || l["project"] != "p" || l["repository"] != "p/r" || l["tag"] != "v1" ||
		l["result"] != "ok" || l["request_id"] != "id-2" || l["user"] != "alice" || l["digest"] != nil ||
		actor["kind"] != "app" || actor["id"] != 7.0 || actor["name"] != "alice" {
		t.Errorf("audit line: %v", l)
	}
}

func TestUmbrella(t *testing.T) {
	ctx, end := WithUmbrella(context.Background(), "repository.delete")
	if inner, innerEnd := WithUmbrella(ctx, "tag.delete"); inner != ctx {
		t.Fatal("an inner umbrella replaced the outer one")
	} else {
		innerEnd() // ends nothing: the outer one stays open
	}
	u := UmbrellaOf(ctx)
	if u == nil {
		t.Fatal("no open umbrella")
	}
	steps := []struct {
		typ           string
		tags, digests []string
		record        bool
		wantTags      []string
		wantDigests   []string
	}{
		{"tag.delete", []string{"v1"}, []string{"sha256:a"}, false, nil, nil},
		{"tag.delete", []string{"v2"}, []string{"sha256:a"}, false, nil, nil},
		{"artifact.delete", []string{"v1"}, []string{"sha256:a", "sha256:b"}, false, nil, nil},
		{"repository.delete", nil, nil, true, []string{"v1", "v2"}, []string{"sha256:a", "sha256:b"}},
		{"repository.delete", nil, nil, false, nil, nil}, // one record only
	}
	for i, s := range steps {
		record, f := u.Take(s.typ, s.tags, s.digests)
		if record != s.record || !slices.Equal(f.Tags, s.wantTags) || !slices.Equal(f.Digests, s.wantDigests) || f.Truncated {
			t.Errorf("step %d (%s): record %v folded %+v, want %v %v %v", i, s.typ, record, f, s.record, s.wantTags, s.wantDigests)
		}
	}
	if !u.Written() {
		t.Error("the record was written")
	}
	end()
	if UmbrellaOf(ctx) != nil {
		t.Error("an ended umbrella still folds")
	}
	if f := FoldedOf(ctx, "repository.delete"); len(f.Tags) != 2 {
		t.Errorf("an ended umbrella forgot what it folded: %+v", f)
	}
	if f := FoldedOf(ctx, "project.create"); len(f.Tags) != 0 {
		t.Errorf("another action's record names what the umbrella folded: %+v", f)
	}
	// Within a request the umbrella is the request's, seen from any of its
	// contexts, and ends the same way.
	req := WithRequest(context.Background(), "r1")
	inner, endReq := WithUmbrella(context.WithValue(req, otherKey{}, 1), "repository.delete")
	if UmbrellaOf(req) == nil || UmbrellaOf(inner) != UmbrellaOf(req) {
		t.Error("the request's umbrella is not seen from its other contexts")
	}
	endReq()
	if UmbrellaOf(req) != nil {
		t.Error("a request's ended umbrella still folds")
	}
	if UmbrellaOf(context.Background()) != nil {
		t.Error("an umbrella out of nothing")
	}
}

type otherKey struct{}

// TestUmbrellaBounded: a record names MaxFolded tags at most, and says it
// could not name them all.
func TestUmbrellaBounded(t *testing.T) {
	ctx, end := WithUmbrella(context.Background(), "repository.delete")
	defer end()
	u := UmbrellaOf(ctx)
	for i := range MaxFolded + 10 {
		u.Take("tag.delete", []string{fmt.Sprintf("t%d", i), "t0"}, []string{"sha256:a"})
	}
	record, f := u.Take("repository.delete", nil, nil)
	if !record || len(f.Tags) != MaxFolded || !f.Truncated || len(f.Digests) != 1 {
		t.Errorf("record %v, %d tags, truncated %v, digests %v", record, len(f.Tags), f.Truncated, f.Digests)
	}
}
