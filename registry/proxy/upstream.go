package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// manifestAccept is every manifest kind berth stores, asked of upstreams.
var manifestAccept = strings.Join([]string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}, ", ")

// upstream talks to one upstream registry: Basic credentials where it asks
// for them, bearer tokens (Docker Hub's way: a 401 names the token realm,
// service and scope) fetched with those credentials and kept per scope
// until they expire.
type upstream struct {
	base   string // scheme://host[:port]
	user   string
	secret string
	client *http.Client
	mu     sync.Mutex
	basic  bool             // the upstream asked for Basic credentials
	tokens map[string]token // scope → token
}

type token struct {
	value string
	until time.Time
}

func newUpstream(base, user, secret string, client *http.Client) *upstream {
	return &upstream{base: strings.TrimRight(base, "/"), user: user, secret: secret, client: client, tokens: map[string]token{}}
}

// errStatus is an answer of the upstream that is not what was asked for.
type errStatus struct {
	status int
	url    string
}

func (e *errStatus) Error() string {
	return fmt.Sprintf("upstream answered %d for %s", e.status, e.url)
}

// unavailable reports whether err means the upstream could not answer
// (unreachable, timed out, 5xx, rate-limited): cached content is served then.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	if es, ok := err.(*errStatus); ok {
		return es.status >= 500 || es.status == http.StatusTooManyRequests
	}
	return true
}

// do sends method to path (under /v2/) for scope (e.g.
// "repository:library/alpine:pull"), answering a challenge once.
func (u *upstream) do(ctx context.Context, method, path, scope string, hdr http.Header) (*http.Response, error) {
	resp, err := u.send(ctx, method, path, scope, hdr)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	drain(resp)
	scheme, params := parseChallenge(challenge)
	switch scheme {
	case "basic":
		if u.user == "" {
			return nil, fmt.Errorf("upstream %s wants credentials and none are configured", u.base)
		}
		u.mu.Lock()
		u.basic = true
		u.mu.Unlock()
	case "bearer":
		if params["scope"] != "" {
			scope = params["scope"]
		}
		if err := u.fetchToken(ctx, params["realm"], params["service"], scope); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("upstream %s: unsupported authentication challenge %q", u.base, challenge)
	}
	resp, err = u.send(ctx, method, path, scope, hdr)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		drain(resp)
		return nil, fmt.Errorf("upstream %s refused the configured credentials", u.base)
	}
	return resp, err
}

func (u *upstream) send(ctx context.Context, method, path, scope string, hdr http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.base+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	u.mu.Lock()
	t, ok := u.tokens[scope]
	basic := u.basic
	u.mu.Unlock()
	switch {
	case ok && time.Now().Before(t.until):
		req.Header.Set("Authorization", "Bearer "+t.value)
	case basic:
		req.SetBasicAuth(u.user, u.secret)
	}
	return u.client.Do(req)
}

// fetchToken gets a token for scope from realm (with the configured
// credentials, if any) and keeps it.
func (u *upstream) fetchToken(ctx context.Context, realm, service, scope string) error {
	ru, err := url.Parse(realm)
	if err != nil || (ru.Scheme != "http" && ru.Scheme != "https") {
		return fmt.Errorf("upstream %s: bad token realm %q", u.base, realm)
	}
	q := ru.Query()
	if service != "" {
		q.Set("service", service)
	}
	if scope != "" {
		q.Set("scope", scope)
	}
	ru.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ru.String(), nil)
	if err != nil {
		return err
	}
	if u.user != "" {
		req.SetBasicAuth(u.user, u.secret)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream token: %w", err)
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("upstream %s refused the configured credentials (token service answered %d)", u.base, resp.StatusCode)
		}
		return &errStatus{status: resp.StatusCode, url: realm}
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return fmt.Errorf("upstream token: %w", err)
	}
	tok := body.Token
	if tok == "" {
		tok = body.AccessToken
	}
	if tok == "" {
		return fmt.Errorf("upstream %s: the token service answered no token", u.base)
	}
	ttl := time.Duration(body.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 60 * time.Second
	}
	ttl -= ttl / 10 // renewed before it expires
	u.mu.Lock()
	if len(u.tokens) > 1024 {
		u.tokens = map[string]token{}
	}
	u.tokens[scope] = token{value: tok, until: time.Now().Add(ttl)}
	u.mu.Unlock()
	return nil
}

// parseChallenge splits a WWW-Authenticate value into its scheme (lower
// case) and parameters.
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.Index(after[1:], `"`)
			if end < 0 {
				val, after = after[1:], ""
			} else {
				val, after = after[1:1+end], after[2+end:]
			}
		} else {
			val, after, _ = strings.Cut(after, ",")
			after = "," + after
		}
		params[key] = val
		after = strings.TrimSpace(after)
		rest = strings.TrimSpace(strings.TrimPrefix(after, ","))
	}
	return strings.ToLower(scheme), params
}

// drain reads what is left of a small body and closes it, so the
// connection is reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}

// ping checks that the upstream answers the registry API with the
// configured credentials.
func (u *upstream) ping(ctx context.Context) error {
	resp, err := u.do(ctx, http.MethodGet, "/v2/", "", nil)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return &errStatus{status: resp.StatusCode, url: u.base + "/v2/"}
	}
	return nil
}
