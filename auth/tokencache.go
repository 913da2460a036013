package auth

import "sync"

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
