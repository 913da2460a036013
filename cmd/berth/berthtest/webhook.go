package berthtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// CloudEvent is what a webhook receives, decoded as a receiver would from
// README's description (not from berth's own types).
type CloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            struct {
		Action string `json:"action"`
		Actor  struct {
			Kind string `json:"kind"`
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"actor"`
		ClientAddr string         `json:"clientAddr"`
		UserAgent  string         `json:"userAgent"`
		RequestID  string         `json:"requestId"`
		Project    string         `json:"project"`
		Repository string         `json:"repository"`
		Tag        string         `json:"tag"`
		Digest     string         `json:"digest"`
		MediaType  string         `json:"mediaType"`
		Size       int64          `json:"size"`
		Target     string         `json:"target"`
		Result     string         `json:"result"`
		Details    map[string]any `json:"details"`
	} `json:"data"`
}

// The headers of a delivery (README, "Events and webhooks").
const (
	signatureHeader = "X-Berth-Signature-256"
	cloudEventsType = "application/cloudevents+json"
)

// verify checks a signature header the way README tells receivers to.
func verify(secret string, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal([]byte(got), []byte(hex.EncodeToString(m.Sum(nil))))
}

// Receiver is a webhook receiver on loopback (httptest) that keeps every
// CloudEvent posted to it and checks each signature with its secret.
type Receiver struct {
	URL    string
	secret string
	mu     sync.Mutex
	events []CloudEvent
	seen   map[string]int // event id: deliveries
	bad    []string       // what was wrong with refused posts
	down   bool
	delay  time.Duration
}

// StartReceiver starts a receiver checking signatures with secret ("":
// none expected); it stops when the test ends.
func StartReceiver(t testing.TB, secret string) *Receiver {
	t.Helper()
	rc := &Receiver{secret: secret, seen: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL + "/hook"
	return rc
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	delay := rc.delay
	rc.mu.Unlock()
	time.Sleep(delay)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	sig := r.Header.Get(signatureHeader)
	switch {
	case r.Method != http.MethodPost || r.Header.Get("Content-Type") != cloudEventsType:
		rc.bad = append(rc.bad, "method or content type: "+r.Method+" "+r.Header.Get("Content-Type"))
	case rc.secret != "" && !verify(rc.secret, body, sig):
		rc.bad = append(rc.bad, "signature "+sig+" does not verify")
	case rc.secret == "" && sig != "":
		rc.bad = append(rc.bad, "signature without a secret")
	default:
		var ce CloudEvent
		if err := json.Unmarshal(body, &ce); err != nil || ce.SpecVersion != "1.0" || ce.ID == "" {
			rc.bad = append(rc.bad, "not a CloudEvent: "+string(body))
			break
		}
		rc.seen[ce.ID]++
		if rc.seen[ce.ID] == 1 {
			rc.events = append(rc.events, ce)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Error(w, "refused", http.StatusBadRequest)
}

// SetDown makes the receiver answer 503 (true) or accept again (false).
func (rc *Receiver) SetDown(down bool) {
	rc.mu.Lock()
	rc.down = down
	rc.mu.Unlock()
}

// SetDelay makes the receiver take d before it answers each post.
func (rc *Receiver) SetDelay(d time.Duration) {
	rc.mu.Lock()
	rc.delay = d
	rc.mu.Unlock()
}

// Duplicates is how many posts repeated an event already received.
func (rc *Receiver) Duplicates() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, c := range rc.seen {
		n += c - 1
	}
	return n
}

// Events are the distinct events received, in arrival order.
func (rc *Receiver) Events() []CloudEvent {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]CloudEvent(nil), rc.events...)
}

// Of are the events received of one type (its action: "artifact.push").
func (rc *Receiver) Of(action string) []CloudEvent {
	var out []CloudEvent
	for _, e := range rc.Events() {
		if e.Data.Action == action {
			out = append(out, e)
		}
	}
	return out
}

// Bad lists refused posts (wrong signature, not a CloudEvent).
func (rc *Receiver) Bad() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bad...)
}
