package auth

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testSigner(t *testing.T, seed, audience string) *signer {
	t.Helper()
	s, err := newSigner(seed, audience)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims(now time.Time) Claims {
	return Claims{
		Issuer: tokenIssuer, Subject: "dev1", Audience: "berth", Kind: KindUser,
		IssuedAt: now.Unix(), NotBefore: now.Unix(), Expiry: now.Add(5 * time.Minute).Unix(), ID: "jti-1",
		Access: []ResourceActions{{Type: "repository", Name: "team/x", Actions: []string{"pull", "push"}}},
	}
}

func mustSign(t *testing.T, s *signer, c Claims) string {
	t.Helper()
	tok, err := s.sign(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// rawToken assembles header.payload.signature from JSON values and a
// signature (nil: empty).
func rawToken(header, payload any, sig []byte) string {
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(payload)
	return b64.EncodeToString(h) + "." + b64.EncodeToString(p) + "." + b64.EncodeToString(sig)
}

func TestTokenSignVerifyRoundTrip(t *testing.T) {
	s := testSigner(t, RandomSecret(32), "berth")
	now := time.Now()
	want := validClaims(now)
	tok := mustSign(t, s, want)
	if n := strings.Count(tok, "."); n != 2 {
		t.Fatalf("token has %d dots, want 2: %s", n, tok)
	}
	got, err := s.verify(tok, now)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("verified claims = %+v, want %+v", got, want)
	}
	var h map[string]string
	hb, _ := b64.DecodeString(strings.Split(tok, ".")[0])
	if err := json.Unmarshal(hb, &h); err != nil || h["alg"] != "EdDSA" || h["typ"] != "JWT" || h["kid"] != s.kid {
		t.Errorf("header = %s (%v), want alg EdDSA, typ JWT, kid %s", hb, err, s.kid)
	}
	// The same seed (another replica) verifies it too.
	if _, err := testSigner(t, s.seedForTest(), "berth").verify(tok, now); err != nil {
		t.Errorf("replica with the same seed: %v", err)
	}
}

// seedForTest recovers the base64 seed of s, as another replica holds it.
func (s *signer) seedForTest() string { return b64.EncodeToString(s.key.Seed()) }

func TestTokenVerifyRefuses(t *testing.T) {
	seed := RandomSecret(32)
	s := testSigner(t, seed, "berth")
	other := testSigner(t, RandomSecret(32), "berth")
	otherAud := testSigner(t, seed, "elsewhere") // same key, other service
	now := time.Now()

	with := func(f func(*Claims)) Claims {
		c := validClaims(now)
		f(&c)
		return c
	}
	good := mustSign(t, s, validClaims(now))
	parts := strings.Split(good, ".")

	// Tampered access: rewrite the payload after signing, keep the signature.
	var payload map[string]any
	pb, _ := b64.DecodeString(parts[1])
	if err := json.Unmarshal(pb, &payload); err != nil {
		t.Fatal(err)
	}
	payload["access"] = []any{map[string]any{"type": "repository", "name": "secret/x", "actions": []string{"*"}}}
	tamperedBody, _ := json.Marshal(payload)
	tampered := parts[0] + "." + b64.EncodeToString(tamperedBody) + "." + parts[2]
	payload["access"] = []any{}
	payload["sub"] = "admin"
	tamperedSub, _ := json.Marshal(payload)

	// alg none, and alg none even with a valid Ed25519 signature.
	noneHeader := map[string]string{"typ": "JWT", "alg": "none"}
	none := rawToken(noneHeader, validClaims(now), nil)
	hn, _ := json.Marshal(noneHeader)
	signingNone := b64.EncodeToString(hn) + "." + parts[1]
	noneSigned := signingNone + "." + b64.EncodeToString(ed25519.Sign(s.key, []byte(signingNone)))
	hsHeader, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "HS256", "kid": s.kid})
	signingHS := b64.EncodeToString(hsHeader) + "." + parts[1]
	hsSigned := signingHS + "." + b64.EncodeToString(ed25519.Sign(s.key, []byte(signingHS)))

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"expired", mustSign(t, s, with(func(c *Claims) { c.Expiry = now.Add(-time.Second).Unix() })), ErrTokenExpired},
		{"expires now", mustSign(t, s, with(func(c *Claims) { c.Expiry = now.Unix() })), ErrTokenExpired},
		{"not yet valid", mustSign(t, s, with(func(c *Claims) {
			c.NotBefore = now.Add(time.Hour).Unix()
			c.Expiry = now.Add(2 * time.Hour).Unix()
		})), ErrTokenInvalid},
		{"signed by another key", mustSign(t, other, validClaims(now)), ErrTokenInvalid},
		{"wrong audience", mustSign(t, otherAud, with(func(c *Claims) { c.Audience = "elsewhere" })), ErrTokenInvalid},
		{"audience claim not ours", mustSign(t, s, with(func(c *Claims) { c.Audience = "elsewhere" })), ErrTokenInvalid},
		{"wrong issuer", mustSign(t, s, with(func(c *Claims) { c.Issuer = "evil" })), ErrTokenInvalid},
		{"no subject", mustSign(t, s, with(func(c *Claims) { c.Subject = "" })), ErrTokenInvalid},
		{"alg none unsigned", none, ErrTokenInvalid},
		{"alg none with signature", noneSigned, ErrTokenInvalid},
		{"alg HS256", hsSigned, ErrTokenInvalid},
		{"tampered access", tampered, ErrTokenInvalid},
		{"tampered subject", parts[0] + "." + b64.EncodeToString(tamperedSub) + "." + parts[2], ErrTokenInvalid},
		{"signature dropped", parts[0] + "." + parts[1] + ".", ErrTokenInvalid},
		{"two parts", parts[0] + "." + parts[1], ErrTokenInvalid},
		{"four parts", good + "." + parts[2], ErrTokenInvalid},
		{"empty", "", ErrTokenInvalid},
		{"bad base64 header", "!!!." + parts[1] + "." + parts[2], ErrTokenInvalid},
		{"bad base64 payload", parts[0] + ".%%%." + parts[2], ErrTokenInvalid},
		{"bad base64 signature", parts[0] + "." + parts[1] + ".***", ErrTokenInvalid},
		{"header not JSON", b64.EncodeToString([]byte("EdDSA")) + "." + parts[1] + "." + parts[2], ErrTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Twice: the second answer may come from the verified-token
			// memo and must be the same.
			for i := range 2 {
				c, err := s.verify(tc.token, now)
				if !errors.Is(err, tc.want) {
					t.Fatalf("verify #%d = %+v, %v; want %v", i+1, c, err, tc.want)
				}
			}
		})
	}

	// Within the 30 s clock skew allowance a token is already valid.
	skewed := mustSign(t, s, with(func(c *Claims) { c.NotBefore = now.Add(20 * time.Second).Unix() }))
	if _, err := s.verify(skewed, now); err != nil {
		t.Errorf("nbf 20s ahead (within skew): %v", err)
	}
	// The untampered token still verifies: the failures above are the edits.
	if _, err := s.verify(good, now); err != nil {
		t.Errorf("untampered token: %v", err)
	}
	// And a valid token expires with time.
	if _, err := s.verify(good, now.Add(6*time.Minute)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("verify after expiry = %v, want ErrTokenExpired", err)
	}
}

