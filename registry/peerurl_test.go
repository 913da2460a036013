package registry

import (
	"net"
	"os"
	"testing"
)

func TestPeerURL(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Skip("no host name here")
	}
	for _, c := range []struct {
		addr string
		tls  bool
		want string
	}{
		{"127.0.0.1:5000", false, "http://127.0.0.1:5000"},
		{"127.0.0.1:5443", true, "https://127.0.0.1:5443"},
		{"[::1]:5000", false, "http://[::1]:5000"},
		{"0.0.0.0:5000", false, "http://" + net.JoinHostPort(host, "5000")},
		{"[::]:5000", false, "http://" + net.JoinHostPort(host, "5000")},
		{":5000", false, "http://" + net.JoinHostPort(host, "5000")},
		{"127.0.0.1:0", false, ""},
		{"no port", false, ""},
	} {
		if got := peerURL(c.addr, c.tls); got != c.want {
			t.Errorf("peerURL(%q, %v) = %q, want %q", c.addr, c.tls, got, c.want)
		}
	}
}
