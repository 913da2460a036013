package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/berth-registry/berth/registry/netguard"
)

// fetcher downloads what definitions name by URL: a download definition's
// Dockerfile, a source archive, ADD URLs and the Preview plugin call. Any
// user who may save a definition chooses those URLs, so berth must not
// become their way into its own network: a connection goes only to a public
// address, or to one in imagebuild.fetchAllow. The check runs on the
// address actually dialled (after DNS, for every redirect), so a name that
// resolves to 127.0.0.1 or to a cloud metadata endpoint is refused as well.
// With an HTTP proxy in the environment the proxy is what is dialled and
// checked; it then decides where requests go.
type fetcher struct {
	allow  []netip.Prefix
	client *http.Client
}

// errFetchRefused marks a download refused by the address policy.
var errFetchRefused = netguard.ErrRefused

// ParseFetchAllow parses imagebuild.fetchAllow: CIDR prefixes or single
// addresses, separated by commas or spaces.
func ParseFetchAllow(s string) ([]netip.Prefix, error) { return netguard.ParseAllow(s) }

func newFetcher(allow []netip.Prefix) *fetcher {
	f := &fetcher{allow: allow}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: f.control}
	f.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          8,
			IdleConnTimeout:       30 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL", req.URL.Scheme)
			}
			return nil
		},
	}
	return f
}

// permits reports whether a download may connect to a.
func (f *fetcher) permits(a netip.Addr) bool { return f.policy().Permits(a) }

func (f *fetcher) policy() netguard.Policy {
	return netguard.Policy{Allow: f.allow, Key: "imagebuild.fetchAllow"}
}

// control runs on every connection the fetcher's dialer opens, with the
// address about to be dialled.
func (f *fetcher) control(network, address string, c syscall.RawConn) error {
	return f.policy().Control(network, address, c)
}

// get GETs an http(s) URL and returns its body, refusing more than max
// bytes.
func (f *fetcher) get(ctx context.Context, rawURL string, max int64) (io.ReadCloser, error) {
	if err := checkURL(rawURL); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("download %s: %s", rawURL, resp.Status)
	}
	if resp.ContentLength > max {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("download %s: %d bytes, over the %d-byte limit", rawURL, resp.ContentLength, max)
	}
	return &limitedBody{r: io.LimitReader(resp.Body, max+1), c: resp.Body, max: max, url: rawURL, cancel: cancel}, nil
}

type limitedBody struct {
	r      io.Reader
	c      io.Closer
	n, max int64
	url    string
	cancel context.CancelFunc
}

func (l *limitedBody) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, fmt.Errorf("download %s: over the %d-byte limit", l.url, l.max)
	}
	return n, err
}

func (l *limitedBody) Close() error { l.cancel(); return l.c.Close() }