// The verified-token memo keeps only tokens whose signature checked, never
// outgrows its bound, and still applies expiry on every use.
func TestVerifiedTokensMemo(t *testing.T) {
	s := testSigner(t, RandomSecret(32), "berth")
	now := time.Now()
	good := mustSign(t, s, validClaims(now))
	if _, err := s.verify(good, now); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.verified.get(good); !ok {
		t.Fatal("a verified token was not remembered")
	}
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, ed25519.SignatureSize))
	if _, err := s.verify(forged, now); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("forged signature = %v, want ErrTokenInvalid", err)
	}
	if _, ok := s.verified.get(forged); ok {
		t.Fatal("a token whose signature failed was remembered")
	}
	if _, err := s.verify(good, now.Add(6*time.Minute)); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("remembered token after expiry = %v, want ErrTokenExpired", err)
	}
	for i := range maxVerifiedTokens + 10 {
		s.verified.put(fmt.Sprint("token-", i), Claims{})
		if n := len(s.verified.m); n > maxVerifiedTokens {
			t.Fatalf("memo holds %d tokens, bound %d", n, maxVerifiedTokens)
		}
	}
}

// A token's principal is remembered for principalTTL, then read again.
func TestTokenPrincipalsMemo(t *testing.T) {
	var tp tokenPrincipals
	now := time.Now()
	if _, ok := tp.get("tok", now); ok {
		t.Fatal("hit on an empty memo")
	}
	want := Principal{Kind: KindUser, Name: "dev1", UserID: 7, ViaToken: true}
	tp.put("tok", want, now)
	for _, tc := range []struct {
		after time.Duration
		hit   bool
	}{{0, true}, {principalTTL / 2, true}, {principalTTL - time.Nanosecond, true}, {principalTTL, false}, {time.Hour, false}} {
		got, ok := tp.get("tok", now.Add(tc.after))
		if ok != tc.hit || (ok && !reflect.DeepEqual(got, want)) {
			t.Errorf("get %v after put = %+v, %v; want hit %v", tc.after, got, ok, tc.hit)
		}
	}
	if _, ok := tp.get("other", now); ok {
		t.Error("hit for another token")
	}
	for i := range maxVerifiedTokens + 10 {
		tp.put(fmt.Sprint("token-", i), want, now)
		if n := len(tp.m); n > maxVerifiedTokens {
			t.Fatalf("memo holds %d principals, bound %d", n, maxVerifiedTokens)
		}
	}
}

