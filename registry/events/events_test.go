package events

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/storage/metadata"
)

func TestBackoff(t *testing.T) {
	s := &Service{cfg: Config{Backoff: time.Second, MaxBackoff: 10 * time.Second}}
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {4, 8 * time.Second}, {5, 10 * time.Second}, {50, 10 * time.Second}} {
		if got := s.backoff(tc.attempt); got != tc.want {
			t.Errorf("backoff(%d) = %v, want %v", tc.attempt, got, tc.want)
		}
	}
}

func TestSignVerify(t *testing.T) {
	body := []byte(`{"specversion":"1.0"}`)
	sig := Sign("k", body)
	// Known answer: HMAC-SHA256("k", body), computed independently
	// (Python's hmac module).
	if sig != "sha256=2eb4d0aa7b8e354b2e7b09a340ab5072c4ae9d0fd4c2494b0883457aad3bf166" {
		t.Fatalf("signature %q", sig)
	}
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		want                 bool
	}{
		{"good", "k", sig, body, true},
		{"other secret", "K", sig, body, false},
		{"other body", "k", sig, []byte(`{}`), false},
		{"no prefix", "k", strings.TrimPrefix(sig, "sha256="), body, false},
		{"empty", "k", "", body, false},
	} {
		if got := Verify(tc.secret, tc.body, tc.header); got != tc.want {
			t.Errorf("%s: Verify = %v", tc.name, got)
		}
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    metadata.Webhook
		ok   bool
	}{
		{"plain", metadata.Webhook{Name: "a", URL: "https://hooks.example/x"}, true},
		{"types", metadata.Webhook{Name: "a", URL: "http://h/x", Types: []string{"artifact.push", "artifact."}}, true},
		{"no name", metadata.Webhook{URL: "https://h/x"}, false},
		{"ftp", metadata.Webhook{Name: "a", URL: "ftp://h/x"}, false},
		{"no host", metadata.Webhook{Name: "a", URL: "http:///x"}, false},
		{"credentials", metadata.Webhook{Name: "a", URL: "https://u:p@h/x"}, false},
		{"unknown type", metadata.Webhook{Name: "a", URL: "https://h/x", Types: []string{"artifact.pushed"}}, false},
		{"unknown family", metadata.Webhook{Name: "a", URL: "https://h/x", Types: []string{"nothing."}}, false},
		{"long url", metadata.Webhook{Name: "a", URL: "https://h/" + strings.Repeat("x", maxURL)}, false},
	} {
		if err := Check(tc.w); (err == nil) != tc.ok {
			t.Errorf("%s: Check = %v", tc.name, err)
		}
	}
}

func TestCloudEventSubject(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		e    metadata.Event
		want string
	}{
		{metadata.Event{Type: "artifact.push", Repository: "p/r", Tag: "v1", Digest: "sha256:x"}, "p/r:v1"},
		{metadata.Event{Type: "artifact.delete", Repository: "p/r", Digest: "sha256:x"}, "p/r@sha256:x"},
		{metadata.Event{Type: "project.create", Project: "p"}, "p"},
		{metadata.Event{Type: "user.create", Target: "alice"}, "alice"},
	} {
		tc.e.At, tc.e.ID, tc.e.Data = at, "id-1", `{"count":2}`
		ce := ToCloudEvent(tc.e, "/berth")
		if ce.Subject != tc.want || ce.Type != "io.berth."+tc.e.Type || ce.SpecVersion != "1.0" || ce.Time != "2026-01-02T03:04:05Z" ||
			ce.Data.Details["count"] != 2.0 {
			t.Errorf("%s: %+v", tc.e.Type, ce)
		}
	}
}
