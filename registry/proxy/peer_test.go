package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// A relay request is answered only when it is signed with the shared
// secret for that blob and still valid; everything else is 404, the same
// answer as for a blob not in flight, so the endpoint tells nothing.
func TestServePeerRefuses(t *testing.T) {
	s := &Service{secret: "0123456789abcdef0123456789abcdef", flights: flights{m: map[string]*flight{}}}
	dgst := digest.FromString("blob")
	valid := strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	past := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	other := &Service{secret: "another secret, another cluster.."}
	for _, c := range []struct {
		name, method, repo, digest, exp, mac string
	}{
		{"not in flight", http.MethodGet, "hub/a", dgst.String(), valid, s.peerMAC("hub/a", dgst, valid)},
		{"no signature", http.MethodGet, "hub/a", dgst.String(), valid, ""},
		{"another secret", http.MethodGet, "hub/a", dgst.String(), valid, other.peerMAC("hub/a", dgst, valid)},
		{"signed for another blob", http.MethodGet, "hub/b", dgst.String(), valid, s.peerMAC("hub/a", dgst, valid)},
		{"expired", http.MethodGet, "hub/a", dgst.String(), past, s.peerMAC("hub/a", dgst, past)},
		{"expiry changed", http.MethodGet, "hub/a", dgst.String(), valid, s.peerMAC("hub/a", dgst, past)},
		{"bad expiry", http.MethodGet, "hub/a", dgst.String(), "soon", s.peerMAC("hub/a", dgst, "soon")},
		{"bad digest", http.MethodGet, "hub/a", "sha256:../../etc", valid, s.peerMAC("hub/a", dgst, valid)},
		{"not a GET", http.MethodDelete, "hub/a", dgst.String(), valid, s.peerMAC("hub/a", dgst, valid)},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{"repo": {c.repo}, "digest": {c.digest}, "exp": {c.exp}}
			r := httptest.NewRequest(c.method, PeerPath+"?"+q.Encode(), nil)
			r.Header.Set(peerHeader, c.mac)
			w := httptest.NewRecorder()
			if !s.ServePeer(w, r) {
				t.Fatal("ServePeer did not take its own path")
			}
			if w.Code != http.StatusNotFound {
				t.Fatalf("status %d, want 404", w.Code)
			}
		})
	}
	w := httptest.NewRecorder()
	if s.ServePeer(w, httptest.NewRequest(http.MethodGet, "/v2/hub/a/blobs/"+dgst.String(), nil)) {
		t.Fatal("ServePeer took a /v2 request")
	}
}

func TestPeerAddresses(t *testing.T) {
	for _, c := range []struct{ holder, want string }{
		{"owner-1 http://127.0.0.1:5000", "http://127.0.0.1:5000"},
		{"owner-1 https://127.0.0.1:5443", "https://127.0.0.1:5443"},
		{"owner-1", ""},
		{"owner-1 file:///etc/passwd", ""},
		{"", ""},
	} {
		if got := peerOf(c.holder); got != c.want {
			t.Errorf("peerOf(%q) = %q, want %q", c.holder, got, c.want)
		}
	}
	s := &Service{owner: "owner-1", secret: "s"}
	if got := s.holder(); got != "owner-1" {
		t.Errorf("holder without an address = %q", got)
	}
	s.SetPeer("http://127.0.0.1:5000/")
	if got := s.holder(); got != "owner-1 http://127.0.0.1:5000" {
		t.Errorf("holder = %q", got)
	}
}
