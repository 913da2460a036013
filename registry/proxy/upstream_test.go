package proxy

import (
	"errors"
	"maps"
	"net/http"
	"testing"
)

func TestParseChallenge(t *testing.T) {
	cases := []struct {
		in     string
		scheme string
		params map[string]string
	}{
		{`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"`, "bearer",
			map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull"}},
		{`Basic realm="upstream"`, "basic", map[string]string{"realm": "upstream"}},
		{`bearer realm=http://127.0.0.1:5000/service/token, service=berth`, "bearer",
			map[string]string{"realm": "http://127.0.0.1:5000/service/token", "service": "berth"}},
		{`Bearer realm="r",scope="repository:a/b:pull,push"`, "bearer", map[string]string{"realm": "r", "scope": "repository:a/b:pull,push"}},
		{``, "", map[string]string{}},
	}
	for _, c := range cases {
		scheme, params := parseChallenge(c.in)
		if scheme != c.scheme || !maps.Equal(params, c.params) {
			t.Errorf("parseChallenge(%q) = %q %v, want %q %v", c.in, scheme, params, c.scheme, c.params)
		}
	}
}

func TestUnavailable(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("dial tcp: connection refused"), true},
		{&errStatus{status: http.StatusServiceUnavailable}, true},
		{&errStatus{status: http.StatusTooManyRequests}, true},
		{&errStatus{status: http.StatusNotFound}, false},
		{&errStatus{status: http.StatusForbidden}, false},
	}
	for _, c := range cases {
		if got := unavailable(c.err); got != c.want {
			t.Errorf("unavailable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestUpstreamName(t *testing.T) {
	cases := []struct{ ns, repo, want string }{
		{"", "hub/library/alpine", "library/alpine"},
		{"library/", "hub/alpine", "library/alpine"},
		{"team/sub/", "p/a/b", "team/sub/a/b"},
	}
	for _, c := range cases {
		b := &binding{}
		b.Namespace = c.ns
		if got := b.upstreamName(c.repo); got != c.want {
			t.Errorf("upstreamName(%q, %q) = %q, want %q", c.ns, c.repo, got, c.want)
		}
	}
}
