package auth

import (
	"sync"
	"time"
)

// maxVerifiedTokens bounds verifiedTokens; a token is a few hundred bytes.
const maxVerifiedTokens = 4096

// verifiedTokens remembers the claims of tokens whose signature verified, so
// the requests of one push or pull (a client reuses its token for every
// blob) pay for the Ed25519 check once. Only a signature and parse result is
// kept, a pure function of the token's bytes and the key: expiry and
// not-before are still checked on every use, and who the subject is (and
// whether they are still enabled) is still read per request. When full, it
// starts over: tokens live minutes, so no eviction order is worth keeping.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[string]Claims
}

func (v *verifiedTokens) get(token string) (Claims, bool) {
	v.mu.RLock()
	c, ok := v.m[token]
	v.mu.RUnlock()
	return c, ok
}

func (v *verifiedTokens) put(token string, c Claims) {
	v.mu.Lock()
	if v.m == nil || len(v.m) >= maxVerifiedTokens {
		v.m = make(map[string]Claims)
	}
	v.m[token] = c
	v.mu.Unlock()
}

// principalTTL bounds how long the subject a token names, once read from
// the database, is trusted without reading it again: a user disabled,
// deleted or demoted (or an app credential disabled) keeps what an
// unexpired token already grants for at most this long. It spares the
// requests of one push or pull a user lookup each.
const principalTTL = time.Second

// tokenPrincipals remembers the principal of a token for principalTTL.
type tokenPrincipals struct {
	mu sync.RWMutex
	m  map[string]heldPrincipal
}

type heldPrincipal struct {
	p     Principal
	until time.Time
}

func (t *tokenPrincipals) get(token string, now time.Time) (Principal, bool) {
	t.mu.RLock()
	h, ok := t.m[token]
	t.mu.RUnlock()
	if !ok || !now.Before(h.until) {
		return Principal{}, false
	}
	return h.p, true
}

func (t *tokenPrincipals) put(token string, p Principal, now time.Time) {
	t.mu.Lock()
	if t.m == nil || len(t.m) >= maxVerifiedTokens {
		t.m = make(map[string]heldPrincipal)
	}
	t.m[token] = heldPrincipal{p: p, until: now.Add(principalTTL)}
	t.mu.Unlock()
}