func TestNewSignerSeed(t *testing.T) {
	for _, seed := range []string{"", "short", strings.Repeat("A", 40), "not base64 !!"} {
		if _, err := newSigner(seed, "berth"); err == nil {
			t.Errorf("newSigner(%q) accepted a bad seed", seed)
		}
	}
	raw := make([]byte, ed25519.SeedSize)
	padded := b64.EncodeToString(raw) + "="
	if _, err := newSigner(padded, "berth"); err != nil {
		t.Errorf("newSigner(padded seed): %v", err)
	}
}

func TestParseScopes(t *testing.T) {
	ra := func(typ, name string, actions ...string) ResourceActions {
		return ResourceActions{Type: typ, Name: name, Actions: actions}
	}
	cases := []struct {
		in   string
		want []ResourceActions
	}{
		{"repository:team/x:pull", []ResourceActions{ra("repository", "team/x", "pull")}},
		{"repository:team/x:pull,push", []ResourceActions{ra("repository", "team/x", "pull", "push")}},
		{"repository:team/a/b/c:*", []ResourceActions{ra("repository", "team/a/b/c", "*")}},
		{"repository:team/x:pull repository:team/y:push,delete", []ResourceActions{
			ra("repository", "team/x", "pull"), ra("repository", "team/y", "push", "delete")}},
		{"  repository:team/x:pull  ", []ResourceActions{ra("repository", "team/x", "pull")}},
		{"registry:catalog:*", []ResourceActions{ra("registry", "catalog", "*")}},
		{"repository(plugin):team/x:pull", []ResourceActions{ra("repository", "team/x", "pull")}},
		{"repository:localhost:5000/x:pull", []ResourceActions{ra("repository", "localhost:5000/x", "pull")}},
		{"", nil},
		{"garbage", nil},
		{"repository:team/x", nil},
		{"repository::pull", nil},
		{"garbage repository:team/x:pull", []ResourceActions{ra("repository", "team/x", "pull")}},
	}
	for _, tc := range cases {
		if got := parseScopes(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseScopes(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestClaimsAllows(t *testing.T) {
	c := Claims{Access: []ResourceActions{
		{Type: "repository", Name: "team/x", Actions: []string{"pull", "push"}},
		{Type: "repository", Name: "team/all", Actions: []string{"*"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}}
	cases := []struct {
		typ, name, action string
		want              bool
	}{
		{"repository", "team/x", "pull", true},
		{"repository", "team/x", "push", true},
		{"repository", "team/x", "delete", false},
		{"repository", "team/xy", "pull", false},
		{"repository", "team", "pull", false},
		{"repository", "other/x", "pull", false},
		{"repository", "team/all", "delete", true},
		{"repository", "team/all", "pull", true},
		{"registry", "catalog", "*", true},
		{"registry", "team/x", "pull", false},
		{"registry", "catalog", "pull", true},
	}
	for _, tc := range cases {
		if got := c.Allows(tc.typ, tc.name, tc.action); got != tc.want {
			t.Errorf("Allows(%s, %s, %s) = %v, want %v", tc.typ, tc.name, tc.action, got, tc.want)
		}
	}
	if (Claims{}).Allows("repository", "team/x", "pull") {
		t.Error("empty access allows a pull")
	}
}

func TestCheckPolicy(t *testing.T) {
	cases := []struct {
		name, pw string
		ok       bool
	}{
		{"empty", "", false},
		{"short", "abc1234", false},
		{"no digit", "abcdefghij", false},
		{"no letter", "1234567890", false},
		{"symbols only", "!@#$%^&*()", false},
		{"too long", strings.Repeat("a1", 36) + "x", false},
		{"min length", "abcdefg1", true},
		{"max length", strings.Repeat("a1", 36), true},
		{"ok", "dev1-Passw0rd", true},
		{"unicode letters", "pässwört1", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPolicy(tc.pw)
			if tc.ok && err != nil {
				t.Errorf("CheckPolicy(%q) = %v, want nil", tc.pw, err)
			}
			if !tc.ok && !errors.Is(err, ErrWeakPassword) {
				t.Errorf("CheckPolicy(%q) = %v, want ErrWeakPassword", tc.pw, err)
			}
		})
	}
}

func TestValidateUsername(t *testing.T) {
	cases := []struct {
		name string
		ok   bool
	}{
		{"dev1", true},
		{"a", true},
		{"0day", true},
		{"a.b_c-d", true},
		{"berthy", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"Dev1", false},
		{"-dev", false},
		{".dev", false},
		{"_dev", false},
		{"dev 1", false},
		{"dev/1", false},
		{"dev:1", false},
		{"dév", false},
		{"berth-ak-0123", false},
		{"berth-anything", false},
	}
	for _, tc := range cases {
		err := ValidateUsername(tc.name)
		if tc.ok && err != nil {
			t.Errorf("ValidateUsername(%q) = %v, want nil", tc.name, err)
		}
		if !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateUsername(%q) = %v, want ErrInvalid", tc.name, err)
		}
	}
}
