package builder

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
)

func TestFetcherPermits(t *testing.T) {
	allow, err := ParseFetchAllow("10.1.0.0/16, 127.0.0.2 fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		addr          string
		plain, opened bool // without fetchAllow, with the list above
	}{
		{"93.184.215.14", true, true},
		{"8.8.8.8", true, true},
		{"2606:4700:4700::1111", true, true},
		{"::ffff:8.8.8.8", true, true},
		{"127.0.0.1", false, false},
		{"127.0.0.2", false, true},
		{"::1", false, false},
		{"::ffff:127.0.0.1", false, false},
		{"0.0.0.0", false, false},
		{"0.1.2.3", false, false},
		{"::", false, false},
		{"169.254.169.254", false, false}, // cloud metadata
		{"fe80::1", false, false},
		{"10.0.0.1", false, false},
		{"10.1.2.3", false, true},
		{"172.16.5.4", false, false},
		{"192.168.1.1", false, false},
		{"100.64.0.1", false, false},
		{"198.18.0.1", false, false},
		{"224.0.0.1", false, false},
		{"255.255.255.255", false, false},
		{"fc00::1", false, false},
		{"fd12::1", false, true},
		{"64:ff9b::7f00:1", false, false}, // NAT64 of 127.0.0.1
		{"2002:7f00:1::1", false, false},  // 6to4 of 127.0.0.1
		{"ff02::1", false, false},
	}
	plain, opened := newFetcher(nil), newFetcher(allow)
	for _, tc := range cases {
		a := netip.MustParseAddr(tc.addr)
		if got := plain.permits(a); got != tc.plain {
			t.Errorf("permits(%s) = %v without fetchAllow, want %v", tc.addr, got, tc.plain)
		}
		if got := opened.permits(a); got != tc.opened {
			t.Errorf("permits(%s) = %v with fetchAllow, want %v", tc.addr, got, tc.opened)
		}
	}
}

func TestParseFetchAllow(t *testing.T) {
	cases := []struct {
		in   string
		want string // prefixes joined by spaces; "error" for an error
	}{
		{"", ""},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.9.8.7/8, 192.168.1.5", "10.0.0.0/8 192.168.1.5/32"},
		{" ::1 ,fd00::/8 ", "::1/128 fd00::/8"},
		{"::ffff:10.0.0.1", "10.0.0.1/32"},
		{"10.0.0.0/33", "error"},
		{"example.com", "error"},
		{"10.0.0.0/8;", "error"},
	}
	for _, tc := range cases {
		ps, err := ParseFetchAllow(tc.in)
		got := "error"
		if err == nil {
			var s []string
			for _, p := range ps {
				s = append(s, p.String())
			}
			got = strings.Join(s, " ")
		}
		if got != tc.want {
			t.Errorf("ParseFetchAllow(%q) = %q (%v), want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestFetcherDials checks the policy where it bites: on the address
// dialled, after DNS and on redirects, before any request is sent.
func TestFetcherDials(t *testing.T) {
	var hits atomic.Int32
	inner := newLoopbackServer(t, "127.0.0.2", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, "secret")
	}))
	outer := newLoopbackServer(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, inner.URL+"/x", http.StatusFound)
			return
		}
		io.WriteString(w, "FROM scratch\n")
	}))
	ctx := context.Background()
	get := func(f *fetcher, u string) (string, error) {
		body, err := f.get(ctx, u, 1<<20)
		if err != nil {
			return "", err
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		return string(b), err
	}

	plain := newFetcher(nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(outer.URL, "http://"))
	for _, u := range []string{outer.URL + "/Dockerfile", "http://localhost:" + port + "/Dockerfile", inner.URL + "/x"} {
		if _, err := get(plain, u); !errors.Is(err, errFetchRefused) || !strings.Contains(err.Error(), "imagebuild.fetchAllow") {
			t.Errorf("GET %s without fetchAllow = %v, want refused naming imagebuild.fetchAllow", u, err)
		}
	}

	allow, _ := ParseFetchAllow("127.0.0.1")
	opened := newFetcher(allow)
	if got, err := get(opened, outer.URL+"/Dockerfile"); err != nil || got != "FROM scratch\n" {
		t.Errorf("GET from an allowed address = %q, %v", got, err)
	}
	if _, err := get(opened, outer.URL+"/redirect"); !errors.Is(err, errFetchRefused) {
		t.Errorf("redirect to a refused address = %v, want refused", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the refused server got %d requests, want 0", n)
	}
}

func newLoopbackServer(t *testing.T, ip string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
